"""Landing spots as places: metres east and north of the point below the photo's centre, latitude and longitude,
and a GeoJSON file that opens in QGIS or geojson.io.

A spot at map pixel ``(x, y)`` of a ``W x H`` map lies ``dx = x - (W - 1) / 2`` pixels right of the photo's centre
and ``dy = (H - 1) / 2 - y`` pixels above it, ``dx * gsd`` and ``dy * gsd`` metres (``gsd``: metres per pixel of the
map). The photo's top edge faces the heading ``yaw`` (degrees clockwise from north), so::

    east_m  = right_m * cos(yaw) + up_m * sin(yaw)
    north_m = up_m * cos(yaw) - right_m * sin(yaw)

(facing east, yaw 90: a spot right of the centre lies south of it). Latitude and longitude are a local flat-earth
offset from the photo's GPS position on a sphere of radius :data:`EARTH_RADIUS_M` (WGS84's equatorial radius):
``lat = lat0 + north_m / R`` and ``lon = lon0 + east_m / (R cos lat0)`` in radians; at the tens of metres a photo
spans, this is within centimetres of the ellipsoid. The camera is taken to be straight above the photo's centre
(a nadir photo over flat ground). Unknown values stay None: no scale (or an oblique photo), no metres; no heading,
no east/north; no GPS position, no latitude/longitude.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..outputs import remove_file, write_json
from .options import LandingScale
from .spots import LandingSpot

__all__ = ["EARTH_RADIUS_M", "ground_offset", "place_spots", "landing_geojson", "geojson_path", "write_geojson"]

#: Radius of the sphere of the flat-earth offset (WGS84 equatorial radius, m).
EARTH_RADIUS_M = 6_378_137.0


def ground_offset(x: float, y: float, map_size: Tuple[int, int], gsd_m: float,
                  yaw_deg: float) -> Tuple[float, float]:
    """``(east_m, north_m)`` of map pixel ``(x, y)`` from the centre of a ``(height, width)`` map with `gsd_m` metres
    per pixel whose top edge faces `yaw_deg` (clockwise from north)."""
    h, w = map_size
    right, up = (x - (w - 1) / 2) * gsd_m, ((h - 1) / 2 - y) * gsd_m
    yaw = math.radians(yaw_deg)
    return right * math.cos(yaw) + up * math.sin(yaw), up * math.cos(yaw) - right * math.sin(yaw)


def _lat_lon(lat0: float, lon0: float, east_m: float, north_m: float) -> Tuple[float, float]:
    lat = lat0 + math.degrees(north_m / EARTH_RADIUS_M)
    lon = lon0 + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, (lon + 180.0) % 360.0 - 180.0


def place_spots(spots: Sequence[LandingSpot], scale: LandingScale) -> List[LandingSpot]:
    """The spots with `east_m`, `north_m`, `lat`, `lon` filled where `scale` (its map size, ground scale and camera)
    allows, None elsewhere."""
    gsd, cam = scale.gsd_map_m, scale.camera
    if gsd is None or cam.yaw_deg is None:
        return list(spots)
    out = []
    for s in spots:
        east, north = ground_offset(s.x, s.y, scale.map_size, gsd, cam.yaw_deg)
        lat = lon = None
        if cam.lat is not None and cam.lon is not None:
            lat, lon = _lat_lon(cam.lat, cam.lon, east, north)
        out.append(replace(s, east_m=east, north_m=north, lat=lat, lon=lon))
    return out


def landing_geojson(spots: Sequence[LandingSpot]) -> Optional[Dict[str, Any]]:
    """A GeoJSON FeatureCollection of the spots that have a position (Points ``[lon, lat]``; properties rank,
    radius_m, p_safe_min, surface); None when none has one."""
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
              "properties": {"rank": rank, "radius_m": s.radius_m if s.radius_m is None or math.isfinite(s.radius_m)
                             else None, "p_safe_min": s.p_safe_min, "surface": s.surface}}
             for rank, s in enumerate(spots, start=1) if s.lat is not None and s.lon is not None]
    return {"type": "FeatureCollection", "features": feats} if feats else None


def geojson_path(json_path: Path) -> Path:
    """``<stem>.landing.geojson`` beside ``<stem>.landing.json``."""
    json_path = Path(json_path)
    name = json_path.name
    base = name[:-len(".json")] if name.endswith(".json") else json_path.stem
    return json_path.with_name(base + ".geojson")


def write_geojson(spots: Sequence[LandingSpot], path: Path) -> Optional[Path]:
    """Write :func:`landing_geojson` to `path` atomically; with no position known, remove a stale `path` instead
    and return None."""
    doc = landing_geojson(spots)
    if doc is None:
        if Path(path).is_file():
            remove_file(path)
        return None
    return write_json(path, doc)
