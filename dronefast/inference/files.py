"""Which photos to predict and which files a prediction writes (``<stem>.mask.png``, ``.colour.png``,
``.overlay.jpg`` and, with landing, ``.landing.json`` / ``.landing.png``), each atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from ..data.classes import ClassTable
from ..data.images import IMAGE_SUFFIXES
from ..data.layout import broken_link
from ..data.masks import ids_to_colour
from ..errors import CorruptImageError
from ..outputs import save_image

__all__ = ["OUTPUT_SUFFIXES", "list_inputs", "output_paths", "is_own_output", "is_complete", "write_class_maps",
           "probability_png", "png_probability", "read_probability"]

PathLike = Union[str, Path]
#: Output kinds and their file name endings (``<stem><suffix>``).
OUTPUT_SUFFIXES: Dict[str, str] = {"mask": ".mask.png", "colour": ".colour.png", "overlay": ".overlay.jpg",
                                   "p_safe": ".p_safe.png", "p_class": ".p_class.png",
                                   "landing_json": ".landing.json", "landing_png": ".landing.png"}


def is_own_output(path: Path) -> bool:
    """True for a file named like one of dronefast's prediction outputs."""
    return any(path.name.endswith(s) for s in OUTPUT_SUFFIXES.values())


def list_inputs(paths: Sequence[PathLike]) -> Tuple[List[Path], List[str]]:
    """Photos named by `paths` (files as given; folders: their image files, non-recursive, sorted, skipping
    dronefast's own outputs), and one problem line per path that is missing, an empty folder or a symbolic link to
    no file."""
    files, problems = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not f.name.startswith(".") and not is_own_output(f))
            problems += [f"{f}: {broken_link(f)}" for f in sorted(p.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES
                         and not f.name.startswith(".") and broken_link(f)]
            if not found:
                problems.append(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: {broken_link(p) or 'file not found'}")
    return files, problems


def output_paths(image: PathLike, out: PathLike, landing: bool = False, confidence: bool = False
                 ) -> Dict[str, Path]:
    """Output files of one photo: ``{"mask", "colour", "overlay"[, "p_safe", "p_class"][, "landing_json",
    "landing_png"]}``."""
    stem = Path(image).stem
    kinds = [k for k in OUTPUT_SUFFIXES if (landing or not k.startswith("landing"))
             and (confidence or not k.startswith("p_"))]
    return {k: Path(out) / f"{stem}{OUTPUT_SUFFIXES[k]}" for k in kinds}


def is_complete(paths: Dict[str, Path]) -> bool:
    """True when every output of a photo exists (a photo killed between its files is not complete)."""
    return all(p.is_file() for p in paths.values())


def write_class_maps(ids: np.ndarray, photo: Optional[Image.Image], classes: ClassTable, paths: Dict[str, Path],
                     alpha: float = 0.5) -> Image.Image:
    """Write a ``(H, W)`` uint8 class map as ids (``mask``), class colours (``colour``) and, blended with `photo`
    at `alpha`, ``overlay``; the mask is written last, so its presence means the colour and overlay exist too.
    Returns the colour picture."""
    colour = Image.fromarray(ids_to_colour(ids, classes), "RGB")
    save_image(colour, paths["colour"])
    if photo is not None and "overlay" in paths:
        save_image(Image.blend(photo, colour, alpha), paths["overlay"], quality=90)
    save_image(ids, paths["mask"])
    return colour


def probability_png(p: np.ndarray) -> np.ndarray:
    """A ``(H, W)`` probability map in [0, 1] as an 8-bit grey image (value / 255 = probability)."""
    return np.clip(np.floor(np.asarray(p, dtype=np.float64) * 255 + 0.5), 0, 255).astype(np.uint8)


def png_probability(png: np.ndarray) -> np.ndarray:
    """The probabilities an 8-bit map of :func:`probability_png` holds: ``(H, W)`` float32, value / 255."""
    return np.asarray(png).astype(np.float32) / np.float32(255.0)


def read_probability(path: PathLike) -> np.ndarray:
    """A probability map written by :func:`probability_png` (an 8-bit grey PNG) as ``(H, W)`` float32 in [0, 1].

    Raises:
        CorruptImageError: naming `path` when it is missing, unreadable or not a one-channel 8-bit image.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "L":
                raise CorruptImageError(f"a probability map must be an 8-bit grey PNG, found mode {im.mode}", path)
            return png_probability(im)
    except CorruptImageError:
        raise
    except FileNotFoundError:
        raise CorruptImageError("file not found", path) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f"cannot decode the probability map ({e})", path) from None
