"""One clearance disc everywhere, hazard weights as a gate, spots as distinct places, one unit for the clearance
(pixels of the input photo, or metres), and the landing command reading what predict wrote."""
import json

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.landing import main
from dronefast.data.classes import standard_classes
from dronefast.inference.predict_files import output_paths, probability_png, write_class_maps
from dronefast.landing.options import LandingOptions
from dronefast.landing.safety import SafetyTally
from dronefast.landing.spots import disc_stats, find_landing_spots
from dronefast.landing.writer import analyse_landing
from dronefast.outputs import save_image

C = standard_classes()
GRASS, TREE, ROOF, PERSON = (C.id_of(n) for n in ("grass", "tree", "roof", "person"))


def strip_and_square(with_square: bool = True) -> np.ndarray:
    """31x60 trees; a 9-pixel grass strip (columns 2..10, every row) and a 25x25 grass square (rows 3..27, columns
    20..44: free radius 13 at its centre (32, 15))."""
    cm = np.full((31, 60), TREE, np.uint8)
    cm[:, 2:11] = GRASS
    if with_square:
        cm[3:28, 20:45] = GRASS
    return cm


def test_no_spot_on_the_nine_pixel_strip_at_clearance_five():
    # The strip's middle column is 5 px from the trees on either side: the closed disc of radius 5 holds trees.
    assert find_landing_spots(strip_and_square(False), C, clearance_px=5, top_k=None) == []
    spots = find_landing_spots(strip_and_square(), C, clearance_px=5, top_k=None)
    assert spots and all(20 <= s.x <= 44 for s in spots)
    safe = (strip_and_square() == GRASS).astype(float)
    assert all(disc_stats(safe, s.x, s.y, 5)[0] == 1.0 for s in spots)  # every disc pixel is grass
    assert find_landing_spots(strip_and_square(False), C, clearance_px=4.99)[0].x == 6  # just under: the middle


def test_prediction_equal_to_the_truth_scores_all_spots_safe():
    tally = SafetyTally(C, LandingOptions(clearance_px=5, top_k=5), thresholds=(0.0, 0.9))
    for cm in (strip_and_square(), strip_and_square(False)):
        p_safe = (cm == GRASS).astype(np.float32)
        tally.add(cm, p_safe, cm.copy())
    for row in tally.rows():
        assert row["offered"] == 1 and row["top1_safe"] == 1 and row["abstained"] == 1
        assert row["spots"] > 0 and row["spots_safe"] == row["spots"] and row["missed"] == 0


def test_p_safe_min_of_an_offered_spot_reaches_the_threshold():
    # 11x11 grass, border unsafe: the centre (5, 5) is 6 px from the border; one unsure pixel 5 px right of it.
    cm = np.full((11, 11), GRASS, np.uint8)
    p = np.full(cm.shape, 0.95, np.float32)
    p[5, 10] = 0.2
    assert find_landing_spots(cm, C, clearance_px=5, p_safe=p, min_p_safe=0.9) == []   # it lies on the disc
    (s,) = find_landing_spots(cm, C, clearance_px=4.5, p_safe=p, min_p_safe=0.9)
    assert (s.x, s.y, s.p_safe_min) == (5, 5, pytest.approx(0.95))
    strip = strip_and_square(False)
    for r in (3, 4, 4.5):                      # P(safe) 0 on the trees: every offered disc still at >= 0.9
        spots = find_landing_spots(strip, C, clearance_px=r, p_safe=(strip == GRASS) * 1.0, min_p_safe=0.9,
                                   top_k=None)
        assert spots and all(sp.p_safe_min >= 0.9 for sp in spots)


def test_a_person_must_be_weight_times_clearance_away():
    # 15x30 roof with a 13x13 grass square (rows and columns 1..13: free radius 7 at (7, 7)); a person at (14, 7),
    # 7 px from the centre. Weight 2, clearance 5: every pixel of the square is within 10 px of the person.
    cm = np.full((15, 30), ROOF, np.uint8)
    cm[1:14, 1:14] = GRASS
    cm[7, 14] = PERSON
    assert find_landing_spots(cm, C, clearance_px=5) == []
    best = find_landing_spots(cm, C, clearance_px=5, hazards={"person": 1, "roof": 1})[0]
    assert (best.x, best.y, best.radius_px) == (7, 7, 7.0)      # weight 1: a person is just unsafe ground
    assert find_landing_spots(cm, C, clearance_px=3)[0].score > 3  # 2 x 3 = 6 px: now some pixel is far enough


def test_random_maps_keep_every_rule():
    rng = np.random.default_rng(3)
    for _ in range(25):
        cm = np.where(rng.random((40, 50)) < 0.03, rng.choice([ROOF, PERSON], (40, 50)), GRASS).astype(np.uint8)
        r = float(rng.uniform(1.5, 5))
        spots = find_landing_spots(cm, C, clearance_px=r, top_k=None)
        people = np.argwhere(cm == PERSON)
        for s in spots:
            assert disc_stats((cm == GRASS).astype(float), s.x, s.y, r)[0] == 1.0
            assert s.x + 1 > r and s.y + 1 > r and cm.shape[1] - s.x > r and cm.shape[0] - s.y > r  # border
            if people.size:
                assert np.hypot(people[:, 0] - s.y, people[:, 1] - s.x).min() > 2 * r
        for i, a in enumerate(spots):
            for b in spots[i + 1:]:
                assert np.hypot(a.x - b.x, a.y - b.y) >= 2 * r      # default: twice the clearance


def test_spots_are_at_least_the_clearance_apart():
    cm = np.full((40, 120), GRASS, np.uint8)
    spots = find_landing_spots(cm, C, clearance_px=6, min_separation_px=6, top_k=None)
    assert len(spots) > 2 and all(abs(a.x - b.x) >= 6 for a in spots for b in spots if a is not b)
    with pytest.raises(ValueError, match=r"min_separation_px \(3 px\) must be at least the clearance \(6 px\)"):
        find_landing_spots(cm, C, clearance_px=6, min_separation_px=3)
    with pytest.raises(ValueError, match="at least the clearance"):
        LandingOptions(clearance_px=6, min_separation_px=3)
    with pytest.raises(ValueError, match="at least the clearance"):     # 2 m at 0.1 m/px: 20 px
        LandingOptions(gsd_m=0.1, min_separation_px=10).scale_for((40, 120))


def test_the_clearance_is_in_pixels_of_the_photo_whatever_the_map_size():
    photo = np.full((100, 150), ROOF, np.uint8)
    photo[10:60, 20:90] = GRASS                       # free radius 25 at its centre
    small = photo[::2, ::2]                           # the same ground at half the size
    opts = LandingOptions(clearance_px=20, top_k=1)
    (big,), meta_big = analyse_landing(photo, C, opts)
    (half,), meta_half = analyse_landing(small, C, opts, photo_size=photo.shape)
    assert meta_half["clearance_px"] == meta_big["clearance_px"] == 20
    assert meta_half["clearance_map_px"] == 10 and meta_big["clearance_map_px"] == 20
    assert (meta_half["map_size"], meta_half["photo_size"]) == ("75x50", "150x100")
    assert "top-left pixel" in meta_half["origin"]
    assert "photo_size" in meta_half["units"]["clearance_px, min_separation_px"]
    assert abs(half.x * 2 - big.x) <= 2 and abs(half.y * 2 - big.y) <= 2
    # 26 px of the photo: 13 px of the half map, more than its 12.5 px radius; the full map still has 25
    assert analyse_landing(small, C, LandingOptions(clearance_px=26), photo_size=photo.shape)[0] == []
    assert analyse_landing(photo, C, LandingOptions(clearance_px=24))[0]


def test_landing_pairs_predicts_own_outputs_with_their_photos(tmp_path, capsys):
    photos, pred, out = tmp_path / "photos", tmp_path / "pred", tmp_path / "landing"
    photos.mkdir()
    pred.mkdir()
    cm = np.full((40, 60), GRASS, np.uint8)
    cm[:, :10] = ROOF
    for stem in ("a", "b.c"):                        # a stem with a dot in it, too
        Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(photos / f"{stem}.jpg")
        paths = output_paths(photos / f"{stem}.jpg", pred, confidence=True)
        write_class_maps(cm, Image.open(photos / f"{stem}.jpg").convert("RGB"), C, paths)
        save_image(probability_png(np.where(cm == GRASS, 0.97, 0.0)), paths["p_safe"])
    masks = sorted(str(p) for p in pred.glob("*.mask.png"))
    assert main([*masks, "--image", str(photos), "--p-safe", str(pred), "--out", str(out), "--clearance-px", "5"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.landing.json", "a.landing.png", "b.c.landing.json",
                                                      "b.c.landing.png"]       # as predict --landing names them
    d = json.loads((out / "b.c.landing.json").read_text())
    assert d["meta"]["image"] == str(photos / "b.c.jpg") and d["meta"]["confidence"] is True
    assert d["spots"] and all(s["p_safe_min"] == pytest.approx(round(0.97 * 255) / 255) for s in d["spots"])
    assert "b.c.mask.png: 2 spot(s); best x=29 y=19" in capsys.readouterr().out
