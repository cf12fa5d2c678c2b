"""The window grid of tiled prediction, shared by training's tiled validation, calibration, prediction and the
ONNX export's calibration windows: where windows of the model's size go over a larger image (light: no PyTorch)."""
from __future__ import annotations

import math
from typing import List, Tuple

__all__ = ["DEFAULT_OVERLAP", "WINDOW_FLOOR", "DENSE_SHARE", "tile_positions", "window_boxes"]

#: Share of a window that neighbouring windows share.
DEFAULT_OVERLAP = 0.25
#: Weight of a tile's border pixels in the blend (its centre has weight 1).
WINDOW_FLOOR = 0.1
#: :func:`~dronefast.models.tiling.upsample_argmax` interpolates every pixel when more than this share of
#: source cells mix classes.
DENSE_SHARE = 0.6


def tile_positions(length: int, tile: int, overlap: float = DEFAULT_OVERLAP) -> List[int]:
    """Start offsets of windows of `tile` px covering `length` px with at least `overlap` (0..1) of a window
    shared by neighbours: evenly spaced, the first at 0, the last at ``length - tile`` (``[0]`` when the
    window covers everything)."""
    if tile < 1 or not 0 <= overlap < 1:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < 1, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return [0]
    stride = max(1, int(math.floor(tile * (1 - overlap) + 0.5)))
    n = math.ceil((length - tile) / stride) + 1
    return [int(math.floor(i * (length - tile) / (n - 1) + 0.5)) for i in range(n)]


def window_boxes(size: Tuple[int, int], window: Tuple[int, int], overlap: float = DEFAULT_OVERLAP
                 ) -> List[Tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the windows of ``window = (h, w)`` px covering an image of
    ``size = (H, W)`` px, row by row (:func:`tile_positions` in each direction)."""
    return [(y, x) for y in tile_positions(size[0], window[0], overlap)
            for x in tile_positions(size[1], window[1], overlap)]
