"""Fence painter: fences as bands from the ground line up to their top edge in perspective, with poles."""
from __future__ import annotations

import math
from typing import List

from .canvas import Scene
from .ground import WALKABLE
from .shapes import Point, hull, rect, shift

__all__ = ["paint_fences", "fence_line", "paint_posts"]


def fence_line(sc: Scene) -> List[Point]:
    """A random fence course: a start point and one to three straight legs at right angles."""
    rng, v = sc.rng, sc.view
    a = v.half_turn(rng)
    pts = [sc.pick(WALKABLE + ("vegetation",), 1)[0]]
    for k in range(int(rng.integers(1, 4))):
        ln = v.px(rng.uniform(5, 16)) * (1 if rng.random() < 0.5 else -1)
        aa = a + (math.pi / 2 if k % 2 else 0.0)
        pts.append((pts[-1][0] + math.cos(aa) * ln, pts[-1][1] + math.sin(aa) * ln))
    return pts


def _poles(sc: Scene, pts: List[Point], height: float) -> None:
    """Square poles every few metres along `pts` (and at its end), drawn as prisms in perspective."""
    rng, v = sc.rng, sc.view
    side, spacing = v.px(rng.uniform(0.03, 0.1)), v.px(rng.uniform(2.0, 3.2))
    fp = sc.new("fence-pole")
    spots = []
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        for k in range(int(seg // spacing) + 1):
            f = k * spacing / max(seg, 1e-6)
            spots.append((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, math.atan2(y1 - y0, x1 - x0)))
    spots.append((pts[-1][0], pts[-1][1], spots[-1][2] if spots else 0.0))
    for x, y, a in spots:
        base = rect(x, y, side, side, a)
        top = [v.project(p, height) for p in base]
        sc.shadow("line", [(x, y), shift([(x, y)], *v.shadow(height))[0]], 0.6, width=max(1, int(side)))
        sc.draw("polygon", hull(base + top), "fence-pole", fp)


def paint_fences(sc: Scene) -> None:
    """Usually one or two fences: shadow, the band of the fence seen in perspective, then its poles."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.7:
        return
    for _ in range(int(rng.integers(1, 3))):
        pts = fence_line(sc)
        height = float(rng.uniform(0.4, 1.8))
        f = sc.new("fence")
        sc.shadow("line", shift(pts, *v.shadow(height * 0.7)), 0.7, width=v.width(height * 0.5))
        sc.draw("line", pts, "fence", f, width=v.width(0.06))
        for p, q in zip(pts[:-1], pts[1:]):
            sc.draw("polygon", [p, q, v.project(q, height), v.project(p, height)], "fence", f)
        _poles(sc, pts, height + float(rng.uniform(0.0, 0.6)))


def paint_posts(sc: Scene) -> None:
    """Sometimes a free-standing post or two (gate posts, sign and lamp posts; class fence-pole), taller."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.45:
        return
    for x, y in sc.pick(WALKABLE, int(rng.choice([1, 1, 2, 3])), margin=v.px(0.3)):
        side, height = v.px(rng.uniform(0.1, 0.2)), float(rng.uniform(2.0, 4.5))
        base = rect(x, y, side, side, v.theta)
        sc.shadow("line", [(x, y), shift([(x, y)], *v.shadow(height))[0]], 0.6, width=max(1, int(side)))
        sc.obj("polygon", hull(base + [v.project(p, height) for p in base]), "fence-pole")
