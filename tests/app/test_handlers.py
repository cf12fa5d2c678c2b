"""The page's handlers as plain functions (no server, no browser), on the tiny sample with the stand-in model: the
same class maps and landing spots as the commands, re-rendering without predicting, bad input as messages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.support import STAND_IN_MIN_P_SAFE, require

gr = require("gradio", 'pip install -e ".[app]"')

from dronefast.app.handlers import (  # noqa: E402
    SHARE_COLUMNS,
    Handlers,
    class_shares,
    geo_uri,
    legend_html,
    load_photo,
    page_landing_options,
    readable_errors,
    safe_name,
    spots_table,
)
from dronefast.app.settings import AppSettings, sample_photos  # noqa: E402
from dronefast.data.masks import ids_to_colour  # noqa: E402
from dronefast.landing.options import LandingOptions  # noqa: E402

CAMERA = dict(altitude_m=20.0, focal_mm=8.8, sensor_mm=13.2)


@pytest.fixture
def handlers(predictor, tmp_path):
    landing = LandingOptions(clearance_px=8, min_p_safe=STAND_IN_MIN_P_SAFE)
    return Handlers(predictor, AppSettings(landing=landing, work_dir=tmp_path / "work"))


def shown_files(shown):
    return {Path(f).name: Path(f) for f in shown.files}


def test_photo_in_maps_table_spots_and_files_out(handlers, predictor, photos, classes):
    shown = handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0)  # progress: gr.Progress() outside a page
    ids = predictor.predict(photos[0])
    assert shown.result.ids.shape == (64, 96) and (shown.result.ids == ids).all()
    assert shown.class_map.size == shown.overlay.size == shown.landing.size == (96, 64)
    assert (np.asarray(shown.class_map) == ids_to_colour(ids, classes)).all()
    present = {classes.names[i] for i in np.unique(ids)}
    assert list(shown.shares.columns) == SHARE_COLUMNS and set(shown.shares["class"]) == present
    assert shown.shares["share (%)"].is_monotonic_decreasing and abs(shown.shares["share (%)"].sum() - 100) < 0.1
    assert len(shown.spots) >= 1 and shown.spots["surface"].iloc[0] in ("grass", "paved-area")
    files = shown_files(shown)
    assert sorted(files) == ["000.colour.png", "000.landing.json", "000.mask.png"]
    assert (np.asarray(Image.open(files["000.mask.png"])) == ids).all()
    spots = json.loads(files["000.landing.json"].read_text())
    assert spots["meta"]["clearance_px"] == 8 and spots["meta"]["image"] == "000"
    assert [(s["x"], s["y"]) for s in spots["spots"]] == list(zip(shown.spots["x"], shown.spots["y"]))
    assert shown.status.startswith("**000**: 96x64 px. Judged at 48x32 from a 96x64 photo (as one picture, 2x "
                                   "smaller). Predicted in ")
    assert shown.landing_note.startswith(f"{len(spots['spots'])} landing spot(s) with 8.0 px clearance")
    best = spots["spots"][0]
    assert shown.banner == (f'<div class="df-banner df-banner-ok">LAND AT SPOT 1: x={best["x"]}, y={best["y"]} on '
                            f'{best["surface"]} (mean P(safe) {best["p_safe_mean"]:.2f})</div>')
    assert shown.p_safe_map.size == (96, 64)


def test_same_outputs_as_the_predict_and_landing_commands(handlers, tiny_model, photos, tmp_path):
    """The page's mask and spots are the commands' own, byte for byte and spot for spot: those of
    ``predict --landing`` (the model's P(safe) included), and of ``landing`` on the mask and P(safe) map it wrote."""
    from dronefast.cli.landing import main as landing_main
    from dronefast.cli.predict import main as predict_main

    files = shown_files(handlers.predict(str(photos[1]), None, 0.5, "pixels", 8, 2.0))
    assert predict_main([str(tiny_model), str(photos[1]), "--out", str(tmp_path / "p"), "--no-progress",
                         "--device", "cpu", "--landing", "--clearance-px", "8", "--confidence",
                         "--min-p-safe", str(STAND_IN_MIN_P_SAFE)]) == 0
    assert (tmp_path / "p" / "001.mask.png").read_bytes() == files["001.mask.png"].read_bytes()
    assert (tmp_path / "p" / "001.colour.png").read_bytes() == files["001.colour.png"].read_bytes()
    page = json.loads(files["001.landing.json"].read_text())
    predicted = json.loads((tmp_path / "p" / "001.landing.json").read_text())
    assert page["spots"] == predicted["spots"] and page["verdict"] == predicted["verdict"]
    assert all(s["p_safe_mean"] is not None for s in page["spots"])
    assert landing_main([str(files["001.mask.png"]), "--out", str(tmp_path / "l"), "--clearance-px", "8",
                         "--p-safe", str(tmp_path / "p" / "001.p_safe.png"),
                         "--min-p-safe", str(STAND_IN_MIN_P_SAFE)]) == 0
    command = json.loads((tmp_path / "l" / "001.landing.json").read_text())  # named as predict names it
    assert page["spots"] == command["spots"]
    assert page["meta"].pop("classes") == "model.json" and page["meta"].pop("image") == "001"
    assert page["meta"] == {k: v for k, v in command["meta"].items() if k not in ("mask", "image", "classes")}
    assert page.get("verdict") == command.get("verdict")


def test_opacity_and_landing_settings_reuse_the_prediction(handlers, photos, monkeypatch):
    shown = handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0)
    monkeypatch.setattr(handlers.predictor, "predict_confidence", lambda *a, **k: pytest.fail("predicted again"))
    result = shown.result
    assert np.asarray(handlers.restyle(result, 0.0)).tolist() == result.photo.tolist()
    assert (np.asarray(handlers.restyle(result, 1.0)) == result.colour).all()
    picture, table, files, note, banner, _ = handlers.reland(result, "pixels", 60, 2.0)
    assert picture is not None and len(table) == 0
    assert note.startswith("No landing spot with 60.0 px clearance: no safe area is wide enough")
    assert banner.startswith('<div class="df-banner df-banner-no" role="alert">NO LANDING SPOT: no safe area is '
                             'wide enough; the widest free radius is ')
    picture, table, files, note, *_ = handlers.reland(result, "metres", 8, 0.5, **CAMERA)
    assert "free radius (m)" in table.columns and len(table) >= 1 and " m) clearance" in note
    spots = json.loads(Path(files[-1]).read_text())
    assert spots["meta"]["clearance_m"] == pytest.approx(0.5) and spots["meta"]["altitude_m"] == 20.0
    picture, table, files, note, banner, p_map = handlers.reland(result, "metres", 8, 0.5, altitude_m=20.0)
    assert picture is None and len(table) == 0 and [Path(f).name for f in files] == ["000.mask.png",
                                                                                   "000.colour.png"]
    assert note == ("Landing: a clearance in metres needs the ground scale; the ground scale is unknown: give the "
                    "GSD, or the altitude, focal length and sensor width the photo does not carry.")
    assert banner == "" and p_map is None
    assert handlers.restyle(None, 0.5) is None and handlers.reland(None, "pixels", 8, 2.0)[0] is None


def test_new_photo_or_clearing_removes_the_previous_files(handlers, photos):
    first = handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0)
    second = handlers.predict(str(photos[1]), first.result, 0.5, "pixels", 8, 2.0)
    assert not first.result.folder.exists() and second.result.folder.is_dir()
    cleared = handlers.predict(None, second.result, 0.5, "pixels", 8, 2.0)
    assert cleared.result is None and cleared.class_map is None and not second.result.folder.exists()


def test_large_photo_is_shown_smaller_and_analysed_at_full_size(predictor, photos, tmp_path):
    landing = LandingOptions(clearance_px=8, min_p_safe=STAND_IN_MIN_P_SAFE)
    handlers = Handlers(predictor, AppSettings(landing=landing, display_side=48, work_dir=tmp_path))
    shown = handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0)
    assert shown.class_map.size == shown.overlay.size == shown.landing.size == (48, 32)
    assert Image.open(shown_files(shown)["000.mask.png"]).size == (96, 64)
    assert shown.spots["x"].max() < 96 and shown.spots["x"].max() >= 48 or len(shown.spots) == 1


@pytest.mark.parametrize("data, message", [
    (b"just some text\n", "Not a readable image: not a photo format Pillow can read."),
    (b"", "Not a readable image: not a photo format Pillow can read."),
    (b"\xff\xd8\xff\xe0" + b"\0" * 100, "Not a readable image"),
    ("truncated", "Not a readable image"),
], ids=["text", "empty", "jpeg-header-only", "truncated-jpeg"])
def test_bad_files_are_a_message_without_paths(handlers, photos, tmp_path, data, message):
    bad = tmp_path / "secret-folder" / "upload.jpg"
    bad.parent.mkdir()
    bad.write_bytes(photos[0].read_bytes()[:1500] if data == "truncated" else data)
    with pytest.raises(gr.Error) as e:
        handlers.predict(str(bad), None, 0.5, "pixels", 8, 2.0)
    assert e.value.message.startswith(message) and "secret-folder" not in e.value.message


def test_too_many_pixels_is_refused_before_decoding(predictor, photos, monkeypatch):
    handlers = Handlers(predictor, AppSettings(max_pixels=6000))
    with monkeypatch.context() as m:
        m.setattr("dronefast.app.handlers.read_image", lambda *a: pytest.fail("decoded"))
        with pytest.raises(gr.Error, match=r"Photo too large: 96x64 = 0\.0 megapixels; this page takes photos of up "
                                           r"to 0\.006 megapixels\."):
            handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0)
    assert load_photo(str(photos[0]), 96 * 64).size == (96, 64)


def test_upload_component_errors_are_messages(photos, tmp_path):
    from gradio.data_classes import FileData

    image = readable_errors(gr.Image(type="filepath", image_mode=None))
    assert image.preprocess(FileData(path=str(photos[0]), orig_name="000.jpg")) == str(photos[0])
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(gr.Error, match=r"Not a readable image \(UnidentifiedImageError\)\."):
        image.preprocess(FileData(path=str(bad), orig_name="x.png"))


def test_page_landing_options():
    base = LandingOptions(clearance_px=30, top_k=3, safe=["grass"])
    o = page_landing_options(base, "pixels", 12, 2.0)
    assert (o.clearance_px, o.clearance_m, o.top_k, o.safe, o.altitude_m) == (12, None, 3, ["grass"], None)
    o = page_landing_options(base, "metres", 12, 2.5, **CAMERA)
    assert (o.clearance_px, o.clearance_m, o.altitude_m) == (None, 2.5, 20.0)
    scale = page_landing_options(base, "pixels", 12, 2.0, **CAMERA).scale_for((750, 1000))
    assert scale.gsd_photo_m == pytest.approx(0.03)
    o = page_landing_options(base, "metres", 12, 2.0, focal_mm=8.8)  # the rest may come from the photo
    assert (o.focal_mm, o.altitude_m, o.clearance_m) == (8.8, None, 2.0)
    assert page_landing_options(LandingOptions(clearance_px=5, gsd_m=0.05), "metres", 1, 1.5).gsd_m == 0.05
    assert page_landing_options(LandingOptions(clearance_px=5, gsd_m=0.05), "metres", 1, 1.5, altitude_m=9).gsd_m \
        is None  # a camera value typed on the page wins over the GSD
    assert page_landing_options(base, "pixels", 12, 2.0, min_p_safe=0.8).min_p_safe == 0.8
    assert page_landing_options(base, "pixels", 12, 2.0).min_p_safe == base.min_p_safe
    with pytest.raises(ValueError, match="^the altitude must be a positive number, got 0"):
        page_landing_options(base, "metres", 12, 2.0, altitude_m=0, focal_mm=8.8, sensor_mm=13.2)
    with pytest.raises(ValueError, match="^the clearance must be a positive number"):
        page_landing_options(base, "pixels", 0, 2.0)


def test_shares_legend_and_names(classes):
    ids = np.zeros((10, 10), np.uint8)
    ids[:, :3] = classes.id_of("grass")
    ids[0, 9] = classes.id_of("car")
    table = class_shares(ids, classes)
    assert table.values.tolist() == [["unlabeled", 69.0], ["grass", 30.0], ["car", 1.0]]
    legend = legend_html(classes)
    assert legend.count("df-legend-item") == len(classes) == 24
    r, g, b = classes.palette[classes.id_of("grass")]
    assert f"background:rgb({r},{g},{b})\"></span>grass</span>" in legend
    assert safe_name("/up/DJI 0001 (copy).JPG") == "DJI_0001_copy" and safe_name("/up/..jpg") == "photo"


def test_sample_photos(sample_kaggle):
    assert [p.name for p in sample_photos(2, sample_kaggle)] == ["000.jpg", "001.jpg"]
    assert sample_photos(0, sample_kaggle) == []
    with pytest.raises(ValueError, match="max_pixels"):
        AppSettings(max_pixels=0)


def test_threshold_control_changes_the_spots(handlers, photos, monkeypatch):
    """The stand-in model's P(safe) is about 0.7: a threshold of 0.5 leaves spots, 0.99 none; the JSON and every
    offered spot follow the threshold."""
    shown = handlers.predict(str(photos[0]), None, 0.5, "pixels", 8, 2.0, None, None, None, 0.5)
    monkeypatch.setattr(handlers.predictor, "predict_confidence", lambda *a, **k: pytest.fail("predicted again"))
    assert len(shown.spots) >= 1
    p = json.loads(shown_files(shown)["000.landing.json"].read_text())
    lowest = min(s["p_safe_min"] for s in p["spots"])
    strict = round(lowest + 0.005, 2)  # just above the least sure spot's smallest P(safe): that spot goes
    view = handlers.reland(shown.result, "pixels", 8, 2.0, None, None, None, strict)
    p = json.loads(Path(view.files[-1]).read_text())
    assert p["meta"]["min_p_safe"] == strict and all(s["p_safe_min"] >= strict for s in p["spots"])
    assert len(view.spots) < len(shown.spots) or list(view.spots["x"]) != list(shown.spots["x"])
    view = handlers.reland(shown.result, "pixels", 8, 2.0, None, None, None, 0.99)
    assert len(view.spots) == 0 and view.banner.startswith(
        '<div class="df-banner df-banner-no" role="alert">NO LANDING SPOT: the model is unsure: ')
    assert handlers.reland(shown.result, "pixels", 8, 2.0, None, None, None, 1.5).landing_note == \
        "Landing: the P(safe) threshold must be in [0, 1], got 1.5."


def test_spots_table_shows_places_and_geo_links():
    """Spots that know where they are (metres from the point below the camera, GPS) get those columns and a
    ``geo:`` link; spots that do not, none of them."""
    assert geo_uri(47.3769, 8.5417) == "geo:47.3769000,8.5417000"
    assert geo_uri(-33.86881234, 151.2093) == "geo:-33.8688123,151.2093000"
    placed = [{"rank": 1, "x": 750, "y": 500, "radius_px": 120.0, "radius_m": 2.4, "surface": "grass",
               "p_safe_mean": 0.934, "east_m": 3.04, "north_m": -1.26, "lat": 47.3768887, "lon": 8.5417402},
              {"rank": 2, "x": 10, "y": 20, "radius_px": 50.0, "radius_m": 1.0, "surface": "dirt",
               "p_safe_mean": 0.91, "east_m": None, "north_m": None, "lat": None, "lon": None}]
    table = spots_table(placed)
    assert list(table.columns) == ["rank", "map", "surface", "P(safe) mean", "free radius (px)", "free radius (m)",
                                   "x", "y", "east (m)", "north (m)", "lat", "lon"]
    row = table.iloc[0]
    assert row["map"] == "[map](geo:47.3768887,8.5417402)"
    assert (row["east (m)"], row["north (m)"], row["lat"], row["lon"], row["free radius (m)"]) == \
        (3.0, -1.3, 47.3768887, 8.5417402, 2.4)
    assert table.iloc[1]["map"] == "" and np.isnan(table.iloc[1]["lat"])
    plain = [{k: v for k, v in s.items() if k not in ("east_m", "north_m", "lat", "lon", "radius_m")}
             for s in placed]
    assert list(spots_table(plain).columns) == ["rank", "surface", "P(safe) mean", "free radius (px)", "x", "y"]


def test_a_photo_with_camera_geometry_gets_places_and_geo_links(handlers, tmp_path):
    """A DJI-style JPEG 20 m up (8.8 mm lens, 24 mm equivalent), with GPS and a heading: the spots table shows
    metres and GPS, each spot a ``geo:`` link to the landing JSON's own position, and the status the camera."""
    from tests.data.test_camera import DJI, drone_jpeg

    photo = drone_jpeg(tmp_path / "dji.jpg", size=(96, 64), lat=47.3769, lon=8.5417, xmp=DJI)
    shown = handlers.predict(str(photo), None, 0.5, "pixels", 8, 2.0)
    spots = json.loads(shown_files(shown)["dji.landing.json"].read_text())["spots"]
    assert spots and all(s["lat"] is not None and s["east_m"] is not None for s in spots)
    table = shown.spots
    assert {"east (m)", "north (m)", "lat", "lon", "free radius (m)", "map"} <= set(table.columns)
    assert list(table["map"]) == [f"[map](geo:{s['lat']:.7f},{s['lon']:.7f})" for s in spots]
    assert list(table["east (m)"]) == [round(s["east_m"], 1) for s in spots]
    # 20 m x 13.2 mm sensor / (8.8 mm x 96 px) = 0.3125 m a pixel
    assert "The photo's camera: 20 m up (xmp), 31.2 cm a pixel, at 47.376900, 8.541700, top edge facing 90 " \
           "degrees from north." in shown.status
    geo = json.loads(shown_files(shown)["dji.landing.geojson"].read_text())  # opens in QGIS or geojson.io
    assert [f["geometry"]["coordinates"] for f in geo["features"]] == [[s["lon"], s["lat"]] for s in spots]
    view = handlers.reland(shown.result, "metres", 8, 2.5)  # metres from the photo's own scale
    assert view.landing is not None and "(2.50 m) clearance" in view.landing_note
