"""Tests of dronefast.synthetic.shot: frame width in metres, perspective, sun."""
import math

import numpy as np
import pytest

from dronefast.synthetic.shot import (
    ALTITUDE_PER_WIDTH,
    FRAME_WIDTH_M,
    View,
    draw_view,
)


def _view(**kw):
    base = dict(w=300, h=200, ppm=10.0, altitude=20.0, theta=0.0, sun=(1.0, 0.0), sun_len=0.5)
    return View(**{**base, **kw})


def test_frame_widths_are_real_flight_heights():
    views = [draw_view(np.random.default_rng([0, i]), 320, 480) for i in range(2000)]
    widths = np.array([v.width_m for v in views])
    assert FRAME_WIDTH_M * 0.8 < np.median(widths) < FRAME_WIDTH_M * 1.05  # close-ups pull the median down
    assert 0.12 < np.mean(widths < 16) < 0.3  # low close-ups, like the 5 m flights
    assert widths.min() >= 8 and widths.max() <= 60
    assert all(v.altitude == pytest.approx(v.width_m * ALTITUDE_PER_WIDTH) for v in views[:20])


def test_any_aspect_covers_the_same_ground_area():
    wide = draw_view(np.random.default_rng(3), 320, 480)
    square = draw_view(np.random.default_rng(3), 392, 392)  # about the same number of pixels
    assert (wide.w / wide.ppm) * (wide.h / wide.ppm) == pytest.approx(
        (square.w / square.ppm) * (square.h / square.ppm), rel=0.01)


def test_points_above_the_ground_lean_away_from_the_centre():
    v = _view()
    assert v.project((150, 100), 5.0) == pytest.approx((150, 100))  # straight below the camera
    assert v.project((250, 100), 0.0) == pytest.approx((250, 100))
    x, y = v.project((250, 100), 5.0)  # 100 px right of the centre, 5 m up: A / (A - h) = 20 / 15
    assert (x, y) == pytest.approx((150 + 100 * 20 / 15, 100))
    assert v.project((50, 0), 2.0)[0] < 50 and v.project((50, 0), 2.0)[1] < 0
    assert math.isfinite(v.project((300, 200), 100.0)[0])  # taller than the flight height: capped


def test_lengths_widths_and_shadows():
    v = _view()
    assert v.px(1.5) == 15 and v.width(0.01) == 1 and v.width(0.26) == 3
    assert v.shadow(2.0) == pytest.approx((10.0, 0.0))  # 2 m * 0.5 * 10 px/m along the sun
    assert v.width_m == 30
    assert {round(v.half_turn(np.random.default_rng(s)), 3) for s in range(20)} == {0.0, round(math.pi / 2, 3)}
