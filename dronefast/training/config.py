"""Every setting of a training run in one keyword-only object, and how a recipe fills the ones left unset.

``TrainConfig(data=..., epochs=30)`` holds what the caller asked for (``None`` = "the recipe's value");
:meth:`TrainConfig.resolve` returns a :class:`ResolvedConfig` in which the recipe and the data have decided
everything. ``python -m dronefast.train`` builds its ``TrainConfig`` from the command line; in Python,
``dronefast.train(data=..., epochs=30)`` or ``dronefast.train(TrainConfig(...))``. The module imports nothing
heavy, so command-line help stays fast.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from ..data.split import Split
from ..errors import UsageError
from ..models.archs import DEFAULT_ARCH, arch_names
from ..models.description import MAX_MODEL_PIXELS, MAX_MODEL_SIDE
from .recipes import DEFAULT_RECIPE, RECIPES, WEIGHT_METHODS, Recipe, get_recipe

__all__ = ["TrainConfig", "ResolvedConfig", "MIN_LR_FIND_ITERS", "AUGMENTS", "PRECISION_CHOICES", "MONITORS", "MAX_LR",
           "MAX_EPOCHS", "MIN_SIDE", "MAX_VOID_CODE", "SettingError"]

#: lr_find needs this many steps: fastai's suggestion drops the first 10% and the last 5 recorded losses.
MIN_LR_FIND_ITERS = 20
AUGMENTS = ("fastai", "nadir", "none")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
#: What the best epoch can be chosen by: the columns of the history a training run records (its losses and the
#: metrics :func:`~dronefast.models.learner.drone_learner` adds).
MONITORS = ("miou", "accuracy_mask", "valid_loss", "train_loss")
#: Largest learning rate accepted: far above any that trains (AdamW diverges beyond about 1e-1 here).
MAX_LR = 10.0
#: Most epochs of a stage accepted (a typo such as 10**12 would otherwise run for ever).
MAX_EPOCHS = 10_000
#: Smallest training size a side: the encoders' total stride (32), at which the deepest feature map is one cell;
#: below it the deepest layers see only padding (and below 8 px fastai's U-Net fails).
MIN_SIDE = 32
#: Class ids are stored in 8 bits; the void class must be one of them (or -1: none).
MAX_VOID_CODE = 254
PathLike = Union[str, Path]
Size = Tuple[int, int]


class SettingError(UsageError):
    """A training setting out of range, named as Python spells it (``void_code``) or, through :meth:`for_cli`, as the
    command line does (``--void-code``)."""

    def __init__(self, name: str, problem: str):
        self.name, self.problem = name, problem
        super().__init__(f"{name} {problem}")

    def for_cli(self) -> str:
        return f"--{self.name.replace('_', '-')} {self.problem}"


@dataclass(kw_only=True)
class TrainConfig:
    """What to train and how; every field left None takes the recipe's value (:mod:`dronefast.training.recipes`),
    which for ``nadir`` depends on `pretrained`.

    Args:
        data: dataset folder (Kaggle, TU Graz or prepared layout); None = the built-in sample.
        out: output folder.
        recipe: ``"nadir"`` (default), ``"reference"`` or a :class:`~dronefast.training.recipes.Recipe`.
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``, ``pm-resnet50``).
        size: training ``(height, width)``; default the recipe's (``Recipe.size``, or ``Recipe.sample_size`` on
            the sample).
        bs: batch size per process (launched on N processes, the global batch is N x bs).
        epochs, unfrozen_epochs: epochs of the (frozen, if pretrained) first stage and the unfrozen second one.
        lr: maximum learning rate; ``"auto"`` runs ``lr_find`` (`lr_find_iters` steps) and takes its suggestion.
        pct_start: warm-up share of the one-cycle schedule (reference: 0.8).
        monitor: metric whose best epoch is kept.
        augment: None: the recipe's augmentations; ``"fastai"``, ``"nadir"`` or ``"none"``.
        class_weights: replaces the recipe's class weighting of the cross-entropy (``inv_sqrt``, ``inv``,
            ``none``); the loss then ignores the void class.
        dice: replaces the recipe's weight of the soft Dice term (the loss then ignores the void class).
        valid_pct, seed: the random validation split; `seed` also seeds the weights' initialisation, the batch
            order and the augmentations (a run repeats exactly on one device).
        test_pct: share of the photos set aside, before the validation split, for an honest final score: training
            never sees them and the best epoch is never chosen on them (0: no test split).
        test_stems: file stems of the test photos, instead of `test_pct`.
        work_size: object-scale training: ``(height, width)`` whole photos are brought to, training items being
            random windows of `size` from them; default the recipe's.
        whole_photos: train on whole photos squished to `size` even if the recipe works at object scale.
        repeats: windows drawn from each training photo per epoch (object-scale training); default the recipe's.
        context: object-scale training items show between 1x and `context` times a window's extent, shrunk to
            `size` (1: plain windows); default the recipe's.
        pretrained: ImageNet encoder weights; None = yes for real data, no for the synthetic sample.
        weights: local encoder checkpoint (offline machines).
        resume: continue an interrupted run in `out` from its last checkpoint.
        overwrite: replace the run in `out` (finished or interrupted); without it such a folder is refused.
        keep_checkpoint: keep the checkpoint (``models/``: ``last.pth`` with the optimizer state and
            ``best.pth``, for ``--resume``) after the run finished; by default it is removed then, and the weights
            are kept once, in ``model.safetensors``.
        export_pkl: also write fastai's ``export.pkl`` (``learn.export``: a pickle, the model a second time).
        score_test: score the test photos once training is done (``metrics.json``'s ``test``).
        workers: DataLoader workers (items are cached in memory; 0 is fastest on few cores).
        precision: ``auto`` (bf16/fp16 on GPU, fp32 on CPU), ``fp32``, ``bf16``, ``fp16``.
        void_code: class excluded from accuracy_mask and mIoU (0 = unlabeled; -1 = none, as the reference).
        sync_bn: synchronized batch norm across processes (GPUs only) when launched distributed.
        progress: show progress bars and tables.
        malloc_tuning: keep PyTorch's large CPU blocks in glibc's heap between steps
            (:func:`~dronefast.training.tuning.tune_malloc`: -17% per CPU step in fp32, -31% in bf16).
        channels_last: train in the channels-last (NHWC) memory format (fastai's ``ChannelsLast``); the saved
            model is in the default layout either way.
        args: the command-line arguments, recorded in metrics.json.
    """

    data: Optional[PathLike] = None
    out: PathLike = "runs/train"
    recipe: Union[str, Recipe] = DEFAULT_RECIPE
    arch: str = DEFAULT_ARCH
    size: Optional[Size] = None
    bs: Optional[int] = None
    epochs: Optional[int] = None
    unfrozen_epochs: Optional[int] = None
    lr: Optional[Union[float, str]] = None
    lr_find_iters: int = 100
    pct_start: Optional[float] = None
    monitor: Optional[str] = None
    augment: Optional[str] = None
    class_weights: Optional[str] = None
    dice: Optional[float] = None
    valid_pct: float = 0.1
    seed: int = 42
    test_pct: float = 0.1
    test_stems: Optional[Tuple[str, ...]] = None
    work_size: Optional[Size] = None
    whole_photos: bool = False
    repeats: Optional[int] = None
    context: Optional[float] = None
    pretrained: Optional[bool] = None
    weights: Optional[PathLike] = None
    resume: bool = False
    overwrite: bool = False
    keep_checkpoint: bool = False
    export_pkl: bool = False
    score_test: bool = True
    workers: int = 0
    precision: str = "auto"
    void_code: int = 0
    sync_bn: bool = False
    progress: bool = True
    malloc_tuning: bool = True
    channels_last: bool = True
    args: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        def bad(name: str, want: str) -> None:
            raise ValueError(f"{name} must be {want}, got {getattr(self, name)!r}")

        if not isinstance(self.recipe, Recipe) and self.recipe not in RECIPES:
            bad("recipe", f"one of {', '.join(RECIPES)} or a Recipe")
        if self.arch not in arch_names():
            bad("arch", f"one of {', '.join(arch_names())}")
        if self.size is not None and (len(self.size) != 2 or min(int(v) for v in self.size) < MIN_SIDE
                                      or max(self.size) > MAX_MODEL_SIDE
                                      or self.size[0] * self.size[1] > MAX_MODEL_PIXELS):
            raise ValueError(f"size must be at least {MIN_SIDE} pixels a side (the encoders' stride), at most "
                             f"{MAX_MODEL_SIDE} a side and {MAX_MODEL_PIXELS} pixels (what a model file may hold), "
                             f"got {_wxh(self.size) if len(self.size) == 2 else self.size} (WxH)")
        for name in ("bs", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                bad(name, "at least 1")
        for name in ("unfrozen_epochs", "workers"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                bad(name, ">= 0")
        for name in ("epochs", "unfrozen_epochs"):
            if getattr(self, name) is not None and getattr(self, name) > MAX_EPOCHS:
                bad(name, f"at most {MAX_EPOCHS}")
        if self.lr is not None and self.lr != "auto" and not _good_lr(self.lr):
            bad("lr", f"a number in (0, {MAX_LR:g}] or 'auto'")
        if self.monitor is not None and self.monitor not in MONITORS:
            bad("monitor", f"one of {', '.join(MONITORS)}")
        if not (isinstance(self.void_code, numbers.Integral) and -1 <= self.void_code <= MAX_VOID_CODE):
            bad("void_code", f"a class id (0..{MAX_VOID_CODE}) or -1 (no void class)")
        if self.lr_find_iters < MIN_LR_FIND_ITERS:
            bad("lr_find_iters", f"at least {MIN_LR_FIND_ITERS} (lr_find's suggestion skips the first 10% and the "
                                 f"last 5 steps)")
        for name in ("pct_start", "valid_pct"):
            v = getattr(self, name)
            if v is not None and not 0 < v < 1:
                bad(name, "between 0 and 1 (exclusive)")
        if not 0 <= self.test_pct < 1:
            bad("test_pct", "at least 0 and below 1")
        if self.test_stems is not None and self.test_pct:
            raise ValueError("test_pct and test_stems exclude each other: set test_pct=0 with test_stems")
        if self.work_size is not None and (len(self.work_size) != 2 or min(int(v) for v in self.work_size) < 1):
            bad("work_size", "a positive (height, width)")
        if self.work_size is not None and self.size is not None and not self.whole_photos and _smaller(
                self.work_size, self.size):
            raise _small_work(self.work_size, self.size)
        if self.repeats is not None and self.repeats < 1:
            bad("repeats", "at least 1")
        if self.context is not None and not (math.isfinite(self.context) and self.context >= 1):
            bad("context", "at least 1")
        if self.augment is not None and self.augment not in AUGMENTS:
            bad("augment", f"one of {', '.join(AUGMENTS)}")
        if self.class_weights is not None and self.class_weights not in WEIGHT_METHODS:
            bad("class_weights", f"one of {', '.join(WEIGHT_METHODS)}")
        if self.dice is not None and not (math.isfinite(self.dice) and self.dice >= 0):
            bad("dice", ">= 0")
        if self.precision not in PRECISION_CHOICES:
            bad("precision", f"one of {', '.join(PRECISION_CHOICES)}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with `changes` (field names; unknown names raise TypeError)."""
        return replace(self, **changes)

    def resolve(self) -> "ResolvedConfig":
        """Fill every unset field from the recipe (see :class:`ResolvedConfig`)."""
        on_sample = self.data is None
        pretrained = (bool(self.weights) or not on_sample) if self.pretrained is None else bool(self.pretrained)
        rec = self.recipe if isinstance(self.recipe, Recipe) else get_recipe(self.recipe, pretrained)
        rec = _override(rec, self.augment, self.class_weights, self.dice)
        epochs = self.epochs or (rec.sample_epochs if (on_sample and rec.sample_epochs) else rec.epochs)
        work = None if self.whole_photos else (self.work_size or rec.work_size)
        default_size = rec.size if (work or not on_sample) else rec.sample_size
        size = tuple(self.size) if self.size else default_size
        _check_plan(size, work, rec.bs if self.bs is None else self.bs, rec.lr if self.lr is None else self.lr,
                    rec.monitor if self.monitor is None else self.monitor)
        return ResolvedConfig(
            config=self, recipe=rec, on_sample=on_sample, pretrained=pretrained, out=Path(self.out),
            size=size,
            work_size=tuple(work) if work else None, repeats=(self.repeats or rec.repeats) if work else 1,
            context=(self.context or rec.context) if work else 1.0,
            split=Split(self.valid_pct, self.seed, self.test_pct,
                        None if self.test_stems is None else tuple(self.test_stems)),
            bs=rec.bs if self.bs is None else self.bs, epochs=epochs,
            unfrozen_epochs=rec.unfrozen_epochs if self.unfrozen_epochs is None else self.unfrozen_epochs,
            pct_start=rec.pct_start if self.pct_start is None else self.pct_start,
            monitor=rec.monitor if self.monitor is None else self.monitor,
            lr=rec.lr if self.lr is None else self.lr)

    def as_dict(self) -> Dict[str, Any]:
        """The settings as a JSON-ready dict (paths as strings, a Recipe as its name)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["recipe"] = self.recipe.name if isinstance(self.recipe, Recipe) else self.recipe
        for k in ("data", "out", "weights"):
            d[k] = None if d[k] is None else str(d[k])
        d["size"] = None if self.size is None else list(self.size)
        d["work_size"] = None if self.work_size is None else list(self.work_size)
        d["test_stems"] = None if self.test_stems is None else list(self.test_stems)
        return d


@dataclass(frozen=True)
class ResolvedConfig:
    """A :class:`TrainConfig` with the recipe's values filled in (sizes ``(height, width)``); `lr` may still be
    ``"auto"`` until ``lr_find`` has run."""

    config: TrainConfig
    recipe: Recipe
    on_sample: bool
    pretrained: bool
    out: Path
    size: Size
    work_size: Optional[Size]
    repeats: int
    context: float
    split: Split
    bs: int
    epochs: int
    unfrozen_epochs: int
    pct_start: float
    monitor: str
    lr: Union[float, str]

    def settings(self) -> Dict[str, Any]:
        """What decides the result, JSON-ready (for the run record and the resume check); `lr` as asked for
        (``"auto"`` stays ``"auto"``: the record holds the value lr_find found beside it)."""
        c = self.config
        return {"recipe": self.recipe.name, "recipe_settings": self.recipe.as_dict(), "arch": c.arch,
                "size": list(self.size), "work_size": None if self.work_size is None else list(self.work_size),
                "repeats": self.repeats, "context": self.context, "bs": self.bs, "epochs": self.epochs,
                "unfrozen_epochs": self.unfrozen_epochs, "lr": self.lr,
                "pct_start": self.pct_start, "monitor": self.monitor, **self.split.as_dict(),
                "pretrained": self.pretrained, "weights": None if c.weights is None else str(c.weights),
                "void_code": c.void_code, "precision": c.precision, "channels_last": c.channels_last}


def _good_lr(lr: Any) -> bool:
    return isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and 0 < lr <= MAX_LR


def _wxh(hw: Size) -> str:
    return f"{hw[1]}x{hw[0]}"


def _smaller(work: Size, size: Size) -> bool:
    return int(work[0]) < int(size[0]) or int(work[1]) < int(size[1])


def _small_work(work: Size, size: Size) -> ValueError:
    return ValueError(f"work_size must be at least the training size in both sides (training windows are cut from "
                      f"photos at the working size), got {_wxh(work)} for a training size of {_wxh(size)} (WxH)")


def _check_plan(size: Size, work: Optional[Size], bs: int, lr: Union[float, str], monitor: str) -> None:
    """Refuse (ValueError naming the setting) what the recipe's values and the given ones make together: a working
    scale below the training size, a single-item batch whose deepest feature map is one cell (batch norm cannot
    train on one value per channel), a recipe's lr or monitor out of range."""
    if work is not None and _smaller(work, size):
        raise _small_work(work, size)
    if bs == 1 and all(-(-int(v) // MIN_SIDE) == 1 for v in size):
        raise ValueError(f"bs must be at least 2 at a training size of {_wxh(size)}: the deepest feature map is "
                         f"one cell, and batch norm cannot train on one value per channel (or use a larger size)")
    if lr != "auto" and not _good_lr(lr):
        raise ValueError(f"lr must be a number in (0, {MAX_LR:g}] or 'auto', got {lr!r}")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")


def _override(rec: Recipe, augment: Optional[str], class_weights: Optional[str], dice: Optional[float]) -> Recipe:
    """`rec` with the augmentation and loss settings given explicitly."""
    if augment is not None:
        rec = replace(rec, augment=augment)
    if class_weights is not None:
        rec = replace(rec, weights=class_weights, plain_loss=False)
    if dice is not None:
        rec = replace(rec, dice=float(dice), plain_loss=False)
    return rec



