"""Clutter painters: obstacles (small items, furniture, big containers and trampolines) as prisms in
perspective, an AR marker, an unlabeled patch."""
from __future__ import annotations

import math

import numpy as np

from .canvas import UNIT, Scene
from .ground import WALKABLE
from .shapes import Point, blob, hull, rect, shift

__all__ = ["draw_obstacle", "paint_obstacles", "paint_marker", "paint_unlabeled"]

#: Obstacle length: log-normal around this median (metres) with this spread, clipped to the range.
_LENGTH_M, _LENGTH_SIGMA, _LENGTH_RANGE = 0.62, 0.95, (0.06, 7.0)


def draw_obstacle(sc: Scene, p: Point, length: float) -> None:
    """One obstacle `length` metres long at ground point `p`: shadow, sides in perspective, lit top.

    Boxes, bins, benches, stacks, containers: a rectangle or a rounded blob, up to 0.9 of its length high
    (2.4 m at most).
    """
    rng, v = sc.rng, sc.view
    width = length * rng.uniform(0.35, 1.0)
    height = min(2.4, max(0.1, length * rng.uniform(0.3, 0.9)))
    ln, wd, a = v.px(length), v.px(width), rng.uniform(0, math.pi)
    round_ = rng.random() < 0.25  # trampolines, barrels, tyres, round tables
    if round_ or rng.random() < 0.25:
        base = blob(rng, p[0], p[1], ln / 2, ln / 2 if round_ else wd / 2, 0.05 if round_ else 0.15, 16, a)
    else:
        base = rect(p[0], p[1], ln, wd, a)
    top = [v.project(q, height) for q in base]
    sc.shadow("polygon", hull(base + shift(base, *v.shadow(height))), 0.5)
    o = sc.obj("polygon", hull(base + top), "obstacle")
    sc.draw("polygon", top, "obstacle", o, shade=int(UNIT * (0.45 if round_ else 1.15)))


def paint_obstacles(sc: Scene) -> None:
    """Obstacles in most scenes: many small items, some furniture-sized, now and then a big one or a huge one."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.85:
        return
    n = int(rng.choice([1, 2, 3, 4, 6, 8, 10, 12]))
    lengths = np.clip(np.exp(rng.normal(math.log(_LENGTH_M), _LENGTH_SIGMA, n)), *_LENGTH_RANGE)
    if rng.random() < 0.08:  # a building-site container or a heap of material
        lengths[0] = rng.uniform(5.0, 9.0)
    for length, p in zip(lengths, sc.pick(WALKABLE, n, margin=v.px(0.3), clear=v.px(0.6))):
        draw_obstacle(sc, p, float(length))


def paint_marker(sc: Scene) -> None:
    """Sometimes an AR marker: a white square with a pattern of dark cells (class ar-marker throughout)."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.12:
        return
    (x, y), = sc.pick(("grass", "paved-area", "gravel"), 1, margin=v.px(1.0))
    side, a = max(3.0, v.px(rng.uniform(0.6, 1.0))), rng.uniform(0, math.pi)
    m = sc.obj("polygon", rect(x, y, side, side, a), "ar-marker", shade=int(UNIT * 0.15))
    cell = side / 5
    c, sn = math.cos(a), math.sin(a)
    for i in range(3):
        for j in range(3):
            if rng.random() < 0.5 or (i == 1 and j == 1):
                u, w = (i - 1) * cell, (j - 1) * cell
                sc.draw("polygon", rect(x + c * u - sn * w, y + sn * u + c * w, cell, cell, a), "ar-marker", m)


def paint_unlabeled(sc: Scene) -> None:
    """Now and then an unlabeled patch (something the annotators left out), often at the frame border."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.06:
        return
    if rng.random() < 0.5:
        x, y = rng.choice([0.0, 1.0]) * sc.w, rng.uniform(0, sc.h)
    else:
        x, y = rng.uniform(0, sc.w), rng.uniform(0, sc.h)
    r = v.px(rng.uniform(1.5, 4.0))
    sc.obj("polygon", blob(rng, x, y, r, irregular=0.4), "unlabeled", colour=tuple(rng.integers(40, 180, 3)))
