"""fastai data pipeline for the Semantic Drone Dataset: the reference notebook's DataBlock, made fast.

The reference built ``SegmentationItemList.from_folder(...).split_by_rand_pct(0.1).label_from_func(get_y_fn,
classes=codes).transform(get_transforms(), size=src, tfm_y=True).databunch(bs=4).normalize(imagenet_stats)``.
:func:`drone_datablock` is the fastai v2 equivalent: ``ImageBlock`` + ``MaskBlock(codes)``, the label function
image -> mask by stem, ``RandomSplitter(valid_pct=0.1, seed)``, resize and fastai augmentations applied to image
and mask alike, ImageNet normalisation.

Two ways to train, both here:

* **whole photos** (the reference): every photo squished to the training size;
* **object scale**: every photo brought to a working scale (``work_size``, e.g. 600x400 of a 6000x4000 photo),
  and each training item a random window of the training size cut from it, photo and mask alike (with
  ``context`` > 1, a random part of a larger window shrunk to the training size: :mod:`dronefast.data.windows`);
  validation photos stay whole at the working scale, to be scored by tiles as ``predict`` does.

Photos are decoded once into memory (:mod:`dronefast.data.cache`) and batches gathered from there
(:mod:`dronefast.data.loaders`). Test photos (:mod:`dronefast.data.split`) are left out of the DataLoaders.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from fastai.data.block import DataBlock
from fastai.data.core import DataLoaders
from fastai.data.transforms import Normalize, RandomSplitter
from fastai.vision.augment import Resize, aug_transforms
from fastai.vision.data import ImageBlock, MaskBlock, imagenet_stats

from .cache import ImageGetter, ItemStore, MaskGetter, load_items
from .layout import DatasetLayout, find_layout
from .loaders import CachedDL, TrainCrop
from .split import Split, SplitRecord
from .windows import ContextZoom, context_crop

__all__ = ["drone_datablock", "drone_dataloaders", "recorded_split", "DEFAULT_SIZE"]

PathLike = Union[str, Path]
Size = Tuple[int, int]
#: The reference notebook's training size, (height, width).
DEFAULT_SIZE = (200, 300)


class _Items:
    """``get_items`` of the DataBlock: the non-test photos in sorted order (picklable, unlike a lambda)."""

    def __init__(self, items: List[Path]):
        self.items = items

    def __call__(self, _source) -> List[Path]:
        return list(self.items)


def drone_datablock(layout: Union[PathLike, DatasetLayout], size: Optional[Size] = DEFAULT_SIZE,
                    valid_pct: float = 0.1, seed: Optional[int] = 42, store: Optional[ItemStore] = None,
                    augment: bool = True, batch_tfms: Optional[Sequence] = None, *,
                    split: Optional[Split] = None, work_size: Optional[Size] = None,
                    context: float = 1.0) -> DataBlock:
    """The reference notebook's DataBlock in fastai v2.

    Args:
        layout: a :class:`DatasetLayout` or a folder to find one in.
        size: training ``(height, width)`` (the window, with `work_size`); None keeps full resolution (batch
            size 1 only).
        valid_pct: share of images in the validation set (random split).
        seed: seed of the split (same seed, same split).
        store: cached items from :func:`~dronefast.data.cache.load_items` (None decodes from disk each time).
        augment: add fastai's default ``aug_transforms()`` (flip, rotate, zoom, lighting, warp), applied to
            photo and mask alike (masks with nearest interpolation).
        batch_tfms: replaces the augmentations when given; ImageNet normalisation is always appended.
        split: the whole split, test photos included (replaces `valid_pct` and `seed`); test photos are not
            items of the DataBlock.
        work_size: ``(height, width)`` photos are brought to before a random window of `size` is cut from each
            training photo (object-scale training); validation photos stay whole at this size.
        context: with `work_size`, each training item shows between 1x and `context` times the extent of a
            window, shrunk to `size` (:class:`~dronefast.data.windows.ContextZoom`).
    """
    layout = layout if isinstance(layout, DatasetLayout) else find_layout(layout)
    split = split or Split(valid_pct, seed)
    if batch_tfms is None:
        batch_tfms = aug_transforms() if augment else []
    train, valid, _ = split.divide(layout.image_files())
    load_size = work_size or size
    item_tfms = [Resize(load_size, method="squish")] if load_size else []
    if work_size:
        crop = context_crop(size, context, work_size)
        item_tfms.append(TrainCrop(crop))
        if crop != tuple(size):
            batch_tfms = [ContextZoom(size), *batch_tfms]
    return DataBlock(
        blocks=(ImageBlock, MaskBlock(codes=layout.classes.codes)),
        get_items=_Items(sorted(train + valid)),
        get_x=ImageGetter(load_size, store),
        get_y=MaskGetter(layout, load_size, store),
        splitter=RandomSplitter(valid_pct=split.valid_share(len(train) + len(valid)), seed=split.seed),
        item_tfms=item_tfms or None,
        batch_tfms=[*batch_tfms, Normalize.from_stats(*imagenet_stats)],
    )


def drone_dataloaders(data: Union[PathLike, DatasetLayout], size: Optional[Size] = DEFAULT_SIZE,
                      bs: int = 4, valid_pct: float = 0.1, seed: Optional[int] = 42, num_workers: int = 0,
                      path: Optional[PathLike] = None, cache: bool = True, augment: bool = True,
                      batch_tfms: Optional[Sequence] = None, device=None, progress: bool = True, *,
                      split: Optional[Split] = None, work_size: Optional[Size] = None, repeats: int = 1,
                      context: float = 1.0, **kwargs) -> DataLoaders:
    """DataLoaders for training, with the class table attached as ``dls.classes`` and ``dls.layout``.

    Args:
        data: dataset folder (any layout, see :func:`dronefast.data.layout.find_layout`) or a layout.
        size: training ``(height, width)``, default the reference's ``(200, 300)``; with `work_size` the size
            of the windows cut from the photos.
        bs: batch size (the reference used 4).
        valid_pct, seed: the random validation split.
        num_workers: DataLoader worker processes (0 = load in the main process; items are cached, so
            workers rarely help on few cores).
        path: output folder (``learn.path``, where models are saved); default: the current folder.
        cache: decode and check everything once into memory (see :func:`~dronefast.data.cache.load_items`).
        augment, batch_tfms: see :func:`drone_datablock`.
        device: torch device for the batches (default: fastai's default device).
        split: the whole split with test photos (:class:`~dronefast.data.split.Split`; replaces `valid_pct` and
            `seed`); test photos are checked but never decoded, cached or served.
        work_size: object-scale training (see the module docstring): photos cached at this ``(height, width)``,
            random windows of `size` for training, whole photos for validation.
        repeats: windows drawn from each training photo per epoch (with `work_size`).
        context: see :func:`drone_datablock`.
        kwargs: passed to ``DataBlock.dataloaders``.

    Returns:
        fastai ``DataLoaders`` yielding ``(TensorImage (B, 3, H, W) float, TensorMask (B, H, W) int64)``, with
        ``dls.classes``, ``dls.layout``, ``dls.store``, ``dls.split``, ``dls.test_items``, ``dls.train_size``
        (the training batches' ``(height, width)``) and ``dls.work_size``.
    """
    layout = data if isinstance(data, DatasetLayout) else find_layout(data)
    split = split or Split(valid_pct, seed)
    test = split.divide(layout.image_files())[2]
    load_size = work_size or size
    store = load_items(layout, load_size, progress=progress, exclude=test) if (cache and load_size) else None
    dblock = drone_datablock(layout, size, store=store, augment=augment, batch_tfms=batch_tfms, split=split,
                             work_size=work_size, context=context)
    if store is not None:
        crop = context_crop(size, context, work_size) if work_size else None
        kwargs = {"dl_type": CachedDL, "store": store, "crop": crop, "repeats": repeats if work_size else 1,
                  "dl_kwargs": [{}, {"crop": None, "repeats": 1}], **kwargs}
    dls = dblock.dataloaders(layout.image_dir, path=Path(path) if path else Path("."), bs=bs,
                             num_workers=num_workers, device=device, **kwargs)
    dls.classes, dls.layout, dls.store, dls.split, dls.test_items = layout.classes, layout, store, split, test
    dls.train_size = tuple(size) if size else None  # (height, width) of the training batches
    dls.work_size = tuple(work_size) if work_size else None
    return dls


def recorded_split(dls: DataLoaders) -> SplitRecord:
    """The record of the photos DataLoaders of :func:`drone_dataloaders` serve: the stems of their training and
    validation items and of their test photos, with the split's settings (what a training run writes as
    ``split.json``)."""
    return SplitRecord.of(dls.train_ds.items, dls.valid_ds.items, dls.test_items, dls.split)
