"""DataLoaders that gather batches straight from the in-memory cache (:mod:`dronefast.data.cache`), and the random
training crops of object-scale training.

:class:`CachedDL` gathers a batch of cached items from one uint8 tensor kept on the training device: the same
values as fastai's per-item path (PIL conversion, item transforms, collation), without its per-item cost, which
matters on a GPU where a whole step takes milliseconds. With a `crop` size it cuts one random window of that size
from each cached photo and its mask (the same window in both), and with `repeats` every photo is drawn that many
times an epoch, each time with a new window: training on windows of photos cached at a working scale, so that
people and cars keep the size they have at that scale instead of shrinking with the whole photo.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import torch
from fastai.data.core import TfmdDL
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import RandomCrop, Resize
from fastai.vision.core import AddMaskCodes, ToTensor

from .cache import ItemStore

__all__ = ["CachedDL", "TrainCrop", "random_windows"]


class TrainCrop(RandomCrop):
    """fastai's ``RandomCrop`` on the training set only (``split_idx = 0``): validation photos stay whole (fastai's
    own crops their centre), to be scored by tiles as prediction does. The per-item path of object-scale training."""

    split_idx = 0


def random_windows(images: torch.Tensor, masks: torch.Tensor, size: Tuple[int, int]
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """One random ``size = (h, w)`` window of each photo ``(B, 3, H, W)`` and the same window of its mask
    ``(B, H, W)``; offsets drawn with torch's global generator (seeded runs repeat)."""
    h, w = size
    H, W = images.shape[-2:]
    if (h, w) == (H, W):
        return images, masks
    if h > H or w > W:
        raise ValueError(f"crop {w}x{h} is larger than the cached photos ({W}x{H})")
    ys = torch.randint(0, H - h + 1, (len(images),)).tolist()
    xs = torch.randint(0, W - w + 1, (len(images),)).tolist()
    return (torch.stack([im[:, y:y + h, x:x + w] for im, y, x in zip(images, ys, xs)]),
            torch.stack([m[y:y + h, x:x + w] for m, y, x in zip(masks, ys, xs)]))


class CachedDL(TfmdDL):
    """fastai's ``TfmdDL`` that gathers batches of cached items straight from :meth:`ItemStore.tensors` on the
    batch device: uint8 ``TensorImage (B, 3, H, W)`` and ``TensorMask (B, H, W)``, the very values the per-item
    path gives (or random windows of them, with `crop`), before the batch transforms (augmentation,
    normalisation) run as usual.

    Falls back to the per-item path whenever that equivalence is not certain: worker processes, items not
    in the store (e.g. ``test_dl``), other item or before-batch transforms.

    Args:
        dataset: the ``Datasets`` subset, as for ``TfmdDL``.
        store: the :class:`ItemStore` its items were cached in (None: always the per-item path).
        crop: ``(h, w)`` of a random window cut from each cached photo (None: whole photos).
        repeats: times each photo is drawn in an epoch (a new window each time).
        kwargs: passed to ``TfmdDL``.
    """

    def __init__(self, dataset=None, store: Optional[ItemStore] = None, crop: Optional[Tuple[int, int]] = None,
                 repeats: int = 1, **kwargs):
        self.store, self.crop, self.repeats = store, (tuple(crop) if crop else None), int(repeats)
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        if self.repeats > 1 and dataset is not None and kwargs.get("n") is None:
            kwargs["n"] = len(dataset) * self.repeats
        super().__init__(dataset, **kwargs)

    def new(self, dataset=None, cls=None, **kwargs):
        """As ``TfmdDL.new``, keeping the store, the crop and the repeats unless given (validation passes
        ``crop=None, repeats=1``)."""
        if cls is None or (isinstance(cls, type) and issubclass(cls, CachedDL)):
            kwargs.setdefault("store", self.store)
            kwargs.setdefault("crop", self.crop)
            kwargs.setdefault("repeats", self.repeats)
            if dataset is not None or kwargs["repeats"] != self.repeats:
                kwargs.setdefault("n", None)  # recounted from the dataset and the repeats
        return super().new(dataset, cls, **kwargs)

    def __getstate__(self):
        return {**self.__dict__, "store": None}  # exports and worker processes never carry the pixels

    def create_item(self, s):
        """As ``TfmdDL.create_item``, with repeated draws mapped back onto the dataset."""
        return super().create_item(s if s is None else s % len(self.dataset))

    def _fast_rows(self) -> Optional[List[int]]:
        """Store row of each dataset item, or None when the fast path does not apply."""
        store = self.store
        if store is None or self.bs is None or self.fake_l.num_workers != 0 or self.before_batch.fs:
            return None
        h, w = store.size
        for t in self.after_item.fs:  # transforms the fast path does itself (Resize to the cached size, crops)
            if isinstance(t, (ToTensor, AddMaskCodes, TrainCrop)):
                continue
            if not (isinstance(t, Resize) and tuple(t.size) == (w, h)):
                return None
        items = getattr(self.dataset, "items", None)
        if items is None or len(getattr(self.dataset, "tls", ())) != 2:  # (photo, mask) pairs only
            return None
        rows = store.tensors()[2]
        try:
            return [rows[Path(o)] for o in items]
        except (KeyError, TypeError):
            return None

    def create_batches(self, samps):
        rows = self._fast_rows()
        if rows is None:
            yield from super().create_batches(samps)
            return
        imgs, masks, _ = self.store.tensors(self.device)
        index = torch.as_tensor(rows, dtype=torch.long)
        n = len(rows)
        for chunk in self.chunkify(samps):
            ix = index[torch.as_tensor([s % n for s in chunk], dtype=torch.long)].to(imgs.device)
            x, y = imgs.index_select(0, ix), masks.index_select(0, ix)
            if self.crop is not None:
                x, y = random_windows(x, y, self.crop)
            yield TensorImage(x), TensorMask(y)
