"""The fastai side of the metrics: a callback that fills one confusion matrix during validation, and the
metrics (``accuracy_mask``, ``miou``, ``pixel_accuracy``) that read it.

fastai's ``AvgMetric`` averages per batch; segmentation scores must be counted over every pixel of the set.
:class:`ConfusionCallback` adds each validation batch's ``(C, C)`` matrix (``learn.pred.argmax(1)`` against
``learn.y``, on the device of the predictions) to a running total, once per batch; the metrics are fastai
``ValueMetric`` s reading that total when the Recorder logs the epoch::

    conf = ConfusionCallback(n_classes=24, void_code=0, class_names=codes)
    learn = unet_learner(dls, resnet34, cbs=conf, metrics=conf.metrics())      # accuracy_mask, miou
    learn.fit_one_cycle(1)
    conf.confusion, conf.per_class("iou"), conf.scores()     # after training; or per_class_iou(learn)

Distributed training: each rank fills its own matrix from its shard and the matrix is summed across ranks when
read (``reduce_fn=all_reduce_sum``: fastai's Recorder reads metric values on every rank, so the collective calls
match). Summing small matrices replaces fastai's way of gathering every rank's full logits. fastai's
``DistributedDL`` pads the last round by repeating up to ``world_size - 1`` validation images; the callback
leaves those repeats out (:func:`unpadded_count`), so every validation pixel is counted exactly once.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from fastai.callback.core import Callback
from fastai.learner import ValueMetric
from torch import Tensor

from .functional import (
    class_accuracy,
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_iou,
    pixel_accuracy_from_cm,
    plain,
    scores_from_confusion,
)

__all__ = ["ConfusionCallback", "AccuracyMask", "MeanIoU", "PixelAccuracy", "segmentation_metrics",
           "find_confusion", "per_class_iou", "all_reduce_sum", "unpadded_count"]


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum `t` over all ranks with ``torch.distributed.all_reduce`` (a copy; `t` is left alone).

    Identity when no process group is initialised. With the NCCL backend `t` must be on the rank's GPU, which
    is where :class:`ConfusionCallback` keeps its matrix (the device of ``learn.pred``).
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def unpadded_count(dl, bs: int) -> int:
    """How many of the current batch's `bs` samples are real, not the repeats fastai's ``DistributedDL`` adds
    so that every rank gets the same number of items (all `bs` outside distributed loaders).

    Rank ``r`` reads items ``r * n_padded // world_size + j`` of the padded index list; positions from ``n`` on
    are repeats. ``dl.i`` counts the samples this rank has yielded, the current batch included (the same
    attributes fastai's own ``DistributedDL.to_detach`` unpads with).
    """
    if dl is None or not all(hasattr(dl, a) for a in ("i", "n", "n_padded", "rank", "world_size")):
        return bs
    first = dl.rank * dl.n_padded // dl.world_size + dl.i - bs
    return max(0, min(bs, dl.n - first))


class ConfusionCallback(Callback):
    """One ``(C, C)`` confusion matrix (rows = truth, columns = prediction) over every pixel of the validation
    set, void included (so pixel accuracy and accuracy_mask can both be read from it); emptied before each
    validation, filled after each validation batch.

    Args:
        n_classes: C; None to take it from the model output at the first batch.
        void_code: id of the void class for the void-aware scores (None: no void).
        class_names: C names in id order for :meth:`per_class` and :meth:`scores`.
        reduce_fn: applied to the matrix when it is read (:func:`all_reduce_sum` in distributed training); it
            is called once per read after each change, on every rank.
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

    run_train = False  # fastai runs this callback's events in validation only

    def reset(self) -> None:
        """Empty the matrix."""
        self._cm: Optional[Tensor] = None
        self._changes, self._cache = 0, None

    def __getstate__(self) -> dict:
        # learn.export() pickles the callbacks: the matrix goes to the CPU so that load_learner works without a GPU
        state = {**self.__dict__, "_cache": None}
        if state["_cm"] is not None:
            state["_cm"] = state["_cm"].cpu()
        return state

    def before_validate(self) -> None:
        self.reset()

    def after_batch(self) -> None:
        if len(self.learn.yb) == 0:  # predict / get_preds without targets, as fastai's Recorder skips them
            return
        self.accumulate(self.learn.pred, self.learn.y, getattr(self.learn, "dl", None))

    def accumulate(self, pred: Tensor, targ: Tensor, dl=None) -> None:
        """Add a batch of logits ``(B, C, H, W)`` (or whatever `axis` says) and true ids ``(B[, 1], H, W)``;
        with `dl` a fastai ``DistributedDL``, its padding repeats are left out."""
        if not isinstance(pred, Tensor):
            raise TypeError(f"segmentation metrics need learn.pred to be a tensor, got {type(pred).__name__}")
        n = pred.shape[self.axis]
        if self.n_classes is None:
            self.n_classes = n
        elif n != self.n_classes:
            raise ValueError(f"the model outputs {n} classes but the metric expects {self.n_classes}")
        keep = unpadded_count(dl, pred.shape[0])
        if keep < pred.shape[0]:
            pred, targ = pred[:keep], targ[:keep]
        with torch.no_grad():
            ids = plain(pred).detach().argmax(dim=self.axis)
            self.update(ids, plain(targ).detach(), check_pred=False)

    def update(self, pred_ids: Tensor, targ_ids: Tensor, check_pred: bool = True) -> None:
        """Add predicted ids ``(B, H, W)`` and true ids ``(B[, 1], H, W)`` (for loops outside a Learner)."""
        if self.n_classes is None:
            raise ValueError("n_classes is unknown: pass it to ConfusionCallback or accumulate a learner batch")
        cm = confusion_matrix(pred_ids, targ_ids, self.n_classes, None, check_pred=check_pred)
        self._cm = cm if self._cm is None else self._cm + cm.to(self._cm.device)
        self._changes += 1

    @property
    def confusion(self) -> Tensor:
        """The accumulated (and reduced) matrix: CPU LongTensor ``(C, C)``, rows = truth, cols = prediction."""
        if self._cache is not None and self._cache[0] == self._changes:
            return self._cache[1]
        if self._cm is None:
            cm = torch.zeros(self.n_classes or 0, self.n_classes or 0, dtype=torch.long)
        else:
            cm = self._cm if self.reduce_fn is None else self.reduce_fn(self._cm)
        cm = cm.detach().cpu().long()
        self._cache = (self._changes, cm)
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
        """:func:`~dronefast.metrics.functional.scores_from_confusion` of the accumulated matrix (JSON-ready)."""
        return scores_from_confusion(self.confusion, self._names(), self.void_code)

    def miou(self) -> float:
        """Mean IoU (void excluded); NaN before any batch."""
        return mean_iou(self.confusion, self.void_code)

    def accuracy_mask(self) -> float:
        """Pixel accuracy over the pixels whose truth is not the void class."""
        return pixel_accuracy_from_cm(self.confusion, self.void_code)

    def pixel_accuracy(self) -> float:
        """Pixel accuracy over every pixel, void included."""
        return pixel_accuracy_from_cm(self.confusion, None)

    def metrics(self, names: Sequence[str] = ("accuracy_mask", "miou")) -> List[ValueMetric]:
        """fastai metrics reading this matrix, by name (``accuracy_mask``, ``miou``, ``pixel_accuracy``)."""
        kinds = {"accuracy_mask": AccuracyMask, "miou": MeanIoU, "pixel_accuracy": PixelAccuracy}
        unknown = [n for n in names if n not in kinds]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(kinds)}")
        return [kinds[n](self) for n in names]


class _ConfusionReader(ValueMetric):
    """A fastai ``ValueMetric`` whose value is one method of a :class:`ConfusionCallback` (a bound method, so
    that ``learn.export`` can pickle it)."""

    metric = ""

    def __init__(self, source: ConfusionCallback):
        super().__init__(getattr(source, self.metric), self.metric)
        self.source = source


class MeanIoU(_ConfusionReader):
    """fastai metric ``miou``: dataset-level mean IoU of `source`'s matrix, void class excluded."""

    metric = "miou"


class AccuracyMask(_ConfusionReader):
    """fastai metric ``accuracy_mask``: dataset-level pixel accuracy over the pixels whose truth is not the void
    class (correct / counted pixels of the whole validation set, not a mean of batches). Unlike
    :func:`~dronefast.metrics.functional.accuracy_mask`, targets outside ``[0, C)`` are not counted."""

    metric = "accuracy_mask"


class PixelAccuracy(_ConfusionReader):
    """fastai metric ``pixel_accuracy``: dataset-level accuracy over every pixel, void included."""

    metric = "pixel_accuracy"


def segmentation_metrics(n_classes: Optional[int] = None, void_code: Optional[int] = 0,
                         class_names: Optional[Sequence[str]] = None,
                         reduce_fn: Optional[Callable[[Tensor], Tensor]] = None
                         ) -> Tuple[ConfusionCallback, List[ValueMetric]]:
    """``(callback, [AccuracyMask, MeanIoU])``: pass the callback in ``cbs`` and the list as ``metrics``.

    Args:
        n_classes: C (None: from the model output).
        void_code: void class id (0 = ``unlabeled``).
        class_names: C names in id order for per-class results.
        reduce_fn: see :class:`ConfusionCallback` (:func:`all_reduce_sum` in distributed training).
    """
    cb = ConfusionCallback(n_classes, void_code, class_names, reduce_fn)
    return cb, cb.metrics()


def find_confusion(learn) -> ConfusionCallback:
    """The learner's :class:`ConfusionCallback`; ValueError if it has none."""
    for cb in learn.cbs:
        if isinstance(cb, ConfusionCallback):
            return cb
    raise ValueError("the learner has no ConfusionCallback (build it with drone_learner, or add one with "
                     "segmentation_metrics)")


def per_class_iou(learn) -> Dict[str, float]:
    """IoU by class name from the learner's confusion matrix after its last validation (NaN for absent classes
    and the void class)."""
    return find_confusion(learn).per_class("iou")

