"""The drawing surface of a synthetic scene: three aligned canvases (class ids, object index, shade) and the
per-object appearance the renderer needs (colour, class, pattern angle and period)."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..data.classes import standard_classes
from .looks import LOOKS
from .shapes import XY, Point
from .shot import View

__all__ = ["Scene", "UNIT", "MAX_OBJECTS"]

#: Shade-canvas value meaning "unchanged brightness"; lower = shadow, higher = highlight.
UNIT = 160
#: Objects one scene can register (the object canvas is 8-bit; index 0 is the ground).
MAX_OBJECTS = 255
_RING = [(np.cos(t), np.sin(t)) for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)]


class Scene:
    """Three aligned "L" canvases drawn together: class ids, object (instance) index, brightness (shade).

    Args:
        view: the camera (frame size, metres per pixel, perspective, sun).
        rng: the scene's random generator; every painter draws from it in turn.
    """

    def __init__(self, view: View, rng: np.random.Generator):
        self.view, self.rng = view, rng
        self.h, self.w = view.h, view.w
        self.names = standard_classes().names
        self.C = {name: i for i, name in enumerate(self.names)}
        self.ids_img = Image.new("L", (self.w, self.h), 0)
        self.inst_img = Image.new("L", (self.w, self.h), 0)
        self.shade_img = Image.new("L", (self.w, self.h), UNIT)
        self.d_ids, self.d_inst = ImageDraw.Draw(self.ids_img), ImageDraw.Draw(self.inst_img)
        self.d_shade = ImageDraw.Draw(self.shade_img)
        # per object: colour, class, pattern angle and period in pixels (0 = no pattern)
        self.colour = np.zeros((MAX_OBJECTS + 1, 3), np.float32)
        self.cls = np.zeros(MAX_OBJECTS + 1, np.int64)
        self.angle = np.zeros(MAX_OBJECTS + 1, np.float32)
        self.period = np.zeros(MAX_OBJECTS + 1, np.float32)
        self.n_obj = 0

    def _jitter(self, cls: str, colour: Optional[Sequence[float]]) -> np.ndarray:
        rng = self.rng
        if colour is None:
            variants = LOOKS[cls].colours
            colour = variants[int(rng.integers(len(variants)))]
        return np.asarray(colour, np.float32) * rng.normal(1.0, 0.06) * rng.normal(1.0, 0.025, 3)

    def new(self, cls: str, colour: Optional[Sequence[float]] = None, angle: float = 0.0,
            period: float = 0.0) -> int:
        """Register an object of class `cls` (own jittered colour) and return its index (1..255)."""
        c = self._jitter(cls, colour)
        if self.n_obj >= MAX_OBJECTS:  # out of indices: share one of the same class
            same = np.flatnonzero(self.cls[1:] == self.C[cls])
            return int(same[-1] + 1) if same.size else MAX_OBJECTS
        self.n_obj += 1
        i = self.n_obj
        self.colour[i], self.cls[i], self.angle[i], self.period[i] = c, self.C[cls], angle, period
        return i

    def ground(self, cls: str) -> None:
        """Fill the whole canvas with class `cls` as object 0."""
        self.colour[0] = self._jitter(cls, None)
        self.cls[0] = self.C[cls]
        self.d_ids.rectangle([0, 0, self.w, self.h], fill=self.C[cls])

    def draw(self, kind: str, xy: XY, cls: str, obj: int, shade: Optional[int] = UNIT, outline: bool = False,
             **kw: Any) -> None:
        """Draw one PIL shape (`kind` = polygon/ellipse/line/rectangle) on all three canvases."""
        key = "outline" if outline else "fill"
        getattr(self.d_ids, kind)(xy, **{key: self.C[cls]}, **kw)
        getattr(self.d_inst, kind)(xy, **{key: obj}, **kw)
        if shade is not None:
            getattr(self.d_shade, kind)(xy, **{key: int(shade)}, **kw)

    def obj(self, kind: str, xy: XY, cls: str, colour: Optional[Sequence[float]] = None,
            shade: Optional[int] = UNIT, angle: float = 0.0, period: float = 0.0, **kw: Any) -> int:
        """A new object drawn as one shape; returns its index."""
        i = self.new(cls, colour, angle, period)
        self.draw(kind, xy, cls, i, shade, **kw)
        return i

    def shadow(self, kind: str, xy: XY, factor: float, outline: bool = False, **kw: Any) -> None:
        """Darken (factor < 1) or brighten (> 1) the appearance only; the class beneath is unchanged."""
        v = int(min(255, max(0, round(UNIT * factor))))
        getattr(self.d_shade, kind)(xy, **{"outline" if outline else "fill": v}, **kw)

    def pick(self, allowed: Sequence[str], k: int, margin: float = 0.0, clear: float = 0.0) -> List[Point]:
        """`k` random points (x, y) on pixels whose class is in `allowed`, at least `margin` px inside.

        With `clear` > 0 each point is tried a few times for one whose surroundings (eight points `clear` px
        away) are of `allowed` classes too, so what is drawn there does not cut other objects into slivers.
        """
        lut = np.zeros(256, bool)
        lut[[self.C[a] for a in allowed]] = True
        ok_px = lut[np.asarray(self.ids_img)]
        m = ok_px.copy()
        mg = int(max(0, min(margin, min(self.h, self.w) // 2 - 1)))
        if mg > 0:
            m[:mg], m[-mg:], m[:, :mg], m[:, -mg:] = False, False, False, False
        idx = np.flatnonzero(m)
        if idx.size == 0:
            xs, ys = self.rng.uniform(mg, self.w - mg, k), self.rng.uniform(mg, self.h - mg, k)
            return [(float(x), float(y)) for x, y in zip(xs, ys)]
        tries = 6 if clear > 0 else 1
        ys, xs = np.divmod(self.rng.choice(idx, size=(k, tries)), self.w)
        out = []
        for row_x, row_y in zip(xs, ys):
            ok = [j for j in range(tries) if self._clear(ok_px, row_x[j], row_y[j], clear)] if tries > 1 else [0]
            j = ok[0] if ok else 0
            out.append((float(row_x[j]), float(row_y[j])))
        return out

    def _clear(self, allowed: np.ndarray, x: int, y: int, clear: float) -> bool:
        """True if the eight points `clear` px around (x, y) are allowed or outside the frame."""
        for dx, dy in _RING:
            xi, yi = int(x + dx * clear), int(y + dy * clear)
            if 0 <= xi < self.w and 0 <= yi < self.h and not allowed[yi, xi]:
                return False
        return True

    def class_at(self, x: float, y: float) -> Optional[str]:
        """Name of the class drawn at (x, y) so far, None outside the canvas."""
        xi, yi = int(x), int(y)
        if not (0 <= xi < self.w and 0 <= yi < self.h):
            return None
        return self.names[self.ids_img.getpixel((xi, yi))]

    def inside(self, p: Point, margin: float = 0.0) -> bool:
        """True if `p` lies in the frame, at least `margin` pixels from its border."""
        return margin <= p[0] < self.w - margin and margin <= p[1] < self.h - margin
