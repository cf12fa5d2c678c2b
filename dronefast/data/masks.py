"""Segmentation masks: RGB colour masks <-> class-id masks, and reading masks from disk.

An id mask is a ``(H, W)`` uint8 array whose pixels are class ids; a colour mask is ``(H, W, 3)`` uint8 in the
class table's colours. Kaggle's ``label_images_semantic`` PNGs are id masks (mode ``L``); TU Graz's
``label_images`` are colour masks (mode ``RGB``). Masks are only ever resized with NEAREST, so no resize can
invent a class id, and never turned by an EXIF orientation (a mask is labelled on its pixels as stored).

How each file is read is decided from the file itself (:func:`read_mask`), by its Pillow mode:

* ``L``, ``I``, ``I;16`` (and ``LA``, its alpha dropped; ``1``, ids 0 and 1): class ids;
* ``RGB``, ``RGBA``, ``RGBX`` (alpha dropped): colours of the class table;
* ``P`` / ``PA`` (palette) from its palette and the indices used: a palette whose used entries are the grey ramp
  (entry ``i`` = ``(i, i, i)``) is an id mask saved with a grey palette; otherwise, when every used entry is a class
  colour, the mask is read by colour (a TU Graz colour mask saved as a palette PNG; an id mask whose palette is the
  class palette in id order reads the same either way); otherwise, when every used index is a class id, it is read
  as ids (an id mask with some other display palette); a palette fitting neither reading is refused
  (:class:`~dronefast.errors.PaletteMaskError`, naming the file, the indices and their colours);
* anything else (``F``, ``CMYK``, ``LAB``, ...) is refused, naming the mode.

A transparent pixel has no label: a mask with any pixel whose alpha is below 255 (an alpha channel, or a PNG
transparency key or palette alpha) is refused, naming the file and the number of such pixels, rather than read by
the colour or id hidden under the transparency. Fill them with a class (the void class, say) and save the mask
opaque. An alpha channel that is 255 everywhere is dropped.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image

from ..errors import (
    ClassIdError,
    CorruptImageError,
    PaletteMaskError,
    UnknownColourError,
)
from .classes import ClassTable
from .images import open_image

__all__ = ["colour_to_ids", "ids_to_colour", "read_mask", "resize_mask", "check_ids", "count_ids", "palette_show_args",
           "palette_reading", "transparent_pixels", "UNKNOWN_ID", "ID_MODES", "COLOUR_MODES", "PALETTE_MODES"]

PathLike = Union[str, Path]
#: Marker used internally for colours not in the table (never a valid id: tables hold at most 255 classes).
UNKNOWN_ID = 255
#: Mask modes read as class ids, as colours, and by their palette (see the module docstring).
ID_MODES = ("L", "LA", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")
COLOUR_MODES = ("RGB", "RGBA", "RGBX")
PALETTE_MODES = ("P", "PA")


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


def palette_reading(indices: np.ndarray, palette: np.ndarray, classes: ClassTable) -> str:
    """How a palette mask is read (module docstring): ``"ids"``, ``"colours"`` or ``"neither"``.

    Args:
        indices: the palette indices the mask uses (sorted, unique).
        palette: its palette as ``(n, 3)`` uint8 (entries beyond it count as no colour).
        classes: the class table.
    """
    inside = indices < len(palette)
    colours = palette[indices[inside]].astype(np.int64)
    if inside.all() and (colours == indices[:, None]).all():
        return "ids"  # the grey ramp: an id mask saved with a grey palette
    keys = (colours[:, 0] << 16) | (colours[:, 1] << 8) | colours[:, 2]
    if inside.all() and (_colour_lut(tuple(classes.colours))[keys] != UNKNOWN_ID).all():
        return "colours"
    return "ids" if int(indices.max(initial=0)) < len(classes) else "neither"


def _palette_ids(im: Image.Image, classes: ClassTable, path: Optional[PathLike]) -> np.ndarray:
    """Class ids of a palette (``P``) image, read as :func:`palette_reading` decides."""
    arr = np.asarray(im)
    counts = np.bincount(arr.ravel(), minlength=256)
    used = np.flatnonzero(counts)
    palette = np.asarray(im.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
    how = palette_reading(used, palette, classes)
    if how == "ids":
        check_ids(arr, len(classes), path)
        return arr
    if how == "colours":
        lut = np.zeros(256, dtype=np.uint8)
        lut[used] = colour_to_ids(palette[used][None], classes, path)[0]
        return lut[arr]
    lut = _colour_lut(tuple(classes.colours))

    def colour(i: int) -> str:
        return f"colour {tuple(int(v) for v in palette[i])}" if i < len(palette) else "no palette entry"

    def listing(indices) -> str:
        more = f" and {len(indices) - 3} more" if len(indices) > 3 else ""
        return ", ".join(f"{i} ({colour(i)}) x {counts[i]} px" for i in indices[:3]) + more

    def packed(i: int) -> int:
        return (int(palette[i, 0]) << 16) | (int(palette[i, 1]) << 8) | int(palette[i, 2])

    not_ids = [int(i) for i in used if i >= len(classes)]
    not_colours = [int(i) for i in used if i >= len(palette) or lut[packed(i)] == UNKNOWN_ID]
    raise PaletteMaskError(f"palette mask fits neither reading: as class ids, index(es) outside 0..{len(classes) - 1}: "
                           f"{listing(not_ids)}; as colours, palette colour(s) not in the class table: "
                           f"{listing(not_colours)}", path)


def transparent_pixels(im: Image.Image) -> int:
    """Pixels of an opened image whose alpha is below 255: from its alpha channel (``RGBA``, ``LA``, ``PA``), its
    palette's alpha or its transparency key (PNG ``tRNS``: ``P``, ``L``, ``RGB``); 0 for an opaque image."""
    if im.mode in ("RGBA", "LA", "PA"):
        return int((np.asarray(im.getchannel("A")) < 255).sum())
    key = im.info.get("transparency")
    if key is None:
        return 0
    arr = np.asarray(im)
    if im.mode == "P":
        alpha = np.full(256, 255, dtype=np.uint8)
        if isinstance(key, int):
            alpha[key] = 0
        else:
            table = np.frombuffer(bytes(key), dtype=np.uint8)[:256]
            alpha[:len(table)] = table
        return int((alpha[arr] < 255).sum())
    if im.mode == "RGB" and isinstance(key, tuple):
        return int((arr == np.asarray(key, dtype=arr.dtype)).all(axis=-1).sum())
    if arr.ndim == 2 and isinstance(key, int):
        return int((arr == key).sum())
    return 0


def _mask_array(im: Image.Image, classes: ClassTable, path: Optional[PathLike]) -> np.ndarray:
    """Class ids (or, for a colour mask, an ``(H, W, 3)`` array still to convert) of an opened mask."""
    mode = im.mode
    hidden = transparent_pixels(im)
    if hidden:
        raise CorruptImageError(f"{hidden:,} transparent pixel(s) (alpha below 255): a transparent pixel has no "
                                f"label; fill them with a class (e.g. the void class) and save the mask opaque", path)
    if mode in COLOUR_MODES:
        return np.asarray(im.convert("RGB"))
    if mode in PALETTE_MODES:
        return _palette_ids(im if mode == "P" else im.convert("P"), classes, path)
    if mode in ("L", "1"):
        return np.asarray(im).astype(np.uint8, copy=False)
    if mode == "LA":
        return np.asarray(im.getchannel("L"))
    if mode in ID_MODES:
        return np.asarray(im).astype(np.int64)
    modes = ", ".join(ID_MODES + COLOUR_MODES + PALETTE_MODES)
    raise CorruptImageError(f"unsupported mask mode {mode!r} (read: {modes}); save class ids as mode L or colours "
                            "as RGB", path)


def read_mask(path: PathLike, classes: ClassTable, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Read a mask PNG as an id mask ``(H, W)`` uint8, validated against `classes`.

    Whether a file holds ids or colours is decided from the file (its mode, and for a palette mask its palette: see
    the module docstring). With `size = (height, width)` the result is resized with NEAREST. Masks are never turned
    by an EXIF orientation.

    Raises:
        CorruptImageError, UnknownColourError, ClassIdError, PaletteMaskError: each naming `path`.
    """
    im = open_image(path, "mask")
    try:
        with im:
            im.load()
            arr = _mask_array(im, classes, path)
    except CorruptImageError:
        raise
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
