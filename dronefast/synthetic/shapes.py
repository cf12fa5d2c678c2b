"""Shape helpers for the scene painters: polygons as lists of ``(x, y)`` pixel coordinates, angles in radians."""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Point", "XY", "rect", "blob", "shift", "scale", "hull", "ellipse_box", "along", "lerp"]

Point = Tuple[float, float]
#: Coordinates of a PIL shape: points, or a flat list such as an ellipse's bounding box.
XY = Union[Sequence[Point], Sequence[float]]


def rect(cx: float, cy: float, length: float, width: float, angle: float) -> List[Point]:
    """Corners of a rectangle centred at (cx, cy), `length` along `angle`, `width` across."""
    c, s = math.cos(angle), math.sin(angle)
    hl, hw = length / 2, width / 2
    return [(cx + c * dx - s * dy, cy + s * dx + c * dy) for dx, dy in ((-hl, -hw), (hl, -hw), (hl, hw), (-hl, hw))]


def blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: Optional[float] = None,
         irregular: float = 0.25, n: int = 14, angle: float = 0.0) -> List[Point]:
    """A smooth irregular closed polygon around (cx, cy) with radii about `rx` x `ry`."""
    ry = rx if ry is None else ry
    t = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 2 * math.pi / n)
    r = rng.uniform(-1, 1, n)
    r = 1 + irregular * (r + np.roll(r, 1) + np.roll(r, -1)) / 3
    px, py = rx * r * np.cos(t), ry * r * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return [(float(cx + c * x - s * y), float(cy + s * x + c * y)) for x, y in zip(px, py)]


def shift(pts: Iterable[Point], dx: float, dy: float) -> List[Point]:
    """`pts` moved by (dx, dy)."""
    return [(x + dx, y + dy) for x, y in pts]


def scale(pts: Iterable[Point], cx: float, cy: float, f: float, dx: float = 0.0, dy: float = 0.0) -> List[Point]:
    """`pts` scaled by `f` about (cx, cy), then moved by (dx, dy)."""
    return [(cx + (x - cx) * f + dx, cy + (y - cy) * f + dy) for x, y in pts]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def hull(pts: Iterable[Point]) -> List[Point]:
    """Convex hull (monotone chain) of a few points."""
    pts = sorted(set(pts))
    if len(pts) < 3:
        return pts
    lower: List[Point] = []
    upper: List[Point] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def ellipse_box(cx: float, cy: float, rx: float, ry: float) -> List[float]:
    """PIL's bounding box ``[x0, y0, x1, y1]`` of the ellipse centred at (cx, cy) with radii rx, ry."""
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def along(p: Point, angle: float, t: float, across: float = 0.0) -> Point:
    """The point `t` along direction `angle` from `p`, and `across` to its left (screen coordinates)."""
    c, s = math.cos(angle), math.sin(angle)
    return (p[0] + c * t - s * across, p[1] + s * t + c * across)


def lerp(p: Sequence[float], q: Sequence[float], f: float) -> Point:
    """The point a fraction `f` of the way from `p` to `q`."""
    return (p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f)
