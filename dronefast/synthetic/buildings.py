"""Building painter: shadow, walls seen in perspective (those facing the camera), roof, windows and a door."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

from .canvas import UNIT, Scene
from .shapes import Point, hull, lerp, rect, shift

__all__ = ["paint_buildings", "visible_faces", "face_quad"]

STOREY_M = 2.8


def visible_faces(sc: Scene, base: List[Point]) -> List[Tuple[Point, Point]]:
    """Ground edges (p, q) of the footprint `base` whose walls face the camera (longest first)."""
    cx = sum(p[0] for p in base) / len(base)
    cy = sum(p[1] for p in base) / len(base)
    faces = []
    for j in range(len(base)):
        p, q = base[j], base[(j + 1) % len(base)]
        mid = lerp(p, q, 0.5)
        n = (mid[0] - cx, mid[1] - cy)  # outward for a convex footprint
        if (sc.w / 2 - mid[0]) * n[0] + (sc.h / 2 - mid[1]) * n[1] > 0:
            faces.append((p, q))
    return sorted(faces, key=lambda e: -math.hypot(e[1][0] - e[0][0], e[1][1] - e[0][1]))


def face_quad(sc: Scene, p: Point, q: Point, f0: float, f1: float, z0: float, z1: float) -> List[Point]:
    """The part of the wall above ground edge (p, q) from fraction f0 to f1 along it, z0 to z1 metres up."""
    v = sc.view
    a, b = lerp(p, q, f0), lerp(p, q, f1)
    return [v.project(a, z0), v.project(b, z0), v.project(b, z1), v.project(a, z1)]


def _openings(sc: Scene, base: List[Point], height: float) -> None:
    """Windows on every storey of the visible walls, a door on the longest one."""
    rng, v = sc.rng, sc.view
    door = True
    for p, q in visible_faces(sc, base):
        length = math.hypot(q[0] - p[0], q[1] - p[1]) / v.ppm
        n_win = int(length // 3.0)
        for k in range(n_win):
            f = (k + 0.5) / n_win
            if door and k == n_win // 2:
                half = 0.5 / length
                sc.obj("polygon", face_quad(sc, p, q, f - half, f + half, 0.0, 2.1), "door")
                door = False
                continue
            half = rng.uniform(0.4, 0.65) / length
            for z in range(int(height // STOREY_M)):
                sc.obj("polygon", face_quad(sc, p, q, f - half, f + half, z * STOREY_M + 0.9, z * STOREY_M + 2.2),
                       "window", shade=int(UNIT * rng.uniform(0.9, 1.4)))


def _roof(sc: Scene, roof: List[Point], a: float) -> None:
    """The roof: flat, or a gable (tile rows, the half away from the sun darker, the ridge brighter)."""
    rng, v = sc.rng, sc.view
    flat = rng.random() < 0.3
    sc.obj("polygon", roof, "roof", angle=a, period=0.0 if flat else v.px(rng.uniform(0.28, 0.45)))
    if not flat:
        c0, c1, c2, c3 = roof
        m03, m12 = lerp(c0, c3, 0.5), lerp(c1, c2, 0.5)
        nrm = (-math.sin(a), math.cos(a))
        dark_half = [c2, c3, m03, m12] if nrm[0] * v.sun[0] + nrm[1] * v.sun[1] > 0 else [c0, c1, m12, m03]
        sc.shadow("polygon", dark_half, 0.8)
        sc.shadow("line", [m03, m12], 1.12, width=v.width(0.12))
    if rng.random() < 0.3:  # skylight
        k = rng.uniform(-0.25, 0.25)
        centre = lerp(roof[0], roof[2], 0.5)
        sc.obj("polygon", rect(centre[0] + math.cos(a) * v.px(3) * k, centre[1] + math.sin(a) * v.px(3) * k,
                               v.px(rng.uniform(0.9, 1.4)), v.px(rng.uniform(0.7, 1.1)), a), "window",
               shade=int(UNIT * 1.2))


def _place(sc: Scene, placed: List[Tuple[float, float, float]], radius: float) -> Optional[Point]:
    """A centre for a building of `radius` px that keeps clear of those already `placed` (None: no room)."""
    rng = sc.rng
    for _try in range(10):
        cx, cy = rng.uniform(-0.15, 1.15) * sc.w, rng.uniform(-0.15, 1.15) * sc.h
        if all(math.hypot(cx - x, cy - y) > (r + radius) * 0.9 for x, y, r in placed):
            placed.append((cx, cy, radius))
            return cx, cy
    return None


def paint_buildings(sc: Scene) -> None:
    """None to two buildings: shadow, walls (hull of footprint and roof), roof, openings."""
    rng, v = sc.rng, sc.view
    placed: List[Tuple[float, float, float]] = []
    for _ in range(int(rng.choice([0, 1, 2], p=[0.5, 0.3, 0.2]))):
        ln, wd, a = v.px(rng.uniform(6, 13)), v.px(rng.uniform(5, 9)), v.half_turn(rng) + rng.normal(0, 0.04)
        spot = _place(sc, placed, math.hypot(ln, wd) / 2)
        if spot is None:
            continue
        height = min(float(rng.uniform(3.0, 9.0)), 0.45 * v.altitude)
        base = rect(spot[0], spot[1], ln, wd, a)
        roof = [v.project(p, height) for p in base]
        sc.shadow("polygon", hull(base + shift(base, *v.shadow(height))), 0.55)
        sc.obj("polygon", hull(base + roof), "wall")
        _openings(sc, base, height)
        _roof(sc, roof, a)
