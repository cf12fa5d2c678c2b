"""How a sample compares with the real data: object sizes relative to the frame and class shares.

The reference numbers are the Semantic Drone Dataset's (``classes.md`` of the project's reference notes): the
longest side of each connected region of a class in 100 real masks at 1500x1000, as a fraction of the frame
width, and the share of pixels per class over the 400 training images. :func:`measure` gives the same numbers
for any masks (regions are 8-connected), so a sample can be checked against them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple

import numpy as np
from scipy import ndimage

from ..data.classes import standard_classes

__all__ = ["REAL_EXTENTS", "REAL_SHARES", "SceneStats", "region_sizes", "measure"]

#: Real longest side of one region: (10th percentile, median, 90th percentile) as a fraction of the width.
REAL_EXTENTS: Dict[str, Tuple[float, float, float]] = {
    name: (p10 / 1500, med / 1500, p90 / 1500) for name, (med, p10, p90) in {
        "person": (74, 36, 160), "bicycle": (62, 17, 215), "dog": (113, 60, 159), "fence-pole": (29, 10, 93),
        "obstacle": (47, 14, 181), "car": (238, 156, 583)}.items()}
#: Real pixel shares (fractions) of the classes above 1%.
REAL_SHARES: Dict[str, float] = {
    "paved-area": 0.377, "grass": 0.200, "roof": 0.074, "gravel": 0.073, "vegetation": 0.071, "obstacle": 0.035,
    "dirt": 0.032, "wall": 0.027, "water": 0.022, "tree": 0.021, "bald-tree": 0.013, "person": 0.011}

_EIGHT = np.ones((3, 3), bool)


def region_sizes(mask: np.ndarray, class_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """Longest bounding-box side and area (pixels) of every 8-connected region of `class_id` in `mask`."""
    lab, n = ndimage.label(mask == class_id, structure=_EIGHT)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    boxes = ndimage.find_objects(lab)
    extent = np.array([max(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes], float)
    area = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(float)
    return extent, area


@dataclass
class SceneStats:
    """Sizes and shares measured over some masks.

    Attributes:
        extents: per class of :data:`REAL_EXTENTS`, the longest side of every region / the frame width.
        thickness: per class, every region's area / its longest side, in pixels (how wide it is).
        shares: pixel share per class id (sums to 1).
        images: per class name, in how many masks it occurs.
    """
    extents: Dict[str, np.ndarray] = field(default_factory=dict)
    thickness: Dict[str, np.ndarray] = field(default_factory=dict)
    shares: np.ndarray = field(default_factory=lambda: np.zeros(0))
    images: Dict[str, int] = field(default_factory=dict)

    def percentiles(self, name: str) -> Tuple[float, float, float]:
        """(10th percentile, median, 90th percentile) of the extents of class `name` (fractions of the width)."""
        p10, med, p90 = np.percentile(self.extents[name], [10, 50, 90])
        return float(p10), float(med), float(p90)

    def share(self, name: str) -> float:
        """Pixel share of class `name`."""
        return float(self.shares[standard_classes().id_of(name)])


def measure(masks: Iterable[np.ndarray]) -> SceneStats:
    """Region sizes (of the classes in :data:`REAL_EXTENTS`) and class shares over `masks` (id masks, H x W)."""
    table = standard_classes()
    ext: Dict[str, List[np.ndarray]] = {name: [] for name in REAL_EXTENTS}
    thick: Dict[str, List[np.ndarray]] = {name: [] for name in REAL_EXTENTS}
    pixels = np.zeros(len(table), np.int64)
    images = {name: 0 for name in table.names}
    for mask in masks:
        counts = np.bincount(mask.ravel(), minlength=len(table))[:len(table)]
        pixels += counts
        for name, c in zip(table.names, counts):
            images[name] += int(c > 0)
        for name in REAL_EXTENTS:
            e, a = region_sizes(mask, table.id_of(name))
            ext[name].append(e / mask.shape[1])
            thick[name].append(a / np.maximum(e, 1))
    return SceneStats({k: np.concatenate(v) for k, v in ext.items()}, {k: np.concatenate(v) for k, v in thick.items()},
                      pixels / max(1, pixels.sum()), images)
