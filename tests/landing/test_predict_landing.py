"""``predict --landing`` reads the camera from the photo itself: a DJI-style JPEG gives the spots metres, places
and a GeoJSON file, with the clearance in metres converted through the photo's own scale."""
import json

import pytest
import torch

from dronefast.cli.predict import main
from dronefast.data.classes import standard_classes
from dronefast.models.modelfile import ModelInfo, build_model, save_model
from tests.conftest import TINY_ARCH
from tests.data.test_camera import DJI, drone_jpeg

C = standard_classes()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    info = ModelInfo(arch=TINY_ARCH, classes=C, size=(32, 48))
    return save_model(build_model(info).eval(), tmp_path_factory.mktemp("model") / "model", info)[1]


def test_predict_landing_uses_the_photos_camera(model_file, tmp_path, capsys):
    # 2 m up, 8.8 mm lens (24 mm equivalent), 60 px wide: 2 * 13.2 / (8.8 * 60) = 0.05 m/px; 0.1 m = 2 px.
    photos = tmp_path / "in"
    photos.mkdir()
    drone_jpeg(photos / "DJI_0001.JPG", size=(60, 40), lat=-33.9, lon=18.4,
               xmp={**DJI, "RelativeAltitude": "+2.00", "GimbalYawDegree": "180"})
    safe = ",".join(n for n in C.names if n != "conflicting")
    out = tmp_path / "out"
    rc = main([str(model_file), str(photos), "--out", str(out), "--no-progress", "--device", "cpu", "--landing",
               "--clearance-m", "0.1", "--safe", safe, "--hazards", "conflicting", "--min-p-safe", "0"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((out / "DJI_0001.landing.json").read_text())
    meta = d["meta"]
    assert meta["gsd_m"] == pytest.approx(0.05) and meta["clearance_px"] == pytest.approx(2.0)
    assert meta["camera"]["height_m"] == {"value": 2.0, "source": "xmp"}
    assert meta["camera"]["focal_35mm"] == {"value": 24.0, "source": "exif"}
    assert d["spots"], "the stand-in model offers spots on this photo"
    for s in d["spots"]:
        # facing south (yaw 180): right of the centre is west, above it is south
        assert s["east_m"] == pytest.approx(-(s["x"] - 29.5) * 0.05)
        assert s["north_m"] == pytest.approx(-(19.5 - s["y"]) * 0.05)
        assert s["radius_m"] == pytest.approx(s["radius_px"] * 0.05)
    geo = json.loads((out / "DJI_0001.landing.geojson").read_text())
    assert [f["geometry"]["coordinates"] for f in geo["features"]] == [[s["lon"], s["lat"]] for s in d["spots"]]
