"""Tests of dronefast.synthetic.shapes: the polygon helpers."""
import math

import numpy as np
import pytest

from dronefast.synthetic.shapes import (
    along,
    blob,
    ellipse_box,
    hull,
    lerp,
    rect,
    scale,
    shift,
)


def test_rect_corners():
    pts = rect(10, 20, 8, 4, 0.0)
    assert pts == [(6, 18), (14, 18), (14, 22), (6, 22)]
    turned = rect(0, 0, 8, 4, math.pi / 2)
    assert [tuple(round(v, 6) + 0.0 for v in p) for p in turned] == [(2, -4), (2, 4), (-2, 4), (-2, -4)]


def test_blob_is_a_closed_ring_around_its_centre():
    pts = blob(np.random.default_rng(0), 50, 40, 10, 5, irregular=0.2, n=12)
    assert len(pts) == 12
    r = [math.hypot((x - 50) / 10, (y - 40) / 5) for x, y in pts]
    assert 0.8 - 1e-9 <= min(r) and max(r) <= 1.2 + 1e-9


def test_hull_drops_inner_points():
    square = [(0, 0), (4, 0), (4, 4), (0, 4)]
    assert sorted(hull(square + [(2, 2), (1, 3), (4, 0)])) == sorted(square)
    assert hull([(0, 0), (1, 1)]) == [(0, 0), (1, 1)]


def test_moves():
    assert shift([(1, 2)], 3, -1) == [(4, 1)]
    assert scale([(2, 0)], 0, 0, 1.5, 1, 1) == [(4, 1)]
    assert ellipse_box(5, 5, 2, 1) == [3, 4, 7, 6]
    assert along((0, 0), 0.0, 3, 2) == pytest.approx((3, 2))
    assert along((0, 0), math.pi / 2, 3) == pytest.approx((0, 3))
    assert lerp((0, 0), (10, 20), 0.25) == (2.5, 5)
