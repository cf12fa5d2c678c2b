"""The camera of a synthetic scene: how many metres the frame covers, the flight height, perspective and sun.

Scale is relative to the frame, never to a pixel count: a scene covers a ground width drawn per scene (a
log-normal around :data:`FRAME_WIDTH_M`, with some low close-ups like the real 5 to 30 m flights), so every
object has the same share of the frame at 96x64 and at 1920x1280. Things above the ground are drawn in
perspective from a camera right above the frame centre: a point ``height`` metres up at ground point ``p``
appears at ``c + (p - c) * A / (A - height)`` (``A`` = flight height, ``c`` = frame centre), which is why walls,
people and poles lean away from the centre like in real nadir photos.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .shapes import Point

__all__ = ["View", "draw_view", "FRAME_WIDTH_M", "ALTITUDE_PER_WIDTH", "CLOSE_UP"]

#: Median ground width (metres) of a frame; the real photos' cars (4.5 m) span a median 16% of the width.
FRAME_WIDTH_M = 29.0
#: Flight height per metre of frame width (a lens with a horizontal field of view of about 67 degrees).
ALTITUDE_PER_WIDTH = 0.75
#: Share of scenes that are low close-ups (8 to 16 m of ground across the frame).
CLOSE_UP = 0.18


@dataclass(frozen=True)
class View:
    """Camera and light of one scene, in pixels of the frame being drawn.

    Attributes:
        w, h: frame size in pixels.
        ppm: pixels per metre on the ground.
        altitude: flight height in metres.
        theta: dominant orientation (radians) of the man-made things in the scene.
        sun: unit vector (x, y) of the direction shadows fall.
        sun_len: shadow length per metre of height.
    """
    w: int
    h: int
    ppm: float
    altitude: float
    theta: float
    sun: Tuple[float, float]
    sun_len: float

    @property
    def width_m(self) -> float:
        """Ground width of the frame in metres."""
        return self.w / self.ppm

    def px(self, metres: float) -> float:
        """`metres` on the ground in pixels."""
        return metres * self.ppm

    def width(self, metres: float) -> int:
        """A PIL line width for `metres`: at least one pixel."""
        return max(1, int(round(metres * self.ppm)))

    def project(self, p: Point, height: float) -> Point:
        """Where the point `height` metres above ground point `p` appears in the frame."""
        k = self.altitude / (self.altitude - min(height, 0.6 * self.altitude))
        cx, cy = self.w / 2, self.h / 2
        return (cx + (p[0] - cx) * k, cy + (p[1] - cy) * k)

    def shadow(self, height: float) -> Point:
        """Offset in pixels of the shadow cast by a point `height` metres above the ground."""
        d = self.px(height * self.sun_len)
        return (self.sun[0] * d, self.sun[1] * d)

    def half_turn(self, rng: np.random.Generator) -> float:
        """The scene's dominant orientation, or at right angles to it (even odds)."""
        return self.theta + (math.pi / 2 if rng.random() < 0.5 else 0.0)


def draw_view(rng: np.random.Generator, h: int, w: int) -> View:
    """A random camera and sun for an ``h`` x ``w`` frame."""
    ref = math.sqrt(h * w * 1.5)  # the width of a 3:2 frame of the same area: any aspect gets the same scale
    if rng.random() < CLOSE_UP:
        width_m = float(rng.uniform(8.0, 16.0))
    else:
        width_m = float(np.clip(FRAME_WIDTH_M * math.exp(rng.normal(0.0, 0.3)), 16.0, 60.0))
    theta = float(rng.uniform(0, math.pi))
    sun_a = float(rng.uniform(0, 2 * math.pi))
    return View(w=w, h=h, ppm=ref / width_m, altitude=width_m * ALTITUDE_PER_WIDTH, theta=theta,
                sun=(math.cos(sun_a), math.sin(sun_a)), sun_len=float(rng.uniform(0.3, 1.1)))
