"""Pictures of a landing analysis: safe ground green, hazards red, numbered circles for the spots."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.classes import ClassTable
from .policy import Hazards, as_class_map, resolve_policy
from .spots import LandingSpot

__all__ = ["landing_overlay", "label_font", "SAFE_TINT", "HAZARD_TINT", "SPOT_COLOUR"]

SAFE_TINT = (0, 255, 0)
HAZARD_TINT = (255, 0, 0)
SPOT_COLOUR = (255, 255, 0)


def label_font(size: int):
    """Pillow's default font at `size` px (its fixed bitmap font where Pillow is old or has no FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # old Pillow or no FreeType: fixed bitmap font
        return ImageFont.load_default()


def landing_overlay(image: Optional[Union[Image.Image, np.ndarray]], class_map: np.ndarray,
                    spots: Sequence[LandingSpot], classes: ClassTable, safe: Optional[Sequence[str]] = None,
                    hazards: Optional[Hazards] = None, alpha: float = 0.5,
                    note: Optional[str] = None) -> Image.Image:
    """RGB picture of a landing analysis at the size of `class_map`.

    Safe pixels are tinted green (0, 255, 0), hazards red (255, 0, 0), unknown classes are left as they are;
    each spot gets a yellow (255, 255, 0) circle of its free radius, a centre dot and its rank number (and, with the
    model's confidence, its mean P(safe)). Each tinted channel is ``base * (1 - alpha) + tint * alpha``, rounded
    half up. A `note` (e.g. why no spot is offered) is written across the top.

    Args:
        image: the photo (PIL or ``(H, W, 3)`` uint8), resized to the map if needed; None draws on the class
            colours instead.
        class_map: ``(H, W)`` integer class ids.
        spots: spots from :func:`find_landing_spots`, best first.
        classes: the class table.
        safe: landable class names (as given to :func:`find_landing_spots`).
        hazards: hazard names or weights (as given to :func:`find_landing_spots`).
        alpha: tint strength, 0..1.
        note: a line of text drawn on a dark band at the top (None: none).
    """
    cm = as_class_map(class_map, classes)
    safe_ids, weights = resolve_policy(classes, safe, hazards)
    h, w = cm.shape
    if image is None:
        base = classes.palette[cm]
    else:
        im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
        im = im.convert("RGB")
        if im.size != (w, h):
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        base = np.asarray(im)
    out = base.astype(np.float64)
    for ids, tint in ((safe_ids, SAFE_TINT), (list(weights), HAZARD_TINT)):
        m = np.isin(cm, ids)
        out[m] = out[m] * (1 - alpha) + np.array(tint, dtype=np.float64) * alpha
    img = Image.fromarray(np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(img)
    lw = max(1, round(min(h, w) / 250))
    font = label_font(max(10, min(h, w) // 25))
    for rank, sp in reversed(list(enumerate(spots, start=1))):  # best drawn last, on top
        r = sp.radius_px if math.isfinite(sp.radius_px) else max(h, w)
        draw.ellipse((sp.x - r, sp.y - r, sp.x + r, sp.y + r), outline=SPOT_COLOUR, width=lw)
        d = lw + 1
        draw.ellipse((sp.x - d, sp.y - d, sp.x + d, sp.y + d), fill=SPOT_COLOUR)
        label = str(rank) if sp.p_safe_mean is None else f"{rank} P{sp.p_safe_mean:.2f}"
        draw.text((sp.x + d + 2, sp.y - d - 2), label, fill=(255, 255, 255), font=font, anchor="ld",
                  stroke_width=max(1, lw), stroke_fill=(0, 0, 0))
    if note:
        band = max(12, min(h, w) // 20)
        draw.rectangle((0, 0, w, band + 4), fill=(0, 0, 0))
        draw.text((4, 2), note, fill=(255, 255, 0), font=label_font(band - 2), anchor="la")
    return img
