"""Water painters: a pond with rocks on its shore, a rock cluster, a swimming pool with a tiled deck (metres)."""
from __future__ import annotations

import math

from .canvas import UNIT, Scene
from .ground import PLANTABLE
from .shapes import blob, rect

__all__ = ["paint_pond", "paint_rocks", "paint_pool"]


def paint_pond(sc: Scene) -> None:
    """Sometimes a pond, often with rocks along its shore."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.12:
        return
    cx, cy, r = rng.uniform(0, sc.w), rng.uniform(0, sc.h), v.px(rng.uniform(3.5, 9.0))
    sc.obj("polygon", blob(rng, cx, cy, r, r * rng.uniform(0.6, 1), 0.25, 18, rng.uniform(0, 3)), "water")
    if rng.random() < 0.6:
        for t in rng.uniform(0, 2 * math.pi, int(rng.integers(4, 11))):
            rr = v.px(rng.uniform(0.2, 0.5))
            sc.obj("polygon", blob(rng, cx + math.cos(t) * r, cy + math.sin(t) * r * 0.8, rr), "rocks")


def paint_rocks(sc: Scene) -> None:
    """Sometimes a cluster of boulders on soft ground."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.12:
        return
    (cx, cy), = sc.pick(PLANTABLE, 1)
    for _ in range(int(rng.integers(3, 9))):
        rr = v.px(rng.uniform(0.25, 0.8))
        sc.obj("polygon", blob(rng, cx + rng.normal(0, v.px(1.0)), cy + rng.normal(0, v.px(1.0)), rr, irregular=0.4),
               "rocks")


def paint_pool(sc: Scene) -> None:
    """Sometimes a swimming pool inside a tiled deck."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.1:
        return
    a, cx, cy = v.half_turn(rng), rng.uniform(0.1, 0.9) * sc.w, rng.uniform(0.1, 0.9) * sc.h
    ln, wd, deck = v.px(rng.uniform(4, 9)), v.px(rng.uniform(2.5, 4.5)), v.px(rng.uniform(0.8, 1.6))
    sc.obj("polygon", rect(cx, cy, ln + 2 * deck, wd + 2 * deck, a), "paved-area", angle=a, period=v.px(0.5))
    sc.obj("polygon", rect(cx, cy, ln, wd, a), "pool", shade=int(UNIT * 1.08))
    sc.shadow("polygon", rect(cx, cy, ln - v.px(0.25), wd - v.px(0.25), a), 1.0)
