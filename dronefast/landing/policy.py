"""Which classes a drone may land on, which are hazards (with their weights), and which are unknown.

Every pixel is *safe* (a class in `safe`, default paved-area, grass, dirt, gravel) or *unsafe*. Unsafe pixels are
either *hazards* (obstacles: people, cars, trees, water, roofs, ...) or *unknown* (every class in neither list:
unlabeled, conflicting and, by default, ar-marker, a small printed target whose ground cannot be judged from its
label). A hazard's weight ``w >= 1`` makes it count as if it were ``w`` times closer (default 2 for person, dog, car,
bicycle: they move, and hitting them is worst).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..data.classes import ClassTable
from ..errors import ClassIdError

__all__ = ["DEFAULT_SAFE", "DEFAULT_HAZARDS", "DEFAULT_MIN_P_SAFE", "Hazards", "resolve_policy", "safe_class_ids",
           "as_class_map"]

#: Classes a drone may land on.
DEFAULT_SAFE: Tuple[str, ...] = ("paved-area", "grass", "dirt", "gravel")
#: Obstacles and their weights (>= 1). Classes in neither list are unknown (unsafe).
DEFAULT_HAZARDS: Dict[str, float] = {
    "person": 2.0, "dog": 2.0, "car": 2.0, "bicycle": 2.0,
    "tree": 1.0, "bald-tree": 1.0, "vegetation": 1.0, "rocks": 1.0, "obstacle": 1.0,
    "water": 1.0, "pool": 1.0, "roof": 1.0, "wall": 1.0, "window": 1.0, "door": 1.0,
    "fence": 1.0, "fence-pole": 1.0,
}
#: Least probability of safe ground a pixel needs to be landable when the model's confidence is known: the highest
#: threshold whose abstention stayed within 25% of the 36 real validation photos for the default recipe's calibrated
#: model (ResNet-18 from scratch on the real Semantic Drone Dataset; reported on the 40 real test photos in the
#: README, "Landing you can trust", from benchmarks/results/landing-real-*-2026-12-07-xeon.json).
DEFAULT_MIN_P_SAFE = 0.95
Hazards = Union[Sequence[str], Mapping[str, float]]


def _resolve(classes: ClassTable, names: Sequence[str], what: str, strict: bool) -> List[int]:
    """Class ids of `names`; unknown names raise ValueError when `strict`, else are skipped."""
    ids = []
    for name in names:
        if name in classes.names:
            ids.append(classes.id_of(name))
        elif strict:
            raise ValueError(f"{what}: unknown class {name!r}; known classes: {', '.join(classes.names)}")
    return ids


def resolve_policy(classes: ClassTable, safe: Optional[Sequence[str]],
                    hazards: Optional[Union[Sequence[str], Mapping[str, float]]]
                    ) -> Tuple[List[int], Dict[int, float]]:
    """Safe class ids and ``{hazard id: weight}`` of a class table.

    Args:
        classes: the class table.
        safe: landable class names (None: :data:`DEFAULT_SAFE`, skipping names the table lacks); unknown names
            raise ValueError.
        hazards: obstacle names (weight 1) or ``{name: weight >= 1}`` (None: :data:`DEFAULT_HAZARDS`).
    """
    if isinstance(safe, str) or isinstance(hazards, str):
        raise TypeError("safe and hazards take a list of class names, not a single string")
    safe_ids = _resolve(classes, DEFAULT_SAFE if safe is None else list(safe), "safe", safe is not None)
    if not safe_ids:
        raise ValueError(f"no safe class is in the class table ({', '.join(classes.names)}); pass safe=[...]")
    if hazards is None:
        weights = {n: w for n, w in DEFAULT_HAZARDS.items() if n in classes.names}
    elif isinstance(hazards, Mapping):
        weights = dict(hazards)
    else:
        weights = {n: 1.0 for n in hazards}
    hazard_ids = _resolve(classes, list(weights), "hazards", hazards is not None)
    out = {}
    for i in hazard_ids:
        w = weights[classes.names[i]]
        if not (isinstance(w, (int, float, np.integer, np.floating)) and math.isfinite(w) and w >= 1):
            raise ValueError(f"hazard weight of {classes.names[i]!r} must be a number >= 1, got {w!r}")
        out[i] = float(w)
    both = sorted(set(safe_ids) & set(out))
    if both:
        raise ValueError(f"class(es) both safe and hazard: {', '.join(classes.names[i] for i in both)}")
    return safe_ids, out


def safe_class_ids(classes: ClassTable, safe: Optional[Sequence[str]] = None) -> List[int]:
    """Ids of the landable classes of `classes` (`safe` names, default :data:`DEFAULT_SAFE`): what
    :meth:`~dronefast.inference.predictor.Predictor.predict_confidence` sums into P(safe)."""
    return resolve_policy(classes, safe, None)[0]


def as_class_map(class_map: Any, classes: ClassTable) -> np.ndarray:
    """A validated ``(H, W)`` integer array from a numpy array or torch tensor of class ids (ClassIdError when
    an id is outside the table)."""
    if hasattr(class_map, "detach"):  # torch tensor, without importing torch here
        class_map = class_map.detach().cpu().numpy()
    cm = np.asarray(class_map)
    if cm.ndim != 2 or not np.issubdtype(cm.dtype, np.integer):
        raise ValueError(f"expected a (H, W) integer class map, got {cm.dtype} array of shape {cm.shape}")
    if cm.size and (cm.min() < 0 or cm.max() >= len(classes)):
        raise ClassIdError(f"class map holds ids outside 0..{len(classes) - 1} "
                           f"(min {cm.min()}, max {cm.max()})")
    return cm
