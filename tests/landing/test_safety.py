"""Landing you can trust: spots only where the model is sure the ground is safe, an explicit abstention with its
reason, and the safety score of the spots against the truth, all on hand-made maps with hand-counted answers."""
import numpy as np
import pytest

from dronefast.data.classes import standard_classes
from dronefast.landing.options import LandingOptions
from dronefast.landing.safety import SafetyTally, spot_against_truth
from dronefast.landing.spots import LandingSpot, disc_stats, find_landing_spots
from dronefast.landing.writer import analyse_landing

C = standard_classes()
GRASS, ROOF, PERSON, CAR, UNLABELED = (C.id_of(n) for n in ("grass", "roof", "person", "car", "unlabeled"))


def two_fields():
    """A 40x90 map: two grass fields (columns 0-39 and 50-89) split by a roof strip (columns 40-49)."""
    cm = np.full((40, 90), GRASS, np.uint8)
    cm[:, 40:50] = ROOF
    return cm


def test_an_unsure_field_is_refused_a_confident_one_kept():
    cm = two_fields()
    p = np.full(cm.shape, 0.95, np.float32)
    p[:, :40] = 0.4                                    # the model is unsure of the left field
    spots = find_landing_spots(cm, C, clearance_px=8, p_safe=p, min_p_safe=0.9, top_k=5)
    assert spots and all(s.x >= 50 for s in spots)     # only the confident right field
    assert all(s.p_safe_min == pytest.approx(0.95) and s.p_safe_mean == pytest.approx(0.95) for s in spots)
    both = find_landing_spots(cm, C, clearance_px=8, p_safe=p, min_p_safe=0.3, top_k=5)
    assert any(s.x < 40 for s in both)                 # a lower threshold accepts the left field too
    left = next(s for s in both if s.x < 40)
    assert left.p_safe_mean == pytest.approx(0.4)
    no_conf = find_landing_spots(cm, C, clearance_px=8, top_k=5)
    assert all(s.p_safe_min is None for s in no_conf)


def test_disc_stats_by_hand():
    v = np.arange(25, dtype=np.float32).reshape(5, 5)
    lo, mean = disc_stats(v, 2, 2, 1.0)                 # centre and its 4 neighbours: 7, 11, 12, 13, 17
    assert (lo, mean) == (7.0, pytest.approx(12.0))


def test_abstention_says_why():
    cm = two_fields()
    opts = LandingOptions(clearance_px=8, min_p_safe=0.9)
    spots, meta = analyse_landing(cm, C, opts, np.full(cm.shape, 0.5, np.float32))
    assert spots == [] and meta["verdict"]["abstained"] is True
    assert meta["verdict"]["reason"].startswith("the model is unsure: only 0.0% of the photo is safe ground with "
                                                "P(safe) >= 0.9")
    spots, meta = analyse_landing(cm, C, LandingOptions(clearance_px=30), None)     # fields 40 px wide
    assert spots == [] and meta["verdict"]["reason"].startswith(
        "no safe area is wide enough; the widest free radius is 20.0 px, the clearance asks for more than 30.0 px")
    spots, meta = analyse_landing(np.full((10, 10), ROOF, np.uint8), C, LandingOptions(clearance_px=2), None)
    assert meta["verdict"] == {"abstained": True, "reason": "no safe ground: no pixel of a landable class"}
    spots, meta = analyse_landing(cm, C, LandingOptions(clearance_px=8), np.ones(cm.shape, np.float32))
    assert spots and meta["verdict"] == {"abstained": False, "reason": None}
    assert meta["min_p_safe"] == 0.95   # the default


def test_a_spot_checked_on_the_truth_at_full_resolution():
    truth = np.full((80, 180), GRASS, np.uint8)        # the 40x90 map's truth at twice the size
    truth[30, 30] = PERSON                             # one pixel of a person near (15, 15) of the small map
    spot = LandingSpot(x=15, y=15, radius_px=10, radius_m=None, score=10, surface="grass")
    hit = spot_against_truth(spot, 3.0, truth, (2.0, 2.0), [GRASS], [PERSON, CAR])
    assert hit == {"safe": False, "touches": [PERSON]}
    far = LandingSpot(x=60, y=20, radius_px=10, radius_m=None, score=10, surface="grass")
    assert spot_against_truth(far, 3.0, truth, (2.0, 2.0), [GRASS], [PERSON, CAR]) == {"safe": True, "touches": []}
    truth[40, 120] = UNLABELED                         # unlabeled ground is not known to be safe
    assert spot_against_truth(far, 3.0, truth, (2.0, 2.0), [GRASS], [PERSON, CAR])["safe"] is False


def test_safety_score_equals_the_hand_count():
    """Three photos, one spot offered at most each: (a) confident, but the prediction missed a person right under
    its best spot; (b) a correct map the model is unsure of (P(safe) 0.5 everywhere); (c) all roof in truth and
    prediction: nothing to offer, nothing missed."""
    opts = LandingOptions(clearance_px=16, top_k=1)                # photo pixels: 8 px of the half-size map
    tally = SafetyTally(C, opts, thresholds=(0.0, 0.9))
    pred = two_fields()
    big = np.repeat(np.repeat(two_fields(), 2, 0), 2, 1)            # the truth at twice the size, 80x180
    sure = np.full(pred.shape, 0.95, np.float32)
    top = find_landing_spots(pred, C, clearance_px=8, top_k=1, p_safe=sure, min_p_safe=0.9)[0]
    truth_a = big.copy()
    truth_a[2 * top.y, 2 * top.x] = PERSON
    tally.add(pred, sure, truth_a)
    tally.add(pred, np.full(pred.shape, 0.5, np.float32), big.copy())
    roof = np.full((40, 90), ROOF, np.uint8)
    tally.add(roof, np.zeros(roof.shape, np.float32), np.full((80, 180), ROOF, np.uint8))
    rows = {r["threshold"]: r for r in tally.rows()}
    loose, strict = rows[0.0], rows[0.9]
    assert (loose["photos"], loose["offered"], loose["abstained"], loose["missed"]) == (3, 2, 1, 0)
    assert (loose["top1_safe"], loose["spots"], loose["spots_safe"], loose["spots_touching"]) == (1, 2, 1, 1)
    assert loose["top1_safe_rate"] == 0.5 and loose["abstention_rate"] == pytest.approx(1 / 3)
    assert (strict["offered"], strict["abstained"], strict["missed"]) == (1, 2, 1)      # (b) missed: truth had one
    assert (strict["top1_safe"], strict["spots_touching"], strict["top1_safe_rate"]) == (0, 1, 0.0)
    assert tally.truth_had_spot == 2
    assert tally.summary(0.88)["threshold"] == 0.9 and tally.summary(0.88)["truth_had_spot"] == 2
