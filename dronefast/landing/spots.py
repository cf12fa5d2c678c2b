"""Where can a drone land? Safe landing spots from a class map (predicted or true).

The Semantic Drone Dataset exists to make drone landing safer. Given an id mask ``(H, W)`` (class ids of a
:class:`~dronefast.data.classes.ClassTable`), this module finds the points that are farthest from anything a drone
must not touch:

1. Every pixel is *safe* (a class in `safe`, default paved-area, grass, dirt, gravel) or *unsafe*. Unsafe
   pixels are either *hazards* (obstacles: people, cars, trees, water, roofs, ...) or *unknown* (every class
   in neither list: unlabeled, conflicting and, by default, ar-marker, a small printed target whose
   ground cannot be judged from its label).
2. The *free radius* of a pixel is its exact Euclidean distance, in pixels, from its centre to the centre of
   the nearest unsafe pixel (with `border_is_unsafe`, the image border counts as unsafe: whatever lies beyond
   the frame is unknown). Unsafe pixels have radius 0.
3. The *clearance disc* of a spot with clearance ``r`` is every pixel whose centre lies within distance ``r`` of the
   spot's centre (the closed disc). One definition everywhere (the finder, :func:`disc_stats`, ``p_safe_min``, the
   safety score of :mod:`.safety`): a spot is offered only when its whole clearance disc is safe ground (and, with
   a confidence map, at or above the P(safe) threshold), i.e. when its free radius is *greater* than ``r``.
4. *Hazard weights gate*: a hazard class of weight ``w >= 1`` must be more than ``w x r`` from a spot (a person, weight
   2, at 7 px from a pixel rules it out for a clearance of 5). The *score* combines both:
   ``score = min(free_radius, min over hazard classes c of d_c / w_c)``, where ``d_c`` is the distance to the
   nearest class-``c`` pixel; a spot needs ``score > r``, and spots are ranked by it (in pixels).
5. Candidates are local maxima (3x3) of the score among pixels with ``score > clearance``; they are ranked by score,
   then free radius, then closeness to the image centre (the drone hovers above it), then row and column. Spots
   are distinct places: greedy non-maximum suppression keeps them at least `min_separation_px` apart (default
   twice the clearance, so two spots' clearance discs never overlap; never less than the clearance).

Clearances may be given in metres with the ground sampling distance (GSD, metres per pixel) of the map:
``GSD = altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)``, where ``image_width_px`` is the
width of the map actually analysed (so a map downscaled from the photo gets a proportionally larger GSD) and
the map is assumed to span the whole sensor width of a nadir camera over flat ground. The camera values can come
from the photo itself (:mod:`dronefast.data.camera`); the analysis of :mod:`.writer` takes the clearance in pixels
of the input photo or in metres and converts it to the map it analyses (:mod:`.options`).

Distances are compared with a relative tolerance of 1e-9 (:func:`reach`), so a clearance converted from metres
(1.6 m / 0.1 m/px = 16.000000000000004 px) means 16 px.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..data.classes import ClassTable
from .distances import distance_transform, local_maxima
from .policy import DEFAULT_MIN_P_SAFE, Hazards, as_class_map, resolve_policy

__all__ = ["LandingSpot", "landable", "landing_maps", "find_landing_spots", "disc_stats", "spots_to_json", "reach"]

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class LandingSpot:
    """One landing spot, in the pixel coordinates of the analysed class map.

    Args:
        x: column of the spot centre (px).
        y: row of the spot centre (px).
        radius_px: free radius: distance from the centre to the nearest unsafe pixel (px; inf if none).
        radius_m: the same in metres when the GSD is known, else None.
        score: ranking score (px); equals `radius_px` unless a weighted hazard is closer than that.
        surface: name of the class under the centre.
        p_safe_min, p_safe_mean: the smallest and the mean probability, by the model, that the ground is safe over
            the disc of the required clearance around the centre (None without a confidence map).
        east_m, north_m: the centre's offset from the point below the photo's centre (m; None when the scale or the
            heading is unknown), see :mod:`.geo`.
        lat, lon: the centre's position (degrees, WGS84; None when the photo's position is unknown).
    """

    x: int
    y: int
    radius_px: float
    radius_m: Optional[float]
    score: float
    surface: str
    p_safe_min: Optional[float] = None
    p_safe_mean: Optional[float] = None
    east_m: Optional[float] = None
    north_m: Optional[float] = None
    lat: Optional[float] = None
    lon: Optional[float] = None


def landable(class_map: np.ndarray, classes: ClassTable, safe: Optional[Sequence[str]] = None,
             p_safe: Optional[np.ndarray] = None, min_p_safe: float = 0.0,
             hazards: Optional[Hazards] = None) -> np.ndarray:
    """``(H, W)`` bool: pixels of a safe class (and, with a confidence map `p_safe`, whose probability of being
    safe is at least `min_p_safe`); `hazards` as given with `safe` (the default hazards may overlap a custom
    `safe`)."""
    cm = as_class_map(class_map, classes)
    ok = np.isin(cm, resolve_policy(classes, safe, hazards)[0])
    if p_safe is not None:
        p = np.asarray(p_safe)
        if p.shape != cm.shape:
            raise ValueError(f"the confidence map is {p.shape[::-1]} (WxH) but the class map {cm.shape[::-1]}")
        ok &= p >= min_p_safe
    return ok


def landing_maps(class_map: np.ndarray, classes: ClassTable, safe: Optional[Sequence[str]] = None,
                 hazards: Optional[Hazards] = None, border_is_unsafe: bool = True,
                 p_safe: Optional[np.ndarray] = None, min_p_safe: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """Free-radius and score maps of a class map (see the module docstring for definitions).

    Args:
        class_map: ``(H, W)`` integer class ids (numpy array or torch tensor).
        classes: the class table the ids refer to.
        safe: names of landable classes (default :data:`DEFAULT_SAFE`).
        hazards: names of obstacle classes, or ``{name: weight >= 1}`` (default :data:`DEFAULT_HAZARDS`).
        border_is_unsafe: count the area beyond the image border as unsafe.
        p_safe, min_p_safe: a ``(H, W)`` map of the model's probability that each pixel is safe; pixels below
            `min_p_safe` are not landable (they count as unknown ground), whatever their class.

    Returns:
        ``(radius, score)``: two ``(H, W)`` float64 arrays in pixels.
    """
    cm = as_class_map(class_map, classes)
    _, weights = resolve_policy(classes, safe, hazards)
    radius = distance_transform(~landable(cm, classes, safe, p_safe, min_p_safe, hazards), border_is_unsafe)
    score = radius.copy()
    for w in sorted(set(weights.values())):
        if w > 1:  # weight-1 hazards are already within the free radius
            mask = np.isin(cm, [i for i, wi in weights.items() if wi == w])
            if mask.any():
                np.minimum(score, distance_transform(mask, border_is_unsafe=False) / w, out=score)
    return radius, score


def _clearance(clearance_px: Optional[float], clearance_m: Optional[float], gsd_m: Optional[float]) -> float:
    """The required free radius in pixels, checked."""
    if (clearance_px is None) == (clearance_m is None):
        raise ValueError("give exactly one of clearance_px and clearance_m")
    if gsd_m is not None and not (math.isfinite(gsd_m) and gsd_m > 0):
        raise ValueError(f"gsd_m must be a positive number, got {gsd_m!r}")
    if clearance_m is not None:
        if gsd_m is None:
            raise ValueError("clearance_m needs gsd_m (metres per pixel of the class map)")
        clearance_px = clearance_m / gsd_m
    if not (math.isfinite(clearance_px) and clearance_px > 0):
        raise ValueError(f"the clearance must be a positive number, got {clearance_px!r} px")
    return float(clearance_px)


def reach(radius: float) -> float:
    """The distance up to which a pixel centre is inside the clearance disc of `radius` (the radius with the
    tolerance of the module docstring): the one definition of the disc."""
    return float(radius) * (1 + _TOLERANCE)


def disc_stats(values: np.ndarray, x: int, y: int, radius: float) -> Tuple[float, float]:
    """``(min, mean)`` of a ``(H, W)`` map over the pixels whose centres lie within `radius` of ``(x, y)``
    (the clearance disc, :func:`reach`)."""
    h, w = values.shape
    far = reach(radius)
    r = int(math.floor(far))
    y0, y1, x0, x1 = max(0, y - r), min(h, y + r + 1), max(0, x - r), min(w, x + r + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = (yy - y) ** 2 + (xx - x) ** 2 <= far * far
    v = values[y0:y1, x0:x1][inside]
    return float(v.min()), float(v.mean())


def find_landing_spots(class_map: np.ndarray, classes: ClassTable, clearance_px: Optional[float] = None,
                       clearance_m: Optional[float] = None, gsd_m: Optional[float] = None,
                       safe: Optional[Sequence[str]] = None, hazards: Optional[Hazards] = None,
                       top_k: Optional[int] = 5, border_is_unsafe: bool = True,
                       min_separation_px: Optional[float] = None, p_safe: Optional[np.ndarray] = None,
                       min_p_safe: float = DEFAULT_MIN_P_SAFE,
                       maps: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> List[LandingSpot]:
    """The best landing spots of a class map, best first (an empty list when no safe area is big enough).

    Args:
        class_map: ``(H, W)`` integer class ids (numpy array or torch tensor).
        classes: the class table the ids refer to.
        clearance_px: radius of the clearance disc in pixels of `class_map` (a spot's free radius must exceed it;
            :func:`~dronefast.landing.writer.analyse_landing` takes it in pixels of the photo instead).
        clearance_m: the same in metres (needs `gsd_m`); give this or `clearance_px`.
        gsd_m: ground sampling distance of `class_map` (m/px), see :func:`ground_sampling_distance`; also
            fills :attr:`LandingSpot.radius_m`.
        safe: names of landable classes (default :data:`DEFAULT_SAFE`; unknown names raise ValueError).
        hazards: obstacle names, or ``{name: weight >= 1}`` (default :data:`DEFAULT_HAZARDS`).
        top_k: at most this many spots (None: all).
        border_is_unsafe: count the area beyond the image border as unsafe.
        min_separation_px: minimum distance between spot centres (default ``2 * clearance``; ValueError below the
            clearance).
        p_safe: ``(H, W)`` probability, by the model, that each pixel is safe
            (:meth:`~dronefast.inference.predictor.Predictor.predict_confidence`); pixels below `min_p_safe` are
            not landable, and each spot gets the min and mean of `p_safe` over its clearance disc.
        min_p_safe: the least probability of safe ground a pixel needs to be landable (with `p_safe`; default
            :data:`~dronefast.landing.policy.DEFAULT_MIN_P_SAFE`).
        maps: ``(radius, score)`` of :func:`landing_maps` for these very settings, when the caller has them
            already (they cost two distance transforms).
    """
    clearance_px = _clearance(clearance_px, clearance_m, gsd_m)
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    sep = 2.0 * clearance_px if min_separation_px is None else float(min_separation_px)
    if sep < clearance_px * (1 - _TOLERANCE):
        raise ValueError(f"min_separation_px ({sep:g} px) must be at least the clearance ({clearance_px:g} px): "
                         f"spots are distinct places")
    cm = as_class_map(class_map, classes)
    radius, score = maps if maps is not None else landing_maps(cm, classes, safe, hazards, border_is_unsafe, p_safe,
                                                                min_p_safe)
    cand = local_maxima(score, score > reach(clearance_px))  # the whole disc safe, weighted hazards w x r away
    ys, xs = np.nonzero(cand)
    if ys.size == 0:
        return []
    s, r = score[ys, xs], radius[ys, xs]
    h, w = cm.shape
    centre = np.hypot(ys - (h - 1) / 2, xs - (w - 1) / 2)
    order = np.lexsort((xs, ys, centre, -r, -s))  # last key is the primary one
    ys, xs, s, r = ys[order], xs[order], s[order], r[order]
    alive = np.ones(ys.size, dtype=bool)
    spots = []
    while alive.any() and (top_k is None or len(spots) < top_k):
        i = int(np.argmax(alive))  # first alive = best remaining
        y, x = int(ys[i]), int(xs[i])
        rad = float(r[i])
        conf = disc_stats(np.asarray(p_safe), x, y, clearance_px) if p_safe is not None else (None, None)
        spots.append(LandingSpot(x=x, y=y, radius_px=rad, radius_m=None if gsd_m is None else rad * gsd_m,
                                 score=float(s[i]), surface=classes.names[int(cm[y, x])], p_safe_min=conf[0],
                                 p_safe_mean=conf[1]))
        alive &= (ys - y) ** 2 + (xs - x) ** 2 >= sep * sep
        alive[i] = False
    return spots


def spots_to_json(spots: Sequence[LandingSpot], meta: Optional[Mapping[str, Any]] = None,
                  verdict: Optional[Mapping[str, Any]] = None) -> dict:
    """JSON-ready dict ``{"meta": meta, "verdict": verdict, "spots": [{"rank": 1, "x", "y", "radius_px", ...},
    ...]}`` (infinite radii become None; the verdict says whether the finder abstained, and why)."""
    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    out = [{"rank": i, **{k: clean(v) for k, v in asdict(sp).items()}} for i, sp in enumerate(spots, start=1)]
    return {"meta": dict(meta or {}), "verdict": dict(verdict or {"abstained": not spots, "reason": None}),
            "spots": out}
