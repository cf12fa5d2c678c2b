"""From canvases to a photo: per-object colour, per-class texture (sized in metres), roof and paving patterns,
shading, a global light change and mild sensor noise."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .canvas import UNIT, Scene
from .looks import LOOKS

__all__ = ["render", "smooth_noise"]


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float, channels: int = 1) -> np.ndarray:
    """Gaussian noise on a coarse grid (one value per `cell` px), bilinearly upsampled to (h, w[, channels])."""
    gh, gw = max(2, int(math.ceil(h / cell)) + 1), max(2, int(math.ceil(w / cell)) + 1)
    out = [np.asarray(Image.fromarray(rng.standard_normal((gh, gw), dtype=np.float32)).resize(
        (w, h), Image.Resampling.BILINEAR)) for _ in range(channels)]
    return out[0] if channels == 1 else np.stack(out, axis=-1)


def _patterns(sc: Scene, obj: np.ndarray, t: np.ndarray) -> None:
    """Darken roof tile rows and paving joints in each patterned object's own orientation (in place on `t`)."""
    flat = obj.ravel()
    pat = np.flatnonzero(sc.period[flat] > 0)
    if not pat.size:
        return
    yy, xx = np.divmod(pat, sc.w)
    o = flat[pat]
    ang, per = sc.angle[o], np.maximum(3.0, sc.period[o])
    u = (xx * np.cos(ang) + yy * np.sin(ang)) / per
    v = (-xx * np.sin(ang) + yy * np.cos(ang)) / per
    is_roof = sc.cls[o] == sc.C["roof"]
    line_u = (u % 1) < np.maximum(0.2, 1.0 / per)
    line_v = (v % 1) < np.maximum(0.2, 1.0 / per)
    t.ravel()[pat] -= np.where(is_roof, 0.12 * ((v % 1) < 0.3), 0.08 * (line_u | line_v))


def _light(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Global light (h, w) float32: brightness, a linear gradient and a faint vignette."""
    yy, xx = np.ogrid[0:h, 0:w]
    ga = rng.uniform(0, 2 * math.pi)
    nx, ny = (xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)
    light = rng.uniform(0.82, 1.12) * (1 + rng.uniform(0, 0.12) * (nx * math.cos(ga) + ny * math.sin(ga)))
    return (light * (1 - 0.08 * (nx ** 2 + ny ** 2) / 2)).astype(np.float32)


def render(sc: Scene) -> np.ndarray:
    """Turn the canvases into an RGB image (H, W, 3) uint8: object colour, class texture, shading, light, noise."""
    rng, h, w, ppm = sc.rng, sc.h, sc.w, sc.view.ppm
    ids = np.asarray(sc.ids_img)
    obj = np.asarray(sc.inst_img)
    tex = np.array([LOOKS[n].texture for n in sc.names], np.float32)  # (n_classes, 4)
    fine = rng.standard_normal((h, w), dtype=np.float32)
    med = smooth_noise(rng, h, w, max(2.0, 0.28 * ppm))
    coarse = smooth_noise(rng, h, w, max(4.0, 1.6 * ppm))
    chroma = smooth_noise(rng, h, w, max(2.0, 0.56 * ppm), channels=3)
    t = tex[ids, 0] * fine + tex[ids, 1] * med + tex[ids, 2] * coarse
    _patterns(sc, obj, t)
    col = sc.colour[obj] * (1.0 + t)[..., None] + tex[ids, 3][..., None] * chroma
    col *= (np.asarray(sc.shade_img, np.float32) / UNIT)[..., None]
    col *= _light(rng, h, w)[..., None] * rng.normal(1.0, 0.03, 3).astype(np.float32)
    col += rng.normal(0, rng.uniform(1.5, 3.5), (h, w, 3)).astype(np.float32)
    return np.clip(np.rint(col), 0, 255).astype(np.uint8)
