"""Reading photos: every pixel format brought to 8-bit RGB explicitly (or refused), EXIF orientation honoured, and
fast, size-aware JPEG decoding with Pillow's draft mode (DCT scaling).

Pixel formats (Pillow modes) of photos, each handled on purpose:

* ``RGB`` as it is; ``L`` and ``1`` (grey), ``P`` (palette: its colours), ``YCbCr`` and ``HSV``: converted to RGB;
  ``CMYK``: Pillow's conversion, without colour management (as most viewers show it);
* ``RGBA``, ``RGBa``, ``RGBX``, ``LA``, ``La``, ``PA``: the alpha (or padding) channel is dropped, the colours kept;
* ``I;16`` (16-bit grey, e.g. a 16-bit PNG or TIFF): scaled from 0..65535 to 0..255 (``round(v * 255 / 65535)``),
  not clipped; ``I`` (32-bit integers): the same when every value lies in 0..65535, refused otherwise (its range
  is unknown); ``F`` (32-bit float): scaled from 0..1 when every value lies there and is finite, refused otherwise;
* anything else (``LAB``, ``I;16S``, ...): refused, naming the mode.

The EXIF orientation tag is applied (:func:`PIL.ImageOps.exif_transpose`), so a photo taken with the camera turned
is read upright; :func:`read_image` and :func:`image_size` agree on the oriented size. Masks are never turned (a
mask is labelled on the pixels as stored), so a photo whose orientation turns it no longer fits its mask and the
data check reports the size mismatch.

A file whose header claims more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
89,478,485 by default) is refused before anything is decoded, by name: raise that limit (or set it to None) in
Python for files you trust.

Decoding a 6000x4000 JPEG only to shrink it to 300x200 wastes most of the work; ``Image.draft`` lets the
JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding, which is several times faster. The remaining factor is
done with a proper resampling filter.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import CorruptImageError

__all__ = ["read_image", "image_size", "open_image", "to_rgb", "exif_orientation", "IMAGE_SUFFIXES", "RESAMPLE",
           "PHOTO_MODES"]

PathLike = Union[str, Path]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: Filter used to shrink photos (masks always use NEAREST, see dronefast.data.masks).
RESAMPLE = Image.Resampling.LANCZOS
_CONVERTED = ("RGB", "L", "1", "P", "YCbCr", "HSV", "CMYK")
_ALPHA = ("RGBA", "RGBa", "RGBX", "LA", "La", "PA")
_WIDE = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
#: Photo modes read (everything else is refused); see the module docstring for what each becomes.
PHOTO_MODES = _CONVERTED + _ALPHA + _WIDE
#: EXIF orientations that swap width and height.
_TURNED = (5, 6, 7, 8)


def open_image(path: PathLike, what: str = "image") -> Image.Image:
    """``Image.open(path)``, with every way it fails raised as one :class:`CorruptImageError` naming `path`: missing,
    a folder, not an image, or a header claiming more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's
    decompression-bomb limit, whose warning is refused as well as its error). `what` names the file in messages
    ("image", "mask"). The caller closes the image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except FileNotFoundError:
        raise CorruptImageError("file not found", path) from None
    except IsADirectoryError:
        raise CorruptImageError(f"is a folder, not {'an' if what[:1] in 'aeiou' else 'a'} {what}", path) from None
    except PermissionError:
        raise CorruptImageError(f"cannot read the {what} (permission denied)", path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CorruptImageError(_bomb_message(e), path) from None
    except UnidentifiedImageError:
        raise CorruptImageError(f"cannot decode {what}: not an image file Pillow can read", path) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f"cannot decode {what} ({e})", path) from None


def _bomb_message(e: Exception) -> str:
    found = re.search(r"\((\d+) pixels\)", str(e))
    claims = f"its header claims {int(found.group(1)):,} pixels" if found else str(e)
    return (f"refused as a possible decompression bomb: {claims}, more than Pillow's limit of "
            f"{Image.MAX_IMAGE_PIXELS or 0:,} (PIL.Image.MAX_IMAGE_PIXELS; raise it only for files you trust)")


def exif_orientation(im: Image.Image, path: Optional[PathLike] = None) -> int:
    """The EXIF orientation (1..8) of an opened image; 1 when it has none (CorruptImageError when its EXIF block
    cannot be read)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception as e:  # Pillow raises many kinds on a broken EXIF block
        raise CorruptImageError(f"cannot read its EXIF orientation ({type(e).__name__}: {e})", path) from None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _scaled(values: np.ndarray, top: float) -> Image.Image:
    """Grey values in 0..`top` as an 8-bit ``L`` image (rounded, not clipped)."""
    return Image.fromarray(np.rint(values.astype(np.float64) * (255.0 / top)).astype(np.uint8), "L")


def to_rgb(im: Image.Image, path: Optional[PathLike] = None) -> Image.Image:
    """An opened photo as 8-bit RGB, each mode converted or refused as the module docstring says
    (:class:`CorruptImageError` naming `path` and the reason for a refusal)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _CONVERTED:
        return im.convert("RGBA").convert("RGB") if mode == "P" and "transparency" in im.info else im.convert("RGB")
    if mode in _ALPHA:
        return (im.convert("RGBA") if mode == "PA" else im).convert("RGB")
    if mode not in _WIDE:
        raise CorruptImageError(f"unsupported photo mode {mode!r} (read: {', '.join(PHOTO_MODES)}); save it as RGB",
                                path)
    arr = np.asarray(im)
    if mode == "F":
        if not np.isfinite(arr).all() or arr.size and (arr.min() < 0 or arr.max() > 1):
            lo, hi = (float(np.nanmin(arr)), float(np.nanmax(arr))) if np.isfinite(arr).any() else (np.nan, np.nan)
            raise CorruptImageError(f"floating-point photo with values from {lo:g} to {hi:g} (or not finite): only "
                                    f"0..1 is understood; save it as 8- or 16-bit", path)
        return _scaled(arr, 1.0).convert("RGB")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
        raise CorruptImageError(f"32-bit integer photo with values from {int(arr.min())} to {int(arr.max())}: outside "
                                f"0..65535, its range is unknown; save it as 8- or 16-bit", path)
    return _scaled(arr, 65535.0).convert("RGB")


def read_image(path: PathLike, size: Optional[Tuple[int, int]] = None, draft: bool = True) -> Image.Image:
    """Decode a photo as an upright 8-bit RGB PIL image, optionally resized to ``size = (height, width)`` (of the
    upright photo).

    With `draft` (default) JPEGs are decoded at the smallest DCT scale still at least `size`, then resized
    with a Lanczos filter. Modes are converted or refused and the EXIF orientation applied (module docstring).

    Raises:
        CorruptImageError: naming `path`, when it is missing, truncated, not an image, too large (decompression
            bomb) or in a pixel format refused.
    """
    im = open_image(path)
    try:
        with im:
            turn = exif_orientation(im, path)
            if size is not None and draft and im.format == "JPEG":
                h, w = size
                im.draft("RGB", (h, w) if turn in _TURNED else (w, h))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)  # no-op when Pillow's loader applied it (TIFF) or there is none
            out = to_rgb(im, path)
            if size is not None and out.size != (size[1], size[0]):
                out = out.resize((size[1], size[0]), RESAMPLE, reducing_gap=None)
            return out
    except CorruptImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f"cannot decode image ({e})", path) from None


def image_size(path: PathLike) -> Tuple[int, int]:
    """``(height, width)`` of a photo from its header, upright (EXIF orientation applied, as :func:`read_image`
    returns it), without decoding the pixels.

    Raises:
        CorruptImageError: naming `path`, as :func:`read_image` would for a missing file, a header it cannot read,
            a decompression bomb or a pixel mode it refuses.
    """
    with open_image(path) as im:
        if im.mode not in PHOTO_MODES:
            raise CorruptImageError(f"unsupported photo mode {im.mode!r} (read: {', '.join(PHOTO_MODES)}); save it "
                                    f"as RGB", path)
        w, h = im.size
        tags = getattr(im, "tag_v2", None)  # TIFF: Pillow reports the upright size already; start from the stored one
        if tags is not None and isinstance(tags.get(256), int) and isinstance(tags.get(257), int):
            w, h = tags[256], tags[257]
        turned = exif_orientation(im, path) in _TURNED
    return (w, h) if turned else (h, w)
