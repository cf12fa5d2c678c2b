"""Plant painters: bushes and hedges (class vegetation), trees with shaded canopies, leafless (bald) trees."""
from __future__ import annotations

import math

from .canvas import UNIT, Scene
from .ground import PLANTABLE
from .shapes import along, blob, scale, shift

__all__ = ["paint_bushes", "paint_hedge", "paint_trees", "paint_bald_tree"]


def paint_bushes(sc: Scene) -> None:
    """A few bushes and flower beds, each with a soft shadow."""
    rng, v = sc.rng, sc.view
    for (cx, cy) in sc.pick(PLANTABLE, int(rng.choice([0, 1, 2, 3, 4, 5]))):
        r = v.px(rng.uniform(0.8, 3.2))
        b = blob(rng, cx, cy, r, r * rng.uniform(0.6, 1), 0.35, angle=rng.uniform(0, 3))
        sc.shadow("polygon", shift(b, *v.shadow(1.0)), 0.6)
        sc.obj("polygon", b, "vegetation")


def paint_hedge(sc: Scene) -> None:
    """Sometimes a straight hedge along the scene's orientation."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.4:
        return
    a, (cx, cy) = v.half_turn(rng), sc.pick(PLANTABLE, 1)[0]
    ln = v.px(rng.uniform(6, 20))
    ends = [along((cx, cy), a, -ln / 2), along((cx, cy), a, ln / 2)]
    wd = rng.uniform(0.8, 1.8)
    sc.shadow("line", shift(ends, *v.shadow(1.5)), 0.6, width=v.width(wd))
    sc.obj("line", ends, "vegetation", width=v.width(wd))


def paint_trees(sc: Scene) -> None:
    """Trees: all shadows first, then canopies (darker rim, the side toward the sun brighter)."""
    rng, v = sc.rng, sc.view
    spots = sc.pick(PLANTABLE, int(rng.choice([0, 0, 0, 1, 1, 2])))
    trees = [(x, y, v.px(rng.uniform(1.2, 2.6))) for x, y in spots]
    shapes = [blob(rng, x, y, r, irregular=0.18, n=16) for x, y, r in trees]
    sun = v.sun
    for (x, y, r), b in zip(trees, shapes):
        sc.shadow("polygon", shift(b, *v.shadow(2.0 * r / v.ppm)), 0.5)
    for (x, y, r), b in zip(trees, shapes):
        t = sc.obj("polygon", b, "tree", shade=int(UNIT * 0.8))
        sc.draw("polygon", scale(b, x, y, 0.72, -sun[0] * r * 0.1, -sun[1] * r * 0.1), "tree", t, shade=UNIT)
        sc.draw("polygon", scale(b, x, y, 0.38, -sun[0] * r * 0.25, -sun[1] * r * 0.25), "tree", t,
                shade=int(UNIT * 1.15))


def paint_bald_tree(sc: Scene) -> None:
    """Sometimes a leafless tree: a pale crown of twigs over dark branches."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.12:
        return
    (x, y), = sc.pick(PLANTABLE, 1)
    r = v.px(rng.uniform(2.5, 5.5))
    b = blob(rng, x, y, r, irregular=0.35)
    sc.shadow("polygon", shift(b, *v.shadow(2.0 * r / v.ppm)), 0.75)
    sc.obj("polygon", b, "bald-tree")
    for ang in rng.uniform(0, 2 * math.pi, 6):
        sc.shadow("line", [(x, y), (x + math.cos(ang) * r * 0.9, y + math.sin(ang) * r * 0.9)], 0.6,
                  width=v.width(0.15))
