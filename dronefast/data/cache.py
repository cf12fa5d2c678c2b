"""Photos and masks decoded once and kept in memory: the training cache.

Decoding a 6000x4000 JPEG on every epoch dominates training time at a few hundred pixels, so by default every
photo is decoded once (JPEG draft mode, all cores), resized to the size training reads it at (the training size,
or the working scale crops are cut from) and kept in memory with its mask (NEAREST, never blended); the dataset
check runs in that same pass. At 600x400 the 400 real photos take about 300 MB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import torch
from fastprogress.fastprogress import progress_bar

from ..errors import DatasetCheckError
from .images import read_image
from .layout import DatasetLayout
from .masks import read_mask
from .validation import inspect_pairs

__all__ = ["ItemStore", "ImageGetter", "MaskGetter", "load_items"]


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
               progress: bool = True, exclude: Iterable[Path] = ()) -> ItemStore:
    """Decode every pair once at ``size = (height, width)`` into an :class:`ItemStore`, checking each pair.

    Args:
        layout: where the data is.
        size: ``(height, width)`` the photos and masks are resized to (masks with NEAREST).
        workers: processes (default: every core).
        progress: show a progress bar.
        exclude: photos that are checked (mask decoded, photo header read) but not decoded nor kept, e.g. the
            test photos that training must never see.

    Raises:
        DatasetCheckError: listing every missing/orphan mask, undecodable file, size mismatch, unknown colour
            or out-of-range id, before any training starts.
    """
    pairs, missing, orphans = layout.pairs()
    skip = {Path(p) for p in exclude}
    bar = (lambda it, **kw: progress_bar(it, **kw)) if progress else None
    kept = [pr for pr in pairs if pr[0] not in skip]
    results = inspect_pairs(kept, layout.classes, size=size, keep=True, workers=workers, progress=bar)
    checked = inspect_pairs([pr for pr in pairs if pr[0] in skip], layout.classes, decode_image=False,
                            workers=workers)
    problems = [*missing, *orphans] + [p for r in results + checked for p in r.problems]
    if problems:
        raise DatasetCheckError(problems, layout.root)
    store = ItemStore(size)
    for r in results:
        store.images[r.image] = r.image_array
        store.masks[r.image] = r.mask_array
    return store
