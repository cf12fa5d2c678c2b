"""People and dog painters: standing figures in perspective (feet on the ground, shoulders and head leaning away
from the frame centre), groups of them, and the odd dog beside a person."""
from __future__ import annotations

import math
from typing import List, Optional

import numpy as np

from .canvas import UNIT, Scene
from .ground import WALKABLE
from .looks import HAIR
from .shapes import Point, along, blob, ellipse_box, hull, rect, shift

__all__ = ["draw_person", "paint_people", "paint_dog"]


def _ring(p: Point, angle: float, along_m: float, across_m: float, ppm: float, n: int = 8) -> List[Point]:
    """`n` points on an ellipse around `p` (radii in metres, `along_m` in direction `angle`)."""
    return [along(p, angle, math.cos(t) * along_m * ppm, math.sin(t) * across_m * ppm)
            for t in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def draw_person(sc: Scene, p: Point, facing: Optional[float] = None, height: Optional[float] = None) -> None:
    """One person standing (or walking) at ground point `p`: shadow, body from feet to shoulders, head."""
    rng, v = sc.rng, sc.view
    facing = float(rng.uniform(0, 2 * math.pi)) if facing is None else facing
    height = float(rng.uniform(1.55, 1.9)) if height is None else height
    sc.shadow("line", [p, shift([p], *v.shadow(height))[0]], 0.5, width=v.width(0.4))
    feet = _ring(p, facing, rng.uniform(0.15, 0.5), rng.uniform(0.12, 0.22), v.ppm)
    shoulders = [v.project(q, height * 0.8) for q in _ring(p, facing, rng.uniform(0.14, 0.2),
                                                              rng.uniform(0.23, 0.3), v.ppm)]
    sc.obj("polygon", hull(feet + shoulders), "person")
    head = v.project(p, height - 0.1)
    r = max(0.6, v.px(0.11))
    sc.obj("ellipse", ellipse_box(head[0], head[1], r, r), "person", colour=HAIR[int(rng.integers(len(HAIR)))])


def paint_people(sc: Scene) -> List[Point]:
    """Most scenes: one to four groups of people standing close together; returns where they stand."""
    rng, v = sc.rng, sc.view
    people: List[Point] = []
    if rng.random() >= 0.9:
        return people
    for x, y in sc.pick(WALKABLE, int(rng.choice([1, 1, 2, 2, 3, 4])), margin=v.px(0.3), clear=v.px(0.7)):
        people.append((x, y))
        for _ in range(int(rng.choice([0, 1, 1, 2, 3, 4, 6, 8]))):
            people.append((x + rng.normal(0, v.px(0.7)), y + rng.normal(0, v.px(0.7))))
    for p in people:
        draw_person(sc, p)
    return people


def paint_dog(sc: Scene, people: List[Point]) -> None:
    """A dog near the first person: often in low close-ups (where the real photos show dogs), rarely else."""
    rng, v = sc.rng, sc.view
    if not people or rng.random() >= (0.5 if v.width_m < 17 else 0.05):
        return
    x, y = people[0]
    x, y, a = x + rng.normal(0, v.px(1.0)), y + rng.normal(0, v.px(1.0)), rng.uniform(0, 2 * math.pi)
    ln = rng.uniform(0.8, 1.25)
    sc.shadow("polygon", rect(*shift([(x, y)], *v.shadow(0.3))[0], v.px(ln), v.px(0.3), a), 0.55)
    body = blob(rng, x, y, v.px(ln * 0.4), v.px(0.15), 0.1, 10, a)
    top = [v.project(q, 0.5) for q in body]
    d = sc.obj("polygon", hull(body + top), "dog")
    head = v.project(along((x, y), a, v.px(ln * 0.45)), 0.55)
    sc.draw("ellipse", ellipse_box(head[0], head[1], v.px(0.12), v.px(0.12)), "dog", d, shade=int(UNIT * 0.9))
