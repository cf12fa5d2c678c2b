"""Segmentation metrics: pixel accuracy with a void class, and IoU / Dice from one confusion matrix.

Everything is computed from a ``(C, C)`` confusion matrix (rows = true class, columns = predicted class)
accumulated over the whole validation set, so mIoU and the accuracies are dataset-level numbers, not means
of per-batch values (fastai's ``AvgMetric`` averages per batch, weighted by the number of images, which is
not the pixel accuracy of the set once images hold different numbers of non-void pixels).

Void class (id 0, ``unlabeled``, in the Semantic Drone Dataset): pixels whose *truth* is void are left out of
every void-aware score (their row of the matrix is dropped), and the void class gets no IoU/Dice (NaN), so a
model is neither rewarded nor punished for what it predicts on unlabeled ground. Predicting the void class on
a labelled pixel still counts as a miss for the true class. ``void_code=None`` scores every pixel.

mIoU rule: the mean of the per-class IoU over the classes that occur in the ground truth or in the predictions
of the scored pixels; a class absent from both has IoU NaN and is left out (not counted as 0 or 1); a class
that is only predicted has IoU 0 and is counted; the void class is never counted.

fastai metrics (all read one shared :class:`ConfusionMetric`, the "hub"; every ``value`` is a float)::

    seg = ConfusionMetric(n_classes=24, void_code=0, class_names=codes)
    learn = unet_learner(dls, resnet34, metrics=[AccuracyMask(hub=seg), MeanIoU(hub=seg)])
    learn.fit_one_cycle(1)
    seg.confusion, seg.per_class("iou"), seg.scores()     # after training; or per_class_iou(learn)

``segmentation_metrics(...)`` builds that list in one call. The table shows columns ``accuracy_mask`` and
``miou``.

Distributed training: each rank fills its own matrix from its shard. Set ``reduce_fn=all_reduce_sum`` on the
hub so the matrix is summed across ranks (once per read, on every rank: fastai's Recorder reads metric values
on every rank, so the collective calls match). fastai's ``DistributedDL`` pads the last round by repeating up
to ``world_size - 1`` validation images so every rank gets as many; :meth:`ConfusionMetric.accumulate` drops
those repeats, so every validation pixel is counted exactly once across ranks. The default ``reduce_fn`` is
the identity (single process).
"""
from __future__ import annotations

import math
import weakref
from typing import Callable, Dict, List, Optional, Sequence

import torch
from fastai.learner import Metric
from torch import Tensor

__all__ = [
    "accuracy_mask", "pixel_accuracy", "confusion_matrix", "iou_per_class", "dice_per_class", "class_accuracy",
    "mean_iou", "pixel_accuracy_from_cm", "scores_from_confusion", "all_reduce_sum", "ConfusionMetric",
    "AccuracyMask", "PixelAccuracy", "MeanIoU", "segmentation_metrics", "find_confusion_metric",
    "per_class_iou",
]

MIOU_RULE = ("mean of per-class IoU over the classes present in the ground truth or the predictions of the "
             "scored pixels; classes absent from both are left out; the void class is excluded")


def _plain(t: Tensor) -> Tensor:
    """`t` as a plain torch.Tensor (fastai's TensorMask/TensorBase subclasses refuse some mixed ops)."""
    return t.as_subclass(Tensor) if type(t) is not Tensor else t


def _squeeze_targ(targ: Tensor, ndim_pred_ids: int) -> Tensor:
    """Drop the channel axis of a ``(B, 1, H, W)`` target so it matches ``(B, H, W)`` predicted ids."""
    if targ.ndim == ndim_pred_ids + 1 and targ.shape[1] == 1:
        return targ.squeeze(1)
    return targ


# ---------------------------------------------------------------------------------------------------------
# Per-batch functions (fastai v1 style, usable with fastai's AvgMetric)
# ---------------------------------------------------------------------------------------------------------

def accuracy_mask(inp: Tensor, targ: Tensor, void_code: Optional[int] = -1) -> Tensor:
    """Pixel accuracy of one batch, leaving out pixels whose target is `void_code` (reference notebook).

    Faithful to the fastai v1 reference: ``(input.argmax(dim=1)[mask] == target[mask]).float().mean()``.
    The reference's ``void_code=-1`` excludes nothing; ``0`` (``unlabeled``) is the natural void here, and
    ``None`` also excludes nothing. Passed to a Learner as ``functools.partial(accuracy_mask, void_code=0)``
    fastai averages it per batch (column ``accuracy_mask``); :class:`AccuracyMask` gives the exact
    dataset-level value instead.

    Args:
        inp: logits, shape ``(B, C, H, W)``.
        targ: class ids, shape ``(B, H, W)`` or ``(B, 1, H, W)``.
        void_code: target id to leave out, or None / -1 for none.

    Returns:
        A 0-dim float tensor in [0, 1]; NaN if every pixel is void.
    """
    inp, targ = _plain(inp), _plain(targ)
    pred = inp.argmax(dim=1)
    targ = _squeeze_targ(targ, pred.ndim)
    if void_code is None:
        return (pred == targ).float().mean()
    mask = targ != void_code
    return (pred[mask] == targ[mask]).float().mean()


def pixel_accuracy(inp: Tensor, targ: Tensor) -> Tensor:
    """Pixel accuracy of one batch over all pixels: logits ``(B, C, H, W)`` vs ids ``(B[, 1], H, W)``;
    a 0-dim float tensor."""
    return accuracy_mask(inp, targ, void_code=None)


# ---------------------------------------------------------------------------------------------------------
# Confusion matrix and the scores read from it
# ---------------------------------------------------------------------------------------------------------

def _confusion(pred_ids: Tensor, targ_ids: Tensor, n_classes: int, void_code: Optional[int],
               check_pred: bool) -> Tensor:
    pred_ids, targ_ids = _plain(pred_ids), _plain(targ_ids)
    targ_ids = _squeeze_targ(targ_ids, pred_ids.ndim)
    if pred_ids.shape != targ_ids.shape:
        raise ValueError(f"predicted ids have shape {tuple(pred_ids.shape)} but targets "
                         f"{tuple(targ_ids.shape)}")
    p = pred_ids.reshape(-1).long()
    t = targ_ids.reshape(-1).long()
    if check_pred and p.numel() and bool(((p < 0) | (p >= n_classes)).any()):
        raise ValueError(f"predicted ids must lie in [0, {n_classes}), found "
                         f"{int(p.min())}..{int(p.max())}")
    # Targets outside [0, C) (e.g. an ignore value 255) should have been rejected by the dataset check;
    # here they are dropped silently, like void pixels.
    keep = (t >= 0) & (t < n_classes)
    if void_code is not None:
        keep &= t != void_code
    idx = t[keep] * n_classes + p[keep]
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confusion_matrix(pred_ids: Tensor, targ_ids: Tensor, n_classes: int,
                     void_code: Optional[int] = None) -> Tensor:
    """Count pixels by (true class, predicted class).

    Vectorised with ``torch.bincount``; the result lies on the inputs' device (CPU or GPU).

    Args:
        pred_ids: predicted class ids, any shape, e.g. ``(B, H, W)`` (``logits.argmax(1)``); every id
            must lie in ``[0, n_classes)`` (ValueError otherwise).
        targ_ids: true class ids, same shape (a ``(B, 1, H, W)`` target is squeezed). Pixels whose target
            is `void_code`, or lies outside ``[0, n_classes)``, are not counted; out-of-range targets are
            meant to be rejected earlier by the dataset check, and are ignored here.
        n_classes: C, the number of classes.
        void_code: target id to leave out, or None to count every in-range pixel.

    Returns:
        LongTensor ``(C, C)``: entry ``[i, j]`` = number of pixels of true class i predicted as class j.
    """
    return _confusion(pred_ids, targ_ids, int(n_classes), void_code, check_pred=True)


def _counts(cm: Tensor, void_code: Optional[int]):
    """(tp, fp, fn) per class as float64 after dropping the void row, plus the void index (or None)."""
    cm = _plain(cm).detach().to("cpu", torch.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C, C), got shape {tuple(cm.shape)}")
    n = cm.shape[0]
    v = void_code if void_code is not None and 0 <= void_code < n else None
    if v is not None:
        cm = cm.clone()
        cm[v, :] = 0
    tp = cm.diagonal()
    return tp, cm.sum(0) - tp, cm.sum(1) - tp, v


def _ratio(num: Tensor, den: Tensor, void: Optional[int]) -> Tensor:
    out = torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, math.nan))
    if void is not None:
        out[void] = math.nan
    return out


def iou_per_class(cm: Tensor, void_code: Optional[int] = None) -> Tensor:
    """Intersection over union of each class, ``tp / (tp + fp + fn)``, from a ``(C, C)`` confusion matrix.

    Pixels whose truth is `void_code` are dropped first. Returns a float64 tensor ``(C,)`` on the CPU: NaN for
    a class absent from both truth and prediction and for the void class; 0 for a class only predicted.
    """
    tp, fp, fn, v = _counts(cm, void_code)
    return _ratio(tp, tp + fp + fn, v)


def dice_per_class(cm: Tensor, void_code: Optional[int] = None) -> Tensor:
    """Dice (F1) of each class, ``2 tp / (2 tp + fp + fn)``, from a ``(C, C)`` confusion matrix; float64
    ``(C,)`` on the CPU, NaN as in :func:`iou_per_class`."""
    tp, fp, fn, v = _counts(cm, void_code)
    return _ratio(2 * tp, 2 * tp + fp + fn, v)


def class_accuracy(cm: Tensor, void_code: Optional[int] = None) -> Tensor:
    """Recall of each class, ``tp / (tp + fn)`` (share of its true pixels predicted right), from a
    ``(C, C)`` confusion matrix; float64 ``(C,)`` on the CPU, NaN for a class absent from the truth and for
    the void class."""
    tp, _, fn, v = _counts(cm, void_code)
    return _ratio(tp, tp + fn, v)


def _nanmean(x: Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else math.nan


def mean_iou(cm: Tensor, void_code: Optional[int] = None) -> float:
    """Mean IoU: the mean of :func:`iou_per_class` over the classes that are not NaN (present in truth or
    prediction, void excluded); NaN if there are none."""
    return _nanmean(iou_per_class(cm, void_code))


def pixel_accuracy_from_cm(cm: Tensor, void_code: Optional[int] = None) -> float:
    """Share of counted pixels predicted right (trace / sum) of a ``(C, C)`` confusion matrix, leaving out
    pixels whose truth is `void_code` (so with ``void_code=0`` this is the dataset-level accuracy_mask);
    NaN if no pixel is counted."""
    tp, _, fn, _ = _counts(cm, void_code)
    total = float((tp + fn).sum())
    return float(tp.sum()) / total if total > 0 else math.nan


def _json_float(x: float) -> Optional[float]:
    x = float(x)
    return None if math.isnan(x) else x


def scores_from_confusion(cm: Tensor, class_names: Optional[Sequence[str]] = None,
                          void_code: Optional[int] = 0) -> dict:
    """All scores of a ``(C, C)`` confusion matrix as a JSON-ready dict (NaN written as None).

    Args:
        cm: confusion matrix, rows = truth, columns = prediction (:func:`confusion_matrix` with
            ``void_code=None``, so that void pixels are still in it for ``pixel_accuracy``).
        class_names: C names in id order (default ``"0"``, ``"1"``, ...).
        void_code: id of the void class, or None.

    Returns:
        ``{"pixel_accuracy": all counted pixels, "accuracy_mask": void truth excluded, "miou", "mean_dice",
        "void_code", "void_class", "miou_classes": names counted in the mIoU, "miou_rule": text,
        "n_pixels", "n_scored_pixels": non-void pixels, "iou"/"dice"/"class_accuracy": {name: value},
        "support": {name: true pixel count}}``.
    """
    cm = _plain(cm).detach().cpu().long()
    n = cm.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else list(class_names)
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for a {n}x{n} confusion matrix")
    iou, dice, rec = iou_per_class(cm, void_code), dice_per_class(cm, void_code), class_accuracy(cm, void_code)
    v = void_code if void_code is not None and 0 <= void_code < n else None
    support = cm.sum(1)
    return {
        "pixel_accuracy": _json_float(pixel_accuracy_from_cm(cm, None)),
        "accuracy_mask": _json_float(pixel_accuracy_from_cm(cm, void_code)),
        "miou": _json_float(_nanmean(iou)),
        "mean_dice": _json_float(_nanmean(dice)),
        "void_code": void_code,
        "void_class": names[v] if v is not None else None,
        "miou_classes": [nm for nm, x in zip(names, iou.tolist()) if not math.isnan(x)],
        "miou_rule": MIOU_RULE,
        "n_pixels": int(support.sum()),
        "n_scored_pixels": int(support.sum() - (support[v] if v is not None else 0)),
        "iou": {nm: _json_float(x) for nm, x in zip(names, iou.tolist())},
        "dice": {nm: _json_float(x) for nm, x in zip(names, dice.tolist())},
        "class_accuracy": {nm: _json_float(x) for nm, x in zip(names, rec.tolist())},
        "support": {nm: int(s) for nm, s in zip(names, support.tolist())},
    }


# ---------------------------------------------------------------------------------------------------------
# fastai metrics
# ---------------------------------------------------------------------------------------------------------

def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum `t` over all ranks with ``torch.distributed.all_reduce`` (a copy; `t` is left alone).

    Identity when no process group is initialised. With the NCCL backend `t` must be on the rank's GPU, which
    is where :class:`ConfusionMetric` keeps its matrix (the device of ``learn.pred``).
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _unpadded_count(dl, bs: int) -> int:
    """How many of the current batch's `bs` samples are real, not the repeats fastai's ``DistributedDL`` adds
    so that every rank gets the same number of items (all `bs` outside distributed loaders).

    Rank ``r`` reads items ``r * n_padded // world_size + j`` of the padded index list; positions from ``n`` on
    are repeats. ``dl.i`` counts the samples this rank has yielded, the current batch included.
    """
    if dl is None or not all(hasattr(dl, a) for a in ("i", "n", "n_padded", "rank", "world_size")):
        return bs
    first = dl.rank * dl.n_padded // dl.world_size + dl.i - bs
    return max(0, min(bs, dl.n - first))


class ConfusionMetric(Metric):
    """fastai metric hub: one ``(C, C)`` confusion matrix over every pixel of the validation set.

    Filled in ``accumulate(learn)`` from ``learn.pred.argmax(axis)`` and ``learn.y`` on the device of the
    predictions, with every in-range pixel (void included, so both pixel_accuracy and accuracy_mask can be read
    from it). Several light metrics (:class:`MeanIoU`, :class:`AccuracyMask`, :class:`PixelAccuracy`) may share
    one hub: each forwards ``reset``/``accumulate`` to it and the hub counts each batch once. Used directly in
    ``metrics`` its ``value`` is the mean IoU (column ``miou``).

    Args:
        n_classes: C; None to take it from the model output at the first batch.
        void_code: id of the void class for mIoU, per-class scores and :meth:`scores` (None: no void).
        class_names: C names in id order for :meth:`per_class` and :meth:`scores`.
        reduce_fn: applied to the matrix when it is read (e.g. :func:`all_reduce_sum` in distributed
            training); default identity. It is called once per read after each change, on every rank.
        axis: class axis of ``learn.pred``.
    """

    def __init__(self, n_classes: Optional[int] = None, void_code: Optional[int] = 0,
                 class_names: Optional[Sequence[str]] = None,
                 reduce_fn: Optional[Callable[[Tensor], Tensor]] = None, axis: int = 1):
        if class_names is not None:
            class_names = list(class_names)
            if n_classes is None:
                n_classes = len(class_names)
            elif len(class_names) != n_classes:
                raise ValueError(f"{len(class_names)} class names for n_classes={n_classes}")
        self.n_classes, self.void_code, self.class_names = n_classes, void_code, class_names
        self.reduce_fn, self.axis = reduce_fn, axis
        self.reset()

    @property
    def name(self) -> str:
        return "miou"

    def reset(self) -> None:
        """Empty the matrix (fastai calls this before each validation)."""
        self._cm: Optional[Tensor] = None
        self._last_pred = None
        self._version, self._cache = 0, None

    def __getstate__(self) -> dict:
        # learn.export() pickles the metrics: a weakref cannot be pickled, and the matrix goes to the CPU so
        # that load_learner works without a GPU.
        state = self.__dict__.copy()
        state["_last_pred"], state["_cache"] = None, None
        if state["_cm"] is not None:
            state["_cm"] = state["_cm"].cpu()
        return state

    def update(self, pred_ids: Tensor, targ_ids: Tensor) -> None:
        """Add one batch of predicted ids ``(B, H, W)`` and true ids ``(B[, 1], H, W)`` to the matrix
        (for evaluation loops outside a Learner)."""
        if self.n_classes is None:
            raise ValueError("n_classes is unknown: pass it to ConfusionMetric or accumulate a learner batch")
        self._add(_confusion(pred_ids, targ_ids, self.n_classes, None, check_pred=True))

    def _add(self, cm: Tensor) -> None:
        if self._cm is None:
            self._cm = cm
        else:
            self._cm += cm.to(self._cm.device)
        self._version += 1

    def accumulate(self, learn) -> None:
        """Add the batch in ``learn.pred`` (logits ``(B, C, H, W)``) and ``learn.y`` (ids) to the matrix,
        once per batch however many metrics share this hub."""
        pred = learn.pred
        if not isinstance(pred, Tensor):
            raise TypeError(f"segmentation metrics need learn.pred to be a tensor, got {type(pred).__name__}")
        if self._last_pred is not None and self._last_pred() is pred:
            return
        self._last_pred = weakref.ref(pred)
        n = pred.shape[self.axis]
        if self.n_classes is None:
            self.n_classes = n
        elif n != self.n_classes:
            raise ValueError(f"the model outputs {n} classes but the metric expects {self.n_classes}")
        targ = learn.y
        keep = _unpadded_count(getattr(learn, "dl", None), pred.shape[0])
        if keep < pred.shape[0]:
            pred, targ = pred[:keep], targ[:keep]
        with torch.no_grad():
            ids = _plain(pred).detach().argmax(dim=self.axis)
            self._add(_confusion(ids, _plain(targ).detach(), self.n_classes, None, check_pred=False))

    @property
    def confusion(self) -> Tensor:
        """The accumulated (and reduced) matrix: CPU LongTensor ``(C, C)``, rows = truth, cols = prediction."""
        if self._cache is not None and self._cache[0] == self._version:
            return self._cache[1]
        if self._cm is None:
            cm = torch.zeros(self.n_classes or 0, self.n_classes or 0, dtype=torch.long)
        else:
            cm = self._cm if self.reduce_fn is None else self.reduce_fn(self._cm)
        cm = cm.detach().cpu().long()
        self._cache = (self._version, cm)
        return cm

    def _names(self) -> List[str]:
        n = self.confusion.shape[0]
        return self.class_names if self.class_names is not None else [str(i) for i in range(n)]

    def per_class(self, kind: str = "iou") -> Dict[str, float]:
        """Per-class score by class name: `kind` is ``"iou"``, ``"dice"`` or ``"accuracy"`` (recall);
        NaN for absent classes and the void class."""
        fns = {"iou": iou_per_class, "dice": dice_per_class, "accuracy": class_accuracy}
        if kind not in fns:
            raise ValueError(f"kind must be one of {', '.join(fns)}, got {kind!r}")
        return dict(zip(self._names(), fns[kind](self.confusion, self.void_code).tolist()))

    def scores(self) -> dict:
        """:func:`scores_from_confusion` of the accumulated matrix (JSON-ready)."""
        return scores_from_confusion(self.confusion, self._names(), self.void_code)

    @property
    def value(self) -> float:
        """Mean IoU of the accumulated matrix (void excluded); NaN before any batch."""
        return mean_iou(self.confusion, self.void_code)


class _HubReader(Metric):
    """A light metric reading a shared :class:`ConfusionMetric` (a private one if `hub` is None)."""

    def __init__(self, n_classes: Optional[int] = None, void_code: Optional[int] = 0,
                 class_names: Optional[Sequence[str]] = None,
                 reduce_fn: Optional[Callable[[Tensor], Tensor]] = None, hub: Optional[ConfusionMetric] = None):
        if hub is None:
            hub = ConfusionMetric(n_classes, void_code, class_names, reduce_fn)
        elif n_classes is not None or class_names is not None or reduce_fn is not None:
            raise ValueError("give n_classes, class_names and reduce_fn to the hub, not to a metric reading it")
        self.hub = hub

    def reset(self) -> None:
        self.hub.reset()

    def accumulate(self, learn) -> None:
        self.hub.accumulate(learn)

    @property
    def confusion(self) -> Tensor:
        """The hub's accumulated matrix, CPU LongTensor ``(C, C)``."""
        return self.hub.confusion

    def per_class(self, kind: str = "iou") -> Dict[str, float]:
        """The hub's per-class scores by class name (see :meth:`ConfusionMetric.per_class`)."""
        return self.hub.per_class(kind)

    def scores(self) -> dict:
        """The hub's JSON-ready scores (see :func:`scores_from_confusion`)."""
        return self.hub.scores()


class MeanIoU(_HubReader):
    """fastai metric ``miou``: dataset-level mean IoU, void class excluded (see the module docstring).

    Args:
        n_classes: C (None: from the model output); only without `hub`.
        void_code: void class id (0 = ``unlabeled``; None: no void); with `hub` it must equal the hub's.
        class_names: C names in id order for per-class results; only without `hub`.
        reduce_fn: see :class:`ConfusionMetric`; only without `hub`.
        hub: a shared :class:`ConfusionMetric`; None makes a private one from the arguments above.
    """

    def __init__(self, n_classes: Optional[int] = None, void_code: Optional[int] = 0,
                 class_names: Optional[Sequence[str]] = None,
                 reduce_fn: Optional[Callable[[Tensor], Tensor]] = None, hub: Optional[ConfusionMetric] = None):
        if hub is not None and void_code != hub.void_code:
            raise ValueError(f"void_code={void_code} differs from the hub's void_code={hub.void_code}")
        super().__init__(n_classes, void_code, class_names, reduce_fn, hub)

    @property
    def name(self) -> str:
        return "miou"

    @property
    def value(self) -> float:
        return mean_iou(self.hub.confusion, self.hub.void_code)


class AccuracyMask(_HubReader):
    """fastai metric ``accuracy_mask``: dataset-level pixel accuracy over the pixels whose truth is not
    `void_code` (correct / counted pixels of the whole validation set, not a mean of batches).

    Unlike :func:`accuracy_mask`, targets outside ``[0, C)`` are not counted (see :func:`confusion_matrix`).

    Args:
        void_code: truth id to leave out (0 = ``unlabeled``); None or -1 leaves nothing out. May differ from a
            shared hub's void_code (it only sets this metric's value).
        n_classes, class_names, reduce_fn: for a private hub (see :class:`ConfusionMetric`).
        hub: a shared :class:`ConfusionMetric`; None makes a private one.
    """

    def __init__(self, void_code: Optional[int] = 0, n_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None,
                 reduce_fn: Optional[Callable[[Tensor], Tensor]] = None, hub: Optional[ConfusionMetric] = None):
        super().__init__(n_classes, void_code, class_names, reduce_fn, hub)
        self.void_code = void_code

    @property
    def name(self) -> str:
        return "accuracy_mask"

    @property
    def value(self) -> float:
        return pixel_accuracy_from_cm(self.hub.confusion, self.void_code)


class PixelAccuracy(_HubReader):
    """fastai metric ``pixel_accuracy``: dataset-level accuracy over every pixel, void included.

    Args:
        n_classes, void_code, class_names, reduce_fn: for a private hub (void_code only affects its
            per-class scores); see :class:`ConfusionMetric`.
        hub: a shared :class:`ConfusionMetric`; None makes a private one.
    """

    @property
    def name(self) -> str:
        return "pixel_accuracy"

    @property
    def value(self) -> float:
        return pixel_accuracy_from_cm(self.hub.confusion, None)


def segmentation_metrics(n_classes: Optional[int] = None, void_code: Optional[int] = 0,
                         class_names: Optional[Sequence[str]] = None,
                         reduce_fn: Optional[Callable[[Tensor], Tensor]] = None) -> List[Metric]:
    """``[AccuracyMask, MeanIoU]`` sharing one :class:`ConfusionMetric` (reach it as ``metrics[0].hub``).

    Args:
        n_classes: C (None: from the model output).
        void_code: void class id (0 = ``unlabeled``), used by both metrics.
        class_names: C names in id order for per-class results.
        reduce_fn: see :class:`ConfusionMetric` (``all_reduce_sum`` in distributed training).
    """
    hub = ConfusionMetric(n_classes, void_code, class_names, reduce_fn)
    return [AccuracyMask(void_code, hub=hub), MeanIoU(void_code=void_code, hub=hub)]


def find_confusion_metric(learn) -> ConfusionMetric:
    """The first :class:`ConfusionMetric` among ``learn.metrics`` (directly or as a reader's hub);
    ValueError if there is none."""
    for m in learn.metrics:
        if isinstance(m, ConfusionMetric):
            return m
        if isinstance(getattr(m, "hub", None), ConfusionMetric):
            return m.hub
    raise ValueError("the learner has no confusion-matrix metric (add MeanIoU or AccuracyMask to its metrics)")


def per_class_iou(learn) -> Dict[str, float]:
    """IoU by class name from the learner's confusion-matrix metric after its last validation (NaN for
    absent classes and the void class)."""
    return find_confusion_metric(learn).per_class("iou")
