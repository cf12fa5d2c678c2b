"""What the operator chooses for the page (:class:`AppSettings`, the defaults) and the sample photos it offers;
light: no Gradio, no PyTorch."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

from ..landing.options import DEFAULT_CLEARANCE_M, DEFAULT_CLEARANCE_PX, LandingOptions

__all__ = ["AppSettings", "DEFAULT_MAX_PIXELS", "DEFAULT_CLEARANCE_PX", "DEFAULT_CLEARANCE_M", "DISPLAY_SIDE",
           "UNITS", "sample_photos"]

#: Photos with more pixels are refused before they are decoded (``--max-pixels``).
DEFAULT_MAX_PIXELS = 30_000_000
#: Longest side of the pictures shown on the page (the files and the landing analysis keep the photo's size).
DISPLAY_SIDE = 1600
#: How the page's clearance is given.
UNITS = ("pixels", "metres")


@dataclass(frozen=True)
class AppSettings:
    """What the operator chose for the page (the flags of ``python -m dronefast.app``).

    Args:
        max_pixels: larger photos are refused, before decoding.
        landing: the landing options the page starts from: safe classes, hazards, top_k, border, GSD, and the
            initial clearance and camera (the page changes the clearance and the camera).
        opacity: initial strength of the class colours over the photo, 0..1.
        display_side: longest side of the pictures shown.
        work_dir: where each photo's files are written (None: a folder in Gradio's upload folder).
        model: the model's path (a run folder or its model.json), to show the scores recorded with it (None: none).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    landing: LandingOptions = field(default_factory=lambda: LandingOptions(clearance_px=DEFAULT_CLEARANCE_PX))
    opacity: float = 0.5
    display_side: int = DISPLAY_SIDE
    work_dir: Optional[Path] = None
    model: Optional[Path] = None

    def __post_init__(self) -> None:
        if not (isinstance(self.max_pixels, int) and self.max_pixels >= 1):
            raise ValueError(f"max_pixels must be at least 1, got {self.max_pixels!r}")
        if not 0 <= self.opacity <= 1:
            raise ValueError(f"opacity must be in [0, 1], got {self.opacity!r}")
        if not (isinstance(self.display_side, int) and self.display_side >= 16):
            raise ValueError(f"display_side must be at least 16, got {self.display_side!r}")


def sample_photos(n: int, folder: Optional[Union[str, Path]] = None) -> List[Path]:
    """The first `n` photos of a sample (default: the built-in synthetic sample,
    :func:`~dronefast.synthetic.generator.ensure_sample`, generated on first use), for the page's examples."""
    from ..data.layout import find_layout
    from ..synthetic.generator import ensure_sample

    if n <= 0:
        return []
    return find_layout(ensure_sample() if folder is None else folder).image_files()[:n]
