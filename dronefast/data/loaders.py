"""DataLoaders that gather batches straight from the in-memory cache (:mod:`dronefast.data.cache`), and the random
training crops of object-scale training.

:class:`CachedDL` gathers a batch of cached items from one uint8 tensor kept on the training device: the same
values as fastai's per-item path (PIL conversion, item transforms, collation), without its per-item cost, which
matters on a GPU where a whole step takes milliseconds. With a `crop` size it cuts one random window of that size
from each cached photo and its mask (the same window in both), and with `repeats` every photo is drawn that many
times an epoch, each time with a new window: training on windows of photos cached at a working scale, so that
people and cars keep the size they have at that scale instead of shrinking with the whole photo.

Iterating a :class:`CachedDL` gives fastai's batches, value for value and with fastai's random draws, at a fraction
of fastai's per-batch cost, which on a fast GPU is what a step takes (measured on 2 CPU cores, 32x32 batches of 4
with ``aug_transforms``: 3.6 -> 0.85 ms a batch): no torch ``DataLoader`` iterator per batch, the epoch's store rows
sent to the device once, the batch transforms run with torch's handling of fastai's tensor subclasses switched off
(:meth:`CachedDL._fast_iter`), and fastai's affine augmentation of a photo and its mask done with one sampling grid
(:func:`affine_pair`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple

import torch
import torch.nn.functional as F
from fastai.data.core import TfmdDL
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import (
    AffineCoordTfm,
    DeterministicDihedral,
    DeterministicFlip,
    Dihedral,
    Flip,
    RandomCrop,
    Resize,
    Rotate,
    Warp,
    Zoom,
    affine_grid,
)
from fastai.vision.core import AddMaskCodes, ToTensor

from .cache import ItemStore

__all__ = ["CachedDL", "TrainCrop", "random_windows", "run_batch_tfms", "affine_pair", "typed", "FASTAI_AFFINE"]

#: fastai's affine transforms whose work on a (photo, mask) batch :func:`affine_pair` does as they do it.
FASTAI_AFFINE = (AffineCoordTfm, Flip, DeterministicFlip, Dihedral, DeterministicDihedral, Rotate, Zoom, Warp)


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
    in the store (e.g. ``test_dl``), other item or before-batch transforms. Where it applies, iteration is
    :meth:`_fast_iter` (module docstring); fastai's wrappers (its ``DistributedDL``) call :meth:`create_batches`,
    which gathers the same batches one at a time.

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
            yield self._gather(imgs, masks, ix)

    def _gather(self, imgs: torch.Tensor, masks: torch.Tensor, ix: torch.Tensor) -> Tuple[TensorImage, TensorMask]:
        """The batch of store rows `ix` (on the store's device), cut to random windows with a crop."""
        x, y = imgs.index_select(0, ix), masks.index_select(0, ix)
        if self.crop is not None:
            x, y = random_windows(x, y, self.crop)
        return typed(x, TensorImage), typed(y, TensorMask)

    def __iter__(self):
        rows = None if self.pin_memory else self._fast_rows()  # pinned CPU batches: fastai's path pins them
        if rows is None:
            yield from super().__iter__()
        else:
            yield from self._fast_iter(rows)

    def _fast_iter(self, rows: List[int]):
        """fastai's ``DataLoader.__iter__`` over the store: the same random draws in the same order (the loader's
        shuffle, torch's DataLoader seed draw, the transforms' draws) and so the same batches, without the per-batch
        machinery of torch's DataLoader iterator, with the epoch's store rows sent to the device in one copy (not
        one per batch, each of which waits for the GPU), and the batch transforms run on plain tensors.

        fastai's tensor types (``TensorImage``, ``TensorMask``) route every torch operation through their Python
        ``__torch_function__``: hundreds of calls per batch in the augmentations. Inside the transforms the types
        are not needed (fastai's ``Transform`` dispatches on the type of its input and casts its output back to
        it), so the gathering and ``after_batch`` run with torch's subclass handling disabled; what comes out is
        typed as fastai makes it, with the same values.
        """
        self.randomize()
        self.before_iter()
        idxs = self.get_idxs()
        # torch's DataLoader iterator draws its base seed from torch's generator once an epoch: drawn here too, so
        # that a seeded run's augmentations (which draw from it next) are those of fastai's path
        torch.empty((), dtype=torch.int64).random_()
        imgs, masks, _ = self.store.tensors(self.device)
        n = len(rows)
        order = torch.as_tensor(rows, dtype=torch.long)[torch.as_tensor([s % n for s in idxs], dtype=torch.long)]
        order = order.to(imgs.device)
        start = 0
        for chunk in self.chunkify(idxs):
            with torch._C.DisableTorchFunctionSubclass():
                b = run_batch_tfms(self.after_batch, self._gather(imgs, masks, order[start:start + len(chunk)]))
            start += len(chunk)
            yield b
        self.after_iter()
        if hasattr(self, "it"):
            del self.it


# ------------------------------------------------------------------------------------------ batch transforms

def run_batch_tfms(pipeline: Any, b: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """``pipeline(b)`` (fastai's ``Pipeline`` of batch transforms), with fastai's affine transforms of a
    ``(TensorImage, TensorMask)`` batch done by :func:`affine_pair`: the same random draws and values."""
    split_idx = pipeline.split_idx
    for f in pipeline.fs:
        b = affine_pair(f, b, split_idx) if _pair_for(f, b) else f(b, split_idx=split_idx)
    return b


def _pair_for(f: Any, b: Any) -> bool:
    """Whether :func:`affine_pair` does `f`'s work on `b`: one of fastai's affine transforms, a photo and mask
    batch, and no down-sizing (fastai's resampling then reads the zoom back from the device, kept as it is)."""
    if type(f) not in FASTAI_AFFINE or type(b) is not tuple or len(b) != 2:
        return False
    x, y = b
    if type(x) is not TensorImage or type(y) is not TensorMask or x.ndim != 4 or y.ndim != 3:
        return False
    size = tuple(x.shape[-2:]) if f.size is None else (f.size, f.size) if isinstance(f.size, int) else tuple(f.size)
    return f.mode != "bilinear" or min(x.shape[-2] / size[0], x.shape[-1] / size[1]) / 2 <= 1


def affine_pair(f: Any, b: Tuple[TensorImage, TensorMask], split_idx: Optional[int]) -> Tuple[Any, Any]:
    """What fastai's affine transform `f` (``AffineCoordTfm`` and its flips, rotations, zooms and warps) does to
    a photo and mask batch `b`, the same draws and the same values, with the sampling grid computed once for both
    (fastai computes it, warp included, for each) through fastai's public pieces (the transform's own draws,
    matrix and coordinate functions) and torch's ``grid_sample``; fastai's bilinear resampling reads the zoom back
    from the device to decide on a down-sizing that cannot happen at one size, which is skipped here. The mask is
    sampled with the transform's ``mode_mask`` (nearest): it keeps only class ids."""
    x, y = b
    f.before_call(b, split_idx=split_idx)  # fastai's draws; sets f.split_idx and f.mat
    if not f.do or (split_idx != f.split_idx and f.split_idx is not None):
        return b
    size = tuple(x.shape[-2:]) if f.size is None else (f.size, f.size) if isinstance(f.size, int) else tuple(f.size)
    coords = affine_grid(f.mat, x.shape[:2] + size, align_corners=f.align_corners)
    if len(f.coord_fs) and not f.split_idx:
        for t in f.coord_fs:
            coords = t(coords)
    kw = {"padding_mode": f.pad_mode, "align_corners": f.align_corners}
    photo = F.grid_sample(x, coords, mode=f.mode, **kw)
    mask = F.grid_sample(y[:, None].float(), coords, mode=f.mode_mask, **kw).long()[:, 0]
    return typed(photo, TensorImage), typed(mask, TensorMask)


def typed(t: torch.Tensor, cls: type) -> torch.Tensor:
    """``cls(t)`` for fastai's tensor type `cls`, without its Python conversion steps (the same tensor, typed)."""
    return t.as_subclass(cls) if t.dtype is not torch.float64 else cls(t)
