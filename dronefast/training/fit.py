"""Fitting, as functions: ``lr_find`` and the reference notebook's ``fit_one_cycle(epochs, slice(lr),
pct_start)`` with ``SaveModelCallback`` keeping the best epoch (every recipe of :mod:`dronefast.training.recipes` runs
through it), and the choice of numeric precision.

:func:`fit_reference` runs it with a frozen encoder first (when pretrained), then an optional unfrozen stage
with discriminative learning rates, keeps the best weights (loaded at the end), logs each epoch with fastai's
``CSVLogger``, and checkpoints model, optimizer, random states and progress after every epoch so an interrupted
run resumes where it stopped (:func:`fit_reference` with ``resume=True``).

A resumed run gives the history an uninterrupted one gives, bit for bit, on the same device with the same settings:
the checkpoint is taken at the end of an epoch (after validation) and holds everything the next epoch depends on
(weights, optimizer state, Python / NumPy / torch / DataLoader random states, the best value so far and the
Recorder's smoothed loss), and the resumed ``fit_one_cycle`` sees the epoch numbers and count of the uninterrupted
one (:class:`~dronefast.training.callbacks.ResumeFit`), so its learning rates and momentums are computed from the
very same ``pct_train`` values. An epoch that was under way when the run was killed is done again from its start,
and logged once. Resuming at a stage boundary starts the next stage from the best weights of the finished one, as
the uninterrupted run does (``SaveModelCallback`` loads them at the end of each stage).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import pandas as pd
from fastai.callback.core import Callback
from fastai.callback.schedule import valley
from fastai.learner import Learner
from fastai.torch_core import norm_types, rank_distrib

from ..metrics.calibration import too_few_to_choose_on
from ..outputs import make_folder, save_figure, write_text
from .callbacks import (
    BEST_NAME,
    AtomicCSVLogger,
    BestModel,
    Checkpoint,
    ResumeFit,
    load_checkpoint,
    set_rng_state,
)
from .config import MIN_LR_FIND_ITERS

__all__ = ["find_lr", "fit_reference", "Stage", "plan_stages", "is_frozen", "merge_logs"]

PathLike = Union[str, Path]


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


@dataclass
class Stage:
    """One ``fit_one_cycle`` of the recipe: `epochs` at `lr` (a float, or a slice for discriminative rates)
    with the encoder `frozen` or not."""

    epochs: int
    lr: Union[float, slice]
    frozen: bool


def plan_stages(learn: Learner, epochs: int, lr: float, unfrozen_epochs: int = 0,
                unfrozen_lr: Optional[slice] = None) -> List[Stage]:
    """The stages of :func:`fit_reference`: `epochs` at ``slice(lr)`` (frozen when the learner is), then
    `unfrozen_epochs` with everything trainable at `unfrozen_lr` (default ``slice(lr / 400, lr / 4)``)."""
    stages = [Stage(epochs, slice(lr), is_frozen(learn))]
    if unfrozen_epochs:
        stages.append(Stage(unfrozen_epochs, unfrozen_lr or slice(lr / 400, lr / 4), False))
    return stages


def _one_cycle(learn: Learner, n_epoch: int, lr_max, pct_start: float, start_epoch: int, cbs: List[Callback],
               smooth_loss: Optional[Dict] = None):
    """fastai's ``fit_one_cycle`` of `n_epoch` epochs, or its continuation from `start_epoch` exactly as the
    uninterrupted one goes on (:class:`~dronefast.training.callbacks.ResumeFit`)."""
    if start_epoch:
        cbs = [ResumeFit(start_epoch, n_epoch, smooth_loss), *cbs]
    learn.fit_one_cycle(n_epoch - start_epoch, lr_max, pct_start=pct_start, cbs=cbs)


def _restore(learn: Learner, tracker: BestModel, stages: List[Stage]) -> Tuple[int, int, Dict]:
    """Load the checkpoint of an interrupted run into `learn` and `tracker`; ``(stage, epochs done in it, the
    checkpoint's progress and random states)``. At a stage boundary the best weights so far are loaded, as
    ``SaveModelCallback`` loads them at the end of a stage."""
    state = load_checkpoint(learn)
    progress = state["progress"]
    if progress.get("best") is not None:
        tracker.best = progress["best"]
    stage, done = int(progress["stage"]), int(progress["epochs_done"])
    best = learn.path / learn.model_dir / f"{BEST_NAME}.pth"
    if stage + 1 < len(stages) and done >= stages[stage].epochs and best.is_file():
        learn.load(BEST_NAME, with_opt=False)
    return stage, done, state


def fit_reference(learn: Learner, epochs: int = 10, lr: float = 1e-3, pct_start: float = 0.8,
                  unfrozen_epochs: int = 0, unfrozen_lr: Optional[slice] = None, monitor: str = "accuracy_mask",
                  comp=None, resume: bool = False, log_name: str = "history.csv") -> pd.DataFrame:
    """The reference recipe: ``fit_one_cycle(epochs, slice(lr), pct_start=0.8)`` keeping the best epoch.

    Args:
        learn: a learner from :func:`~dronefast.models.learner.drone_learner` (frozen if pretrained).
        epochs: epochs of the first stage (encoder frozen when the learner is).
        lr: maximum learning rate of the first stage (e.g. from :func:`find_lr`).
        pct_start: share of the cycle spent warming up (the reference's 0.8).
        unfrozen_epochs: epochs of a second stage with the whole network unfrozen (0: none).
        unfrozen_lr: learning rates of that stage; default ``slice(lr / 400, lr / 4)`` (fastai's CamVid lesson),
            the encoder's early layers getting the smallest.
        monitor, comp: the value the best epoch is chosen by (any metric or loss; comp np.greater / np.less,
            default by name as fastai does).
        resume: continue from ``models/last.pth`` of an interrupted run (optimizer state, random states and
            progress included); stages and epochs already done are skipped, and the history comes out as an
            uninterrupted run's (module docstring). RunFolderError when there is nothing to resume.
        log_name: CSV history file in ``learn.path`` (a ``stage`` column tells the stages apart).

    Returns:
        The history as a DataFrame (one row per epoch: stage, epoch, train_loss, valid_loss, metrics, time).
        The best weights (``models/best.pth``) are loaded into `learn` at the end. Launched distributed, only
        rank 0 writes the checkpoint and the logs (and returns the history; the other ranks an empty frame).
    """
    stages = plan_stages(learn, epochs, lr, unfrozen_epochs, unfrozen_lr)
    few = too_few_to_choose_on(len(learn.dls.valid_ds))
    if few is not None and not rank_distrib():
        warnings.warn(f"the best epoch is chosen on {few}: the choice and the validation scores may say little "
                      f"about other photos (valid_pct / --valid-pct)", RuntimeWarning, stacklevel=2)
    tracker = BestModel(monitor=monitor, comp=comp, fname=BEST_NAME, reset_on_fit=False)
    done_stage, done_epochs, state = _restore(learn, tracker, stages) if resume else (0, 0, None)
    make_folder(learn.path)
    logs, ran = [f"{Path(log_name).stem}.stage{i}.csv" for i in range(len(stages))], False
    for i, st in enumerate(stages):
        if i < done_stage or (i == done_stage and done_epochs >= st.epochs):
            continue
        start = done_epochs if i == done_stage else 0
        # fastai's freeze/unfreeze clear the optimizer state: keep the one loaded from the checkpoint
        opt_state = learn.opt.state_dict() if start > 0 and learn.opt is not None else None
        learn.freeze() if st.frozen else learn.unfreeze()
        if opt_state is not None:
            learn.opt.load_state_dict(opt_state)
        cbs = [tracker, Checkpoint(i, tracker)]
        if not rank_distrib():
            cbs.append(AtomicCSVLogger(logs[i], append=start > 0, keep=start))
        if resume and not ran:
            set_rng_state(state["rng"], learn.dls)  # last, so that nothing draws from them before training does
        _one_cycle(learn, st.epochs, st.lr, pct_start, start, cbs,
                   state["progress"].get("smooth_loss") if resume and not ran else None)
        ran = True
    if resume and not ran and (learn.path / learn.model_dir / f"{BEST_NAME}.pth").is_file():
        learn.load(BEST_NAME, with_opt=False)  # a finished run: the best weights, as SaveModelCallback leaves them
    if rank_distrib():
        return pd.DataFrame()  # rank 0 writes the logs and the history
    history = merge_logs(learn.path, logs)
    write_text(learn.path / log_name, history.to_csv(index=False))
    return history


def is_frozen(learn: Learner) -> bool:
    """True when the encoder's weights do not train (``unet_learner`` freezes pretrained encoders; their
    normalisation layers keep training, as fastai's ``train_bn`` wants, so they are not looked at)."""
    model = getattr(learn.model, "_orig_mod", learn.model)  # a torch.compile'd model: the module it wraps
    return not any(p.requires_grad for m in model[0].modules() if not isinstance(m, norm_types)
                   for p in m.parameters(recurse=False))


def merge_logs(path: Path, logs: List[str]) -> pd.DataFrame:
    """The per-stage CSV logs in `path` as one history (a ``stage`` column first; missing logs skipped)."""
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
