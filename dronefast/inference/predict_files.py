"""Which photos to predict and which files a prediction writes (``<stem>.mask.png``, ``.colour.png``,
``.overlay.jpg`` and, with landing, ``.landing.json`` / ``.landing.png``), each atomically."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..data.classes import ClassTable
from ..data.images import IMAGE_SUFFIXES
from ..data.layout import broken_link
from ..data.masks import ids_to_colour
from ..errors import CorruptImageError
from ..outputs import save_image

__all__ = ["OUTPUT_SUFFIXES", "output_paths", "is_own_output", "is_complete", "write_class_maps",
           "probability_png", "png_probability", "read_probability",
           "VIDEO_SUFFIXES", "VIDEO_OUTPUT_SUFFIXES", "InputScan", "scan_inputs"]

PathLike = Union[str, Path]
#: Output kinds and their file name endings (``<stem><suffix>``).
OUTPUT_SUFFIXES: Dict[str, str] = {"mask": ".mask.png", "colour": ".colour.png", "overlay": ".overlay.jpg",
                                   "p_safe": ".p_safe.png", "p_class": ".p_class.png",
                                   "landing_json": ".landing.json", "landing_png": ".landing.png"}
#: Videos ``predict`` reads (lower case; drones write MP4 or MOV).
VIDEO_SUFFIXES = (".mp4", ".mov")
#: Outputs of a video and their file name endings (``<stem><suffix>``).
VIDEO_OUTPUT_SUFFIXES: Dict[str, str] = {"video": ".landing.mp4", "frames": ".frames.jsonl"}


def is_own_output(path: Path) -> bool:
    """True for a file named like one of dronefast's prediction outputs."""
    return any(path.name.endswith(s) for s in (*OUTPUT_SUFFIXES.values(), *VIDEO_OUTPUT_SUFFIXES.values()))


@dataclass
class InputScan:
    """What :func:`scan_inputs` found: photos and videos to predict, the other files of the folders (named, not
    predicted), and one problem line per input that is missing or holds nothing to predict."""

    photos: List[Path] = field(default_factory=list)
    videos: List[Path] = field(default_factory=list)
    others: List[Path] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def others_line(self, exclude: Sequence[Path] = (), limit: int = 10) -> Optional[str]:
        """One line counting and naming the other files (less `exclude`; at most `limit` names, then how many
        more), or None when there are none."""
        left = [p for p in self.others if p not in set(exclude)]
        if not left:
            return None
        more = f" and {len(left) - limit} more" if len(left) > limit else ""
        return (f"not predicted: {len(left)} file(s) that are neither photos nor videos: "
                f"{', '.join(map(str, left[:limit]))}{more}")


def _folder_files(folder: Path, recursive: bool) -> List[Path]:
    """The files of `folder` (and, when `recursive`, of its subfolders), sorted, hidden files and folders left out
    (an interrupted writer's temporary files are hidden)."""
    if not recursive:
        return sorted(f for f in folder.iterdir() if not f.name.startswith(".") and not f.is_dir())
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in names if not n.startswith(".")]
    return sorted(found)


def scan_inputs(paths: Sequence[PathLike], recursive: bool = False, videos: bool = True) -> InputScan:
    """Sort `paths` into photos, videos and other files. A file named directly is a video when its suffix is one of
    :data:`VIDEO_SUFFIXES` (and `videos`), else a photo; a folder gives its image files as photos, its videos as
    videos (as other files when not `videos`), its remaining files as others (dronefast's own outputs are left out),
    with `recursive` its subfolders' too; each sorted by path."""
    scan = InputScan()
    for p in map(Path, paths):
        if p.is_file():
            (scan.videos if videos and p.suffix.lower() in VIDEO_SUFFIXES else scan.photos).append(p)
        elif not p.is_dir():
            scan.problems.append(f"{p}: {broken_link(p) or 'file not found'}")
        else:
            n = len(scan.photos) + len(scan.videos)
            for f in _folder_files(p, recursive):
                suffix = f.suffix.lower()
                if is_own_output(f):
                    continue
                if broken_link(f):  # a link that loops or leads nowhere: named, never skipped unseen
                    scan.problems.append(f"{f}: {broken_link(f)}")
                    continue
                if suffix in IMAGE_SUFFIXES:
                    scan.photos.append(f)
                elif videos and suffix in VIDEO_SUFFIXES:
                    scan.videos.append(f)
                else:
                    scan.others.append(f)
            if len(scan.photos) + len(scan.videos) == n:
                kinds = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
                scan.problems.append(f"{p}: no {'images or videos' if videos else 'images'} ({', '.join(kinds)}) "
                                     f"in this folder{' or its subfolders' if recursive else ''}")
    return scan


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
