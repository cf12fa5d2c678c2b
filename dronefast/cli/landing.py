"""``python -m dronefast.landing MASK... --out DIR``: landing spots of class masks (see :mod:`dronefast.landing`),
and the landing options shared with ``predict --landing``.

A mask written by ``predict`` (``<stem>.mask.png``) is paired with the photo ``<stem>.*`` of ``--image FOLDER`` and the
confidence map ``<stem>.p_safe.png`` of ``--p-safe FOLDER``, and its outputs are named ``<stem>.landing.*`` as
``predict --landing`` names them. With a photo, its camera (EXIF/XMP: height, lens, GPS, heading) gives the spots
metres and places; the flags override it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..data.camera import read_camera
from ..data.classes import read_class_csv, standard_classes
from ..data.images import IMAGE_SUFFIXES, image_size, read_image
from ..data.masks import read_mask
from ..errors import DatasetError, SizeMismatchError, UsageError
from ..inference.predict_files import OUTPUT_SUFFIXES, read_probability
from ..landing.geo import geojson_path
from ..landing.options import (
    DEFAULT_CLEARANCE_M,
    DEFAULT_CLEARANCE_PX,
    DEFAULT_MIN_P_SAFE,
    LandingOptions,
    ScaleError,
)
from ..landing.policy import DEFAULT_SAFE
from ..landing.writer import write_landing
from ..outputs import refuse_overwrite, writable_folder
from .common import positive_float, positive_int, probability, run_main

__all__ = ["add_landing_arguments", "landing_options", "landing_requested", "LANDING_DESTS", "build_parser", "main",
           "mask_stem", "spots_line"]

#: Destinations of the options :func:`add_landing_arguments` adds (besides ``top_k`` and ``border_safe``).
LANDING_DESTS = ("clearance_px", "clearance_m", "gsd", "altitude", "focal_mm", "sensor_mm", "safe", "hazards",
                 "min_separation_px", "min_p_safe", "lat", "lon", "yaw")


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


def landing_requested(args: argparse.Namespace, extra: Sequence[str] = ()) -> bool:
    """``args.landing``; UsageError when a landing option (:data:`LANDING_DESTS` and `extra` destinations) is given
    without ``--landing``."""
    if not args.landing:
        given = [n for n in (*LANDING_DESTS, *extra) if getattr(args, n) is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} is a landing option; add --landing")
    return bool(args.landing)


def add_landing_arguments(group, unit: str = "mask", required: bool = False) -> None:
    """Add the landing-spot options (clearance, camera, classes, ranking) to an argparse parser or group;
    shared by ``python -m dronefast.landing``, ``python -m dronefast.predict --landing`` and ``evaluate --landing``.

    Args:
        group: an ``ArgumentParser`` or argument group.
        unit: what the map is, for the help texts ("mask" or "photo").
        required: whether a clearance must be given (by default it is 2 m, or 40 px without a ground scale).
    """
    c = group.add_mutually_exclusive_group(required=required)
    c.add_argument("--clearance-px", type=positive_float, metavar="N",
                   help=f"required clear radius in pixels of the input photo (default {DEFAULT_CLEARANCE_M:g} m "
                        f"when the ground scale is known, else {DEFAULT_CLEARANCE_PX:g} px)")
    c.add_argument("--clearance-m", type=positive_float, metavar="M",
                   help="required clear radius in metres (needs the ground scale: the photo's EXIF/XMP, --gsd, or "
                        "--altitude, --focal-mm, --sensor-mm)")
    group.add_argument("--gsd", type=positive_float, metavar="M_PER_PX", help="metres per pixel of the input photo")
    group.add_argument("--altitude", type=positive_float, metavar="A",
                       help="camera height above the ground (m; overrides the photo's)")
    group.add_argument("--focal-mm", type=positive_float, metavar="F",
                       help="real focal length of the lens (mm; overrides the photo's)")
    group.add_argument("--sensor-mm", type=positive_float, metavar="S",
                       help="sensor width (mm; default from the photo's 35 mm-equivalent focal length)")
    group.add_argument("--lat", type=float, metavar="DEG", help="latitude of the photo (overrides its GPS)")
    group.add_argument("--lon", type=float, metavar="DEG", help="longitude of the photo (overrides its GPS)")
    group.add_argument("--yaw", type=float, metavar="DEG",
                       help="direction the photo's top edge faces, degrees clockwise from north (overrides its XMP)")
    group.add_argument("--safe", type=_names_arg, metavar="NAMES",
                       help=f"comma-separated landable classes (default {','.join(DEFAULT_SAFE)})")
    group.add_argument("--hazards", type=_hazards_arg, metavar="NAMES",
                       help="comma-separated obstacle classes, each optionally name=weight (weight >= 1; default: "
                            "person,dog,car,bicycle weight 2, other obstacles 1); a hazard of weight w must be more "
                            "than w x the clearance from a spot")
    group.add_argument("--top-k", type=positive_int, default=5, metavar="K", help=f"spots per {unit} (default 5)")
    group.add_argument("--min-separation-px", type=positive_float, metavar="N",
                       help="least distance between spots in pixels of the input photo (default twice the "
                            "clearance; never less than the clearance: spots are distinct places)")
    group.add_argument("--border-safe", action="store_true",
                       help=f"do not treat the area beyond the {unit} border as unsafe")
    group.add_argument("--min-p-safe", type=probability, default=None, metavar="P",
                       help=f"with the model's confidence, a pixel is landable only where P(safe) >= P (default "
                            f"{DEFAULT_MIN_P_SAFE:g}); when no spot passes, the result says so and why")


_FLAGS = {"clearance_px": "--clearance-px", "clearance_m": "--clearance-m", "gsd_m": "--gsd",
          "altitude_m": "--altitude", "focal_mm": "--focal-mm", "sensor_mm": "--sensor-mm", "top_k": "--top-k",
          "yaw_deg": "--yaw", "lat": "--lat", "lon": "--lon", "min_separation_px": "--min-separation-px"}


def landing_options(args: argparse.Namespace) -> LandingOptions:
    """The :class:`LandingOptions` of parsed landing flags (UsageError, with the flags' names, when they do not go
    together)."""
    try:
        return LandingOptions(clearance_px=args.clearance_px, clearance_m=args.clearance_m, gsd_m=args.gsd,
                              altitude_m=args.altitude, focal_mm=args.focal_mm, sensor_mm=args.sensor_mm,
                              safe=args.safe, hazards=args.hazards, top_k=args.top_k,
                              border_is_unsafe=not args.border_safe, min_separation_px=args.min_separation_px,
                              lat=args.lat, lon=args.lon, yaw_deg=args.yaw,
                              **({} if args.min_p_safe is None else {"min_p_safe": args.min_p_safe}))
    except (ValueError, TypeError) as e:
        raise UsageError(_flags(str(e))) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.landing``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.landing",
        description="Find safe drone landing spots in class masks; writes <stem>.landing.json, <stem>.landing.png "
                    "and, when the photo's position is known, <stem>.landing.geojson for each MASK (<stem>.mask.png "
                    "from predict gives <stem>.landing.*, as predict --landing names them).")
    p.add_argument("masks", nargs="+", metavar="MASK", type=Path,
                   help="id mask PNG (mode L/P) or colour mask (RGB) in the class table's colours")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--image", type=Path, metavar="IMG",
                   help="photo to draw on, whose camera (EXIF/XMP) gives metres and places (with one MASK), or a "
                        "folder of photos named like the masks (<stem>.* for <stem>.mask.png or <stem>.png)")
    add_landing_arguments(p, "mask")
    p.add_argument("--p-safe", type=Path, metavar="PNG",
                   help="the model's confidence (a <stem>.p_safe.png from predict --confidence: value / 255 = P(safe)) "
                        "with one MASK, or a folder of them named like the masks; spots need P(safe) >= --min-p-safe")
    p.add_argument("--classes", type=Path, metavar="CSV", help="class_dict.csv (default: the standard table)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def mask_stem(mask: Path) -> str:
    """The photo's stem of a mask: ``a`` for predict's ``a.mask.png``, else the file's stem (``a.png`` -> ``a``)."""
    suffix = OUTPUT_SUFFIXES["mask"]
    return mask.name[:-len(suffix)] if mask.name.endswith(suffix) and len(mask.name) > len(suffix) else mask.stem


def _photo_for(mask: Path, image: Optional[Path]) -> Optional[Path]:
    if image is None or not image.is_dir():
        return image
    stem = mask_stem(mask)
    for suffix in IMAGE_SUFFIXES:
        for cand in (image / (stem + suffix), image / (stem + suffix.upper())):
            if cand.is_file() and cand.resolve() != mask.resolve():  # a mask is not its own photo
                return cand
    raise DatasetError(f"no photo named {stem}.* in {image}", mask)


def _photo_pixels(photo: Path, mask: Path, shape):
    """The photo `mask` labels, decoded; SizeMismatchError naming it and both sizes when it is not the mask's size
    (a landing map drawn on another photo, or on one stretched to fit, would show spots where they are not)."""
    h, w = image_size(photo)
    if (h, w) != tuple(shape):
        raise SizeMismatchError(f"the photo is {w}x{h} but the mask {mask.name} is {shape[1]}x{shape[0]} (WxH); "
                                f"give the photo the mask was made from", photo)
    return read_image(photo)


def _p_safe_for(mask: Path, p_safe: Optional[Path], shape):
    """The confidence map of `mask` (``--p-safe`` file, or ``<stem>.p_safe.png`` in the ``--p-safe`` folder)."""
    if p_safe is None:
        return None
    path = p_safe / f"{mask_stem(mask)}{OUTPUT_SUFFIXES['p_safe']}" if p_safe.is_dir() else p_safe
    p = read_probability(path)
    if p.shape != tuple(shape):
        raise DatasetError(f"the confidence map is {p.shape[1]}x{p.shape[0]} but the mask "
                           f"{mask.name} is {shape[1]}x{shape[0]} (WxH)", path)
    return p


def _outputs(args: argparse.Namespace) -> Dict[Path, tuple]:
    outputs, stems, inputs = {}, {}, {m.resolve() for m in args.masks}
    if args.image is not None and args.image.is_file():
        inputs.add(args.image.resolve())
    for m in args.masks:
        stem = mask_stem(m)
        pair = tuple(args.out / f"{stem}{OUTPUT_SUFFIXES[k]}" for k in ("landing_json", "landing_png"))
        if stem in stems:
            raise UsageError(f"{stems[stem]} and {m} share the name {stem!r}; their outputs would collide")
        if any(o.resolve() in inputs for o in pair):
            raise UsageError(f"an output of {m} would overwrite an input")
        stems[stem], outputs[m] = m, pair
    if not args.overwrite:
        refuse_overwrite([o for pair in outputs.values() for o in (*pair, geojson_path(pair[0]))])
    return outputs


def _check(args: argparse.Namespace, options: LandingOptions):
    """Refusals before any file is read; the class table."""
    if args.image is not None and not args.image.is_dir() and len(args.masks) > 1:
        raise UsageError("--image FILE goes with a single MASK; pass a folder of photos for several masks")
    if args.p_safe is not None and not args.p_safe.is_dir() and len(args.masks) > 1:
        raise UsageError("--p-safe FILE goes with a single MASK; pass a folder of confidence maps for several masks")
    try:
        if args.image is None:  # no photo to read a camera from: the flags must give the scale a clearance needs
            options.scale_for((1, 1))
        classes = read_class_csv(args.classes) if args.classes else standard_classes()
        options.check_classes(classes)
    except ValueError as e:
        raise UsageError(_flags(str(e))) from None
    return classes


def _one(mask: Path, args: argparse.Namespace, options: LandingOptions, classes, paths) -> None:
    """Analyse one mask, write its files and print one line (DatasetError when an input is bad)."""
    cm = read_mask(mask, classes)
    photo = _photo_for(mask, args.image)
    camera = read_camera(photo) if photo is not None else None
    image = _photo_pixels(photo, mask, cm.shape) if photo is not None else None
    source = {"mask": str(mask), "image": None if photo is None else str(photo)}
    try:
        spots, meta = write_landing(cm, classes, options, *paths, photo=image, source=source,
                                    p_safe=_p_safe_for(mask, args.p_safe, cm.shape), camera=camera,
                                    photo_size=None if photo is None else image_size(photo))
    except ScaleError as e:  # a clearance in metres on a photo without a ground scale
        raise DatasetError(_flags(str(e)), photo or mask) from None
    for warning in meta["warnings"]:
        print(f"warning: {photo or mask}: {warning}", file=sys.stderr)
    print(f"{mask}: {spots_line(spots, meta)}")


def spots_line(spots, meta) -> str:
    """One line saying what a landing analysis found (the best spot, its metres and place when known)."""
    if not spots:
        return f"no safe landing spot: {meta['verdict']['reason']}"
    b = spots[0]
    metres = f" ({b.radius_m:.2f} m)" if b.radius_m is not None else ""
    place = f", {b.east_m:+.1f} m east {b.north_m:+.1f} m north" if b.east_m is not None else ""
    gps = f", lat {b.lat:.7f} lon {b.lon:.7f}" if b.lat is not None else ""
    return (f"{len(spots)} spot(s); best x={b.x} y={b.y} on {b.surface}, free radius {b.radius_px:.1f} px{metres}"
            f"{place}{gps}")


def _flags(msg: str) -> str:
    for name, flag in sorted(_FLAGS.items(), key=lambda kv: -len(kv[0])):
        msg = msg.replace(name, flag)
    return msg


def _run(args: argparse.Namespace) -> int:
    options = landing_options(args)
    classes = _check(args, options)
    outputs = _outputs(args)
    writable_folder(args.out)
    failures = 0
    for mask in args.masks:
        try:
            _one(mask, args, options, classes, outputs[mask])
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
    if failures:
        print(f"{failures} of {len(args.masks)} mask(s) failed", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 a mask failed, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
