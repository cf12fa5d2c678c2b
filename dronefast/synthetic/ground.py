"""Ground painters: the ground cover and its patches, a tiled plaza, narrow paths and roads (sizes in metres)."""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional

from .canvas import Scene
from .shapes import along, blob, rect

__all__ = ["GROUND", "WALKABLE", "PLANTABLE", "Road", "Plaza", "paint_ground", "paint_plaza", "paint_paths",
           "paint_roads"]

GROUND = ("paved-area", "grass", "gravel", "dirt")
#: Where people, cars and obstacles may stand.
WALKABLE = ("paved-area", "grass", "gravel", "dirt")
#: Where bushes and trees may grow.
PLANTABLE = ("grass", "dirt", "vegetation", "gravel")


class Road(NamedTuple):
    """A straight road across the frame: centre point, width (px) and direction (radians)."""
    cx: float
    cy: float
    width: float
    angle: float


class Plaza(NamedTuple):
    """A tiled paved rectangle: centre, length and width (px) and direction (radians)."""
    cx: float
    cy: float
    length: float
    width: float
    angle: float


def paint_ground(sc: Scene) -> None:
    """Cover the frame with one ground class, then lay a few irregular patches of others."""
    rng, v = sc.rng, sc.view
    sc.ground(str(rng.choice(GROUND, p=[0.34, 0.52, 0.1, 0.04])))
    for _ in range(int(rng.integers(1, 5))):
        cls = str(rng.choice(["grass", "dirt", "gravel", "paved-area", "vegetation"], p=[.36, .08, .2, .2, .16]))
        r = v.px(rng.uniform(2.5, 9.0))
        sc.obj("polygon", blob(rng, rng.uniform(0, sc.w), rng.uniform(0, sc.h), r, r * rng.uniform(0.6, 1.0), 0.3,
                               angle=rng.uniform(0, math.pi)), cls)


def paint_plaza(sc: Scene) -> Optional[Plaza]:
    """Sometimes a tiled paved area (a square, a parking area); returns it for parking rows."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.35:
        return None
    a = v.half_turn(rng)
    plaza = Plaza(rng.uniform(0.15, 0.85) * sc.w, rng.uniform(0.15, 0.85) * sc.h, v.px(rng.uniform(8, 18)),
                  v.px(rng.uniform(6, 13)), a)
    sc.obj("polygon", rect(*plaza), "paved-area", angle=a, period=v.px(rng.uniform(0.5, 0.9)))
    return plaza


def paint_paths(sc: Scene) -> None:
    """Sometimes one or two narrow curving paths of gravel, dirt or paving."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.5:
        return
    for _ in range(int(rng.integers(1, 3))):
        cls = str(rng.choice(["gravel", "dirt", "paved-area"], p=[0.5, 0.2, 0.3]))
        pts = [(rng.uniform(-0.1, 1.1) * sc.w, rng.uniform(-0.1, 1.1) * sc.h) for _ in range(3)]
        sc.obj("line", pts, cls, width=v.width(rng.uniform(1.0, 2.5)), joint="curve")


def _markings(sc: Scene, road: Road) -> None:
    """Kerb shadows on both sides and, sometimes, a dashed centre line."""
    rng, v = sc.rng, sc.view
    reach = sc.w + sc.h
    p0, p1 = along((road.cx, road.cy), road.angle, -reach), along((road.cx, road.cy), road.angle, reach)
    for side in (-1, 1):
        o = side * road.width / 2
        sc.shadow("line", [along(p0, road.angle, 0, o), along(p1, road.angle, 0, o)], 0.8, width=v.width(0.12))
    if rng.random() < 0.5:
        dash, gap = v.px(3.0), v.px(rng.uniform(3.0, 6.0))
        t = -reach
        while t < reach:
            q0, q1 = along((road.cx, road.cy), road.angle, t), along((road.cx, road.cy), road.angle, t + dash)
            sc.shadow("line", [q0, q1], 1.45, width=v.width(0.14))
            t += dash + gap


def paint_roads(sc: Scene) -> List[Road]:
    """Usually one or two straight roads (the second at right angles); returns them for the cars."""
    rng, v = sc.rng, sc.view
    roads: List[Road] = []
    if rng.random() >= 0.5:
        return roads
    for k in range(int(rng.choice([1, 1, 2]))):
        a = v.theta + (math.pi / 2 if k else 0.0) + rng.normal(0, 0.05)
        road = Road(rng.uniform(0.1, 0.9) * sc.w, rng.uniform(0.1, 0.9) * sc.h, v.px(rng.uniform(4.5, 7.5)), a)
        reach = sc.w + sc.h
        ends = [along((road.cx, road.cy), a, -reach), along((road.cx, road.cy), a, reach)]
        sc.obj("line", ends, "paved-area", width=max(2, int(round(road.width))))
        _markings(sc, road)
        roads.append(road)
    return roads
