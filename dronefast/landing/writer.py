"""A landing analysis: the spots of a class map (with the model's confidence when there is one), the verdict
(abstain, and why, when no spot is safe enough), and the files: ``<stem>.landing.json`` (verdict, ranked spots,
settings, sizes, units, the camera), ``<stem>.landing.png`` (the overlay) and, when the spots have a position,
``<stem>.landing.geojson`` (:mod:`.geo`), each written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..data.camera import CameraInfo
from ..data.classes import ClassTable
from ..outputs import save_image, write_json
from .geo import geojson_path, place_spots, write_geojson
from .options import LandingOptions
from .pictures import landing_overlay
from .policy import resolve_policy
from .spots import (
    LandingSpot,
    find_landing_spots,
    landable,
    landing_maps,
    spots_to_json,
)

__all__ = ["analyse_landing", "landing_verdict", "write_landing"]


def analyse_landing(class_map: np.ndarray, classes: ClassTable, options: LandingOptions,
                    p_safe: Optional[np.ndarray] = None, *, camera: Optional[CameraInfo] = None,
                    photo_size: Optional[Tuple[int, int]] = None) -> Tuple[List[LandingSpot], Dict[str, Any]]:
    """The spots of a ``(H, W)`` class map under `options` (with `p_safe`, the model's ``(H, W)`` probability of
    safe ground, only pixels with at least ``options.min_p_safe`` are landable), and the settings as resolved for
    the map, JSON-ready, with the ``verdict`` (see :func:`landing_verdict`).

    The clearance is in pixels of the photo of ``photo_size = (height, width)`` (default: the map's size; the
    camera's image size when a `camera` read from the photo is given) or in metres, converted to the map. With the
    ground scale, the heading and the GPS position of `camera` (:func:`~dronefast.data.camera.read_camera`; the
    options' camera values win), each spot gets its place (:func:`~dronefast.landing.geo.place_spots`).

    Raises:
        ScaleError: a clearance in metres without a ground scale (or on an oblique photo).
    """
    h, w = class_map.shape
    o = options
    if photo_size is None and camera is not None and camera.image_width_px and camera.image_height_px:
        photo_size = (camera.image_height_px, camera.image_width_px)
    scale = o.scale_for((h, w), photo_size, camera)
    maps = landing_maps(class_map, classes, o.safe, o.hazards, o.border_is_unsafe, p_safe, o.min_p_safe)
    spots = find_landing_spots(class_map, classes, clearance_px=scale.clearance_map_px, gsd_m=scale.gsd_map_m,
                               safe=o.safe, hazards=o.hazards, top_k=o.top_k, border_is_unsafe=o.border_is_unsafe,
                               min_separation_px=scale.separation_map_px, p_safe=p_safe, min_p_safe=o.min_p_safe,
                               maps=maps)
    safe_ids, _ = resolve_policy(classes, o.safe, o.hazards)
    meta = {**o.describe(classes, scale), "safe_fraction": float(np.isin(class_map, safe_ids).mean()),
            "confidence": p_safe is not None}
    if p_safe is None:
        meta.pop("min_p_safe")
    else:
        meta["confident_safe_fraction"] = float(landable(class_map, classes, o.safe, p_safe, o.min_p_safe,
                                                             o.hazards).mean())
    widest = float(maps[0].max()) if maps[0].size else 0.0
    meta["verdict"] = landing_verdict(spots, widest, options, meta)
    return place_spots(spots, scale), meta


def landing_verdict(spots: List[LandingSpot], widest_px: float, options: LandingOptions,
                    meta: Dict[str, Any]) -> Dict[str, Any]:
    """``{"abstained": bool, "reason": str or None}``: when no spot passes, say why instead of offering the least
    bad one (no safe ground at all; not enough of it the model is sure of; no safe area wide enough). `widest_px`:
    the largest free radius of the map; `meta`: :func:`analyse_landing`'s settings and fractions."""
    if spots:
        return {"abstained": False, "reason": None}
    clearance = meta["clearance_map_px"]
    if meta["safe_fraction"] == 0:
        return {"abstained": True, "reason": "no safe ground: no pixel of a landable class"}
    if meta["confidence"] and meta["confident_safe_fraction"] < meta["safe_fraction"] / 2:
        why = (f"the model is unsure: only {100 * meta['confident_safe_fraction']:.1f}% of the photo is safe ground "
               f"with P(safe) >= {options.min_p_safe:g} (safe classes cover {100 * meta['safe_fraction']:.1f}%)")
    else:
        why = "no safe area is wide enough"
    return {"abstained": True,
            "reason": f"{why}; the widest free radius is {widest_px:.1f} px, the clearance asks for more than "
                      f"{clearance:.1f} px"}


def write_landing(class_map: np.ndarray, classes: ClassTable, options: LandingOptions, json_path: Path,
                  png_path: Path, photo: Optional[Image.Image] = None, source: Optional[Dict[str, Any]] = None,
                  p_safe: Optional[np.ndarray] = None, *, camera: Optional[CameraInfo] = None,
                  photo_size: Optional[Tuple[int, int]] = None) -> Tuple[List[LandingSpot], Dict[str, Any]]:
    """Analyse `class_map` ``(H, W)`` (with the confidence map `p_safe`, the photo's `camera` and `photo_size` when
    given, see :func:`analyse_landing`) and write the verdict, the spots and their settings (JSON), the overlay on
    `photo` (or on the class colours) as PNG and, when the spots have a position, ``<stem>.landing.geojson`` beside
    the JSON (a stale one is removed otherwise); returns ``(spots, meta)`` (``meta["clearance_px"]``,
    ``meta["verdict"]``, ``meta["geojson"]``: its path or None)."""
    spots, meta = analyse_landing(class_map, classes, options, p_safe, camera=camera, photo_size=photo_size)
    verdict = meta.pop("verdict")
    write_json(json_path, spots_to_json(spots, {**(source or {}), **meta}, verdict))
    geojson = write_geojson(spots, geojson_path(json_path))
    overlay = landing_overlay(photo, class_map, spots, classes, options.safe, options.hazards,
                              note=verdict["reason"])
    save_image(overlay, png_path)
    return spots, {**meta, "verdict": verdict, "geojson": geojson}
