"""A landing analysis written to disk: ``<stem>.landing.json`` (ranked spots and settings) and
``<stem>.landing.png`` (the overlay), each atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..data.classes import ClassTable
from ..outputs import save_image, write_json
from ..sizes import format_size
from .options import LandingOptions
from .policy import resolve_policy
from .render import landing_overlay
from .spots import LandingSpot, find_landing_spots, spots_to_json

__all__ = ["analyse_landing", "write_landing"]


def analyse_landing(class_map: np.ndarray, classes: ClassTable, options: LandingOptions
                    ) -> Tuple[List[LandingSpot], Dict[str, Any]]:
    """The spots of a ``(H, W)`` class map under `options`, and the settings as resolved for it (JSON-ready)."""
    h, w = class_map.shape
    o = options
    spots = find_landing_spots(class_map, classes, clearance_px=o.clearance_px, clearance_m=o.clearance_m,
                               gsd_m=o.gsd_for(w), safe=o.safe, hazards=o.hazards, top_k=o.top_k,
                               border_is_unsafe=o.border_is_unsafe, min_separation_px=o.min_separation_px)
    safe_ids, _ = resolve_policy(classes, o.safe, o.hazards)
    meta = {"size": format_size((h, w)), **o.describe(classes, w),
            "safe_fraction": float(np.isin(class_map, safe_ids).mean())}
    return spots, meta


def write_landing(class_map: np.ndarray, classes: ClassTable, options: LandingOptions, json_path: Path,
                  png_path: Path, photo: Optional[Image.Image] = None, source: Optional[Dict[str, Any]] = None
                  ) -> Tuple[List[LandingSpot], float]:
    """Find the spots of `class_map` ``(H, W)`` and write them with their settings (JSON) and the overlay on
    `photo` (or on the class colours) as PNG; returns ``(spots, clearance in pixels)``."""
    spots, meta = analyse_landing(class_map, classes, options)
    write_json(json_path, spots_to_json(spots, {**(source or {}), **meta}))
    save_image(landing_overlay(photo, class_map, spots, classes, options.safe, options.hazards), png_path)
    return spots, meta["clearance_px"]
