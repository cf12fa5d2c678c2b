"""How safe are the landing spots a model offers? Spots found on predicted class maps, checked against the truth.

For each photo the landing finder runs on the model's class map and confidence (``P(safe)``) at an analysis size
(e.g. 300x200), once per confidence threshold, with the clearance given in pixels of the photo (or metres) converted
to the analysed map, and every spot's clearance disc (the same closed disc the finder clears, see :mod:`.spots`) is
checked against the TRUE mask at full resolution: the spot is *truly safe* when every pixel of the disc is a safe
class (paved area, grass, dirt, gravel by default; unlabeled ground is not safe), and it *touches* a critical class
when any pixel is a person, dog, car or bicycle. Per threshold:

* ``top1_safe_rate``: share of the photos where a spot is offered whose best spot is truly safe;
* ``spots_safe_rate``: share of all offered spots that are truly safe;
* ``spots_touching``: spots touching a critical class (the number that must be zero);
* ``abstention_rate``: share of the photos where the finder offers nothing (it says why instead);
* ``missed``: photos where the true mask had a spot of the clearance but the finder offered none.

A higher threshold abstains more and offers safer spots: :meth:`SafetyTally.rows` gives the trade-off curve.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..data.classes import ClassTable
from .options import LandingOptions, LandingScale
from .policy import resolve_policy
from .spots import LandingSpot, find_landing_spots, reach

__all__ = ["SafetyCheck", "SafetyTally", "CRITICAL_CLASSES", "DEFAULT_THRESHOLDS", "DEFAULT_ANALYSIS_SIZE",
           "spot_against_truth"]

#: Classes a spot must never touch.
CRITICAL_CLASSES = ("person", "dog", "car", "bicycle")
#: Confidence thresholds swept by default.
DEFAULT_THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
#: ``(height, width)`` the landing finder analyses by default in the safety score (a 300x200 map: the check the
#: project's accuracy issue was measured with).
DEFAULT_ANALYSIS_SIZE = (200, 300)


@dataclass(frozen=True, kw_only=True)
class SafetyCheck:
    """What :func:`~dronefast.workflows.evaluation.evaluate_model` checks of the landing finder.

    Args:
        options: the landing settings (the clearance in pixels of the photo or in metres; ``min_p_safe`` is the
            threshold whose row is reported as the result, the others are swept).
        size: ``(height, width)`` the predicted maps are analysed at.
        thresholds: P(safe) thresholds swept.
        critical: class names a spot must never touch.
    """

    options: LandingOptions
    size: Tuple[int, int] = DEFAULT_ANALYSIS_SIZE
    thresholds: Tuple[float, ...] = DEFAULT_THRESHOLDS
    critical: Tuple[str, ...] = CRITICAL_CLASSES

    def tally(self, classes: ClassTable) -> "SafetyTally":
        """An empty :class:`SafetyTally` for these settings (the reported threshold is always swept)."""
        return SafetyTally(classes, self.options, (*self.thresholds, self.options.min_p_safe), self.critical)


def spot_against_truth(spot: LandingSpot, radius: float, truth: np.ndarray, scale: Sequence[float],
                       safe_ids: Sequence[int], critical_ids: Sequence[int]) -> Dict[str, Any]:
    """Check a spot's disc (`radius` px of the analysed map around the spot) on the true ``(H, W)`` mask, whose
    pixels are ``scale = (sy, sx)`` times smaller: ``{"safe": bool, "touches": [critical class ids found]}``."""
    sy, sx = scale
    cy, cx = (spot.y + 0.5) * sy - 0.5, (spot.x + 0.5) * sx - 0.5
    ry, rx = radius * sy, radius * sx
    h, w = truth.shape
    y0, y1 = max(0, int(math.floor(cy - ry))), min(h, int(math.ceil(cy + ry)) + 1)
    x0, x1 = max(0, int(math.floor(cx - rx))), min(w, int(math.ceil(cx + rx)) + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= reach(1.0) ** 2
    ids = truth[y0:y1, x0:x1][inside]
    found = np.unique(ids)
    return {"safe": bool(ids.size) and bool(np.isin(found, safe_ids).all()),
            "touches": [int(i) for i in found if i in set(critical_ids)]}


class SafetyTally:
    """Counts of the landing finder's outcome against the truth, per confidence threshold (see the module docstring).

    Args:
        classes: the class table.
        options: the landing settings (clearance in pixels of the photo or in metres, safe and hazard classes,
            top_k); ``min_p_safe`` is replaced by each threshold.
        thresholds: confidence thresholds to sweep.
        critical: class names a spot must never touch.
    """

    def __init__(self, classes: ClassTable, options: LandingOptions,
                 thresholds: Sequence[float] = DEFAULT_THRESHOLDS, critical: Sequence[str] = CRITICAL_CLASSES):
        options.scale_for((1, 1))  # a clearance in metres without a ground scale fails here, not per photo
        self.classes, self.options = classes, options
        self.scale: Optional[LandingScale] = None
        self.thresholds = sorted({float(t) for t in thresholds})
        self.safe_ids = resolve_policy(classes, options.safe, options.hazards)[0]
        self.critical_ids = [classes.id_of(n) for n in critical if n in classes.names]
        keys = ("photos", "offered", "top1_safe", "spots", "spots_safe", "spots_touching", "abstained", "missed")
        self.counts = {t: dict.fromkeys(keys, 0) for t in self.thresholds}
        self.truth_had_spot = 0

    def _spots(self, class_map: np.ndarray, p_safe: Optional[np.ndarray], threshold: float,
               scale: LandingScale) -> List[LandingSpot]:
        o = self.options
        return find_landing_spots(class_map, self.classes, clearance_px=scale.clearance_map_px, safe=o.safe,
                                  hazards=o.hazards, top_k=o.top_k, border_is_unsafe=o.border_is_unsafe,
                                  min_separation_px=scale.separation_map_px, p_safe=p_safe, min_p_safe=threshold)

    def add(self, pred: np.ndarray, p_safe: np.ndarray, truth: np.ndarray) -> None:
        """One photo: the predicted class map and P(safe) ``(h, w)`` at the analysis size, the true mask
        ``(H, W)`` at any size (usually full resolution)."""
        h, w = pred.shape
        scale = self.scale = self.options.scale_for((h, w), truth.shape)
        small_truth = np.asarray(Image.fromarray(truth).resize((w, h), Image.Resampling.NEAREST))
        truth_has_spot = bool(self._spots(small_truth, None, 0.0, scale))
        self.truth_had_spot += truth_has_spot
        for t in self.thresholds:
            c = self.counts[t]
            spots = self._spots(pred, p_safe, t, scale)
            checks = [spot_against_truth(s, scale.clearance_map_px, truth, (truth.shape[0] / h, truth.shape[1] / w),
                                         self.safe_ids, self.critical_ids) for s in spots]
            c["photos"] += 1
            c["offered"] += bool(spots)
            c["abstained"] += not spots
            c["missed"] += truth_has_spot and not spots
            c["top1_safe"] += bool(checks) and checks[0]["safe"]
            c["spots"] += len(checks)
            c["spots_safe"] += sum(k["safe"] for k in checks)
            c["spots_touching"] += sum(bool(k["touches"]) for k in checks)

    def rows(self) -> List[Dict[str, Any]]:
        """One dict per threshold: the counts and the rates (None where undefined)."""
        def rate(a: int, b: int) -> Optional[float]:
            return a / b if b else None

        return [{"threshold": t, **c, "top1_safe_rate": rate(c["top1_safe"], c["offered"]),
                 "spots_safe_rate": rate(c["spots_safe"], c["spots"]),
                 "abstention_rate": rate(c["abstained"], c["photos"])} for t, c in self.counts.items()]

    def settings(self) -> Dict[str, Any]:
        """The settings as resolved for the last photo added (sizes, clearance in photo and map pixels)."""
        scale = self.scale or self.options.scale_for((1, 1))
        return self.options.describe(self.classes, scale)

    def summary(self, threshold: float) -> Dict[str, Any]:
        """The row of the threshold closest to `threshold`, with the photos whose truth had a spot."""
        row = min(self.rows(), key=lambda r: abs(r["threshold"] - threshold))
        return {**row, "truth_had_spot": self.truth_had_spot}
