"""Segmentation masks: RGB colour masks <-> class-id masks, and reading masks from disk.

An id mask is a ``(H, W)`` uint8 array whose pixels are class ids; a colour mask is ``(H, W, 3)`` uint8 in the
class table's colours. Kaggle's ``label_images_semantic`` PNGs are id masks (mode ``L``); TU Graz's
``label_images`` are colour masks (mode ``RGB``). Masks are only ever resized with NEAREST, so no resize can
invent a class id.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image

from .classes import ClassTable
from .errors import ClassIdError, CorruptImageError, UnknownColourError

__all__ = ["colour_to_ids", "ids_to_colour", "read_mask", "resize_mask", "check_ids", "count_ids", "palette_show_args",
           "UNKNOWN_ID"]

PathLike = Union[str, Path]
#: Marker used internally for colours not in the table (never a valid id: tables hold at most 255 classes).
UNKNOWN_ID = 255


@lru_cache(maxsize=8)
def _colour_lut(colours: Tuple[Tuple[int, int, int], ...]) -> np.ndarray:
    # A dense 2**24 lookup (16 MiB) turns conversion into one gather, far faster than per-colour compares.
    lut = np.full(1 << 24, UNKNOWN_ID, dtype=np.uint8)
    for i, (r, g, b) in enumerate(colours):
        lut[(r << 16) | (g << 8) | b] = i
    return lut


def colour_to_ids(rgb: np.ndarray, classes: ClassTable, path: Optional[PathLike] = None) -> np.ndarray:
    """Convert a colour mask ``(H, W, 3)`` uint8 to an id mask ``(H, W)`` uint8, exactly.

    Raises:
        UnknownColourError: naming `path`, each colour not in `classes` and how many pixels have it.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise UnknownColourError(f"expected an RGB colour mask, got an array of shape {rgb.shape}", path)
    rgb = rgb[..., :3].astype(np.uint32, copy=False)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    ids = _colour_lut(tuple(classes.colours))[keys]
    bad = ids == UNKNOWN_ID
    if bad.any():
        colours, counts = np.unique(keys[bad], return_counts=True)
        order = np.argsort(-counts)[:5]
        listed = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255}) x {n} px"
                           for c, n in zip(colours[order], counts[order]))
        more = f" and {len(colours) - 5} more" if len(colours) > 5 else ""
        raise UnknownColourError(f"{len(colours)} colour(s) not in the class table: {listed}{more}", path)
    return ids


def ids_to_colour(ids: np.ndarray, classes: ClassTable) -> np.ndarray:
    """Convert an id mask ``(H, W)`` to a colour mask ``(H, W, 3)`` uint8 in the class palette."""
    ids = np.asarray(ids)
    check_ids(ids, len(classes))
    return classes.palette[ids]


def check_ids(ids: np.ndarray, n_classes: int, path: Optional[PathLike] = None) -> None:
    """Raise :class:`ClassIdError` naming `path` if `ids` holds an id ``>= n_classes`` (or a negative one)."""
    hi, lo = int(ids.max(initial=0)), int(ids.min(initial=0))
    if hi >= n_classes or lo < 0:
        bad = (ids >= n_classes) | (ids < 0)
        vals, counts = np.unique(ids[bad], return_counts=True)
        listed = ", ".join(f"{v} x {n} px" for v, n in zip(vals[:5], counts[:5]))
        raise ClassIdError(f"class id(s) outside 0..{n_classes - 1}: {listed}", path)


def count_ids(ids: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixels per class id of an id mask ``(H, W)``: int64 ``(n_classes,)`` (ids ``>= n_classes`` not counted).

    uint8 masks (every mask dronefast reads) are counted by Pillow's histogram, 3x faster than ``np.bincount``
    on a 6000x4000 mask, which first widens every pixel to 64 bits.
    """
    if ids.dtype == np.uint8 and ids.ndim == 2 and ids.size:
        hist = Image.fromarray(np.ascontiguousarray(ids), "L").histogram()
        return np.asarray(hist[:n_classes] + [0] * (n_classes - min(n_classes, 256)), dtype=np.int64)
    return np.bincount(np.asarray(ids, dtype=np.int64).ravel(), minlength=n_classes)[:n_classes].astype(np.int64)


def resize_mask(ids: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize an id mask to ``size = (height, width)`` with NEAREST (never blends ids)."""
    h, w = size
    if ids.shape == (h, w):
        return ids
    return np.asarray(Image.fromarray(ids).resize((w, h), Image.Resampling.NEAREST))


def read_mask(path: PathLike, classes: ClassTable, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Read a mask PNG as an id mask ``(H, W)`` uint8, validated against `classes`.

    Mode ``L``/``P``/``I`` files are id masks; ``RGB``/``RGBA`` files are colour masks converted through
    `classes`. With `size = (height, width)` the result is resized with NEAREST.

    Raises:
        CorruptImageError, UnknownColourError, ClassIdError: each naming `path`.
    """
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("RGB", "RGBA"):
                arr = np.asarray(im.convert("RGB"))
            elif mode in ("L", "P"):
                arr = np.asarray(im)
            elif mode in ("I", "I;16", "I;16B", "I;16L"):
                arr = np.asarray(im).astype(np.int64)
            else:
                raise CorruptImageError(f"unsupported mask mode {mode!r} (expected L, P or RGB)", path)
    except CorruptImageError:
        raise
    except FileNotFoundError:
        raise CorruptImageError("file not found", path) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f"cannot decode mask ({e})", path) from None
    if arr.ndim == 3:
        ids = colour_to_ids(arr, classes, path)
    else:
        check_ids(arr, len(classes), path)
        ids = arr.astype(np.uint8, copy=False)
    return resize_mask(ids, size) if size is not None else ids


def palette_show_args(classes: ClassTable) -> dict:
    """matplotlib ``imshow`` arguments that draw an id mask in the class colours (for fastai's ``show_batch`` /
    ``show_results``, whose default colour map ignores the dataset's palette)."""
    from matplotlib.colors import ListedColormap

    n = len(classes)
    return {"cmap": ListedColormap(classes.palette / 255.0), "vmin": -0.5, "vmax": n - 0.5}
