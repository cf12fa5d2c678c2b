"""CachedDL (dronefast.data.block): batches gathered from the in-memory item store are the very batches fastai's
per-item path (PIL image, Resize, ToTensor, collation) gives, the fast path is taken where it applies, and its
iteration and paired affine warps give fastai's batches with fastai's random draws."""
from __future__ import annotations

import random

import pytest
import torch
from fastai.data.core import TfmdDL
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import Rotate, Warp, Zoom

from dronefast.data.block import drone_dataloaders
from dronefast.data.loaders import CachedDL, affine_pair
from dronefast.training.augment import nadir_transforms
from dronefast.training.recipes import NadirAugment


def count_store_reads(store, monkeypatch):
    """Count calls of ``store.tensors`` (only the fast path gathers batches from it)."""
    calls = []
    tensors = store.tensors

    def counted(*args, **kwargs):
        calls.append(args)
        return tensors(*args, **kwargs)

    monkeypatch.setattr(store, "tensors", counted)
    return calls


def test_cached_batches_equal_per_item_batches(sample_kaggle, monkeypatch):
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, valid_pct=0.2, seed=0, augment=False,
                            progress=False)
    assert isinstance(dls.train, CachedDL) and dls.valid.store is dls.store
    raw = next(dls.valid.create_batches(iter([0, 1])))
    assert [type(t).__name__ for t in raw] == ["TensorImage", "TensorMask"]
    assert raw[0].dtype == torch.uint8 and raw[0].shape == (2, 3, 32, 48) and raw[1].shape == (2, 32, 48)
    reads = count_store_reads(dls.store, monkeypatch)
    for dl in (dls.train.new(shuffle=False, drop_last=False), dls.valid):
        reads.clear()
        fast = list(dl)
        assert reads, "the cached items were not used"
        dl.store = None   # the per-item path: PIL image, Resize, ToTensor, collate
        slow = list(dl)
        assert len(fast) == len(slow) > 0
        for (xf, yf), (xs, ys) in zip(fast, slow):
            assert type(xf) is type(xs) and type(yf) is type(ys) and yf.dtype == ys.dtype == torch.int64
            assert torch.equal(xf, xs) and torch.equal(yf, ys)
    # a test set of photo paths (not (photo, mask) pairs of the store) takes the per-item path, store or not
    dls.valid.store = dls.store
    tdl = dls.test_dl([sample_kaggle / "original_images" / "000.jpg"])
    assert tdl.store is dls.store
    reads.clear()
    assert tdl.one_batch()[0].shape == (1, 3, 32, 48) and reads == []


@pytest.mark.parametrize("kind", ["aug_transforms", "nadir", "windows"])
def test_fast_iteration_yields_fastais_batches_and_draws(sample_kaggle, kind):
    """Against fastai's own ``DataLoader.__iter__`` (through ``CachedDL.create_batches``, the per-batch path)."""
    extra = {"aug_transforms": {}, "nadir": {"batch_tfms": nadir_transforms(NadirAugment(max_rotate=30))},
             "windows": {"work_size": (48, 64)}}[kind]
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, valid_pct=0.2, seed=0, progress=False, **extra)
    for dl in (dls.train, dls.valid):
        states = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        fast = list(dl)
        after_fast = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        dl.rng.setstate(states[0])
        torch.set_rng_state(states[1])
        random.setstate(states[2])
        stock = list(TfmdDL.__iter__(dl))
        after_stock = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        assert len(fast) == len(stock) == len(dl) > 0
        for (xf, yf), (xs, ys) in zip(fast, stock):
            assert type(xf) is type(xs) and type(yf) is type(ys) and xf.dtype == xs.dtype and yf.dtype == ys.dtype
            assert torch.equal(xf, xs) and torch.equal(yf, ys)
        assert after_fast[0] == after_stock[0] and torch.equal(after_fast[1], after_stock[1])
        assert after_fast[2] == after_stock[2]


@pytest.mark.parametrize("tfm", [Warp(magnitude=0.4, p=1.0), Rotate(max_deg=40, p=1.0), Zoom(max_zoom=1.5, p=1.0)])
def test_paired_warp_is_fastais_and_keeps_class_ids(tfm):
    torch.manual_seed(3)
    x = TensorImage(torch.rand(4, 3, 20, 30))
    y = TensorMask(torch.randint(0, 5, (4, 20, 30)) * 3)  # class ids 0, 3, ..., 12
    torch.manual_seed(7)
    xs, ys = tfm((x, y), split_idx=0)  # fastai's own: one grid for the photo, one for the mask
    torch.manual_seed(7)
    xp, yp = affine_pair(tfm, (x, y), 0)
    assert type(xp) is TensorImage and type(yp) is TensorMask and yp.dtype == torch.long
    assert torch.equal(xp, xs) and torch.equal(yp, ys.long())
    assert not torch.equal(yp, y) and set(yp.unique().tolist()) <= {0, 3, 6, 9, 12}  # nearest: ids only
