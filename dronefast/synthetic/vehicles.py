"""Vehicle painters: cars, vans and the odd truck in perspective (on roads, in parking rows, on open ground), and
bicycles (alone, ridden, or in racks)."""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .canvas import Scene
from .ground import WALKABLE, Plaza, Road
from .people import draw_person
from .shapes import Point, along, hull, rect, shift

__all__ = ["draw_car", "paint_cars", "draw_bicycle", "paint_bicycles"]

#: Vehicle kinds: share, length, width and height ranges in metres.
_KINDS = (("car", 0.86, (3.4, 4.5), (1.7, 1.95), (1.4, 1.6)),
          ("van", 0.12, (4.8, 6.0), (1.9, 2.1), (1.9, 2.5)),
          ("truck", 0.02, (7.0, 11.0), (2.4, 2.55), (2.8, 3.4)))


def draw_car(sc: Scene, x: float, y: float, a: float) -> None:
    """A vehicle at ground point (x, y) heading `a`: shadow, body and cabin in perspective, dark windows."""
    rng, v = sc.rng, sc.view
    kind = _KINDS[int(rng.choice(len(_KINDS), p=[k[1] for k in _KINDS]))]
    ln, wd, ht = (v.px(rng.uniform(*kind[2])), v.px(rng.uniform(*kind[3])), float(rng.uniform(*kind[4])))
    cab = 0.55 if kind[0] == "car" else 0.9
    base = rect(x, y, ln, wd, a)
    body = [v.project(p, ht * 0.6) for p in base]
    cabin_base = rect(*along((x, y), a, -0.05 * ln), ln * cab, wd * 0.86, a)
    cabin = [v.project(p, ht) for p in cabin_base]
    sc.shadow("polygon", hull(base + shift(cabin_base, *v.shadow(ht))), 0.5)
    sc.obj("polygon", hull(base + body + cabin), "car", angle=a)
    front = [v.project(p, ht * 0.8) for p in rect(*along((x, y), a, ln * (cab / 2 + 0.02)), ln * 0.14, wd * 0.8, a)]
    sc.shadow("polygon", front, 0.35)
    if kind[0] == "car":
        back = [v.project(p, ht * 0.8) for p in rect(*along((x, y), a, -ln * 0.34), ln * 0.1, wd * 0.75, a)]
        sc.shadow("polygon", back, 0.45)


def _on_road(sc: Scene, roads: Sequence[Road]) -> Optional[Tuple[float, float, float]]:
    """A spot in a lane of one of the `roads` (x, y, heading), or None when none of the tries hits paving."""
    rng, v = sc.rng, sc.view
    road = roads[int(rng.integers(len(roads)))]
    for _try in range(20):
        t = rng.uniform(-1, 1) * (sc.w + sc.h) / 2
        lane = (1 if rng.random() < 0.5 else -1) * road.width / 4
        x, y = along((road.cx, road.cy), road.angle, t, lane)
        ends = [along((x, y), road.angle, v.px(u)) for u in (-3.0, 0.0, 3.0)]
        if sc.inside((x, y), v.px(2.0)) and all(sc.class_at(*q) in ("paved-area", None) for q in ends):
            return x, y, road.angle + (math.pi if lane < 0 else 0.0)
    return None


def paint_cars(sc: Scene, roads: Sequence[Road], plaza: Optional[Plaza]) -> None:
    """In many scenes a car or two (on a road lane when there is one), now and then a parking row on the plaza."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.36:
        return
    for _ in range(int(rng.choice([1, 1, 1, 1, 1, 2]))):
        spot = _on_road(sc, roads) if roads and rng.random() < 0.75 else None
        if spot is None:
            (x, y), = sc.pick(WALKABLE, 1, margin=v.px(2.0), clear=v.px(2.5))
            spot = (x, y, v.half_turn(rng) + rng.normal(0, 0.1))
        draw_car(sc, *spot)
    if plaza is not None and rng.random() < 0.15:
        k, gap = int(rng.integers(2, 6)), v.px(rng.uniform(2.4, 2.8))
        for j in range(k):
            x, y = along((plaza.cx, plaza.cy), plaza.angle, (j - (k - 1) / 2) * gap)
            if sc.class_at(x, y) == "paved-area":  # not on a building or pool built over the plaza
                draw_car(sc, x, y, plaza.angle + math.pi / 2 + rng.normal(0, 0.05))


def _wheel(sc: Scene, p: Point, a: float, u: float, r: float, n: int = 12) -> List[Point]:
    """A vertical wheel of radius `r` m whose hub is `u` m along heading `a` from `p`, in perspective."""
    v = sc.view
    return [v.project(along(p, a, v.px(u + r * math.cos(t))), r + r * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, n + 1)]


def draw_bicycle(sc: Scene, p: Point, a: float, obj: Optional[int] = None, frame: bool = True) -> int:
    """An upright bicycle centred at ground point `p`, heading `a`, in perspective; returns its object index.

    Without `frame` only the wheels are drawn (a rider hides the rest).
    """
    rng, v = sc.rng, sc.view
    b = sc.new("bicycle") if obj is None else obj
    lw = v.width(0.05)
    r = float(rng.uniform(0.3, 0.36))
    for u in (-0.52, 0.52):
        sc.draw("line", _wheel(sc, p, a, u, r), "bicycle", b, width=lw)
    if not frame:
        return b

    def at(u: float, z: float, across: float = 0.0) -> Point:
        """The bicycle's point `u` m along it, `across` m to its side, `z` m up, in perspective."""
        return v.project(along(p, a, v.px(u), v.px(across)), z)

    tubes = [at(-0.52, r), at(0.0, 0.3), at(-0.2, 0.9), at(-0.52, r), at(-0.2, 0.9), at(0.4, 0.9), at(0.0, 0.3),
             at(0.4, 0.9), at(0.52, r)]
    sc.draw("line", tubes, "bicycle", b, width=lw)
    sc.draw("line", [at(0.42, 1.0, -0.25), at(0.42, 1.0, 0.25)], "bicycle", b, width=lw)
    return b


def _free(sc: Scene, p: Point, a: float, allowed: Sequence[str]) -> bool:
    """True if a bicycle at `p` heading `a` would stand on `allowed` ground only (centre and wheel ends)."""
    v = sc.view
    return all(sc.class_at(*along(p, a, v.px(u))) in allowed for u in (-0.9, 0.0, 0.9))


def paint_bicycles(sc: Scene) -> None:
    """Sometimes bicycles: parked alone, ridden (the rider hides the middle), or side by side in a rack."""
    rng, v = sc.rng, sc.view
    if rng.random() >= 0.4:
        return
    ground = ("paved-area", "gravel", "grass")
    for p in sc.pick(ground, int(rng.choice([1, 1, 2, 3])), margin=v.px(1.0), clear=v.px(1.0)):
        a, kind = float(rng.uniform(0, 2 * math.pi)), rng.random()
        if kind < 0.35:  # a rack: parallel bicycles about half a metre apart, one object
            b, a = None, v.half_turn(rng)
            for j in range(int(rng.integers(4, 11))):
                q = along(p, a, 0.0, v.px(0.5 * j))
                if _free(sc, q, a, ground + ("bicycle",)):
                    b = draw_bicycle(sc, q, a, b)
            continue
        ridden = kind < 0.7
        draw_bicycle(sc, p, a, frame=not ridden)
        if ridden:
            draw_person(sc, p, facing=a)
