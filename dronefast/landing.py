"""Where can a drone land? Safe landing spots from a class map (predicted or true).

The Semantic Drone Dataset exists to make drone landing safer. Given an id mask ``(H, W)`` (class ids of a
:class:`~dronefast.classes.ClassTable`), this module finds the points that are farthest from anything a drone
must not touch:

1. Every pixel is *safe* (a class in `safe`, default paved-area, grass, dirt, gravel) or *unsafe*. Unsafe
   pixels are either *hazards* (obstacles: people, cars, trees, water, roofs, ...) or *unknown* (every class
   in neither list: unlabeled, conflicting and, by default, ar-marker, a small printed target whose
   ground cannot be judged from its label).
2. The *free radius* of a pixel is its exact Euclidean distance, in pixels, from its centre to the centre of
   the nearest unsafe pixel (with `border_is_unsafe`, the image border counts as unsafe: whatever lies beyond
   the frame is unknown). Unsafe pixels have radius 0.
3. The *score* ranks spots: ``score = min(free_radius, min over hazard classes c of d_c / w_c)``, where
   ``d_c`` is the distance to the nearest class-``c`` pixel and ``w_c >= 1`` its weight. With weight 1 a
   hazard is just unsafe ground; weight 2 (default for person, dog, car, bicycle: they move, and hitting them
   is worst) makes them count as if they were twice as close. The score is in pixels.
4. Candidates are local maxima (3x3) of the score among pixels with ``free_radius >= clearance``; they are
   ranked by score, then free radius, then closeness to the image centre (the drone hovers above it), then
   row and column. Greedy non-maximum suppression keeps spots at least `min_separation_px` apart (default
   twice the clearance, so the required clearance discs of two spots never overlap).

Clearances may be given in metres with the ground sampling distance (GSD, metres per pixel) of the map:
``GSD = altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)``, where ``image_width_px`` is the
width of the map actually analysed (so a map downscaled from the photo gets a proportionally larger GSD) and
the map is assumed to span the whole sensor width of a nadir camera over flat ground. The dataset publishes
its photo size (6000x4000 px) and flight altitudes (5 to 30 m) but not the lens or sensor, so there is no
built-in camera preset: pass your camera's values.

Distances run from pixel centre to pixel centre; the truly clear disc around a spot is about half a pixel
smaller than its ``radius_px``.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .classes import ClassTable, read_class_csv, standard_classes
from .cli import format_size, positive_float, positive_int, run_main
from .errors import ClassIdError, DatasetError, DronefastError, UsageError
from .outputs import save_image, write_json

__all__ = [
    "LandingSpot", "DEFAULT_SAFE", "DEFAULT_HAZARDS", "ground_sampling_distance", "distance_transform",
    "landing_maps", "find_landing_spots", "landing_overlay", "spots_to_json", "add_landing_arguments",
    "check_landing_args", "write_landing", "build_parser", "main",
    "SAFE_TINT", "HAZARD_TINT", "SPOT_COLOUR",
]

PathLike = Union[str, Path]

#: Classes a drone may land on.
DEFAULT_SAFE: Tuple[str, ...] = ("paved-area", "grass", "dirt", "gravel")
#: Obstacles and their weights (>= 1; see the module docstring). Classes in neither list are unknown/unsafe.
DEFAULT_HAZARDS: Dict[str, float] = {
    "person": 2.0, "dog": 2.0, "car": 2.0, "bicycle": 2.0,
    "tree": 1.0, "bald-tree": 1.0, "vegetation": 1.0, "rocks": 1.0, "obstacle": 1.0,
    "water": 1.0, "pool": 1.0, "roof": 1.0, "wall": 1.0, "window": 1.0, "door": 1.0,
    "fence": 1.0, "fence-pole": 1.0,
}

SAFE_TINT = (0, 255, 0)
HAZARD_TINT = (255, 0, 0)
SPOT_COLOUR = (255, 255, 0)


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
    """

    x: int
    y: int
    radius_px: float
    radius_m: Optional[float]
    score: float
    surface: str


# ----------------------------------------------------------------------------------------------- geometry

def ground_sampling_distance(altitude_m: float, focal_length_mm: float, sensor_width_mm: float,
                             image_width_px: int) -> float:
    """Ground sampling distance (metres per pixel) of a nadir photo over flat ground.

    ``GSD = altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)``.

    Args:
        altitude_m: height of the camera above the ground (m).
        focal_length_mm: real (not 35 mm-equivalent) focal length of the lens (mm).
        sensor_width_mm: width of the sensor along the image width (mm).
        image_width_px: width of the map being analysed (px): use the downscaled width for a downscaled map.
    """
    for name, v in (("altitude_m", altitude_m), ("focal_length_mm", focal_length_mm),
                    ("sensor_width_mm", sensor_width_mm), ("image_width_px", image_width_px)):
        if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    return float(altitude_m) * float(sensor_width_mm) / (float(focal_length_mm) * float(image_width_px))


def _lower_envelope(f: np.ndarray) -> np.ndarray:
    """``d[r, q] = min_p (q - p)**2 + f[r, p]`` for a ``(R, N)`` float array, exactly.

    Felzenszwalb & Huttenlocher's lower envelope of parabolas, run along axis 1 for all R rows at once (the
    Python loop is over the N columns; each step is vectorised over the rows still needing work).
    """
    R, N = f.shape
    rows = np.arange(R)
    v = np.zeros((R, N), dtype=np.int64)       # parabola apexes of each row's envelope
    z = np.empty((R, N + 1))                   # boundaries between them
    z[:, 0], z[:, 1] = -np.inf, np.inf
    k = np.zeros(R, dtype=np.int64)            # index of the last parabola per row
    for q in range(1, N):
        fq = f[:, q] + q * q
        act = rows
        while act.size:
            kk = k[act]
            vk = v[act, kk]
            s = (fq[act] - (f[act, vk] + vk * vk)) / (2.0 * (q - vk))
            pop = s <= z[act, kk]
            done = act[~pop]
            if done.size:
                kn = k[done] + 1
                k[done] = kn
                v[done, kn] = q
                z[done, kn] = s[~pop]
                z[done, kn + 1] = np.inf
            act = act[pop]
            k[act] -= 1
    d = np.empty((R, N))
    k[:] = 0
    for q in range(N):
        while True:
            adv = z[rows, k + 1] < q
            if not adv.any():
                break
            k[adv] += 1
        vk = v[rows, k]
        d[:, q] = (q - vk) ** 2 + f[rows, vk]
    return d


def _squared_edt(zero: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each pixel of a ``(H, W)`` bool array to the nearest True pixel
    (float64; inf where there is none)."""
    transpose = zero.shape[1] > zero.shape[0]
    if transpose:  # the sequential pass runs along the shorter axis
        zero = zero.T
    L, S = zero.shape
    # Pass 1 (vectorised): distance along axis 0 to the nearest True pixel of the same column.
    idx = np.arange(L)[:, None]
    prev = np.maximum.accumulate(np.where(zero, idx, -2 * L), axis=0)
    nxt = np.minimum.accumulate(np.where(zero, idx, 3 * L)[::-1], axis=0)[::-1]
    g = np.minimum(idx - prev, nxt - idx)
    # `big` exceeds every real squared distance, so it stands in for infinity with exact integer arithmetic.
    big = float(L * L + S * S + 1)
    f = np.where(g < L, g.astype(np.float64) ** 2, big)
    # Pass 2: exact 1-D squared distance transform of f along axis 1.
    d2 = _lower_envelope(f)
    d2[d2 >= big] = np.inf
    return d2.T if transpose else d2


def distance_transform(unsafe: np.ndarray, border_is_unsafe: bool = True) -> np.ndarray:
    """Exact Euclidean distance transform: for each pixel of a ``(H, W)`` bool mask, the distance in pixels
    from its centre to the centre of the nearest True (unsafe) pixel.

    Args:
        unsafe: ``(H, W)`` bool array, True where a pixel is unsafe.
        border_is_unsafe: treat the ring of pixels just outside the image as unsafe (a pixel on the edge then
            has distance 1).

    Returns:
        ``(H, W)`` float64 array: 0 on unsafe pixels, inf where no unsafe pixel exists.
    """
    unsafe = np.asarray(unsafe, dtype=bool)
    if unsafe.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {unsafe.shape}")
    if unsafe.size == 0:
        return np.zeros(unsafe.shape)
    if border_is_unsafe:
        d2 = _squared_edt(np.pad(unsafe, 1, constant_values=True))[1:-1, 1:-1]
    else:
        d2 = _squared_edt(unsafe)
    return np.sqrt(d2)


# ----------------------------------------------------------------------------------------------- classes

def _resolve(classes: ClassTable, names: Sequence[str], what: str, strict: bool) -> List[int]:
    """Class ids of `names`; unknown names raise ValueError when `strict`, else are skipped."""
    ids = []
    for name in names:
        if name in classes.names:
            ids.append(classes.id_of(name))
        elif strict:
            raise ValueError(f"{what}: unknown class {name!r}; known classes: {', '.join(classes.names)}")
    return ids


def _resolve_policy(classes: ClassTable, safe: Optional[Sequence[str]],
                    hazards: Optional[Union[Sequence[str], Mapping[str, float]]]
                    ) -> Tuple[List[int], Dict[int, float]]:
    """Safe class ids and ``{hazard id: weight}``; defaults skip names missing from a custom table."""
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


def _as_class_map(class_map: Any, classes: ClassTable) -> np.ndarray:
    """A validated ``(H, W)`` integer array from a numpy array or torch tensor of class ids."""
    if hasattr(class_map, "detach"):  # torch tensor, without importing torch here
        class_map = class_map.detach().cpu().numpy()
    cm = np.asarray(class_map)
    if cm.ndim != 2 or not np.issubdtype(cm.dtype, np.integer):
        raise ValueError(f"expected a (H, W) integer class map, got {cm.dtype} array of shape {cm.shape}")
    if cm.size and (cm.min() < 0 or cm.max() >= len(classes)):
        raise ClassIdError(f"class map holds ids outside 0..{len(classes) - 1} "
                           f"(min {cm.min()}, max {cm.max()})")
    return cm


def landing_maps(class_map: np.ndarray, classes: ClassTable, safe: Optional[Sequence[str]] = None,
                 hazards: Optional[Union[Sequence[str], Mapping[str, float]]] = None,
                 border_is_unsafe: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Free-radius and score maps of a class map (see the module docstring for definitions).

    Args:
        class_map: ``(H, W)`` integer class ids (numpy array or torch tensor).
        classes: the class table the ids refer to.
        safe: names of landable classes (default :data:`DEFAULT_SAFE`).
        hazards: names of obstacle classes, or ``{name: weight >= 1}`` (default :data:`DEFAULT_HAZARDS`).
        border_is_unsafe: count the area beyond the image border as unsafe.

    Returns:
        ``(radius, score)``: two ``(H, W)`` float64 arrays in pixels.
    """
    cm = _as_class_map(class_map, classes)
    safe_ids, weights = _resolve_policy(classes, safe, hazards)
    radius = distance_transform(~np.isin(cm, safe_ids), border_is_unsafe)
    score = radius.copy()
    for w in sorted(set(weights.values())):
        if w > 1:  # weight-1 hazards are already within the free radius
            mask = np.isin(cm, [i for i, wi in weights.items() if wi == w])
            if mask.any():
                np.minimum(score, distance_transform(mask, border_is_unsafe=False) / w, out=score)
    return radius, score


# ----------------------------------------------------------------------------------------------- spots

def _local_maxima(a: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Bool mask of `valid` pixels whose value is >= every valid 8-neighbour's (plateaus included)."""
    a = np.where(valid, a, -np.inf)
    p = np.pad(a, 1, constant_values=-np.inf)
    h, w = a.shape
    m = a.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(m, p[dy:dy + h, dx:dx + w], out=m)
    return valid & (a >= m)


def find_landing_spots(class_map: np.ndarray, classes: ClassTable, clearance_px: Optional[float] = None,
                       clearance_m: Optional[float] = None, gsd_m: Optional[float] = None,
                       safe: Optional[Sequence[str]] = None,
                       hazards: Optional[Union[Sequence[str], Mapping[str, float]]] = None,
                       top_k: Optional[int] = 5, border_is_unsafe: bool = True,
                       min_separation_px: Optional[float] = None) -> List[LandingSpot]:
    """The best landing spots of a class map, best first (an empty list when no safe area is big enough).

    Args:
        class_map: ``(H, W)`` integer class ids (numpy array or torch tensor).
        classes: the class table the ids refer to.
        clearance_px: required free radius in pixels of `class_map`.
        clearance_m: required free radius in metres (needs `gsd_m`); give this or `clearance_px`.
        gsd_m: ground sampling distance of `class_map` (m/px), see :func:`ground_sampling_distance`; also
            fills :attr:`LandingSpot.radius_m`.
        safe: names of landable classes (default :data:`DEFAULT_SAFE`; unknown names raise ValueError).
        hazards: obstacle names, or ``{name: weight >= 1}`` (default :data:`DEFAULT_HAZARDS`).
        top_k: at most this many spots (None: all).
        border_is_unsafe: count the area beyond the image border as unsafe.
        min_separation_px: minimum distance between spot centres (default ``2 * clearance``).
    """
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
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    sep = 2.0 * clearance_px if min_separation_px is None else float(min_separation_px)

    cm = _as_class_map(class_map, classes)
    radius, score = landing_maps(cm, classes, safe, hazards, border_is_unsafe)
    # A clearance converted from metres (1.6 m / 0.1 m/px = 16.000000000000004 px) must still admit 16 px.
    cand = _local_maxima(score, radius >= clearance_px * (1 - 1e-9))
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
        spots.append(LandingSpot(x=x, y=y, radius_px=rad, radius_m=None if gsd_m is None else rad * gsd_m,
                                 score=float(s[i]), surface=classes.names[int(cm[y, x])]))
        alive &= (ys - y) ** 2 + (xs - x) ** 2 >= sep * sep
        alive[i] = False
    return spots


def spots_to_json(spots: Sequence[LandingSpot], meta: Optional[Mapping[str, Any]] = None) -> dict:
    """JSON-ready dict ``{"meta": meta, "spots": [{"rank": 1, "x", "y", "radius_px", ...}, ...]}``
    (infinite radii become None)."""
    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    out = [{"rank": i, **{k: clean(v) for k, v in asdict(sp).items()}} for i, sp in enumerate(spots, start=1)]
    return {"meta": dict(meta or {}), "spots": out}


# ----------------------------------------------------------------------------------------------- overlay

def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # old Pillow or no FreeType: fixed bitmap font
        return ImageFont.load_default()


def landing_overlay(image: Optional[Union[Image.Image, np.ndarray]], class_map: np.ndarray,
                    spots: Sequence[LandingSpot], classes: ClassTable, safe: Optional[Sequence[str]] = None,
                    hazards: Optional[Union[Sequence[str], Mapping[str, float]]] = None,
                    alpha: float = 0.5) -> Image.Image:
    """RGB picture of a landing analysis at the size of `class_map`.

    Safe pixels are tinted green (0, 255, 0), hazards red (255, 0, 0), unknown classes are left as they are;
    each spot gets a yellow (255, 255, 0) circle of its free radius, a centre dot and its rank number. Each
    tinted channel is ``base * (1 - alpha) + tint * alpha``, rounded half up.

    Args:
        image: the photo (PIL or ``(H, W, 3)`` uint8), resized to the map if needed; None draws on the class
            colours instead.
        class_map: ``(H, W)`` integer class ids.
        spots: spots from :func:`find_landing_spots`, best first.
        classes: the class table.
        safe: landable class names (as given to :func:`find_landing_spots`).
        hazards: hazard names or weights (as given to :func:`find_landing_spots`).
        alpha: tint strength, 0..1.
    """
    cm = _as_class_map(class_map, classes)
    safe_ids, weights = _resolve_policy(classes, safe, hazards)
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
    font = _font(max(10, min(h, w) // 25))
    for rank, sp in reversed(list(enumerate(spots, start=1))):  # best drawn last, on top
        r = sp.radius_px if math.isfinite(sp.radius_px) else max(h, w)
        draw.ellipse((sp.x - r, sp.y - r, sp.x + r, sp.y + r), outline=SPOT_COLOUR, width=lw)
        d = lw + 1
        draw.ellipse((sp.x - d, sp.y - d, sp.x + d, sp.y + d), fill=SPOT_COLOUR)
        draw.text((sp.x + d + 2, sp.y - d - 2), str(rank), fill=(255, 255, 255), font=font, anchor="ld",
                  stroke_width=max(1, lw), stroke_fill=(0, 0, 0))
    return img


# ----------------------------------------------------------------------------------------------- CLI

def _names_arg(text: str) -> List[str]:
    """argparse type: comma-separated class names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated class names")
    return names


def _hazards_arg(text: str) -> Dict[str, float]:
    """argparse type: comma-separated ``name`` or ``name=weight`` items."""
    out = {}
    for item in _names_arg(text):
        name, _, weight = item.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad hazard weight in {item!r}") from None
    return out


def add_landing_arguments(group, unit: str = "mask", required: bool = True) -> None:
    """Add the landing-spot options (clearance, camera, classes, ranking) to an argparse parser or group;
    shared by ``python -m dronefast.landing`` and ``python -m dronefast.predict --landing``.

    Args:
        group: an ``ArgumentParser`` or argument group.
        unit: what a pixel is, for the help texts ("mask" or "photo").
        required: whether a clearance must be given.
    """
    c = group.add_mutually_exclusive_group(required=required)
    c.add_argument("--clearance-px", type=positive_float, metavar="N", help=f"required free radius in {unit} pixels")
    c.add_argument("--clearance-m", type=positive_float, metavar="M",
                   help="required free radius in metres (needs --gsd, or --altitude, --focal-mm, --sensor-mm)")
    group.add_argument("--gsd", type=positive_float, metavar="M_PER_PX", help=f"metres per pixel of the {unit}")
    group.add_argument("--altitude", type=positive_float, metavar="A", help="flight altitude above ground (m)")
    group.add_argument("--focal-mm", type=positive_float, metavar="F", help="real focal length of the lens (mm)")
    group.add_argument("--sensor-mm", type=positive_float, metavar="S", help="sensor width (mm)")
    group.add_argument("--safe", type=_names_arg, metavar="NAMES",
                       help=f"comma-separated landable classes (default {','.join(DEFAULT_SAFE)})")
    group.add_argument("--hazards", type=_hazards_arg, metavar="NAMES",
                       help="comma-separated obstacle classes, each optionally name=weight (weight >= 1; default: "
                            "person,dog,car,bicycle weight 2, other obstacles 1)")
    group.add_argument("--top-k", type=positive_int, default=5, metavar="K", help=f"spots per {unit} (default 5)")
    group.add_argument("--min-separation-px", type=positive_float, metavar="N",
                       help="minimum distance between spots (default twice the clearance)")
    group.add_argument("--border-safe", action="store_true",
                       help=f"do not treat the area beyond the {unit} border as unsafe")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.landing``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.landing",
        description="Find safe drone landing spots in class masks; writes <stem>.landing.json and "
                    "<stem>.landing.png for each MASK.")
    p.add_argument("masks", nargs="+", metavar="MASK", type=Path,
                   help="id mask PNG (mode L/P) or colour mask (RGB) in the class table's colours")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--image", type=Path, metavar="IMG",
                   help="photo to draw on (with one MASK), or a folder of photos named like the masks")
    add_landing_arguments(p, "mask", required=True)
    p.add_argument("--classes", type=Path, metavar="CSV", help="class_dict.csv (default: the standard table)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def _photo_for(mask: Path, image: Optional[Path]) -> Optional[Path]:
    if image is None or not image.is_dir():
        return image
    for suffix in _PHOTO_SUFFIXES:
        for cand in (image / (mask.stem + suffix), image / (mask.stem + suffix.upper())):
            if cand.is_file() and cand.resolve() != mask.resolve():  # a mask is not its own photo
                return cand
    raise DatasetError(f"no photo named {mask.stem}.* in {image}", mask)


def check_landing_args(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` for clearance/camera options that do not go together."""
    camera = (args.altitude, args.focal_mm, args.sensor_mm)
    if args.gsd is not None and any(v is not None for v in camera):
        raise UsageError("give either --gsd or --altitude/--focal-mm/--sensor-mm, not both")
    if any(v is not None for v in camera) and not all(v is not None for v in camera):
        raise UsageError("--altitude, --focal-mm and --sensor-mm go together")
    if args.clearance_m is not None and args.gsd is None and camera[0] is None:
        raise UsageError("--clearance-m needs --gsd or --altitude, --focal-mm and --sensor-mm")


def write_landing(args: argparse.Namespace, class_map: np.ndarray, photo: Optional[Image.Image],
                  classes: ClassTable, json_path: Path, png_path: Path, source: Dict[str, Any]
                  ) -> Tuple[List[LandingSpot], float]:
    """Find the spots of `class_map` ``(H, W)`` with the options of :func:`add_landing_arguments` and write
    the ranked spots with their settings (JSON) and the overlay (PNG) atomically.

    Returns:
        ``(spots, clearance in pixels)``.
    """
    h, w = class_map.shape
    camera = (args.altitude, args.focal_mm, args.sensor_mm)
    gsd = args.gsd if camera[0] is None else ground_sampling_distance(*camera, image_width_px=w)
    spots = find_landing_spots(class_map, classes, clearance_px=args.clearance_px, clearance_m=args.clearance_m,
                               gsd_m=gsd, safe=args.safe, hazards=args.hazards, top_k=args.top_k,
                               border_is_unsafe=not args.border_safe,
                               min_separation_px=getattr(args, "min_separation_px", None))
    clearance_px = args.clearance_px if args.clearance_px is not None else args.clearance_m / gsd
    safe_ids, weights = _resolve_policy(classes, args.safe, args.hazards)
    meta = {
        **source, "size": format_size((h, w)), "classes": classes.source,
        "safe": [classes.names[i] for i in safe_ids], "hazards": {classes.names[i]: wt for i, wt in weights.items()},
        "clearance_px": clearance_px, "clearance_m": args.clearance_m if gsd is None else clearance_px * gsd,
        "gsd_m": gsd, "altitude_m": args.altitude, "focal_length_mm": args.focal_mm,
        "sensor_width_mm": args.sensor_mm, "border_is_unsafe": not args.border_safe, "top_k": args.top_k,
        "safe_fraction": float(np.isin(class_map, safe_ids).mean()),
    }
    write_json(json_path, spots_to_json(spots, meta))
    save_image(landing_overlay(photo, class_map, spots, classes, args.safe, args.hazards), png_path)
    return spots, clearance_px


def _run(args: argparse.Namespace) -> int:
    from .images import read_image  # lazy: other modules, only needed by the command
    from .masks import read_mask

    check_landing_args(args)
    if args.image is not None and not args.image.is_dir() and len(args.masks) > 1:
        raise UsageError("--image FILE goes with a single MASK; pass a folder of photos for several masks")
    try:
        classes = read_class_csv(args.classes) if args.classes else standard_classes()
        _resolve_policy(classes, args.safe, args.hazards)
    except ValueError as e:
        raise UsageError(str(e)) from None

    outputs, inputs = {}, {m.resolve() for m in args.masks}
    if args.image is not None and args.image.is_file():
        inputs.add(args.image.resolve())
    for m in args.masks:
        pair = (args.out / f"{m.stem}.landing.json", args.out / f"{m.stem}.landing.png")
        if m.stem in outputs:
            raise UsageError(f"two masks share the name {m.stem!r}; their outputs would collide")
        if any(o.resolve() in inputs for o in pair):
            raise UsageError(f"an output of {m} would overwrite an input")
        outputs[m.stem] = pair
    existing = [o for pair in outputs.values() for o in pair if o.exists()]
    if existing and not args.overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise DronefastError(f"refusing to overwrite {', '.join(map(str, existing[:3]))}{more} "
                             "(use --overwrite)")

    failures = 0
    for mask in args.masks:
        try:
            cm = read_mask(mask, classes)
            h, w = cm.shape
            photo = _photo_for(mask, args.image)
            image = read_image(photo, size=(h, w)) if photo is not None else None
            json_path, png_path = outputs[mask.stem]
            spots, clearance_px = write_landing(args, cm, image, classes, json_path, png_path,
                                                {"mask": str(mask), "image": None if photo is None else str(photo)})
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
            continue
        if spots:
            b = spots[0]
            metres = f" ({b.radius_m:.2f} m)" if b.radius_m is not None else ""
            print(f"{mask}: {len(spots)} spot(s); best x={b.x} y={b.y} on {b.surface}, "
                  f"free radius {b.radius_px:.1f} px{metres}")
        else:
            print(f"{mask}: no spot with {clearance_px:.1f} px clearance")
    if failures:
        print(f"{failures} of {len(args.masks)} mask(s) failed", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 a mask failed, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
