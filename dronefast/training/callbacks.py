"""fastai callbacks of dronefast's training loop: bf16 autocast on CPU, checkpoints to resume from, the best
model and the history written atomically, and the resumption of an interrupted fit exactly where it stopped.

fastai writes ``models/<name>.pth`` (``SaveModelCallback``) and its CSV log in place: a run killed while it
writes leaves a truncated file, and every later ``--resume`` fails on it. The callbacks here write through a
temporary file beside the target and a rename (:func:`dronefast.outputs.atomic_path`), so a file is either the
old complete one or the new complete one.

The resume checkpoint is one file, ``models/last.pth``, holding everything a resume needs together: the weights,
the optimizer state, every random state and the progress (stage, epochs done, best value, the Recorder's smoothed
loss). Written as one file it is always consistent: a kill between two files of a checkpoint could otherwise pair
one epoch's weights with another epoch's progress. ``models/checkpoint.json`` is a readable copy of the progress,
written after it.

A resumed fit is the uninterrupted fit with its first epochs skipped (:class:`ResumeFit`): every callback sees the
epoch numbers and epoch count of the uninterrupted fit, so fastai computes the same ``pct_train`` (and so the same
one-cycle learning rates and momentums, bit for bit), the same ``train_loss`` (the smoothed loss continues from the
checkpoint) and logs the same epoch numbers. fastai's own ``fit(start_epoch=k)`` (``SkipToEpoch``) is not used: it
calls ``after_epoch`` for every skipped epoch, so the Recorder would log empty rows and ``SaveModelCallback`` would
compare values that were never computed.
"""
from __future__ import annotations

import math
import random
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import CSVLogger
from fastai.callback.tracker import SaveModelCallback
from fastai.learner import Learner
from fastai.learner import save_model as fastai_save_model
from fastai.torch_core import distrib_barrier, get_model, rank_distrib, to_device
from fastcore.foundation import L

from ..errors import RunFolderError
from ..outputs import atomic_file, write_json, write_text

__all__ = ["CPUAutocast", "ResumeFit", "Checkpoint", "BestModel", "AtomicCSVLogger", "save_learner", "save_checkpoint",
           "load_checkpoint", "checkpoint_path", "rng_state", "set_rng_state", "CHECKPOINT_NAME", "BEST_NAME",
           "STATE_FILE"]

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


class ResumeFit(Callback):
    """Continue a ``fit_one_cycle`` of `n_epoch` epochs at epoch `start` exactly as the uninterrupted fit goes on
    (module docstring). Add it to a ``fit_one_cycle(n_epoch - start, ...)`` with the same learning rates.

    Before each epoch, first of all callbacks, it puts ``learn.epoch`` and ``learn.n_epoch`` where the uninterrupted
    fit has them, so fastai's ``TrainEvalCallback`` sets ``pct_train = epoch / n_epoch`` and adds
    ``1 / (n_iter * n_epoch)`` a batch with the very same numbers (the one-cycle schedule reads nothing else), the
    Recorder, ``SaveModelCallback`` and :class:`Checkpoint` see the original epoch numbers; before the first one it
    puts back the Recorder's smoothed loss (``train_loss``) as the checkpoint saved it.

    Args:
        start: epochs of the fit done before the interruption.
        n_epoch: epochs of the whole fit.
        smooth_loss: ``{"val": tensor, "count": int}`` of fastai's ``AvgSmoothLoss`` at the checkpoint, or None.
    """

    order, run_valid = -20, False

    def __init__(self, start: int, n_epoch: int, smooth_loss: Optional[Dict[str, Any]] = None):
        self.start, self.n_total, self.smooth = start, n_epoch, smooth_loss

    def before_fit(self):
        self.first = True

    def before_epoch(self):
        self.learn.epoch += self.start
        self.learn.n_epoch = self.n_total
        if self.first and self.smooth is not None and hasattr(self.learn, "recorder"):
            self.recorder.smooth_loss.val = self.smooth["val"].clone()
            self.recorder.smooth_loss.count = int(self.smooth["count"])
        if self.first and getattr(getattr(self.learn, "progress", None), "mbar", None) is not None:
            from fastprogress.fastprogress import master_bar

            bar = master_bar(list(range(self.n_total)))  # the bar of the whole fit, started (its clock) at epoch 0
            bar.update(0)
            self.learn.progress.mbar = bar
        self.first = False


def save_learner(learn: Learner, name: str, with_opt: bool) -> Path:
    """``learn.save(name, with_opt)`` through a temporary file and a rename; returns the path (rank 0 writes)."""
    final = learn.path / learn.model_dir / f"{name}.pth"
    if rank_distrib():
        return final
    with atomic_file(final) as f:  # a full disk: one OutputError naming the file, not a C++ error
        fastai_save_model(f, learn.model, getattr(learn, "opt", None), with_opt=with_opt)
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
    shuffling generator of each DataLoader in `dls` (fastai's ``DataLoader.rng``); made of tensors, numbers, lists
    and tuples only, so ``torch.load(weights_only=True)`` reads it back (no pickled code)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": (kind, keys.tolist(), pos, has_gauss, cached),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "dls": [rng.getstate() for rng in _shuffle_rngs(dls)]}


def set_rng_state(state: Dict[str, Any], dls=None) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for rng, s in zip(_shuffle_rngs(dls), state["dls"]):
        rng.setstate(_tuples(s))


def _plain(obj):
    """`obj` (an optimizer state) with fastcore's ``L`` as lists, NumPy scalars as Python numbers and fastai's tensor
    subclasses as plain tensors (the same values), so that ``torch.load(weights_only=True)`` reads it without
    allowing any class."""
    if isinstance(obj, torch.Tensor):
        return obj if type(obj) in (torch.Tensor, torch.nn.Parameter) else obj.as_subclass(torch.Tensor)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, L)):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj.item() if isinstance(obj, np.generic) else obj


def _tuples(state):
    """A ``random.Random`` state as ``setstate`` wants it (tuples, in case a reader turned them into lists)."""
    return tuple(_tuples(v) if isinstance(v, (list, tuple)) else v for v in state)


def checkpoint_path(learn: Learner) -> Path:
    """``models/last.pth`` of `learn`'s run folder."""
    return learn.path / learn.model_dir / f"{CHECKPOINT_NAME}.pth"


def save_checkpoint(learn: Learner, progress: Dict[str, Any]) -> Path:
    """Write the resume checkpoint (module docstring) atomically as one file, then its `progress` as readable JSON;
    rank 0 writes. `progress`: stage, epochs_done, best, monitor."""
    final = checkpoint_path(learn)
    if rank_distrib():
        return final
    sl = getattr(getattr(learn, "recorder", None), "smooth_loss", None)
    smooth = None if sl is None else {"val": _plain(torch.as_tensor(sl.val).detach().cpu().clone()),
                                      "count": int(sl.count)}
    state = {"model": get_model(learn.model).state_dict(), "opt": _plain(learn.opt.state_dict()),
             "rng": rng_state(learn.dls), "progress": {**progress, "smooth_loss": smooth}}
    with atomic_file(final) as f:
        torch.save(state, f)
    write_json(final.parent / STATE_FILE, progress)
    return final


def load_checkpoint(learn: Learner) -> Dict[str, Any]:
    """Load the resume checkpoint of `learn`'s run folder into its model and optimizer; returns ``{"progress": ...,
    "rng": ...}`` (the random states are put back later, by :func:`set_rng_state`, just before training goes on).

    Raises:
        RunFolderError: there is no checkpoint (nothing to resume), or it cannot be read.
    """
    f = checkpoint_path(learn)
    distrib_barrier()
    if not f.is_file():
        raise RunFolderError(f"{f}: nothing to resume (no checkpoint: the run was interrupted before its first epoch "
                             f"ended, or never started); start it again with {{overwrite}}")
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not {"model", "opt", "rng", "progress"} <= set(state):
            raise ValueError("not a dronefast resume checkpoint")
        get_model(learn.model).load_state_dict(state["model"])
        if learn.opt is None:
            learn.create_opt()
        device = getattr(learn.dls, "device", None) or next(learn.model.parameters()).device
        opt = to_device(state["opt"], device)
        # fastai's own optimizers keep their hyper-parameters as an L; torch's (behind OptimWrapper) as groups
        learn.opt.load_state_dict({**opt, "hypers": L(opt["hypers"])} if "hypers" in opt else opt)
    except Exception as e:  # torch.load and load_state_dict raise many kinds on a damaged or foreign file
        why = str(e)[:300]
        raise RunFolderError(f"{f}: cannot resume from this checkpoint ({type(e).__name__}: {why}); start the run "
                             f"again with {{overwrite}}") from None
    return {"progress": state["progress"], "rng": state["rng"]}


class Checkpoint(Callback):
    """After every epoch, save the resume checkpoint (:func:`save_checkpoint`: model, optimizer, every random state
    and the progress, in one file ``models/last.pth``, then ``models/checkpoint.json``), for
    :func:`~dronefast.training.fit.fit_reference` to resume from.

    fastai's ``SaveModelCallback(every_epoch=True, with_opt=True)`` writes one file per epoch, in place, and
    records neither the progress nor the random states that an exact resume needs.

    Args:
        stage: index of the training stage (0 frozen / single, 1 unfrozen).
        tracker: the ``SaveModelCallback`` whose best value is recorded.
    """

    order = SaveModelCallback.order + 1

    def __init__(self, stage: int, tracker: Optional[SaveModelCallback] = None):
        self.stage, self.tracker = stage, tracker

    def after_epoch(self):
        best = None if self.tracker is None else float(self.tracker.best)
        save_checkpoint(self.learn, {"stage": self.stage, "epochs_done": self.epoch + 1, "best": best,
                                     "monitor": getattr(self.tracker, "monitor", None)})


class BestModel(SaveModelCallback):
    """fastai's ``SaveModelCallback`` (keeps the best epoch's weights, loads them at the end), writing
    ``models/<fname>.pth`` atomically: fastai's own writes it in place.

    When the monitored value was never a number (NaN at every epoch: e.g. validation photos holding only void
    pixels), fastai saved nothing and fails at the end loading a file that does not exist; here the last epoch's
    weights are kept as the best, with a warning that says why.
    """

    def _save(self, name):
        self.last_saved_path = save_learner(self.learn, name, with_opt=self.with_opt)

    def after_fit(self, **kwargs):
        # decided on the best value, which every process of a distributed run shares (not on the file rank 0 writes)
        if not self.every_epoch and not math.isfinite(float(self.best)):
            warnings.warn(f"{self.monitor} was not a number at any epoch, so no epoch was better than another: the "
                          f"last epoch's weights are kept", RuntimeWarning, stacklevel=2)
            self._save(self.fname)
            return
        super().after_fit(**kwargs)


class AtomicCSVLogger(CSVLogger):
    """fastai's ``CSVLogger`` (one row per epoch in ``learn.path / fname``) rewriting the whole file atomically
    after each epoch instead of appending in place; with `append`, rows of an earlier fit are kept and the header
    is written once.

    Args:
        fname, append: as fastai's.
        keep: with `append`, keep only the rows of epochs before this one: a run killed after logging an epoch but
            before checkpointing it does that epoch again on resume, and logs it once.
    """

    def __init__(self, fname: str = "history.csv", append: bool = False, keep: Optional[int] = None):
        super().__init__(fname, append)
        self.keep = keep

    def before_fit(self):
        if hasattr(self, "gather_preds"):
            return
        f = self.path / self.fname
        header = ",".join(self.recorder.metric_names)
        old = f.read_text(encoding="utf-8").splitlines() if self.append and f.is_file() else []
        if old and self.keep is not None:
            old = old[:1] + [ln for ln in old[1:] if _epoch_of(ln) is not None and _epoch_of(ln) < self.keep]
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


def _epoch_of(line: str) -> Optional[int]:
    """The epoch number a CSV log row starts with (None for a header or anything else)."""
    head = line.split(",", 1)[0].strip()
    return int(head) if head.isdigit() else None
