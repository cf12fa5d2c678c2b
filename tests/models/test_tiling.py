"""The geometry of tiled prediction (dronefast.models.tiling): window positions and blending weights exactly,
and the sparse upsampling + argmax against dense bilinear upsampling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dronefast.models.grid import tile_positions
from dronefast.models.tiling import blend_window, iter_upsampled, upsample_argmax


@pytest.mark.parametrize("length, tile, overlap, expected", [
    (100, 40, 0.25, [0, 30, 60]),         # stride 30 fits exactly
    (91, 30, 0.0, [0, 20, 41, 61]),       # 4 windows spread evenly, rounded, the last at the edge
    (90, 30, 0.0, [0, 30, 60]),           # no overlap asked and none needed
    (31, 30, 0.5, [0, 1]),
    (30, 30, 0.25, [0]),                  # one window covers it
    (10, 30, 0.25, [0]),                  # smaller than a window (padded by the predictor)
])
def test_tile_positions_exact(length, tile, overlap, expected):
    pos = tile_positions(length, tile, overlap)
    assert pos == expected
    assert pos[0] == 0 and pos[-1] == max(0, length - tile)


@pytest.mark.parametrize("length, tile, overlap", [(1000, 96, 0.25), (517, 64, 0.5), (300, 100, 0.1), (77, 8, 0.0)])
def test_tile_positions_cover_with_at_least_the_overlap(length, tile, overlap):
    pos = tile_positions(length, tile, overlap)
    steps = np.diff(pos)
    assert pos[0] == 0 and pos[-1] == length - tile and (steps > 0).all()
    assert steps.max() <= tile - overlap * tile + 0.5   # every neighbour shares at least the overlap (rounded)


@pytest.mark.parametrize("tile, overlap", [(0, 0.25), (10, 1.0), (10, -0.1)])
def test_tile_positions_refuses(tile, overlap):
    with pytest.raises(ValueError):
        tile_positions(100, tile, overlap)


def test_blend_window_exact_values():
    # per axis floor + (1 - floor) * sin(pi * (i + 0.5) / n) ** 2; n = 3: sin^2(pi/6) = 1/4 at the ends, 1 inside
    torch.testing.assert_close(blend_window((1, 3)), torch.tensor([[0.325, 1.0, 0.325]]), rtol=0, atol=1e-7)
    torch.testing.assert_close(blend_window((3, 1), floor=0.0), torch.tensor([[0.25], [1.0], [0.25]]),
                               rtol=0, atol=1e-7)
    # n = 2: sin^2(pi/4) = 1/2 everywhere -> 0.55 per axis, 0.3025 in 2-D
    torch.testing.assert_close(blend_window((2, 2)), torch.full((2, 2), 0.3025), rtol=0, atol=1e-7)
    w = blend_window((6, 9))
    assert w.dtype == torch.float32 and w.shape == (6, 9)
    assert torch.equal(w, w.flip(0)) and torch.equal(w, w.flip(1))   # symmetric
    assert float(w.min()) > 0.1 ** 2 and float(w.max()) <= 1.0


def test_strips_equal_dense_interpolation():
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 9)
    ref = F.interpolate(logits[None], size=(37, 50), mode="bilinear", align_corners=False)[0]
    strips = list(iter_upsampled(logits, (37, 50), max_bytes=4 * 4 * 50 * 5))   # 5 rows per strip
    assert [s.start for s, _ in strips] == list(range(0, 37, 5))
    torch.testing.assert_close(torch.cat([t for _, t in strips], 1), ref, atol=1e-5, rtol=1e-5)


def test_upsample_argmax_on_smooth_logits_equals_full_interpolation():
    torch.manual_seed(3)
    logits = F.interpolate(torch.randn(1, 6, 5, 7), size=(20, 28), mode="bilinear")[0]  # large class regions
    ref = F.interpolate(logits[None], size=(83, 117), mode="bilinear", align_corners=False)[0]
    top2 = ref.topk(2, 0).values
    stable = (top2[0] - top2[1] > 1e-4).numpy()
    ids = upsample_argmax(logits, (83, 117), max_bytes=2000)
    assert ids.dtype == np.uint8 and ids.shape == (83, 117)
    assert stable.mean() > 0.99
    np.testing.assert_array_equal(ids[stable], ref.argmax(0).numpy()[stable])
