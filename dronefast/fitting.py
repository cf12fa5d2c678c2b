"""Fitting, as functions: ``lr_find`` and the reference notebook's ``fit_one_cycle(epochs, slice(lr),
pct_start)`` with ``SaveModelCallback`` keeping the best epoch (every recipe of :mod:`dronefast.recipes` runs
through it), and the choice of numeric precision.

:func:`fit_reference` runs it with a frozen encoder first (when pretrained), then an optional unfrozen stage
with discriminative learning rates, keeps the best weights (loaded at the end), logs each epoch with fastai's
``CSVLogger``, and checkpoints model and optimizer after every epoch so an interrupted run resumes where it
stopped (:func:`fit_reference` with ``resume=True``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import CSVLogger
from fastai.callback.schedule import ParamScheduler, combined_cos, valley
from fastai.callback.tracker import SaveModelCallback
from fastai.learner import Learner
from fastai.learner import save_model as fastai_save_model
from fastai.torch_core import rank_distrib

from .outputs import save_figure, write_json, write_text

__all__ = ["find_lr", "fit_reference", "set_precision", "resolve_precision", "Checkpoint", "CPUAutocast",
           "Stage", "CHECKPOINT_NAME", "BEST_NAME"]

PathLike = Union[str, Path]
CHECKPOINT_NAME = "last"
#: lr_find needs this many steps: fastai's suggestion drops the first 10% and the last 5 recorded losses.
MIN_LR_FIND_ITERS = 20
BEST_NAME = "best"
_STATE_FILE = "checkpoint.json"


def find_lr(learn: Learner, plot_path: Optional[PathLike] = None, num_it: int = 100, start_lr: float = 1e-7,
            end_lr: float = 10) -> float:
    """Run fastai's ``lr_find`` and return its "valley" suggestion; save the loss-vs-lr plot to `plot_path`.

    The model and optimizer are restored afterwards, as ``lr_find`` does. `num_it` must be at least
    :data:`MIN_LR_FIND_ITERS`.
    """
    if num_it < MIN_LR_FIND_ITERS:
        raise ValueError(f"lr_find needs num_it >= {MIN_LR_FIND_ITERS} (its suggestion ignores the first 10% and the "
                         f"last 5 steps), got {num_it}")
    sugg = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it, show_plot=False, suggest_funcs=(valley,))
    lr = float(sugg.valley)
    if plot_path is not None:
        import matplotlib.pyplot as plt

        learn.recorder.plot_lr_find()  # fastai 2.8 draws but does not return the figure
        fig = plt.gcf()
        ax = fig.axes[0]
        ax.axvline(lr, color="tab:orange", linestyle="--", label=f"valley {lr:.2e}")
        ax.legend()
        ax.set_title("lr_find")
        save_figure(fig, plot_path)
    return lr


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


def resolve_precision(precision: str, device: Optional[torch.device] = None) -> str:
    """``"auto"`` -> ``"bf16"`` on a GPU that supports it, ``"fp16"`` on other GPUs, ``"fp32"`` on CPU;
    other values (``fp32``, ``bf16``, ``fp16``) are returned as they are."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision != "auto":
        return precision
    dev = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    if dev.type == "cuda":
        # emulated bf16 (e.g. a T4, Colab's default GPU) is slow: fp16 there
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return "fp32"


def set_precision(learn: Learner, precision: str = "auto") -> str:
    """Switch `learn` to mixed precision as asked (see :func:`resolve_precision`); returns what was chosen."""
    dev = learn.dls.device if learn.dls.device is not None else next(learn.model.parameters()).device
    chosen = resolve_precision(precision, dev)
    learn.to_fp32()
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, CPUAutocast)])
    if chosen == "fp16":
        if torch.device(dev).type != "cuda":
            raise ValueError("fp16 mixed precision needs a GPU; use bf16 on CPU")
        learn.to_fp16()
    elif chosen == "bf16":
        learn.add_cb(CPUAutocast()) if torch.device(dev).type == "cpu" else learn.to_bf16()
    return chosen


class _Shifted:
    """A schedule ``f(pos)`` restarted at ``start``: position 0..1 of the remaining epochs maps onto start..1."""

    def __init__(self, f, start: float):
        self.f, self.start = f, start

    def __call__(self, pos):
        return self.f(self.start + pos * (1 - self.start))


class _EpochOffset(Callback):
    """Show resumed epochs with their original numbers in the table and the CSV log."""

    order = 51  # just after Recorder.before_epoch, which starts the log line with the epoch

    def __init__(self, offset: int):
        self.offset = offset

    def before_epoch(self):
        self.recorder.log[0] = self.epoch + self.offset


class Checkpoint(Callback):
    """After every epoch, save model and optimizer to ``models/last.pth`` (atomically) and the progress to
    ``models/checkpoint.json`` (stage, epochs done, best monitored value), for :func:`fit_reference` to resume.

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
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{CHECKPOINT_NAME}.pth"
        tmp = folder / f".{CHECKPOINT_NAME}.pth.tmp"
        fastai_save_model(tmp, self.model, getattr(self, "opt", None), with_opt=True)
        os.replace(tmp, final)
        best = None if self.tracker is None else float(self.tracker.best)
        write_json(folder / _STATE_FILE, {"stage": self.stage, "epochs_done": self.epoch + self.offset + 1,
                                          "best": best, "monitor": getattr(self.tracker, "monitor", None)})


@dataclass
class Stage:
    """One ``fit_one_cycle`` of the recipe: `epochs` at `lr` (a float, or a slice for discriminative rates)
    with the encoder `frozen` or not."""

    epochs: int
    lr: Union[float, slice]
    frozen: bool


def _one_cycle(learn: Learner, n_epoch: int, lr_max, pct_start: float, start_epoch: int, cbs: List[Callback]):
    """fastai's ``fit_one_cycle``, able to start at `start_epoch` with the schedule where it would be then."""
    if start_epoch == 0:
        return learn.fit_one_cycle(n_epoch, lr_max, pct_start=pct_start, cbs=cbs)
    if learn.opt is None:
        learn.create_opt()
    learn.opt.set_hyper("lr", lr_max)
    lrs = np.array([h["lr"] for h in learn.opt.hypers])
    start = start_epoch / n_epoch
    scheds = {"lr": _Shifted(combined_cos(pct_start, lrs / 25.0, lrs, lrs / 1e5), start),
              "mom": _Shifted(combined_cos(pct_start, *learn.moms), start)}
    learn.fit(n_epoch - start_epoch, cbs=[ParamScheduler(scheds), _EpochOffset(start_epoch), *cbs])


def _read_state(learn: Learner) -> Optional[Dict]:
    f = learn.path / learn.model_dir / _STATE_FILE
    return json.loads(f.read_text()) if f.is_file() else None


def fit_reference(learn: Learner, epochs: int = 10, lr: float = 1e-3, pct_start: float = 0.8,
                  unfrozen_epochs: int = 0, unfrozen_lr: Optional[slice] = None, monitor: str = "accuracy_mask",
                  comp=None, resume: bool = False, log_name: str = "history.csv") -> pd.DataFrame:
    """The reference recipe: ``fit_one_cycle(epochs, slice(lr), pct_start=0.8)`` keeping the best epoch.

    Args:
        learn: a learner from :func:`dronefast.learner.drone_learner` (frozen if pretrained).
        epochs: epochs of the first stage (encoder frozen when the learner is).
        lr: maximum learning rate of the first stage (e.g. from :func:`find_lr`).
        pct_start: share of the cycle spent warming up (the reference's 0.8).
        unfrozen_epochs: epochs of a second stage with the whole network unfrozen (0: none).
        unfrozen_lr: learning rates of that stage; default ``slice(lr / 400, lr / 4)`` (fastai's CamVid lesson),
            the encoder's early layers getting the smallest.
        monitor, comp: the value ``SaveModelCallback`` keeps the best of (any metric or loss; comp np.greater /
            np.less, default by name as fastai does).
        resume: continue from ``models/last.pth`` and ``models/checkpoint.json`` of an interrupted run
            (optimizer state included); stages and epochs already done are skipped.
        log_name: CSV history file in ``learn.path`` (a ``stage`` column tells the stages apart).

    Returns:
        The history as a DataFrame (one row per epoch: stage, epoch, train_loss, valid_loss, metrics, time).
        The best weights (``models/best.pth``) are loaded into `learn` at the end. Launched distributed, only rank 0
    writes the checkpoint and the logs (and returns the history; the other ranks an empty frame).
    """
    stages = [Stage(epochs, slice(lr), _is_frozen(learn))]
    if unfrozen_epochs:
        stages.append(Stage(unfrozen_epochs, unfrozen_lr or slice(lr / 400, lr / 4), False))
    tracker = SaveModelCallback(monitor=monitor, comp=comp, fname=BEST_NAME, reset_on_fit=False)
    done_stage, done_epochs = 0, 0
    state = _read_state(learn) if resume else None
    if resume and state is None:
        raise FileNotFoundError(f"nothing to resume: {learn.path / learn.model_dir / _STATE_FILE} not found")
    if state:
        learn.load(CHECKPOINT_NAME, with_opt=True)
        done_stage, done_epochs = state["stage"], state["epochs_done"]
        if state.get("best") is not None:
            tracker.best = state["best"]
    learn.path.mkdir(parents=True, exist_ok=True)  # CSVLogger only creates the folder above learn.path
    logs, ran = [], False
    for i, st in enumerate(stages):
        log = f"{Path(log_name).stem}.stage{i}.csv"
        if i < done_stage or (i == done_stage and done_epochs >= st.epochs):
            logs.append(log)
            continue
        start = done_epochs if i == done_stage else 0
        # fastai's freeze/unfreeze clear the optimizer state: keep the one loaded from the checkpoint
        opt_state = learn.opt.state_dict() if start > 0 and learn.opt is not None else None
        learn.freeze() if st.frozen else learn.unfreeze()
        if opt_state is not None:
            learn.opt.load_state_dict(opt_state)
        cbs = [tracker, Checkpoint(i, start, tracker)]
        if not rank_distrib():
            cbs.append(CSVLogger(log, append=start > 0))
        _one_cycle(learn, st.epochs, st.lr, pct_start, start, cbs)
        ran = True
        logs.append(log)
    if state and not ran and (learn.path / learn.model_dir / f"{BEST_NAME}.pth").is_file():
        learn.load(BEST_NAME, with_opt=False)  # a finished run: the best weights, as SaveModelCallback leaves them
    if rank_distrib():
        return pd.DataFrame()  # rank 0 writes the logs and the history
    history = _merge_logs(learn.path, logs)
    write_text(learn.path / log_name, history.to_csv(index=False))
    return history


def _is_frozen(learn: Learner) -> bool:
    """True when the encoder's weights do not train (``unet_learner`` freezes pretrained encoders; their
    normalisation layers keep training, as fastai's ``train_bn`` wants, so they are not looked at)."""
    from fastai.torch_core import norm_types

    return not any(p.requires_grad for m in learn.model[0].modules() if not isinstance(m, norm_types)
                   for p in m.parameters(recurse=False))


def _merge_logs(path: Path, logs: List[str]) -> pd.DataFrame:
    frames = []
    for i, name in enumerate(logs):
        f = path / name
        if not f.is_file():
            continue
        df = pd.read_csv(f)
        df = df[df["epoch"].astype(str) != "epoch"]  # an appended log repeats its header
        df.insert(0, "stage", i)
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    for c in out.columns.drop("time", errors="ignore"):
        out[c] = pd.to_numeric(out[c])
    return out
