"""Tests of dronefast.landing: exact EDT, landing spots with hand-computed answers, overlay and CLI."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.landing import main
from dronefast.data.classes import standard_classes
from dronefast.errors import ClassIdError
from dronefast.landing.distances import distance_transform, ground_sampling_distance
from dronefast.landing.pictures import (
    HAZARD_TINT,
    SAFE_TINT,
    SPOT_COLOUR,
    landing_overlay,
)
from dronefast.landing.spots import (
    LandingSpot,
    find_landing_spots,
    landing_maps,
    spots_to_json,
)

C = standard_classes()
GRASS, CAR, ROOF, PERSON, UNLABELED = (C.id_of(n) for n in ("grass", "car", "roof", "person", "unlabeled"))
YELLOW = list(SPOT_COLOUR)


def brute_edt(unsafe, border):
    """Distance from every pixel centre to the nearest unsafe pixel centre, by trying them all."""
    h, w = unsafe.shape
    u = np.pad(unsafe, 1, constant_values=True) if border else unsafe
    off = 1 if border else 0
    ys, xs = np.nonzero(u)
    if ys.size == 0:
        return np.full((h, w), np.inf)
    gy, gx = np.mgrid[0:h, 0:w]
    return np.sqrt(((gy[..., None] + off - ys) ** 2 + (gx[..., None] + off - xs) ** 2).min(-1))


def car_wall_map():
    """101x101 grass whose columns 0..40 are car."""
    cm = np.full((101, 101), GRASS, np.uint8)
    cm[:, :41] = CAR
    return cm


# ------------------------------------------------------------------------------------------ GSD and EDT

def test_ground_sampling_distance():
    # 20 m * 20 mm / (10 mm * 400 px) = 0.1 m/px; a map downscaled 4x has 4x the GSD.
    assert ground_sampling_distance(20, 10, 20, 400) == pytest.approx(0.1)
    assert ground_sampling_distance(20, 10, 20, 100) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="altitude_m"):
        ground_sampling_distance(0, 10, 20, 400)


def test_edt_hand_values():
    row = np.array([[False, False, True, False, False]])
    assert distance_transform(row, border_is_unsafe=False).tolist() == [[2, 1, 0, 1, 2]]
    assert distance_transform(row, border_is_unsafe=True).tolist() == [[1, 1, 0, 1, 1]]
    one = np.zeros((4, 5), bool)
    one[0, 0] = True
    assert distance_transform(one, border_is_unsafe=False)[3, 4] == 5.0  # 3-4-5 triangle
    assert np.isinf(distance_transform(np.zeros((3, 4), bool), border_is_unsafe=False)).all()
    assert distance_transform(np.zeros((3, 4), bool))[1].tolist() == [1, 2, 2, 1]


def test_edt_matches_brute_force_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(150):
        h, w = rng.integers(1, 14, 2)
        unsafe = rng.random((h, w)) < rng.choice([0.0, 0.03, 0.2, 0.6, 1.0])
        for border in (True, False):
            assert np.array_equal(distance_transform(unsafe, border), brute_edt(unsafe, border))


# ------------------------------------------------------------------------------------------ spots

def test_best_spot_beside_car_wall_free_radius_only():
    # Free radius = min(x - 40, 101 - x, y + 1, 101 - y): max 30 on x in {70, 71}, y in 29..71. Ties go to the
    # image centre (50, 50), so (70, 50); NMS at 2 * 10 px keeps (70, 30) and (70, 70) and nothing else.
    spots = find_landing_spots(car_wall_map(), C, clearance_px=10, hazards={"car": 1}, top_k=None)
    assert [(s.x, s.y, s.radius_px, s.score) for s in spots] == [(70, 50, 30.0, 30.0), (70, 30, 30.0, 30.0),
                                                                  (70, 70, 30.0, 30.0)]
    assert spots[0].surface == "grass" and spots[0].radius_m is None
    assert len(find_landing_spots(car_wall_map(), C, clearance_px=10, hazards={"car": 1}, top_k=1)) == 1


def test_car_weight_pushes_spot_away():
    # Default weight 2 for car: score = min(free radius, (x - 40) / 2). x=80: min(21, 20); x=81: min(20, 20.5):
    # both score 20, the larger free radius (21) wins.
    best = find_landing_spots(car_wall_map(), C, clearance_px=10)[0]
    assert (best.x, best.y, best.radius_px, best.score) == (80, 50, 21.0, 20.0)


def test_central_car_block_four_symmetric_spots():
    # 100x100 grass, car rows/cols 40..59. (23, 23): border 24, car corner (40, 40) at 17*sqrt(2) = 24.04.
    cm = np.full((100, 100), GRASS, np.uint8)
    cm[40:60, 40:60] = CAR
    spots = find_landing_spots(cm, C, clearance_px=5, hazards={"car": 1}, top_k=4)
    assert [(s.x, s.y) for s in spots] == [(23, 23), (76, 23), (23, 76), (76, 76)]
    assert all(s.radius_px == 24.0 for s in spots)
    radius, _ = landing_maps(cm, C, hazards={"car": 1})
    assert radius.max() == 24.0
    assert np.array_equal(radius, brute_edt(cm != GRASS, True))
    # With the default car weight the spot is the argmax of min(free radius, car distance / 2).
    _, score = landing_maps(cm, C)
    expected = np.minimum(brute_edt(cm != GRASS, True), brute_edt(cm == CAR, False) / 2)
    assert np.allclose(score, expected)
    best = find_landing_spots(cm, C, clearance_px=5)[0]
    assert best.score == pytest.approx(expected.max())


def test_person_nearby_ranks_lower():
    # Two 21x21 grass squares in roof; a person 3 columns right of the left one. Right square: centre free
    # radius 11. Left square: min(r, d_person / 2) peaks at x=17 (r = 8, person 16 px away -> 8).
    cm = np.full((41, 101), ROOF, np.uint8)
    cm[10:31, 10:31] = GRASS
    cm[10:31, 60:81] = GRASS
    cm[20, 33] = PERSON
    spots = find_landing_spots(cm, C, clearance_px=5, top_k=None)
    assert [(s.x, s.y, s.radius_px, s.score) for s in spots] == [(70, 20, 11.0, 11.0), (17, 20, 8.0, 8.0)]
    plain = find_landing_spots(cm, C, clearance_px=5, top_k=None, hazards={"roof": 1, "person": 1})
    assert [(s.x, s.y, s.score) for s in plain] == [(70, 20, 11.0), (20, 20, 11.0)]


def test_no_spot_when_no_safe_area_is_big_enough():
    cm = np.full((10, 10), GRASS, np.uint8)  # border unsafe: free radius at most 5
    assert find_landing_spots(cm, C, clearance_px=5.5) == []
    # free radius 5 = clearance 5: the border ring lies ON the closed disc, so no spot (the disc must be clear)
    assert find_landing_spots(cm, C, clearance_px=5) == []
    assert find_landing_spots(cm, C, clearance_px=4.9)[0].radius_px == 5.0
    assert find_landing_spots(np.full((10, 10), ROOF, np.uint8), C, clearance_px=1) == []
    # unlabeled is unknown, hence unsafe
    assert find_landing_spots(np.full((10, 10), UNLABELED, np.uint8), C, clearance_px=1) == []


def test_border_flag():
    cm = np.full((9, 9), GRASS, np.uint8)
    cm[0, 0] = ROOF
    best = find_landing_spots(cm, C, clearance_px=1, border_is_unsafe=False)[0]
    assert (best.x, best.y, best.radius_px) == (8, 8, math.hypot(8, 8))
    assert find_landing_spots(cm, C, clearance_px=1)[0].radius_px == 5.0  # centre (4, 4)


def test_clearance_in_metres():
    # 31x31 grass, border unsafe: free radius 16 at the centre; GSD 0.1 m/px so 1.6 m = 16 px.
    cm = np.full((31, 31), GRASS, np.uint8)
    gsd = ground_sampling_distance(20, 10, 20, 400)
    spots = find_landing_spots(cm, C, clearance_m=1.5, gsd_m=gsd)
    assert (spots[0].x, spots[0].y, spots[0].radius_px) == (15, 15, 16.0)
    assert spots[0].radius_m == pytest.approx(1.6)
    # 1.6 m / 0.1 m/px = 16.000000000000004 px is 16 px: the border ring at 16 px lies on the disc
    assert find_landing_spots(cm, C, clearance_m=1.6, gsd_m=gsd) == []
    # radius_m is filled whenever the GSD is known
    assert find_landing_spots(cm, C, clearance_px=15, gsd_m=0.5)[0].radius_m == pytest.approx(8.0)


def test_bad_arguments():
    cm = np.full((5, 5), GRASS, np.uint8)
    with pytest.raises(ValueError, match=r"unknown class 'gras'.*known classes: unlabeled"):
        find_landing_spots(cm, C, clearance_px=1, safe=["gras"])
    with pytest.raises(ValueError, match="hazards: unknown class 'kangaroo'"):
        find_landing_spots(cm, C, clearance_px=1, hazards=["kangaroo"])
    with pytest.raises(ValueError, match="both safe and hazard: grass"):
        find_landing_spots(cm, C, clearance_px=1, hazards=["grass"])
    with pytest.raises(ValueError, match=">= 1"):
        find_landing_spots(cm, C, clearance_px=1, hazards={"car": 0.5})
    with pytest.raises(ValueError, match="exactly one"):
        find_landing_spots(cm, C, clearance_px=1, clearance_m=1)
    with pytest.raises(ValueError, match="needs gsd_m"):
        find_landing_spots(cm, C, clearance_m=1)
    with pytest.raises(ClassIdError):
        find_landing_spots(np.full((5, 5), 30, np.uint8), C, clearance_px=1)


def test_a_safe_list_may_hold_default_hazards_when_hazards_are_given():
    # roof is a default hazard; with hazards given, a safe list holding roof is fine (it was refused before)
    cm = np.full((21, 21), ROOF, np.uint8)
    spots = find_landing_spots(cm, C, clearance_px=5, safe=["grass", "roof"], hazards=["car"],
                               p_safe=np.ones(cm.shape), min_p_safe=0.5)
    assert (spots[0].x, spots[0].y, spots[0].surface) == (10, 10, "roof")


def test_torch_class_map():
    torch = pytest.importorskip("torch")
    spots = find_landing_spots(torch.from_numpy(car_wall_map()).long(), C, clearance_px=10, hazards={"car": 1})
    assert (spots[0].x, spots[0].y) == (70, 50)


def test_spots_to_json():
    spots = [LandingSpot(3, 4, 5.0, None, 4.5, "grass"), LandingSpot(1, 2, math.inf, None, math.inf, "dirt")]
    d = spots_to_json(spots, {"mask": "a.png"})
    assert d["meta"] == {"mask": "a.png"} and d["verdict"] == {"abstained": False, "reason": None}
    assert d["spots"][0] == {"rank": 1, "x": 3, "y": 4, "radius_px": 5.0, "radius_m": None, "score": 4.5,
                             "surface": "grass", "p_safe_min": None, "p_safe_mean": None, "east_m": None,
                             "north_m": None, "lat": None, "lon": None}
    assert spots_to_json([], verdict={"abstained": True, "reason": "why"})["verdict"]["reason"] == "why"
    assert d["spots"][1]["radius_px"] is None and d["spots"][1]["rank"] == 2
    json.dumps(d, allow_nan=False)


# ------------------------------------------------------------------------------------------ overlay

def test_overlay_colours():
    cm = car_wall_map()
    cm[0, 50] = UNLABELED
    spots = find_landing_spots(cm, C, clearance_px=10, hazards={"car": 1}, top_k=1)
    img = landing_overlay(None, cm, spots, C, hazards={"car": 1})
    a = np.asarray(img)
    assert img.mode == "RGB" and img.size == (101, 101)
    # round(base / 2 + tint / 2): grass (0, 102, 0) + green -> (0, 179, 0); car (9, 143, 150) + red -> (132, 72, 75)
    assert SAFE_TINT == (0, 255, 0) and HAZARD_TINT == (255, 0, 0)
    assert a[90, 95].tolist() == [0, 179, 0]
    assert a[90, 5].tolist() == [132, 72, 75]
    assert a[0, 50].tolist() == [0, 0, 0]  # unknown: class colour, no tint
    assert a[50, 70].tolist() == YELLOW  # spot centre
    assert a[50, 40].tolist() == YELLOW  # circle of radius 30 at its leftmost point
    assert a[50, 55].tolist() == [0, 179, 0]  # inside the circle, away from the label


def test_overlay_on_photo_is_resized_to_map():
    cm = np.full((20, 30), GRASS, np.uint8)
    photo = Image.new("RGB", (60, 40), (100, 100, 100))
    a = np.asarray(landing_overlay(photo, cm, [], C))
    assert a.shape == (20, 30, 3)
    assert a[10, 10].tolist() == [50, 178, 50]  # (100 + 0) / 2, (100 + 255) / 2 = 177.5 -> 178


# ------------------------------------------------------------------------------------------ CLI

def save_mask(path, cm, colour=False):
    Image.fromarray(C.palette[cm] if colour else cm, "RGB" if colour else "L").save(path)


def test_cli_writes_json_and_png(tmp_path, capsys):
    save_mask(tmp_path / "a.png", car_wall_map())
    save_mask(tmp_path / "b.png", car_wall_map(), colour=True)
    out = tmp_path / "out"
    argv = [str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(out), "--clearance-px", "10",
            "--hazards", "car=1,roof", "--top-k", "2"]
    assert main(argv) == 0
    for stem in ("a", "b"):
        d = json.loads((out / f"{stem}.landing.json").read_text())
        assert [(s["rank"], s["x"], s["y"], s["radius_px"]) for s in d["spots"]] == [(1, 70, 50, 30.0),
                                                                                     (2, 70, 30, 30.0)]
        assert d["meta"]["map_size"] == d["meta"]["photo_size"] == "101x101" and d["meta"]["clearance_px"] == 10
        assert d["meta"]["hazards"] == {"roof": 1.0, "car": 1.0}
        assert d["meta"]["safe"] == ["paved-area", "grass", "dirt", "gravel"]
        assert d["meta"]["safe_fraction"] == pytest.approx(60 / 101)
        assert Image.open(out / f"{stem}.landing.png").size == (101, 101)
    assert sorted(p.name for p in out.iterdir()) == ["a.landing.json", "a.landing.png", "b.landing.json",
                                                      "b.landing.png"]  # no temporary files left
    assert "best x=70 y=50 on grass" in capsys.readouterr().out

    before = (out / "a.landing.json").read_text()
    assert main(argv[:4] + ["--clearance-px", "5"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (out / "a.landing.json").read_text() == before
    assert main(argv[:4] + ["--clearance-px", "5", "--overwrite"]) == 0
    assert json.loads((out / "a.landing.json").read_text())["meta"]["clearance_px"] == 5


def test_cli_clearance_in_metres_uses_mask_width(tmp_path):
    save_mask(tmp_path / "m.png", np.full((31, 31), GRASS, np.uint8))
    # GSD = 20 m * 20 mm / (10 mm * 31 px) = 40/31 m/px; the 16 px free radius is 16 * 40/31 m.
    argv = [str(tmp_path / "m.png"), "--out", str(tmp_path / "o"), "--clearance-m", "20", "--altitude", "20",
            "--focal-mm", "10", "--sensor-mm", "20"]
    assert main(argv) == 0
    d = json.loads((tmp_path / "o" / "m.landing.json").read_text())
    assert d["meta"]["gsd_m"] == pytest.approx(40 / 31)
    assert d["meta"]["clearance_px"] == pytest.approx(20 * 31 / 40)
    assert d["spots"][0]["radius_m"] == pytest.approx(16 * 40 / 31)


def test_cli_unreadable_file_is_skipped(tmp_path, capsys):
    save_mask(tmp_path / "good.png", car_wall_map())
    (tmp_path / "bad.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    rc = main([str(tmp_path / "bad.png"), str(tmp_path / "good.png"), "--out", str(out), "--clearance-px", "10"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "bad.png" in err and "1 of 2 mask(s) failed" in err
    assert (out / "good.landing.json").is_file() and not (out / "bad.landing.json").exists()


def test_cli_usage_errors(tmp_path, capsys):
    save_mask(tmp_path / "m.png", car_wall_map())
    base = [str(tmp_path / "m.png"), "--out", str(tmp_path / "o")]
    assert main(base + ["--clearance-px", "5", "--safe", "gras"]) == 2
    assert "unknown class 'gras'" in capsys.readouterr().err
    assert main(base + ["--clearance-m", "5"]) == 2
    assert main(base + ["--clearance-m", "5", "--altitude", "20"]) == 2
    assert "a clearance in metres needs the ground scale" in capsys.readouterr().err
    assert main(base + ["--clearance-px", "5", "--min-separation-px", "4"]) == 2  # spots are distinct places
    assert "--min-separation-px (4 px) must be at least the clearance (5 px)" in capsys.readouterr().err
    assert main(base + ["--lat", "95"]) == 2
    assert "lat must lie in [-90, 90]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_default_clearance_is_a_ground_distance_when_the_scale_is_known(tmp_path):
    save_mask(tmp_path / "m.png", car_wall_map())
    assert main([str(tmp_path / "m.png"), "--out", str(tmp_path / "a")]) == 0
    meta = json.loads((tmp_path / "a" / "m.landing.json").read_text())["meta"]
    assert (meta["clearance_px"], meta["clearance_from"], meta["clearance_m"]) == (40.0, "default_px", None)
    assert main([str(tmp_path / "m.png"), "--out", str(tmp_path / "b"), "--gsd", "0.1"]) == 0
    meta = json.loads((tmp_path / "b" / "m.landing.json").read_text())["meta"]
    assert meta["clearance_from"] == "default_m" and meta["clearance_px"] == pytest.approx(20.0)  # 2 m / 0.1 m/px
    assert meta["clearance_m"] == pytest.approx(2.0)
