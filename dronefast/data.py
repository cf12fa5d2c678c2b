"""fastai data pipeline for the Semantic Drone Dataset: the reference notebook's DataBlock, made fast.

The reference built ``SegmentationItemList.from_folder(...).split_by_rand_pct(0.1).label_from_func(get_y_fn,
classes=codes).transform(get_transforms(), size=src, tfm_y=True).databunch(bs=4).normalize(imagenet_stats)``.
:func:`drone_datablock` is the fastai v2 equivalent: ``ImageBlock`` + ``MaskBlock(codes)``, the label function
image -> mask by stem, ``RandomSplitter(valid_pct=0.1, seed)``, resize and fastai augmentations applied to image
and mask alike, ImageNet normalisation.

Decoding a 6000x4000 JPEG on every epoch dominates training time at a few hundred pixels, so by default every
photo is decoded once (JPEG draft mode, all cores), resized to the training size and kept in memory with its
mask (NEAREST, never blended); the dataset check runs in that same pass. At 300x200 the 400 real images take
about 100 MB. Batches of cached items are then gathered straight from one uint8 tensor kept on the training
device (:class:`CachedDL`): the same values as fastai's per-item path (PIL conversion, item transforms,
collation), without its per-item cost, which matters on a GPU where a whole step takes milliseconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from fastai.data.block import DataBlock
from fastai.data.core import DataLoaders, TfmdDL
from fastai.data.transforms import Normalize, RandomSplitter
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import Resize, aug_transforms
from fastai.vision.core import AddMaskCodes, ToTensor
from fastai.vision.data import ImageBlock, MaskBlock, imagenet_stats

from .check import inspect_pairs
from .errors import DatasetCheckError
from .images import read_image
from .layout import DatasetLayout, find_layout
from .masks import read_mask

__all__ = ["ItemStore", "ImageGetter", "MaskGetter", "CachedDL", "drone_datablock", "drone_dataloaders",
           "load_items", "DEFAULT_SIZE"]

PathLike = Union[str, Path]
#: The reference notebook's training size, (height, width).
DEFAULT_SIZE = (200, 300)


class ItemStore:
    """Decoded, resized photos and id masks in memory, keyed by photo path.

    Args:
        size: ``(height, width)`` the items were resized to.
    """

    def __init__(self, size: Tuple[int, int]):
        self.size = tuple(size)
        self.images: Dict[Path, np.ndarray] = {}
        self.masks: Dict[Path, np.ndarray] = {}
        self._tensors: Dict = {}  # see tensors()

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """Memory held, in bytes."""
        return sum(a.nbytes for a in self.images.values()) + sum(a.nbytes for a in self.masks.values())

    def tensors(self, device=None) -> Tuple[torch.Tensor, torch.Tensor, Dict[Path, int]]:
        """Every item stacked once per device: ``(images (N, 3, H, W) uint8, masks (N, H, W) uint8, row of each
        photo path)``. Built on first use and kept (about the size of the store on each device used)."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        cache = self._tensors
        if len(cache.get("rows", ())) != len(self.images):
            cache.clear()
            paths = list(self.images)
            cache["rows"] = {p: i for i, p in enumerate(paths)}
            cache[torch.device("cpu")] = (
                torch.from_numpy(np.stack([self.images[p] for p in paths])).permute(0, 3, 1, 2).contiguous(),
                torch.from_numpy(np.stack([self.masks[p] for p in paths])))
        if dev not in cache:
            imgs, masks = cache[torch.device("cpu")]
            cache[dev] = (imgs.to(dev), masks.to(dev))
        return (*cache[dev], cache["rows"])


class CachedDL(TfmdDL):
    """fastai's ``TfmdDL`` that gathers batches of cached items straight from :meth:`ItemStore.tensors` on the
    batch device: uint8 ``TensorImage (B, 3, H, W)`` and ``TensorMask (B, H, W)``, the very values the per-item
    path (PIL image, ``Resize`` to the size the items already have, ``ToTensor``, collation) gives, before the
    batch transforms (augmentation, normalisation) run as usual.

    Falls back to the per-item path whenever that equivalence is not certain: worker processes, items not
    in the store (e.g. ``test_dl``), other item or before-batch transforms.

    Args:
        dataset: the ``Datasets`` subset, as for ``TfmdDL``.
        store: the :class:`ItemStore` its items were cached in (None: always the per-item path).
        kwargs: passed to ``TfmdDL``.
    """

    def __init__(self, dataset=None, store: Optional[ItemStore] = None, **kwargs):
        self.store = store
        super().__init__(dataset, **kwargs)

    def new(self, dataset=None, cls=None, **kwargs):
        """As ``TfmdDL.new``, keeping the store (for ``dl.new(shuffle=False)``, validation, ``show_results``)."""
        if cls is None or (isinstance(cls, type) and issubclass(cls, CachedDL)):
            kwargs.setdefault("store", self.store)
        return super().new(dataset, cls, **kwargs)

    def __getstate__(self):
        return {**self.__dict__, "store": None}  # exports and worker processes never carry the pixels

    def _fast_rows(self) -> Optional[List[int]]:
        """Store row of each dataset item, or None when the fast path does not apply."""
        store = self.store
        if store is None or self.bs is None or self.fake_l.num_workers != 0 or self.before_batch.fs:
            return None
        h, w = store.size
        for t in self.after_item.fs:  # transforms known to leave cached items as they are (Resize keeps (w, h))
            if isinstance(t, (ToTensor, AddMaskCodes)) or (isinstance(t, Resize) and tuple(t.size) == (w, h)):
                continue
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
        for chunk in self.chunkify(samps):
            ix = index[torch.as_tensor(list(chunk), dtype=torch.long)].to(imgs.device)
            yield TensorImage(imgs.index_select(0, ix)), TensorMask(masks.index_select(0, ix))


class ImageGetter:
    """``get_x``: photo path -> ``(H, W, 3)`` uint8 array at `size`, from `store` when cached, else decoded
    from disk (JPEG draft mode). Non-path inputs (arrays, PIL images) pass through, so ``learn.predict`` works
    on them. Pickles without the cached pixels (``learn.export`` stays small).
    """

    def __init__(self, size: Optional[Tuple[int, int]], store: Optional[ItemStore] = None):
        self.size, self.store = (tuple(size) if size else None), store

    def __call__(self, item):
        if not isinstance(item, (str, Path)):
            return item
        if self.store is not None and (arr := self.store.images.get(Path(item))) is not None:
            return arr
        return np.asarray(read_image(item, self.size))

    def __getstate__(self):
        return {"size": self.size, "store": None}


class MaskGetter:
    """``get_y``: photo path -> ``(H, W)`` uint8 id mask at `size` (label function by stem, colour masks
    converted, NEAREST resize), from `store` when cached. Pickles without the cached pixels."""

    def __init__(self, layout: DatasetLayout, size: Optional[Tuple[int, int]], store: Optional[ItemStore] = None):
        self.label_func, self.classes = layout.label_func, layout.classes
        self.size, self.store = (tuple(size) if size else None), store

    def __call__(self, item):
        if self.store is not None and (arr := self.store.masks.get(Path(item))) is not None:
            return arr
        return read_mask(self.label_func(item), self.classes, self.size)

    def __getstate__(self):
        return {**self.__dict__, "store": None}


def load_items(layout: DatasetLayout, size: Tuple[int, int], workers: Optional[int] = None,
               progress: bool = True) -> ItemStore:
    """Decode every pair once at ``size = (height, width)`` into an :class:`ItemStore`, checking each pair.

    Raises:
        DatasetCheckError: listing every missing/orphan mask, undecodable file, size mismatch, unknown colour
            or out-of-range id, before any training starts.
    """
    from fastprogress.fastprogress import progress_bar

    pairs, missing, orphans = layout.pairs()
    bar = (lambda it, **kw: progress_bar(it, **kw)) if progress else None
    results = inspect_pairs(pairs, layout.classes, size=size, keep=True, workers=workers, progress=bar)
    problems = [*missing, *orphans] + [p for r in results for p in r.problems]
    if problems:
        raise DatasetCheckError(problems, layout.root)
    store = ItemStore(size)
    for r in results:
        store.images[r.image] = r.image_array
        store.masks[r.image] = r.mask_array
    return store


def drone_datablock(layout: Union[PathLike, DatasetLayout], size: Optional[Tuple[int, int]] = DEFAULT_SIZE,
                    valid_pct: float = 0.1, seed: Optional[int] = 42, store: Optional[ItemStore] = None,
                    augment: bool = True, batch_tfms: Optional[Sequence] = None) -> DataBlock:
    """The reference notebook's DataBlock in fastai v2.

    Args:
        layout: a :class:`DatasetLayout` or a folder to find one in.
        size: training ``(height, width)``; None keeps full resolution (batch size 1 only).
        valid_pct: share of images in the validation set (random split).
        seed: seed of the split (same seed, same split).
        store: cached items from :func:`load_items` (None decodes from disk each time).
        augment: add fastai's default ``aug_transforms()`` (flip, rotate, zoom, lighting, warp), applied to
            photo and mask alike (masks with nearest interpolation).
        batch_tfms: replaces the augmentations when given; ImageNet normalisation is always appended.
    """
    layout = layout if isinstance(layout, DatasetLayout) else find_layout(layout)
    if batch_tfms is None:
        batch_tfms = aug_transforms() if augment else []
    return DataBlock(
        blocks=(ImageBlock, MaskBlock(codes=layout.classes.codes)),
        get_items=lambda _: layout.image_files() if store is None else list(store.images),
        get_x=ImageGetter(size, store),
        get_y=MaskGetter(layout, size, store),
        splitter=RandomSplitter(valid_pct=valid_pct, seed=seed),
        item_tfms=[Resize(size, method="squish")] if size else None,
        batch_tfms=[*batch_tfms, Normalize.from_stats(*imagenet_stats)],
    )


def drone_dataloaders(data: Union[PathLike, DatasetLayout], size: Optional[Tuple[int, int]] = DEFAULT_SIZE,
                      bs: int = 4, valid_pct: float = 0.1, seed: Optional[int] = 42, num_workers: int = 0,
                      path: Optional[PathLike] = None, cache: bool = True, augment: bool = True,
                      batch_tfms: Optional[Sequence] = None, device=None, progress: bool = True,
                      **kwargs) -> DataLoaders:
    """DataLoaders for training, with the class table attached as ``dls.classes`` and ``dls.layout``.

    Args:
        data: dataset folder (any layout, see :func:`dronefast.layout.find_layout`) or a layout.
        size: training ``(height, width)``, default the reference's ``(200, 300)``.
        bs: batch size (the reference used 4).
        valid_pct, seed: the random validation split.
        num_workers: DataLoader worker processes (0 = load in the main process; items are cached, so
            workers rarely help on few cores).
        path: output folder (``learn.path``, where models are saved); default the dataset folder's parent is
            never written to: the current folder is used.
        cache: decode and check everything once into memory (see :func:`load_items`).
        augment, batch_tfms: see :func:`drone_datablock`.
        device: torch device for the batches (default: fastai's default device).
        kwargs: passed to ``DataBlock.dataloaders``.

    Returns:
        fastai ``DataLoaders`` yielding ``(TensorImage (B, 3, H, W) float, TensorMask (B, H, W) int64)``.
    """
    layout = data if isinstance(data, DatasetLayout) else find_layout(data)
    store = load_items(layout, size, progress=progress) if (cache and size) else None
    dblock = drone_datablock(layout, size, valid_pct, seed, store, augment, batch_tfms)
    if store is not None:
        kwargs = {"dl_type": CachedDL, "store": store, **kwargs}
    dls = dblock.dataloaders(layout.image_dir, path=Path(path) if path else Path("."), bs=bs,
                             num_workers=num_workers, device=device, **kwargs)
    dls.classes, dls.layout, dls.store = layout.classes, layout, store
    return dls
