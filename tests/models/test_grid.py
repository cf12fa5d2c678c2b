"""Tests of dronefast.models.grid.window_boxes: the one window grid, the same windows that tiled prediction, the
prediction benchmark and (before) the Predictor's window count each built from tile_positions themselves."""
from __future__ import annotations

import pytest

from dronefast.models.grid import tile_positions, window_boxes


def test_hand_computed_grid():
    # 64 px high, windows of 32, overlap 0.25: rows at 0, 16, 32; 96 px wide, windows of 48: columns at 0, 24, 48
    assert window_boxes((64, 96), (32, 48), 0.25) == [(0, 0), (0, 24), (0, 48), (16, 0), (16, 24), (16, 48),
                                                      (32, 0), (32, 24), (32, 48)]
    assert window_boxes((32, 48), (32, 48)) == [(0, 0)]          # one window covers the image
    assert window_boxes((20, 100), (32, 48), 0.0) == [(0, 0), (0, 26), (0, 52)]


@pytest.mark.parametrize("size, window, overlap", [
    ((64, 96), (32, 48), 0.25), ((100, 91), (40, 30), 0.0), ((201, 303), (32, 48), 0.5), ((31, 48), (32, 48), 0.25),
])
def test_same_windows_as_the_former_row_by_row_expression(size, window, overlap):
    old = [(y, x) for y in tile_positions(size[0], window[0], overlap)
           for x in tile_positions(size[1], window[1], overlap)]
    assert window_boxes(size, window, overlap) == old
