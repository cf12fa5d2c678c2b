"""Camera geometry from the photo itself: where it was taken, from how high, with which lens, facing where.

Read with Pillow only:

* EXIF: GPS latitude/longitude (WGS84 degrees), ``FocalLength`` (the real focal length, mm) and
  ``FocalLengthIn35mmFilm`` (its 35 mm equivalent); the photo's size comes from its header.
* XMP (DJI's ``drone-dji`` namespace; the packet is found in the file's bytes and its attributes or elements read
  with a regular expression): ``RelativeAltitude`` (height above the take-off point, m), ``GimbalPitchDegree``
  (-90 = straight down) and the heading, ``GimbalYawDegree`` (the camera's) or else ``FlightYawDegree`` (the
  drone's). Other makers' names are not read: they are not known here for sure.

Unknown values stay None, never guessed. Flags typed by the operator win (:func:`with_overrides`) and every value
records where it came from (``sources``: "exif", "xmp", "flag" or "srt"; "photo" for the size, from its header).

Ground sampling distance (metres per pixel of the photo, flat ground, nadir camera)::

    gsd_m = height_m * sensor_width_mm / (focal_mm * image_width_px)

with ``sensor_width_mm = 36 * focal_mm / focal_35mm`` when the sensor width is not given (36 mm is the width of a 35
mm frame). The sensor's width is its long side, so ``image_width_px`` is the photo's long side (its width for the
landscape photos drones take; its height for a photo stored turned). ``RelativeAltitude`` is the height above the
take-off point, which equals the height above the ground only over flat terrain. A camera whose pitch is known and
more than 10 degrees from straight down is *oblique*: a nadir model's pixels are then not a scale map, so
:attr:`CameraInfo.gsd_m` is None (and spots get no metres or GPS). An unknown pitch is taken as nadir (the photos
dronefast is trained on are). A photo whose EXIF orientation turns it has its heading dropped: the heading describes
the sensor's top edge, not the upright photo's.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from PIL import Image

from ..errors import CorruptImageError
from .images import exif_orientation, open_image

__all__ = ["CameraInfo", "read_camera", "with_overrides", "read_xmp", "OBLIQUE_LIMIT_DEG", "FULL_FRAME_WIDTH_MM"]

#: A gimbal pitch further than this from -90 degrees (straight down) makes a photo oblique.
OBLIQUE_LIMIT_DEG = 10.0
#: Width of a 35 mm film frame (mm), for the sensor width from a 35 mm-equivalent focal length.
FULL_FRAME_WIDTH_MM = 36.0
#: How much of a file is searched for its XMP packet (it sits in the header of JPEG, PNG and TIFF files).
_XMP_SEARCH_BYTES = 4 << 20

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_FOCAL, _FOCAL_35 = 0x920A, 0xA405
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class CameraInfo:
    """What is known of the camera of one photo (None: unknown).

    Args:
        image_width_px, image_height_px: size of the (upright) photo the values describe (px).
        height_m: camera height above the ground (m; DJI's RelativeAltitude is above the take-off point).
        focal_mm: real focal length (mm); focal_35mm: its 35 mm equivalent (mm).
        sensor_width_mm: sensor width, its long side (mm).
        lat, lon: where the photo was taken (degrees, WGS84).
        yaw_deg: direction the photo's top edge faces, degrees clockwise from north, in [0, 360).
        pitch_deg: gimbal pitch (degrees; -90 = straight down).
        sources: field name -> "exif" | "xmp" | "flag" | "srt" ("photo" for the size read from the file).
    """

    image_width_px: Optional[int] = None
    image_height_px: Optional[int] = None
    height_m: Optional[float] = None
    focal_mm: Optional[float] = None
    focal_35mm: Optional[float] = None
    sensor_width_mm: Optional[float] = None
    lat: Optional[float] = None
    lon: Optional[float] = None
    yaw_deg: Optional[float] = None
    pitch_deg: Optional[float] = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, compare=True)

    @property
    def oblique(self) -> bool:
        """True when the pitch is known and more than :data:`OBLIQUE_LIMIT_DEG` from straight down."""
        return self.pitch_deg is not None and abs(self.pitch_deg + 90.0) > OBLIQUE_LIMIT_DEG

    @property
    def sensor_mm(self) -> Optional[float]:
        """Sensor width (mm): given, or ``36 * focal_mm / focal_35mm``; None when unknown."""
        if self.sensor_width_mm is not None:
            return self.sensor_width_mm
        if self.focal_mm is None or self.focal_35mm is None:
            return None
        return FULL_FRAME_WIDTH_MM * self.focal_mm / self.focal_35mm

    @property
    def gsd_m(self) -> Optional[float]:
        """Metres per pixel of the photo (module docstring); None when a value is unknown or the photo is oblique."""
        sensor = self.sensor_mm
        if self.oblique or None in (self.height_m, self.focal_mm, sensor, self.image_width_px):
            return None
        long_px = max(self.image_width_px, self.image_height_px or 0)
        return self.height_m * sensor / (self.focal_mm * long_px)

    @property
    def warning(self) -> Optional[str]:
        """One line when the photo is oblique (no metres or GPS for its spots), else None."""
        if not self.oblique:
            return None
        return (f"the gimbal pitch is {self.pitch_deg:g} degrees, more than {OBLIQUE_LIMIT_DEG:g} from straight down "
                f"(-90): an oblique photo has no ground scale, so no metres or GPS are given")

    def to_json(self) -> Dict[str, Any]:
        """Every value with its source, and the derived sensor width and GSD: ``{"height_m": {"value": 20.0,
        "source": "xmp"}, ..., "gsd_m": ..., "oblique": bool}``."""
        out: Dict[str, Any] = {f.name: {"value": getattr(self, f.name), "source": self.sources.get(f.name)}
                               for f in fields(self) if f.name != "sources"}
        derived = "derived" if self.sensor_width_mm is None and self.sensor_mm is not None else None
        out["sensor_width_mm"] = {"value": self.sensor_mm, "source": self.sources.get("sensor_width_mm", derived)}
        out["gsd_m"] = self.gsd_m
        out["oblique"] = self.oblique
        return out


_FIELDS = ("image_width_px", "image_height_px", "height_m", "focal_mm", "focal_35mm", "sensor_width_mm", "lat",
           "lon", "yaw_deg", "pitch_deg")
_POSITIVE = ("image_width_px", "image_height_px", "height_m", "focal_mm", "focal_35mm", "sensor_width_mm")
_RANGES = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "pitch_deg": (-180.0, 180.0)}


def _checked(name: str, value: Any) -> Union[int, float]:
    """`value` as a number valid for field `name` (ValueError naming the field otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if name in _POSITIVE and value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    lo, hi = _RANGES.get(name, (-math.inf, math.inf))
    if not lo <= value <= hi:
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}], got {value!r}")
    if name == "yaw_deg":
        return float(value) % 360.0
    return int(value) if name.startswith("image_") else float(value)


def with_overrides(camera: CameraInfo, source: str = "flag", **values: Any) -> CameraInfo:
    """A copy of `camera` where every value of `values` that is not None wins (e.g. ``height_m=20``), recorded
    with ``sources[name] = source`` ("flag" by default). ValueError for an unknown field or a bad value."""
    changes, sources = {}, dict(camera.sources)
    for name, value in values.items():
        if name not in _FIELDS:
            raise ValueError(f"unknown camera value {name!r} (known: {', '.join(_FIELDS)})")
        if value is not None:
            changes[name] = _checked(name, value)
            sources[name] = source
    return replace(camera, **changes, sources=sources)


def _number(value: Any) -> Optional[float]:
    """An EXIF rational or number as a finite float (None when missing, zero-denominator or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) else None


def _degrees(dms: Any, ref: Any) -> Optional[float]:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals and its N/S/E/W reference."""
    try:
        parts = [_number(v) for v in dms]
    except TypeError:
        return None
    if len(parts) != 3 or None in parts:
        return None
    ref = ref.decode("ascii", "replace") if isinstance(ref, bytes) else str(ref or "")
    value = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    return -value if ref.strip().upper() in ("S", "W") else value


def _from_exif(im: Image.Image) -> Dict[str, float]:
    """Focal lengths and GPS position from an opened image's EXIF (only what is there)."""
    exif = im.getexif()
    sub, gps = exif.get_ifd(_EXIF_IFD), exif.get_ifd(_GPS_IFD)
    out = {"focal_mm": _number(sub.get(_FOCAL)), "focal_35mm": _number(sub.get(_FOCAL_35))}
    if gps:
        out["lat"] = _degrees(gps.get(_GPS_LAT, ()), gps.get(_GPS_LAT_REF))
        out["lon"] = _degrees(gps.get(_GPS_LON, ()), gps.get(_GPS_LON_REF))
    return {k: v for k, v in out.items() if v is not None and (k in ("lat", "lon") or v > 0)}


def read_xmp(data: bytes) -> Dict[str, float]:
    """DJI's ``drone-dji`` values (module docstring) from the bytes of a file holding an XMP packet, written as
    attributes (``drone-dji:RelativeAltitude="+20.00"``) or elements; only the values found."""
    start = data.find(b"<x:xmpmeta")
    end = data.find(b"</x:xmpmeta>", start)
    if start < 0 or end < 0:
        return {}
    packet = data[start:end].decode("utf-8", "replace")

    def value(name: str) -> Optional[float]:
        m = re.search(rf'drone-dji:{name}\s*=\s*"([^"]*)"', packet) or \
            re.search(rf"<drone-dji:{name}>\s*([^<]*?)\s*</drone-dji:{name}>", packet)
        return _number(m.group(1).strip()) if m else None

    yaw = value("GimbalYawDegree")
    found = {"height_m": value("RelativeAltitude"), "pitch_deg": value("GimbalPitchDegree"),
             "yaw_deg": yaw if yaw is not None else value("FlightYawDegree")}
    return {k: v for k, v in found.items() if v is not None}


def _valid(values: Mapping[str, float]) -> Dict[str, float]:
    """The values that pass :func:`_checked` (a photo's nonsense, e.g. a negative height, stays unknown)."""
    out = {}
    for name, v in values.items():
        try:
            out[name] = _checked(name, v)
        except ValueError:
            pass
    return out


def read_camera(path: Union[str, Path]) -> CameraInfo:
    """The :class:`CameraInfo` of a photo file from its header, EXIF and XMP (unknown values None).

    Raises:
        CorruptImageError: naming `path` when it cannot be opened as an image.
    """
    im = open_image(path)
    with im:
        turned = exif_orientation(im, path)
        w, h = im.size
        try:
            exif = _from_exif(im)
        except Exception as e:  # Pillow raises many kinds on a broken EXIF block
            raise CorruptImageError(f"cannot read its EXIF ({type(e).__name__}: {e})", path) from None
    with open(path, "rb") as f:
        xmp = read_xmp(f.read(_XMP_SEARCH_BYTES))
    if turned != 1:
        xmp.pop("yaw_deg", None)
        if turned in (5, 6, 7, 8):
            w, h = h, w
    camera = with_overrides(CameraInfo(), "photo", image_width_px=w, image_height_px=h)
    camera = with_overrides(camera, "exif", **_valid(exif))
    return with_overrides(camera, "xmp", **_valid(xmp))
