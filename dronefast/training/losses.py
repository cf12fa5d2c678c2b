"""Losses for imbalanced segmentation: class-weighted cross-entropy that ignores the void class, plus an
optional soft Dice term, and class weights computed from pixel counts.

In drone imagery a few classes (paved area, grass, roofs) cover most pixels while the ones a landing drone must
see (people, cars, bicycles, fences) cover well under 1% each; plain cross-entropy is then mostly spent on the
big classes. :func:`class_weights` turns the pixel count of each class in the training masks (the same counts
the data check prints, see :func:`train_class_counts`) into per-class weights, and :class:`SegLoss` uses them:

    counts = train_class_counts(dls)                      # (C,) pixels per class, training split only
    loss = SegLoss(class_weights(counts, "inv_sqrt", cap=10), void_code=0, dice=0.5)
    learn = drone_learner(dls, "resnet18", pretrained=False, loss_func=loss)

Pixels whose truth is the void class count neither in the cross-entropy nor in the Dice term, as in the
metrics (:mod:`dronefast.metrics`). The loss is a fastai loss: ``activation`` (softmax) and ``decodes``
(argmax over the class axis) let ``learn.predict``, ``get_preds`` and ``show_results`` work as with fastai's
default ``CrossEntropyLossFlat(axis=1)``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from fastai.losses import CrossEntropyLossFlat
from torch import Tensor, nn

from ..data.masks import count_ids
from ..metrics.functional import plain
from .recipes import WEIGHT_METHODS, Recipe

__all__ = ["class_weights", "train_class_counts", "SegLoss", "soft_dice_loss", "recipe_loss"]



def class_weights(counts: Union[Sequence[int], np.ndarray, Tensor], method: str = "inv_sqrt", cap: float = 10.0,
                  void_code: Optional[int] = 0) -> Tensor:
    """Per-class loss weights from pixel counts.

    With ``f_c`` the share of class c among the non-void pixels:

    * ``inv_sqrt``: ``1 / sqrt(f_c)`` (a softened inverse frequency);
    * ``inv``: ``1 / f_c``; this is also median-frequency balancing (``median(f) / f_c``, Eigen & Fergus) up to
      a constant factor, which the normalisation below (and the weighted mean of the cross-entropy) cancels;
    * ``none``: 1 for every class.

    The weights are then divided by the smallest one (the most common class weighs 1) and capped at `cap`, so no
    class weighs more than `cap` times the most common one (a class of a few pixels would otherwise dominate).
    Only ratios between weights matter to :class:`SegLoss` (its cross-entropy is a weighted mean).
    Classes with no pixel get `cap` (1 with ``none``; they cannot occur as a target in these data, so this only
    matters elsewhere); the void class gets 0.

    Args:
        counts: pixels per class id, length C (e.g. :func:`train_class_counts` or ``CheckReport.counts``).
        method: one of :data:`WEIGHT_METHODS`.
        cap: largest weight relative to the most common class (>= 1).
        void_code: void class id (weight 0), or None.

    Returns:
        float32 tensor ``(C,)``.
    """
    if method not in WEIGHT_METHODS:
        raise ValueError(f"method must be one of {', '.join(WEIGHT_METHODS)}, got {method!r}")
    if not cap >= 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    c = torch.as_tensor(np.asarray(counts), dtype=torch.float64).flatten().clone()
    if (c < 0).any():
        raise ValueError("pixel counts must be non-negative")
    n = c.numel()
    void = void_code if void_code is not None and 0 <= void_code < n else None
    if void is not None:
        c[void] = 0
    present = c > 0
    if not present.any():
        raise ValueError("no labelled pixel in the counts: cannot compute class weights")
    f = c / c.sum()
    w = torch.full_like(f, float(cap))
    if method == "none":
        w[:] = 1.0
    else:
        fp = f[present]
        wp = fp.rsqrt() if method == "inv_sqrt" else 1.0 / fp
        w[present] = (wp / wp.min()).clamp(max=cap)
    if void is not None:
        w[void] = 0.0
    return w.float()


def train_class_counts(dls, n_classes: Optional[int] = None) -> np.ndarray:
    """Pixels per class id in the training split of `dls`, as an int64 array ``(C,)``.

    Read from the cached masks (``dls.store``, from :func:`dronefast.data.block.drone_dataloaders`) when there are
    any, else by going once through the training items (decoding each mask).
    """
    classes = getattr(dls, "classes", None)
    n = n_classes if n_classes is not None else (len(classes) if classes is not None else len(dls.vocab))
    counts = np.zeros(n, dtype=np.int64)
    store = getattr(dls, "store", None)
    if store is not None and len(store):
        for item in dls.train_ds.items:
            counts += count_ids(store.masks[item], n)
        return counts
    for _, mask in dls.train_ds:
        counts += count_ids(np.asarray(mask), n)
    return counts


def soft_dice_loss(logits: Tensor, targ: Tensor, void_code: Optional[int] = 0, smooth: float = 1.0) -> Tensor:
    """Soft Dice loss, ``1 - mean_c (2 sum(p_c y_c) + s) / (sum(p_c) + sum(y_c) + s)`` over the batch.

    The mean runs over the classes present in the batch's truth (void excluded); void pixels are left out of
    every sum. Probabilities are the softmax of `logits`.

    Args:
        logits: ``(B, C, H, W)`` float.
        targ: ``(B, H, W)`` class ids.
        void_code: class id whose pixels are ignored (None: none).
        smooth: additive smoothing ``s``.

    Returns:
        0-dim tensor in [0, 1] (0 when no class is present).
    """
    logits, targ = plain(logits).float(), plain(targ).long()
    n = logits.shape[1]
    prob = logits.softmax(1)
    valid = torch.ones_like(targ, dtype=prob.dtype) if void_code is None else (targ != void_code).to(prob.dtype)
    onehot = F.one_hot(targ.clamp(0, n - 1), n).permute(0, 3, 1, 2).to(prob.dtype) * valid[:, None]
    prob = prob * valid[:, None]
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    card = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (card + smooth)
    present = onehot.sum(dims) > 0
    if void_code is not None and 0 <= void_code < n:
        present[void_code] = False
    k = present.sum()
    return ((1 - dice) * present).sum() / k.clamp(min=1)


class SegLoss(nn.Module):
    """fastai's ``CrossEntropyLossFlat(axis=1, weight=..., ignore_index=void)`` plus ``dice x`` soft Dice.

    The cross-entropy is the weighted mean over non-void pixels, ``sum_i w[y_i] ce_i / sum_i w[y_i]``, except that
    a batch with no labelled pixel gives 0 instead of PyTorch's NaN (0 / 0), without a host-device sync.

    Args:
        weight: class weights ``(C,)`` (e.g. :func:`class_weights`), or None for plain cross-entropy.
        void_code: class id left out of the loss (None: every pixel counts).
        dice: weight of the :func:`soft_dice_loss` term (0: none).
        axis: class axis of the predictions.
    """

    def __init__(self, weight: Optional[Tensor] = None, void_code: Optional[int] = 0, dice: float = 0.0,
                 axis: int = 1):
        super().__init__()
        if dice < 0 or not math.isfinite(dice):
            raise ValueError(f"dice must be a finite number >= 0, got {dice}")
        self.void_code, self.dice, self.axis = void_code, float(dice), axis
        self.ignore_index = void_code if void_code is not None else -100
        w = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        self.ce = CrossEntropyLossFlat(axis=axis, weight=w, ignore_index=self.ignore_index)

    @property
    def weight(self) -> Optional[Tensor]:
        """The class weights ``(C,)``, or None."""
        return self.ce.func.weight

    def forward(self, pred: Tensor, targ: Tensor) -> Tensor:
        """Loss of logits ``(B, C, H, W)`` against ids ``(B, H, W)``: a 0-dim float tensor."""
        pred, targ = plain(pred).float(), plain(targ).long()
        if self.weight is not None and self.weight.device != pred.device:
            self.ce.to(pred.device)  # fastai's Learner does not move a loss's buffers
        loss = plain(self.ce(pred, targ))
        loss = torch.where((targ != self.ignore_index).any(), loss, torch.zeros_like(loss))
        if self.dice:
            loss = loss + self.dice * soft_dice_loss(pred.movedim(self.axis, 1), targ, self.void_code)
        return loss

    def activation(self, x: Tensor) -> Tensor:
        """Class probabilities (softmax over the class axis), as fastai's ``get_preds`` wants."""
        return F.softmax(x, dim=self.axis)

    def decodes(self, x: Tensor) -> Tensor:
        """Class ids (argmax over the class axis)."""
        return x.argmax(dim=self.axis)

    def extra_repr(self) -> str:
        return f"weighted={self.weight is not None}, void_code={self.void_code}, dice={self.dice}"


def recipe_loss(recipe: Recipe, dls, void_code: Optional[int] = 0):
    """The loss of `recipe` for `dls`: None (fastai's default ``CrossEntropyLossFlat(axis=1)``) for the
    reference, else a :class:`SegLoss` with class weights from the training masks' pixel
    counts, the void class ignored and the recipe's Dice share."""
    if recipe.plain_loss:
        return None
    void = None if void_code is None or void_code < 0 else void_code
    weight = None
    if recipe.weights != "none":
        weight = class_weights(train_class_counts(dls), recipe.weights, recipe.weight_cap, void)
    return SegLoss(weight, void_code=void, dice=recipe.dice)
