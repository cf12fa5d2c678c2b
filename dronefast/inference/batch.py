"""Predicting a set of photos into a folder: the per-photo work of ``python -m dronefast.predict`` (class maps,
overlay and, when asked, landing spots), as a library function."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from ..data.images import read_image
from ..landing.options import LandingOptions
from ..landing.writer import write_landing
from ..sizes import format_size
from .files import write_class_maps
from .predictor import Predictor

__all__ = ["predict_to_files"]


def predict_to_files(predictor: Predictor, image: Path, paths: Dict[str, Path], alpha: float = 0.5,
                     landing: Optional[LandingOptions] = None) -> str:
    """Predict one photo and write its outputs (`paths` from :func:`~dronefast.inference.files.output_paths`);
    the landing files too when `landing` options are given. Returns one line saying what was done.

    Raises:
        CorruptImageError: naming the photo when it cannot be decoded (nothing is written then).
    """
    ids = predictor.predict(image)
    photo = read_image(image)
    note = predictor.describe(ids.shape)
    if landing is not None:
        spots, clearance_px = write_landing(ids, predictor.classes, landing, paths["landing_json"],
                                            paths["landing_png"], photo=photo,
                                            source={"image": str(image), "mask": str(paths["mask"])})
        note += "; " + (f"{len(spots)} landing spot(s), best at x={spots[0].x} y={spots[0].y} on {spots[0].surface}"
                        if spots else f"no landing spot with {clearance_px:.1f} px clearance")
    write_class_maps(ids, photo, predictor.classes, paths, alpha)
    return f"{format_size(ids.shape)}, {note}"
