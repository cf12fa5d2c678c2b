"""CachedDL (dronefast.data.block): batches gathered from the in-memory item store are the very batches fastai's
per-item path (PIL image, Resize, ToTensor, collation) gives, and the fast path is taken where it applies."""
from __future__ import annotations

import torch

from dronefast.data.block import drone_dataloaders
from dronefast.data.loaders import CachedDL


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
