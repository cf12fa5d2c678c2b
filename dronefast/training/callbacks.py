"""fastai callbacks of dronefast's training loop: bf16 autocast on CPU, checkpoints to resume from, the best
model and the history written atomically, and the schedule pieces a resumed run needs.

fastai writes ``models/<name>.pth`` (``SaveModelCallback``) and its CSV log in place: a run killed while it
writes leaves a truncated file, and every later ``--resume`` fails on it. The callbacks here write through a
temporary file beside the target and a rename (:func:`dronefast.outputs.atomic_path`), so a file is either the
old complete one or the new complete one.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import CSVLogger
from fastai.callback.tracker import SaveModelCallback
from fastai.learner import Learner
from fastai.learner import save_model as fastai_save_model
from fastai.torch_core import rank_distrib

from ..outputs import atomic_path, write_json, write_text

__all__ = ["CPUAutocast", "ShiftedSchedule", "EpochOffset", "Checkpoint", "BestModel", "AtomicCSVLogger",
           "save_learner", "rng_state", "set_rng_state", "CHECKPOINT_NAME", "BEST_NAME", "STATE_FILE"]

CHECKPOINT_NAME = "last"
BEST_NAME = "best"
#: Progress of an interrupted run, beside ``models/last.pth``.
STATE_FILE = "checkpoint.json"


class CPUAutocast(Callback):
    """bf16 autocast on CPU (fastai's ``MixedPrecision`` only autocasts CUDA); no gradient scaling is needed."""

    order = 10

    def before_batch(self):
        self.ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        self.ctx.__enter__()

    def after_pred(self):
        self.learn.pred = self.pred.float()

    def after_loss(self):
        self.ctx.__exit__(None, None, None)


class ShiftedSchedule:
    """A schedule ``f(pos)`` restarted at ``start``: position 0..1 of the remaining epochs maps onto start..1
    (a resumed one-cycle continues where the interrupted one was)."""

    def __init__(self, f, start: float):
        self.f, self.start = f, start

    def __call__(self, pos):
        return self.f(self.start + pos * (1 - self.start))


class EpochOffset(Callback):
    """Show resumed epochs with their original numbers in the table and the CSV log."""

    order = 51  # just after Recorder.before_epoch, which starts the log line with the epoch

    def __init__(self, offset: int):
        self.offset = offset

    def before_epoch(self):
        self.recorder.log[0] = self.epoch + self.offset


def save_learner(learn: Learner, name: str, with_opt: bool) -> Path:
    """``learn.save(name, with_opt)`` through a temporary file and a rename; returns the path (rank 0 writes)."""
    final = learn.path / learn.model_dir / f"{name}.pth"
    if rank_distrib():
        return final
    with atomic_path(final) as tmp:
        fastai_save_model(tmp, learn.model, getattr(learn, "opt", None), with_opt=with_opt)
    return final


def _shuffle_rngs(dls) -> List[random.Random]:
    """The shuffling generator of each loader of `dls` (of the wrapped loader for fastai's ``DistributedDL``)."""
    out = []
    for dl in (dls.loaders if dls is not None else []):
        while "rng" not in vars(dl) and "dl" in vars(dl):
            dl = vars(dl)["dl"]
        if "rng" in vars(dl):
            out.append(vars(dl)["rng"])
    return out


def rng_state(dls=None) -> Dict[str, Any]:
    """Every random state a training epoch draws from: Python's, NumPy's, torch's (CPU and CUDA) and the
    shuffling generator of each DataLoader in `dls` (fastai's ``DataLoader.rng``)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "dls": [rng.getstate() for rng in _shuffle_rngs(dls)]}


def set_rng_state(state: Dict[str, Any], dls=None) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for rng, s in zip(_shuffle_rngs(dls), state["dls"]):
        rng.setstate(s)


class Checkpoint(Callback):
    """After every epoch, save model and optimizer to ``models/last.pth``, every random state to
    ``models/last.rng.pth`` and the progress to ``models/checkpoint.json`` (stage, epochs done, best monitored
    value), each atomically, for :func:`~dronefast.training.fit.fit_reference` to resume from.

    fastai's ``SaveModelCallback(every_epoch=True, with_opt=True)`` writes one file per epoch, in place, and
    records neither the progress nor the random states that an exact resume needs.

    Args:
        stage: index of the training stage (0 frozen / single, 1 unfrozen).
        offset: epochs of this stage done before this fit (when resuming).
        tracker: the ``SaveModelCallback`` whose best value is recorded.
    """

    order = SaveModelCallback.order + 1

    def __init__(self, stage: int, offset: int = 0, tracker: Optional[SaveModelCallback] = None):
        self.stage, self.offset, self.tracker = stage, offset, tracker

    def after_epoch(self):
        if rank_distrib():
            return
        folder = self.path / self.model_dir
        save_learner(self.learn, CHECKPOINT_NAME, with_opt=True)
        with atomic_path(folder / f"{CHECKPOINT_NAME}.rng.pth") as tmp:
            torch.save(rng_state(self.dls), tmp)
        best = None if self.tracker is None else float(self.tracker.best)
        write_json(folder / STATE_FILE, {"stage": self.stage, "epochs_done": self.epoch + self.offset + 1,
                                         "best": best, "monitor": getattr(self.tracker, "monitor", None)})


class BestModel(SaveModelCallback):
    """fastai's ``SaveModelCallback`` (keeps the best epoch's weights, loads them at the end), writing
    ``models/<fname>.pth`` atomically: fastai's own writes it in place."""

    def _save(self, name):
        self.last_saved_path = save_learner(self.learn, name, with_opt=self.with_opt)


class AtomicCSVLogger(CSVLogger):
    """fastai's ``CSVLogger`` (one row per epoch in ``learn.path / fname``) rewriting the whole file atomically
    after each epoch instead of appending in place; with `append`, rows of an earlier fit are kept and the header
    is written once."""

    def before_fit(self):
        if hasattr(self, "gather_preds"):
            return
        f = self.path / self.fname
        header = ",".join(self.recorder.metric_names)
        old = f.read_text(encoding="utf-8").splitlines() if self.append and f.is_file() else []
        self.lines: List[str] = old if old else [header]
        write_text(f, "\n".join(self.lines) + "\n")
        self.old_logger, self.learn.logger = self.logger, self._write_line

    def _write_line(self, log):
        self.lines.append(",".join(str(t) for t in log))
        write_text(self.path / self.fname, "\n".join(self.lines) + "\n")
        self.old_logger(log)

    def after_fit(self):
        if hasattr(self, "gather_preds"):
            return
        self.learn.logger = self.old_logger
