"""The settings of a landing analysis in one checked object, shared by the ``landing`` and ``predict --landing``
commands, evaluation and the web app."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Sequence

from ..data.classes import ClassTable
from .geometry import ground_sampling_distance
from .policy import DEFAULT_MIN_P_SAFE, Hazards, resolve_policy

__all__ = ["LandingOptions", "DEFAULT_MIN_P_SAFE"]


def _positive(name: str, v: Any) -> None:
    if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class LandingOptions:
    """How to look for landing spots (see :mod:`dronefast.landing.spots`).

    Args:
        clearance_px: required free radius in pixels of the analysed map; or
        clearance_m: required free radius in metres (needs `gsd_m`, or `altitude_m`, `focal_mm` and `sensor_mm`).
        gsd_m: metres per pixel of the analysed map.
        altitude_m, focal_mm, sensor_mm: camera height above ground (m), real focal length (mm) and sensor width
            (mm), from which the GSD of a map is computed (all three together, instead of `gsd_m`).
        safe: landable class names (None: paved-area, grass, dirt, gravel).
        hazards: obstacle names or ``{name: weight >= 1}`` (None: the defaults of :mod:`dronefast.landing.policy`).
        top_k: spots per map.
        border_is_unsafe: count the area beyond the map's border as unsafe.
        min_separation_px: minimum distance between spots (None: twice the clearance).
        min_p_safe: with a confidence map (the model's probability that each pixel is safe ground), pixels below
            this are not landable, whatever their class; when no spot is left, the analysis abstains and says why.
    """

    clearance_px: Optional[float] = None
    clearance_m: Optional[float] = None
    gsd_m: Optional[float] = None
    altitude_m: Optional[float] = None
    focal_mm: Optional[float] = None
    sensor_mm: Optional[float] = None
    safe: Optional[Sequence[str]] = None
    hazards: Optional[Hazards] = None
    top_k: int = 5
    border_is_unsafe: bool = True
    min_separation_px: Optional[float] = None
    min_p_safe: float = DEFAULT_MIN_P_SAFE

    def __post_init__(self) -> None:
        for name in ("clearance_px", "clearance_m", "gsd_m", "altitude_m", "focal_mm", "sensor_mm",
                     "min_separation_px"):
            _positive(name, getattr(self, name))
        if (self.clearance_px is None) == (self.clearance_m is None):
            raise ValueError("give exactly one of clearance_px and clearance_m")
        camera = (self.altitude_m, self.focal_mm, self.sensor_mm)
        if self.gsd_m is not None and any(v is not None for v in camera):
            raise ValueError("give either gsd_m or altitude_m/focal_mm/sensor_mm, not both")
        if any(v is not None for v in camera) and not all(v is not None for v in camera):
            raise ValueError("altitude_m, focal_mm and sensor_mm go together")
        if self.clearance_m is not None and self.gsd_m is None and self.altitude_m is None:
            raise ValueError("clearance_m needs gsd_m or altitude_m, focal_mm and sensor_mm")
        if not (isinstance(self.min_p_safe, (int, float)) and 0 <= self.min_p_safe <= 1):
            raise ValueError(f"min_p_safe must be in [0, 1], got {self.min_p_safe!r}")
        if not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"top_k must be at least 1, got {self.top_k!r}")
        if isinstance(self.safe, str) or isinstance(self.hazards, str):
            raise TypeError("safe and hazards take a list of class names, not a single string")

    def replace(self, **changes: Any) -> "LandingOptions":
        """A copy with `changes` (checked again)."""
        return replace(self, **changes)

    def check_classes(self, classes: ClassTable) -> None:
        """ValueError when `safe` or `hazards` name classes the table lacks (or give bad weights)."""
        resolve_policy(classes, self.safe, self.hazards)

    def gsd_for(self, width_px: int) -> Optional[float]:
        """Metres per pixel of a map `width_px` wide (None when neither a GSD nor a camera is given)."""
        if self.altitude_m is None:
            return self.gsd_m
        return ground_sampling_distance(self.altitude_m, self.focal_mm, self.sensor_mm, image_width_px=width_px)

    def clearance_px_for(self, width_px: int) -> float:
        """The required free radius in pixels of a map `width_px` wide."""
        return self.clearance_px if self.clearance_px is not None else self.clearance_m / self.gsd_for(width_px)

    def describe(self, classes: ClassTable, width_px: int) -> Dict[str, Any]:
        """The settings as resolved for a map `width_px` wide, JSON-ready (recorded with the spots)."""
        safe_ids, weights = resolve_policy(classes, self.safe, self.hazards)
        gsd, clearance = self.gsd_for(width_px), self.clearance_px_for(width_px)
        return {"classes": classes.source, "safe": [classes.names[i] for i in safe_ids],
                "hazards": {classes.names[i]: w for i, w in weights.items()}, "clearance_px": clearance,
                "clearance_m": self.clearance_m if gsd is None else clearance * gsd, "gsd_m": gsd,
                "altitude_m": self.altitude_m, "focal_length_mm": self.focal_mm, "sensor_width_mm": self.sensor_mm,
                "border_is_unsafe": self.border_is_unsafe, "top_k": self.top_k, "min_p_safe": self.min_p_safe}
