"""The page's landing pictures: what the landing decision uses, drawn on the photo (:func:`decision_picture`), the
model's P(safe) map (:func:`p_safe_picture`), and the verdict as a banner above them (:func:`banner_html`).

The decision picture paints green only the pixels the finder may land on (a safe class *and* P(safe) at or above
the threshold, :func:`~dronefast.landing.spots.landable`), red the hazards, and grey everything else (safe classes
the model is unsure of, unknown ground); each spot gets the disc of the required clearance, its centre and its rank.
The verdict is HTML beside the picture, not text drawn into it: it wraps at any width and no image button covers it.
Light: numpy and Pillow, no Gradio.
"""
from __future__ import annotations

import html
import math
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..data.classes import ClassTable
from ..landing.options import LandingOptions
from ..landing.pictures import label_font
from ..landing.policy import resolve_policy
from ..landing.spots import landable

__all__ = ["decision_picture", "p_safe_picture", "banner_html", "SAFE_TINT", "HAZARD_TINT", "DISC_COLOUR",
           "TINT_ALPHA", "GREY_SCALE", "BELOW_TINT"]

#: Landable (safe class, P(safe) >= threshold) and hazard tints, blended at :data:`TINT_ALPHA`.
SAFE_TINT = (0, 200, 0)
HAZARD_TINT = (230, 0, 0)
TINT_ALPHA = 0.55
#: Everything else is shown in grey, at this fraction of its brightness (so the tints stand out).
GREY_SCALE = 0.8
#: The clearance discs, their centres and labels.
DISC_COLOUR = (255, 230, 0)
#: P(safe) below the threshold, on the P(safe) map (blended at 0.4 over the grey).
BELOW_TINT = (0, 60, 160)


def _tinted(photo: np.ndarray, ok: np.ndarray, hazard: np.ndarray) -> np.ndarray:
    """`photo` ``(h, w, 3)`` uint8 in grey, with `ok` pixels green and `hazard` pixels red."""
    base = photo.astype(np.float64)
    grey = base @ np.array([0.299, 0.587, 0.114]) * GREY_SCALE
    out = np.repeat(grey[..., None], 3, axis=2)
    for mask, tint in ((ok, SAFE_TINT), (hazard, HAZARD_TINT)):
        out[mask] = base[mask] * (1 - TINT_ALPHA) + np.array(tint, dtype=np.float64) * TINT_ALPHA
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def decision_picture(photo: np.ndarray, class_map: np.ndarray, p_safe: Optional[np.ndarray], classes: ClassTable,
                     options: LandingOptions, spots: Sequence[dict], clearance_px: float) -> Image.Image:
    """The landing decision on the photo, all at one size ``(h, w)``.

    Args:
        photo: ``(h, w, 3)`` uint8.
        class_map: ``(h, w)`` class ids.
        p_safe: ``(h, w)`` float P(safe) in [0, 1], or None (then a safe class is enough).
        classes: the class table.
        options: the landing options (safe classes, hazards, ``min_p_safe``).
        spots: ``{"rank", "x", "y"}`` dicts in this picture's pixels, best first (the rank is drawn; the rest is
            in the page's table).
        clearance_px: the required clearance in this picture's pixels (the radius of each disc).
    """
    ok = landable(class_map, classes, options.safe, p_safe, options.min_p_safe if p_safe is not None else 0.0)
    hazard = np.isin(class_map, list(resolve_policy(classes, options.safe, options.hazards)[1]))
    img = Image.fromarray(_tinted(photo, ok, hazard), "RGB")
    h, w = class_map.shape
    draw = ImageDraw.Draw(img)
    lw = max(1, round(min(h, w) / 200))
    font = label_font(max(10, min(h, w) // 22))
    r = clearance_px if math.isfinite(clearance_px) else max(h, w)
    for s in reversed(list(spots)):  # the best drawn last, on top
        x, y = s["x"], s["y"]
        draw.ellipse((x - r, y - r, x + r, y + r), outline=DISC_COLOUR, width=lw)
        d = lw + 1
        draw.ellipse((x - d, y - d, x + d, y + d), fill=DISC_COLOUR)
        draw.text((x + d + 2, y - d - 2), str(s["rank"]), fill=(255, 255, 255), font=font, anchor="ld",
                  stroke_width=max(1, lw), stroke_fill=(0, 0, 0))
    return img


def p_safe_picture(p_safe: np.ndarray, threshold: float) -> Image.Image:
    """The model's P(safe) ``(h, w)`` in [0, 1] as grey (black 0, white 1), with the pixels below `threshold`
    tinted blue, so that the map shows both the probability and what the threshold keeps."""
    p = np.clip(np.asarray(p_safe, dtype=np.float64), 0, 1)
    grey = np.floor(p * 255 + 0.5)
    out = np.repeat(grey[..., None], 3, axis=2)
    below = p < threshold
    out[below] = out[below] * 0.6 + np.array(BELOW_TINT, dtype=np.float64) * 0.4
    return Image.fromarray(np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8), "RGB")


def banner_html(verdict: Optional[dict], summary: str) -> str:
    """The verdict above the pictures: a red "NO LANDING SPOT: why" when the analysis abstained, else a green
    `summary` (HTML, escaped; it wraps at any width)."""
    if verdict and verdict.get("abstained"):
        why = verdict.get("reason") or "no safe area is wide enough"
        return f'<div class="df-banner df-banner-no" role="alert">NO LANDING SPOT: {html.escape(why)}</div>'
    return f'<div class="df-banner df-banner-ok">{html.escape(summary)}</div>'
