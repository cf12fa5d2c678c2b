"""One synthetic nadir scene: a camera, the painters in drawing order (back to front), the render.

Scale is relative to the frame (see :mod:`.shot`): object sizes and class shares are the same at every
image size, tuned to the Semantic Drone Dataset's (``tests/synthetic/test_scale.py`` measures them).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from .buildings import paint_buildings
from .canvas import Scene
from .clutter import paint_marker, paint_obstacles, paint_unlabeled
from .fences import paint_fences, paint_posts
from .ground import paint_ground, paint_paths, paint_plaza, paint_roads
from .people import paint_dog, paint_people
from .photo import render
from .shot import draw_view
from .vegetation import paint_bald_tree, paint_bushes, paint_hedge, paint_trees
from .vehicles import paint_bicycles, paint_cars
from .water import paint_pond, paint_pool, paint_rocks

__all__ = ["compose", "render_scene", "check_size", "DEFAULT_SIZE", "DEFAULT_SEED", "MIN_SIDE"]

DEFAULT_SIZE = (640, 960)  # (height, width)
DEFAULT_SEED = 0
MIN_SIDE = 8


def compose(sc: Scene) -> None:
    """Draw one scene, back to front: ground, water, plants, fences, buildings, vehicles, clutter, trees, people."""
    paint_ground(sc)
    plaza = paint_plaza(sc)
    paint_paths(sc)
    roads = paint_roads(sc)
    paint_pond(sc)
    paint_rocks(sc)
    paint_pool(sc)
    paint_bushes(sc)
    paint_hedge(sc)
    paint_fences(sc)
    paint_buildings(sc)
    paint_cars(sc, roads, plaza)
    paint_obstacles(sc)
    paint_posts(sc)
    paint_marker(sc)
    paint_unlabeled(sc)
    paint_trees(sc)
    paint_bald_tree(sc)
    paint_bicycles(sc)
    paint_dog(sc, paint_people(sc))


def check_size(size: Sequence[int]) -> Tuple[int, int]:
    """`size` as ``(height, width)`` ints; ValueError when it is not two numbers of at least :data:`MIN_SIDE`."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"size must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got (height, width) = ({h}, {w})")
    return h, w


def render_scene(size: Tuple[int, int] = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
                 index: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Draw scene number `index` of the sample with `seed`, without writing anything.

    Args:
        size: (height, width) in pixels.
        seed: sample seed (>= 0); each scene uses ``numpy.random.default_rng([seed, index])``.
        index: scene number (>= 0).

    Returns:
        ``(image, mask)``: the RGB image (H, W, 3) uint8 before JPEG compression and the class-id mask
        (H, W) uint8 with ids of ``standard_classes()`` (0..22; never 23).
    """
    h, w = check_size(size)
    rng = np.random.default_rng([int(seed), int(index)])
    sc = Scene(draw_view(rng, h, w), rng)
    compose(sc)
    mask = np.array(sc.ids_img, dtype=np.uint8)
    return render(sc), mask
