"""Spots as places: metres east and north of the photo's centre, latitude/longitude, GeoJSON, the camera read from
the photo (EXIF/XMP) and overridden by flags, no metres on an oblique photo."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.landing import main
from dronefast.data.camera import CameraInfo
from dronefast.data.classes import standard_classes
from dronefast.landing.geo import EARTH_RADIUS_M, ground_offset, landing_geojson
from dronefast.landing.options import LandingOptions
from dronefast.landing.writer import analyse_landing, write_landing
from tests.data.test_camera import DJI, drone_jpeg

C = standard_classes()
GRASS, ROOF = C.id_of("grass"), C.id_of("roof")
LAT0, LON0 = 47.5, 8.25


def test_ground_offset_by_hand():
    # 11x11 map, centre (5, 5), 0.5 m/px; a spot 3 px right of the centre is 1.5 m to the photo's right.
    assert ground_offset(8, 5, (11, 11), 0.5, 0.0) == pytest.approx((1.5, 0.0))       # facing north: east
    assert ground_offset(8, 5, (11, 11), 0.5, 90.0) == pytest.approx((0.0, -1.5))     # facing east: SOUTH
    assert ground_offset(5, 2, (11, 11), 0.5, 90.0) == pytest.approx((1.5, 0.0))      # above centre: east
    assert ground_offset(5, 2, (11, 11), 0.5, 180.0) == pytest.approx((0.0, -1.5))    # facing south
    assert ground_offset(8, 5, (11, 11), 0.5, 270.0) == pytest.approx((0.0, 1.5))
    assert ground_offset(5.5, 3.5, (8, 12), 1.0, 33.0) == pytest.approx((0.0, 0.0))   # (W-1)/2, (H-1)/2


def field_right_of_centre() -> np.ndarray:
    """100x150 roof with a 41x41 grass square (rows 29..69, columns 100..140): its spot is (120, 49)."""
    cm = np.full((100, 150), ROOF, np.uint8)
    cm[29:70, 100:141] = GRASS
    return cm


def test_a_spot_right_of_centre_on_a_photo_facing_east_lies_south(tmp_path):
    # 2 m up, 8.8 mm lens (24 mm equivalent), 150 px wide: 2 * 13.2 / (8.8 * 150) = 0.02 m/px.
    photo = drone_jpeg(tmp_path / "p.jpg", size=(150, 100), lat=LAT0, lon=LON0,
                       xmp={**DJI, "RelativeAltitude": "+2.00", "GimbalYawDegree": "90"})
    from dronefast.data.camera import read_camera

    spots, meta = analyse_landing(field_right_of_centre(), C, LandingOptions(clearance_m=0.3, top_k=1),
                                  camera=read_camera(photo))
    (s,) = spots
    assert (s.x, s.y, s.radius_px) == (120, 49, 21.0)
    right, up = (120 - 74.5) * 0.02, (49.5 - 49) * 0.02
    assert s.north_m == pytest.approx(-right) and s.east_m == pytest.approx(up)         # south of the centre
    assert s.radius_m == pytest.approx(0.42)
    assert s.lat == pytest.approx(LAT0 - math.degrees(right / EARTH_RADIUS_M), abs=1e-9) and s.lat < LAT0
    assert s.lon == pytest.approx(LON0 + math.degrees(up / (EARTH_RADIUS_M * math.cos(math.radians(LAT0)))),
                                  abs=1e-9)
    assert meta["gsd_m"] == pytest.approx(0.02) and meta["clearance_px"] == pytest.approx(15)
    cam = meta["camera"]
    assert cam["height_m"] == {"value": 2.0, "source": "xmp"} and cam["yaw_deg"] == {"value": 90.0, "source": "xmp"}
    assert cam["lat"]["source"] == "exif" and cam["gsd_m"] == pytest.approx(0.02) and meta["warnings"] == []


def test_the_command_writes_places_and_geojson_and_flags_win(tmp_path, capsys):
    photo = drone_jpeg(tmp_path / "p.jpg", size=(150, 100), lat=LAT0, lon=LON0,
                       xmp={**DJI, "RelativeAltitude": "+2.00", "GimbalYawDegree": "90"})
    Image.fromarray(field_right_of_centre(), "L").save(tmp_path / "p.mask.png")
    out = tmp_path / "out"
    assert main([str(tmp_path / "p.mask.png"), "--image", str(photo), "--out", str(out), "--clearance-m", "0.3",
                 "--top-k", "1"]) == 0
    assert "m east" in capsys.readouterr().out
    d = json.loads((out / "p.landing.json").read_text())
    spot = d["spots"][0]
    assert spot["north_m"] == pytest.approx(-0.91) and spot["east_m"] == pytest.approx(0.01)
    geo = json.loads((out / "p.landing.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 1
    f = geo["features"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [spot["lon"], spot["lat"]]}
    assert f["properties"] == {"rank": 1, "radius_m": spot["radius_m"], "p_safe_min": None, "surface": "grass"}
    # flags override the photo: facing north, 4 m up (0.04 m/px)
    assert main([str(tmp_path / "p.mask.png"), "--image", str(photo), "--out", str(out), "--clearance-m", "0.6",
                 "--top-k", "1", "--yaw", "0", "--altitude", "4", "--overwrite"]) == 0
    d = json.loads((out / "p.landing.json").read_text())
    assert d["meta"]["camera"]["yaw_deg"] == {"value": 0.0, "source": "flag"}
    assert d["meta"]["camera"]["height_m"] == {"value": 4.0, "source": "flag"}
    assert d["spots"][0]["east_m"] == pytest.approx(1.82) and d["spots"][0]["north_m"] == pytest.approx(0.02)


def test_oblique_photo_warns_and_gets_no_metres(tmp_path, capsys):
    photo = drone_jpeg(tmp_path / "p.jpg", size=(150, 100), lat=LAT0, lon=LON0,
                       xmp={**DJI, "RelativeAltitude": "+2.00", "GimbalPitchDegree": "-60"})
    Image.fromarray(field_right_of_centre(), "L").save(tmp_path / "p.png")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "p.landing.geojson").write_text("{}")                          # stale, from an earlier run
    assert main([str(tmp_path / "p.png"), "--image", str(photo), "--out", str(out), "--clearance-px", "15",
                 "--overwrite"]) == 0
    assert "gimbal pitch is -60 degrees" in capsys.readouterr().err
    d = json.loads((out / "p.landing.json").read_text())
    assert d["meta"]["gsd_m"] is None and d["meta"]["camera"]["oblique"] is True
    assert all(s[k] is None for s in d["spots"] for k in ("radius_m", "east_m", "north_m", "lat", "lon"))
    assert not (out / "p.landing.geojson").exists()
    assert main([str(tmp_path / "p.png"), "--image", str(photo), "--out", str(out), "--clearance-m", "1",
                 "--overwrite"]) == 1
    assert "p.jpg: a clearance in metres needs the ground scale; the gimbal pitch" in capsys.readouterr().err


def test_unknown_heading_or_position_stays_null(tmp_path):
    cm = field_right_of_centre()
    no_yaw = CameraInfo(image_width_px=150, image_height_px=100, height_m=2.0, focal_mm=8.8, focal_35mm=24.0,
                        lat=LAT0, lon=LON0)
    (s,), meta = analyse_landing(cm, C, LandingOptions(clearance_px=15, top_k=1), camera=no_yaw)
    assert s.radius_m == pytest.approx(0.42) and s.east_m is None and s.lat is None
    assert landing_geojson([s]) is None
    (s,), _ = analyse_landing(cm, C, LandingOptions(clearance_px=15, top_k=1, yaw_deg=0, lat=None),
                              camera=CameraInfo(image_width_px=150, image_height_px=100, height_m=2.0,
                                                focal_mm=8.8, focal_35mm=24.0))
    assert s.east_m == pytest.approx(0.91) and s.lat is None                    # metres, but no GPS
    spots, meta = write_landing(cm, C, LandingOptions(top_k=1), tmp_path / "x.landing.json",
                                tmp_path / "x.landing.png", camera=no_yaw)
    assert meta["clearance_from"] == "default_m" and meta["clearance_px"] == pytest.approx(100)  # 2 m at 0.02 m/px
    assert meta["geojson"] is None and not (tmp_path / "x.landing.geojson").exists()
