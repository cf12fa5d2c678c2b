"""Reading photos: fast, size-aware JPEG decoding with Pillow's draft mode (DCT scaling).

Decoding a 6000x4000 JPEG only to shrink it to 300x200 wastes most of the work; ``Image.draft`` lets the
JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding, which is several times faster. The remaining factor is
done with a proper resampling filter.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

from PIL import Image

from .errors import CorruptImageError

__all__ = ["read_image", "image_size", "IMAGE_SUFFIXES", "RESAMPLE"]

PathLike = Union[str, Path]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: Filter used to shrink photos (masks always use NEAREST, see dronefast.masks).
RESAMPLE = Image.Resampling.LANCZOS


def read_image(path: PathLike, size: Optional[Tuple[int, int]] = None, draft: bool = True) -> Image.Image:
    """Decode a photo as an RGB PIL image, optionally resized to ``size = (height, width)``.

    With `draft` (default) JPEGs are decoded at the smallest DCT scale still at least `size`, then resized
    with a Lanczos filter.

    Raises:
        CorruptImageError: naming `path`, when it is missing, truncated or not an image.
    """
    try:
        im = Image.open(path)
        if size is not None and draft and im.format == "JPEG":
            h, w = size
            im.draft("RGB", (w, h))
        im = im.convert("RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), RESAMPLE, reducing_gap=None)
        return im
    except FileNotFoundError:
        raise CorruptImageError("file not found", path) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f"cannot decode image ({e})", path) from None


def image_size(path: PathLike) -> Tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
        return h, w
    except FileNotFoundError:
        raise CorruptImageError("file not found", path) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f"cannot read image header ({e})", path) from None
