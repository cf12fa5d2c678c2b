"""The synthetic scenes tell the truth about scale: object sizes relative to the frame and class shares are the
real Semantic Drone Dataset's (dronefast.synthetic.stats holds the real numbers), measured on 40 scenes of the
default seed at 480x320 (about 2 s)."""
import numpy as np
import pytest

from dronefast.synthetic.scene import render_scene
from dronefast.synthetic.shot import draw_view
from dronefast.synthetic.stats import REAL_EXTENTS, REAL_SHARES, measure, region_sizes

N, SIZE, SEED = 40, (320, 480), 0
TOLERANCE = 0.25  # each percentile within +-25% of the real one


@pytest.fixture(scope="module")
def masks():
    return [render_scene(SIZE, SEED, i)[1] for i in range(N)]


@pytest.fixture(scope="module")
def stats(masks):
    return measure(masks)


def test_region_sizes_measure_the_longest_side_of_8_connected_regions():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:5, 3:13] = 15  # 10 wide, 3 high
    mask[10, 20], mask[11, 21] = 15, 15  # two diagonal pixels: one region
    mask[15:18, 0:2] = 3
    extent, area = region_sizes(mask, 15)
    assert extent.tolist() == [10, 2] and area.tolist() == [30, 2]
    assert region_sizes(mask, 17)[0].size == 0


def test_person_median_and_spread_match_the_real_photos(stats):
    p10, med, p90 = stats.percentiles("person")
    r10, rmed, r90 = REAL_EXTENTS["person"]  # 2.4%, 4.9%, 10.7% of the width
    assert abs(med / rmed - 1) <= TOLERANCE, (med, rmed)
    assert abs(p10 / r10 - 1) <= TOLERANCE and abs(p90 / r90 - 1) <= TOLERANCE, (p10, p90)
    assert 0.04 < med < 0.06  # a median person is about 23 px long in a 480 px wide frame
    assert stats.extents["person"].size >= 3 * N  # several people per photo


@pytest.mark.parametrize("name", ["bicycle", "fence-pole", "obstacle", "car"])
def test_object_sizes_match_the_real_photos(stats, name):
    got, real = stats.percentiles(name), REAL_EXTENTS[name]
    ratios = [g / r for g, r in zip(got, real)]
    assert all(abs(q - 1) <= TOLERANCE for q in ratios), (name, got, real)


def test_dogs_are_rare_and_roughly_real_size(stats):
    med, real = stats.percentiles("dog")[1], REAL_EXTENTS["dog"][1]  # 7.5% of the width
    assert 0.6 < med / real < 1.4
    assert 1 <= stats.images["dog"] <= N // 4
    assert stats.share("dog") < 0.001


def test_cars_are_larger_than_people(stats):
    car, person = stats.percentiles("car")[1], stats.percentiles("person")[1]
    assert car > 2.5 * person  # real: 238 px against 74 px
    assert stats.percentiles("car")[0] > stats.percentiles("person")[2]  # a small car beats a big group


def test_fence_poles_are_thinner_than_people(stats):
    pole, person = np.median(stats.thickness["fence-pole"]), np.median(stats.thickness["person"])
    assert pole < 0.5 * person, (pole, person)
    assert stats.percentiles("fence-pole")[1] < stats.percentiles("person")[1]


def test_people_in_most_photos_often_in_groups_cars_in_many(stats, masks):
    assert stats.images["person"] >= 0.85 * N
    assert 0.25 * N <= stats.images["car"] <= 0.7 * N
    per_photo = [region_sizes(m, 15)[0].size for m in masks if (m == 15).any()]
    assert np.median(per_photo) >= 3


def test_paved_area_and_grass_are_the_two_largest_classes(stats):
    order = np.argsort(-stats.shares)
    assert [int(i) for i in order[:2]] == [1, 3]  # paved-area (37.7%), grass (20.0%)
    assert abs(stats.share("paved-area") - 0.377) < 0.05 and abs(stats.share("grass") - 0.20) < 0.05


@pytest.mark.parametrize("name", ["roof", "gravel", "vegetation"])
def test_big_class_shares_are_within_a_few_points(stats, name):
    assert abs(stats.share(name) - REAL_SHARES[name]) < 0.03, (name, stats.share(name))


def test_small_class_shares_are_the_right_order_of_magnitude(stats):
    for name in ("obstacle", "dirt", "wall", "water", "tree", "bald-tree", "person"):
        assert 0.2 < stats.share(name) / REAL_SHARES[name] < 5, (name, stats.share(name))
    rest = [n for n in stats.images if n not in REAL_SHARES and n not in ("paved-area", "conflicting")]
    assert all(stats.share(n) < 0.025 for n in rest), {n: round(stats.share(n), 4) for n in rest}


def test_masks_hold_ids_0_to_22_with_some_unlabeled(stats, masks):
    assert all(m.dtype == np.uint8 and m.shape == SIZE and int(m.max()) <= 22 for m in masks)
    assert stats.share("conflicting") == 0
    assert 1 <= stats.images["unlabeled"] < N // 2
    assert sum(v > 0 for v in stats.images.values()) == 23  # every real class occurs somewhere


def test_scale_is_relative_to_the_frame(stats):
    # the camera covers the same ground at any size: twice the pixels, twice the pixels per metre
    for i in range(5):
        a = draw_view(np.random.default_rng([SEED, i]), 320, 480)
        b = draw_view(np.random.default_rng([SEED, i]), 64, 96)
        assert a.width_m == pytest.approx(b.width_m) and a.ppm == pytest.approx(5 * b.ppm)
    small = measure(render_scene((160, 240), SEED, i)[1] for i in range(N))
    for name in ("person", "car", "obstacle"):
        assert small.percentiles(name)[1] == pytest.approx(stats.percentiles(name)[1], rel=0.25), name
