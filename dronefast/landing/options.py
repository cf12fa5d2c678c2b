"""The settings of a landing analysis in one checked object, shared by the ``landing`` and ``predict --landing``
commands, evaluation and the web app, and their resolution for one map (:class:`LandingScale`).

One meaning for the clearance everywhere: pixels **of the input photo** (``clearance_px``), or metres on the ground
(``clearance_m``). The finder converts it to the map it analyses (``clearance * map width / photo width``: a map
downscaled 20x needs a clearance 20x smaller). With neither, the clearance is :data:`DEFAULT_CLEARANCE_M` on the
ground when the scale is known, else :data:`DEFAULT_CLEARANCE_PX` pixels of the photo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Sequence, Tuple

from ..data.camera import CameraInfo, with_overrides
from ..data.classes import ClassTable
from ..sizes import format_size
from .policy import DEFAULT_MIN_P_SAFE, Hazards, resolve_policy

__all__ = ["LandingOptions", "LandingScale", "ScaleError", "DEFAULT_CLEARANCE_M",
           "DEFAULT_CLEARANCE_PX", "ORIGIN"]

#: Clearance when none is given and the ground scale is known (m).
DEFAULT_CLEARANCE_M = 2.0
#: Clearance when none is given and the scale is unknown (pixels of the input photo).
DEFAULT_CLEARANCE_PX = 40.0
#: Where the pixel coordinates of spots start (written in the landing JSON).
ORIGIN = ("x right, y down, in pixels of the map (map_size); (0, 0) is the centre of the top-left pixel, so the "
          "photo's centre is ((W - 1) / 2, (H - 1) / 2)")


class ScaleError(ValueError):
    """A clearance in metres (or a separation) that the photo's scale cannot give: no ground scale is known, or the
    photo is oblique."""


def _positive(name: str, v: Any) -> None:
    if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class LandingOptions:
    """How to look for landing spots (see :mod:`dronefast.landing.spots`).

    Args:
        clearance_px: required clear radius in pixels of the input photo; or
        clearance_m: required clear radius in metres (needs the ground scale: the photo's camera, `gsd_m`, or
            `altitude_m`, `focal_mm`, `sensor_mm`); neither: :data:`DEFAULT_CLEARANCE_M` when the scale is known,
            else :data:`DEFAULT_CLEARANCE_PX`.
        gsd_m: metres per pixel of the input photo (wins over any camera).
        altitude_m, focal_mm, sensor_mm: camera height above ground (m), real focal length (mm) and sensor width
            (mm); each overrides what the photo says (:func:`~dronefast.data.camera.with_overrides`).
        safe: landable class names (None: paved-area, grass, dirt, gravel).
        hazards: obstacle names or ``{name: weight >= 1}`` (None: the defaults of :mod:`dronefast.landing.policy`);
            a hazard of weight w must be more than ``w x clearance`` from a spot.
        top_k: spots per map.
        border_is_unsafe: count the area beyond the map's border as unsafe.
        min_separation_px: least distance between spots in pixels of the input photo (None: twice the clearance;
            never less than the clearance: spots are distinct places).
        min_p_safe: with a confidence map (the model's probability that each pixel is safe ground), pixels below
            this are not landable, whatever their class; when no spot is left, the analysis abstains and says why.
        lat, lon, yaw_deg: where the photo was taken (degrees, WGS84) and the direction its top edge faces (degrees
            clockwise from north); each overrides what the photo says.
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
    lat: Optional[float] = None
    lon: Optional[float] = None
    yaw_deg: Optional[float] = None

    def __post_init__(self) -> None:
        with_overrides(CameraInfo(), lat=self.lat, lon=self.lon, yaw_deg=self.yaw_deg)  # ValueError when out of range
        for name in ("clearance_px", "clearance_m", "gsd_m", "altitude_m", "focal_mm", "sensor_mm",
                     "min_separation_px"):
            _positive(name, getattr(self, name))
        if self.clearance_px is not None and self.clearance_m is not None:
            raise ValueError("give at most one of clearance_px and clearance_m")
        if None not in (self.clearance_px, self.min_separation_px) and self.min_separation_px < self.clearance_px:
            raise ValueError(f"min_separation_px ({self.min_separation_px:g} px) must be at least the clearance "
                             f"({self.clearance_px:g} px): spots are distinct places")
        if self.gsd_m is not None and any(v is not None for v in (self.altitude_m, self.focal_mm, self.sensor_mm)):
            raise ValueError("give either gsd_m or altitude_m/focal_mm/sensor_mm, not both")
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

    def camera_for(self, photo_size: Tuple[int, int], camera: Optional[CameraInfo] = None) -> CameraInfo:
        """The photo's camera (`camera`, or an unknown one) for a photo of ``photo_size = (height, width)``, with
        this object's altitude, focal length and sensor width winning as flags."""
        cam = camera if camera is not None else CameraInfo()
        if cam.image_width_px is None:
            cam = with_overrides(cam, "photo", image_width_px=photo_size[1], image_height_px=photo_size[0])
        return with_overrides(cam, height_m=self.altitude_m, focal_mm=self.focal_mm, sensor_width_mm=self.sensor_mm,
                              lat=self.lat, lon=self.lon, yaw_deg=self.yaw_deg)

    def scale_for(self, map_size: Tuple[int, int], photo_size: Optional[Tuple[int, int]] = None,
                  camera: Optional[CameraInfo] = None) -> "LandingScale":
        """The clearance, separation and ground scale resolved for a map of ``map_size = (height, width)`` covering
        a photo of `photo_size` (default: the map's size) taken with `camera` (ValueError when a clearance in
        metres meets an unknown scale, ScaleError)."""
        photo_size = tuple(photo_size or map_size)
        cam = self.camera_for(photo_size, camera)
        gsd_photo = None if cam.oblique else (self.gsd_m or cam.gsd_m)
        if gsd_photo is not None and self.gsd_m is None:  # the camera's GSD is for its own width
            gsd_photo *= cam.image_width_px / photo_size[1]
        if self.clearance_m is not None and gsd_photo is None:
            why = cam.warning or ("the ground scale is unknown: give gsd_m, or the altitude, focal length and "
                                  "sensor width the photo does not carry")
            raise ScaleError(f"a clearance in metres needs the ground scale; {why}")
        if self.clearance_px is not None:
            clearance, given = self.clearance_px, "clearance_px"
        elif self.clearance_m is not None:
            clearance, given = self.clearance_m / gsd_photo, "clearance_m"
        elif gsd_photo is not None:
            clearance, given = DEFAULT_CLEARANCE_M / gsd_photo, "default_m"
        else:
            clearance, given = DEFAULT_CLEARANCE_PX, "default_px"
        sep = 2 * clearance if self.min_separation_px is None else self.min_separation_px
        if sep < clearance * (1 - 1e-9):
            raise ScaleError(f"min_separation_px ({sep:g} px) must be at least the clearance ({clearance:g} px): "
                             f"spots are distinct places")
        return LandingScale(map_size=tuple(map_size), photo_size=photo_size, camera=cam, gsd_photo_m=gsd_photo,
                            clearance_photo_px=float(clearance), separation_photo_px=float(sep), given=given)

    def describe(self, classes: ClassTable, scale: "LandingScale") -> Dict[str, Any]:
        """The settings as resolved by `scale`, JSON-ready (recorded with the spots)."""
        safe_ids, weights = resolve_policy(classes, self.safe, self.hazards)
        return {"classes": classes.source, "safe": [classes.names[i] for i in safe_ids],
                "hazards": {classes.names[i]: w for i, w in weights.items()}, **scale.describe(),
                "altitude_m": self.altitude_m, "focal_length_mm": self.focal_mm, "sensor_width_mm": self.sensor_mm,
                "border_is_unsafe": self.border_is_unsafe, "top_k": self.top_k, "min_p_safe": self.min_p_safe}


@dataclass(frozen=True)
class LandingScale:
    """A landing analysis's sizes and units: the map analysed and the photo it covers (``(height, width)``), the
    camera (values with their sources), the photo's metres per pixel (None: unknown or oblique), and the clearance
    and separation in pixels of the photo (`given`: which setting chose the clearance)."""

    map_size: Tuple[int, int]
    photo_size: Tuple[int, int]
    camera: CameraInfo
    gsd_photo_m: Optional[float]
    clearance_photo_px: float
    separation_photo_px: float
    given: str

    @property
    def factor(self) -> float:
        """Map pixels per photo pixel (map width / photo width)."""
        return self.map_size[1] / self.photo_size[1]

    @property
    def clearance_map_px(self) -> float:
        """The clearance in pixels of the map."""
        return self.clearance_photo_px * self.factor

    @property
    def separation_map_px(self) -> float:
        """The least distance between spots in pixels of the map."""
        return self.separation_photo_px * self.factor

    @property
    def gsd_map_m(self) -> Optional[float]:
        """Metres per pixel of the map (None when unknown)."""
        return None if self.gsd_photo_m is None else self.gsd_photo_m / self.factor

    def describe(self) -> Dict[str, Any]:
        """Sizes, units and clearances, JSON-ready."""
        gsd = self.gsd_map_m
        return {"map_size": format_size(self.map_size), "photo_size": format_size(self.photo_size),
                "origin": ORIGIN, "units": {"x, y, radius_px, clearance_map_px": "pixels of the map (map_size)",
                                            "clearance_px, min_separation_px": "pixels of the photo (photo_size)",
                                            "radius_m, clearance_m, east_m, north_m": "metres on the ground",
                                            "lat, lon": "degrees, WGS84"},
                "clearance_px": self.clearance_photo_px, "clearance_map_px": self.clearance_map_px,
                "clearance_m": None if gsd is None else self.clearance_map_px * gsd, "clearance_from": self.given,
                "min_separation_px": self.separation_photo_px, "gsd_m": gsd, "gsd_photo_m": self.gsd_photo_m,
                "camera": self.camera.to_json(), "warnings": [w for w in (self.camera.warning,) if w]}
