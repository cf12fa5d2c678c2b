"""Writing output files atomically: each file is written to a temporary name beside its target and then
renamed over it, so an interrupted run never leaves a half-written file where a complete one is expected."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
from PIL import Image

__all__ = ["atomic_path", "write_text", "write_json", "save_image", "save_figure", "ensure_outside"]

PathLike = Union[str, Path]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on error remove it.

    The temporary name keeps the target's suffix so that libraries choosing a format by extension
    (Pillow, matplotlib, torch) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically (numpy scalars and paths are converted)."""

    def default(o):
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "item"):
            return o.item()
        raise TypeError(f"cannot write {type(o).__name__} as JSON")

    return write_text(path, json.dumps(obj, indent=2, default=default, allow_nan=True) + "\n")


def save_image(img: Union[Image.Image, np.ndarray], path: PathLike, **kwargs) -> Path:
    """Save a PIL image (or a HxW / HxWx3 uint8 array) to `path` atomically; the format follows the suffix."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **kwargs)
    return Path(path)


def save_figure(fig, path: PathLike, dpi: int = 100) -> Path:
    """Save a matplotlib figure to `path` atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def ensure_outside(dst: PathLike, src: PathLike) -> None:
    """Raise ValueError if folder `dst` is `src` or lies inside it (outputs must never land among inputs)."""
    dst, src = Path(dst).resolve(), Path(src).resolve()
    if dst == src or src in dst.parents:
        raise ValueError(f"the output folder {dst} lies inside the input folder {src}; choose another")
