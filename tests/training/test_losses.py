"""Tests of dronefast.training.losses: class weights from pixel counts (hand-computed), the class-weighted cross-entropy
that ignores the void class, the soft Dice term, and training counts read from cached DataLoaders."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastai.torch_core import TensorMask

from dronefast.training.losses import (
    SegLoss,
    class_weights,
    soft_dice_loss,
    train_class_counts,
)

# void, then classes with 400, 100, 25 and 16 pixels, then an absent class
COUNTS = [7, 400, 100, 25, 16, 0]


@pytest.mark.parametrize("method, cap, expected", [
    ("inv_sqrt", 10, [0, 1, 2, 4, 5, 10]),       # 1/sqrt(f) ~ 1/20, 1/10, 1/5, 1/4 -> divided by 1/20
    ("inv_sqrt", 3, [0, 1, 2, 3, 3, 3]),
    ("inv", 10, [0, 1, 4, 10, 10, 10]),          # 400/f: 1, 4, 16, 25 -> capped
    ("inv", 100, [0, 1, 4, 16, 25, 100]),
    ("none", 10, [0, 1, 1, 1, 1, 1]),
])
def test_class_weights_hand_computed(method, cap, expected):
    w = class_weights(COUNTS, method, cap=cap, void_code=0)
    assert w.dtype == torch.float32 and w.shape == (6,)
    assert w.tolist() == pytest.approx(expected)


def test_class_weights_without_void_and_bad_input():
    w = class_weights(np.array([4, 1]), "inv_sqrt", void_code=None)
    assert w.tolist() == pytest.approx([1, 2])
    assert class_weights(torch.tensor([4, 1]), "inv", void_code=-1).tolist() == pytest.approx([1, 4])
    with pytest.raises(ValueError, match="method must be one of"):
        class_weights(COUNTS, "median")
    with pytest.raises(ValueError, match="cap must be at least 1"):
        class_weights(COUNTS, cap=0.5)
    with pytest.raises(ValueError, match="no labelled pixel"):
        class_weights([9, 0, 0], void_code=0)
    with pytest.raises(ValueError, match="non-negative"):
        class_weights([1, -1])


def logits_targets():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, generator=g)
    targ = torch.randint(0, 4, (2, 3, 5), generator=g)
    targ[0, 0, :3] = 0  # some void pixels
    return logits, targ


def test_plain_ce_ignores_void():
    logits, targ = logits_targets()
    loss = SegLoss(None, void_code=0)(logits, TensorMask(targ))
    keep = targ != 0
    per_pixel = F.cross_entropy(logits, targ, reduction="none")
    assert float(loss) == pytest.approx(float(per_pixel[keep].mean()), rel=1e-5)
    # void_code None: every pixel counts, plain mean
    assert float(SegLoss(None, void_code=None)(logits, targ)) == pytest.approx(float(per_pixel.mean()), rel=1e-5)


def test_weighted_ce_is_the_weighted_mean():
    logits, targ = logits_targets()
    w = torch.tensor([0.0, 1.0, 2.0, 5.0])
    loss = SegLoss(w, void_code=0)(logits, targ)
    per_pixel = F.cross_entropy(logits, targ, reduction="none")
    pw = w[targ] * (targ != 0)
    assert float(loss) == pytest.approx(float((pw * per_pixel).sum() / pw.sum()), rel=1e-5)


def test_all_void_batch_gives_zero_not_nan():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = SegLoss(torch.ones(3), void_code=0, dice=1.0)(logits, torch.zeros(1, 2, 2, dtype=torch.long))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_soft_dice_hand_computed():
    # 3 classes, uniform probabilities (zero logits): for classes 1 and 2 (2 pixels each)
    # inter = 2/3, sum p = 4/3, sum y = 2 -> dice = (4/3 + 1) / (10/3 + 1) = 7/13; the void pixel is left out
    logits = torch.zeros(1, 3, 1, 5)
    targ = torch.tensor([[[1, 1, 2, 2, 0]]])
    assert float(soft_dice_loss(logits, targ, void_code=0)) == pytest.approx(6 / 13, rel=1e-6)
    # a confident, right prediction: Dice loss near 0
    sure = F.one_hot(targ, 3).permute(0, 3, 1, 2).float() * 50
    assert float(soft_dice_loss(sure, targ, void_code=0)) < 1e-6
    # SegLoss adds dice x the term to the cross-entropy
    ce = math.log(3)
    assert float(SegLoss(None, void_code=0, dice=0.5)(logits, targ)) == pytest.approx(ce + 0.5 * 6 / 13, rel=1e-5)
    with pytest.raises(ValueError, match="dice must be"):
        SegLoss(dice=-1)


def test_fastai_hooks():
    loss = SegLoss(None)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(loss.decodes(x), x.argmax(1))
    assert torch.allclose(loss.activation(x).sum(1), torch.ones(2, 3, 3))
    assert "dice=0.0" in repr(loss)


def test_train_class_counts_from_the_cache(tiny_dls):
    counts = train_class_counts(tiny_dls)
    store = tiny_dls.store
    expected = sum(np.bincount(store.masks[p].ravel(), minlength=24) for p in tiny_dls.train_ds.items)
    assert counts.dtype == np.int64 and counts.tolist() == expected.tolist()
    assert counts.sum() == len(tiny_dls.train_ds) * 32 * 48
    # the uncached path (decoding each training item) gives the same counts
    store_saved = tiny_dls.store
    try:
        tiny_dls.store = None
        assert train_class_counts(tiny_dls).tolist() == counts.tolist()
    finally:
        tiny_dls.store = store_saved
