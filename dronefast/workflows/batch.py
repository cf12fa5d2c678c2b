"""Predicting a set of photos into a folder: the per-photo work of ``python -m dronefast.predict`` (class maps,
overlay and, when asked, landing spots), as a library function."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from ..data.camera import read_camera
from ..data.images import read_image
from ..errors import DatasetError
from ..inference.predict_files import png_probability, probability_png, write_class_maps
from ..inference.predictor import Predictor
from ..landing.options import LandingOptions, ScaleError
from ..landing.policy import resolve_policy
from ..landing.writer import write_landing
from ..outputs import save_image
from ..sizes import format_size

__all__ = ["predict_to_files"]


def predict_to_files(predictor: Predictor, image: Path, paths: Dict[str, Path], alpha: float = 0.5,
                     landing: Optional[LandingOptions] = None) -> str:
    """Predict one photo and write its outputs (`paths` from :func:`~dronefast.inference.predict_files.output_paths`):
    the class maps, the confidence maps when `paths` names them (``p_safe``, ``p_class``: 8-bit, value / 255), and
    the landing files when `landing` options are given (spots only where the model's P(safe) reaches
    ``landing.min_p_safe``). Returns one line saying what was done.

    Raises:
        CorruptImageError: naming the photo when it cannot be decoded (nothing is written then).
    """
    confident = landing is not None or "p_safe" in paths
    pred = predictor.predict_confidence(image, _safe_ids(predictor, landing), p_class="p_class" in paths) \
        if confident else None
    p_safe_png = None if pred is None else probability_png(pred.p_safe)
    p_safe = None if pred is None else png_probability(p_safe_png)  # as the PNG holds it: same spots from the file
    ids = pred.ids if pred is not None else predictor.predict(image)
    photo = read_image(image)
    note = predictor.describe(ids.shape)
    if landing is not None:
        note += "; " + _landing(predictor, image, ids, photo, p_safe, paths, landing)
    if "p_safe" in paths:
        save_image(p_safe_png, paths["p_safe"])
        save_image(probability_png(pred.p_class), paths["p_class"])
    write_class_maps(ids, photo, predictor.classes, paths, alpha)
    return f"{format_size(ids.shape)}, {note}"


def _landing(predictor: Predictor, image: Path, ids, photo, p_safe, paths: Dict[str, Path],
             landing: LandingOptions) -> str:
    """Write the landing files of one predicted photo (its camera read from its EXIF/XMP); one line."""
    try:
        spots, meta = write_landing(ids, predictor.classes, landing, paths["landing_json"], paths["landing_png"],
                                    photo=photo, source={"image": str(image), "mask": str(paths["mask"])},
                                    p_safe=p_safe, camera=read_camera(image), photo_size=ids.shape)
    except ScaleError as e:  # a clearance in metres on a photo without a ground scale
        raise DatasetError(str(e).replace("clearance_m", "--clearance-m"), image) from None
    warn = "".join(f"; warning: {w}" for w in meta["warnings"])
    if not spots:
        return f"no safe landing spot: {meta['verdict']['reason']}{warn}"
    b = spots[0]
    place = f", lat {b.lat:.7f} lon {b.lon:.7f}" if b.lat is not None else ""
    return (f"{len(spots)} landing spot(s), best at x={b.x} y={b.y} on {b.surface} (P(safe) mean "
            f"{b.p_safe_mean:.2f}){place}{warn}")


def _safe_ids(predictor: Predictor, landing: Optional[LandingOptions]) -> List[int]:
    return resolve_policy(predictor.classes, None if landing is None else landing.safe,
                          None if landing is None else landing.hazards)[0]

