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

The fastai side (a callback accumulating the matrix during validation, and the metrics reading it) is in
:mod:`dronefast.metrics.callback`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    "plain", "accuracy_mask", "pixel_accuracy", "confusion_matrix", "iou_per_class", "dice_per_class",
    "class_accuracy", "mean_iou", "pixel_accuracy_from_cm", "scores_from_confusion", "MIOU_RULE",
]

MIOU_RULE = ("mean of per-class IoU over the classes present in the ground truth or the predictions of the "
             "scored pixels; classes absent from both are left out; the void class is excluded")


def plain(t: Tensor) -> Tensor:
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
    inp, targ = plain(inp), plain(targ)
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
    pred_ids, targ_ids = plain(pred_ids), plain(targ_ids)
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
                     void_code: Optional[int] = None, check_pred: bool = True) -> Tensor:
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
        check_pred: raise on predicted ids outside ``[0, n_classes)`` (costs a host-device sync; argmaxed
            logits cannot be out of range, so the training callback skips it).

    Returns:
        LongTensor ``(C, C)``: entry ``[i, j]`` = number of pixels of true class i predicted as class j.
    """
    return _confusion(pred_ids, targ_ids, int(n_classes), void_code, check_pred)


def _counts(cm: Tensor, void_code: Optional[int]):
    """(tp, fp, fn) per class as float64 after dropping the void row, plus the void index (or None)."""
    cm = plain(cm).detach().to("cpu", torch.float64)
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
    cm = plain(cm).detach().cpu().long()
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
