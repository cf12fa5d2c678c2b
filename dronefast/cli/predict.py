"""``python -m dronefast.predict MODEL INPUT... --out DIR``: class maps of photos of any size (see
:mod:`dronefast.inference.predictor`), landing spots along videos (:mod:`dronefast.workflows.video`), and the
prediction options shared with ``evaluate``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..errors import DatasetError, UsageError
from ..inference.predict_options import DEFAULT_OVERLAP, ENGINES, PredictOptions
from ..outputs import ensure_outside, refuse_overwrite, writable_folder
from .common import positive_float, positive_int, prepare_cli, probability, run_main
from .landing import add_landing_arguments, landing_options, landing_requested

if TYPE_CHECKING:
    from ..inference.predict_files import InputScan
    from ..landing.options import LandingOptions
    from ..workflows.video import VideoOptions

__all__ = ["add_predict_arguments", "predict_options", "parse_device", "build_parser", "main"]


def add_predict_arguments(p) -> None:
    """Add the options of a :class:`~dronefast.inference.predict_options.PredictOptions` (tiling, scale, TTA, device,
    engine, ...) to a parser; shared by ``predict`` and ``evaluate``."""
    p.add_argument("--pickle", action="store_true",
                   help="allow loading a fastai .pkl export (it can run arbitrary code: only files you trust)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiled", dest="tile", action="store_const", const=True, default="auto",
                      help="always tile (default: tile photos more than 2x the model size)")
    mode.add_argument("--whole-image", dest="tile", action="store_const", const=False,
                      help="always predict the whole photo resized to the model size")
    p.add_argument("--scale", type=positive_float, metavar="S",
                   help="resize factor before tiling (default: the training object scale for a photo covering "
                        "the ground of a training photo; give it for crops and mosaics)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP, metavar="F",
                   help=f"share of a window overlapping its neighbour, 0..1 (default {DEFAULT_OVERLAP})")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="windows per forward pass")
    p.add_argument("--tta", action="store_true",
                   help="average the probabilities of the photo and of its horizontal and vertical flips")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast on CUDA or CPU (fast on CPUs with AMX; classes differ only at near-ties)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--engine", choices=ENGINES, default="torch",
                   help="torch, or onnxruntime on a model exported by python -m dronefast.export "
                        "(pip install 'dronefast[onnx]')")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N", help="CPU threads (default: all)")


def parse_device(text: Optional[str]) -> Optional[str]:
    """``--device`` checked (None: automatic); UsageError when unknown or unavailable."""
    if text is None:
        return None
    import torch

    try:
        dev = torch.device(text)
    except RuntimeError as e:
        raise UsageError(f"unknown device {text!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} asked for, but CUDA is not available here")
    return str(dev)


def predict_options(args: argparse.Namespace) -> PredictOptions:
    """The :class:`PredictOptions` of the flags :func:`add_predict_arguments` added (UsageError when out of
    range)."""
    try:
        return PredictOptions(device=parse_device(args.device), tile=args.tile, scale=args.scale,
                              overlap=args.overlap, batch_size=args.batch_size, tta=args.tta, bf16=args.bf16,
                              allow_pickle=args.pickle, engine=args.engine, threads=args.threads)
    except ValueError as e:
        raise UsageError(f"--{str(e).replace('_', '-')}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.predict``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.predict",
        description="Predict class maps for photos of any size; writes <stem>.mask.png (class ids), "
                    "<stem>.colour.png and <stem>.overlay.jpg per photo into --out, at the photo's size.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="a training run folder, its model.json / model.safetensors, or an exported folder with "
                        "model.onnx (run with onnxruntime); a fastai .pkl needs --pickle")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="photos, videos (.mp4, .mov: landing spots along the flight) or folders of them")
    p.add_argument("--recursive", action="store_true", help="also the photos and videos in subfolders of a folder")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_predict_arguments(p)
    p.add_argument("--alpha", type=probability, default=0.5, metavar="A", help="overlay colour strength 0..1 (0.5)")
    p.add_argument("--confidence", action="store_true",
                   help="also write <stem>.p_safe.png (the model's probability that each pixel is safe landing ground) "
                        "and <stem>.p_class.png (the probability of the predicted class), 8-bit: value / 255")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip photos whose outputs all exist already (a photo with some of them is done again)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("landing spots (see python -m dronefast.landing)")
    g.add_argument("--landing", action="store_true",
                   help="also write <stem>.landing.json, <stem>.landing.png and, when the photo carries its GPS "
                        "position and heading, <stem>.landing.geojson; the photo's EXIF/XMP gives the ground scale")
    add_landing_arguments(g, "photo")
    add_video_arguments(p.add_argument_group(
        "videos (pip install \"dronefast[video]\"; the landing options above apply to them without --landing)"))
    return p


def add_video_arguments(g) -> None:
    """The options of videos (see :mod:`dronefast.workflows.video`)."""
    from ..workflows.video import DEFAULT_HYSTERESIS

    g.add_argument("--every", type=positive_int, default=None, metavar="N",
                   help="predict every N-th frame of a video (default: one frame per second of video)")
    g.add_argument("--hysteresis", type=probability, default=DEFAULT_HYSTERESIS, metavar="F",
                   help="keep the previous frame's top spot while a spot in its free area scores within F of the "
                        f"frame's best (default {DEFAULT_HYSTERESIS:g}; 0: off)")


def _landing(args: argparse.Namespace):
    if not landing_requested(args):
        return None
    return landing_options(args)  # no clearance: 2 m where the photo gives the scale, else 40 px of the photo


def _scan(args: argparse.Namespace) -> InputScan:
    """The photos and videos of the inputs; prints one line counting and naming the other files of the folders
    (a DJI telemetry .SRT beside a video is read with it, not named)."""
    from ..data.telemetry import srt_beside
    from ..inference.predict_files import scan_inputs

    scan = scan_inputs(args.inputs, recursive=args.recursive)
    line = scan.others_line(exclude=[srt_beside(v) for v in scan.videos])
    if line:
        print(line)
    return scan


def _landings(args: argparse.Namespace, videos: bool) -> Tuple[Optional[LandingOptions], Optional[VideoOptions]]:
    """``(landing options of the photos or None, options of the videos or None)``: a video's outputs are its landing
    spots, so with videos the landing options apply to them without ``--landing`` (the photos get spots with it)."""
    if not videos:
        return _landing(args), None
    from ..workflows.video import VideoOptions

    landing = landing_options(args)
    try:
        video = VideoOptions(landing=landing, every=args.every, hysteresis=args.hysteresis, alpha=args.alpha)
    except ValueError as e:
        raise UsageError(f"--{e}") from None
    return (landing if args.landing else None), video


def _plan_videos(args: argparse.Namespace, videos: List[Path]) -> Dict[Path, Dict[str, Path]]:
    """Output paths of each video, after the refusals (collisions, existing outputs)."""
    from ..workflows.video import video_output_paths

    plan: Dict[Path, Dict[str, Path]] = {}
    stems: Dict[str, Path] = {}
    for v in videos:
        if v.stem in stems and stems[v.stem].resolve() != v.resolve():
            raise UsageError(f"{stems[v.stem]} and {v} share the name {v.stem!r}; their outputs would collide")
        stems[v.stem] = v
        plan[v] = video_output_paths(v, args.out)
    if args.skip_existing:
        done = [v for v, ps in plan.items() if all(p.is_file() for p in ps.values())]
        if done:
            print(f"skipping {len(done)} video(s) whose outputs exist already")
        return {v: ps for v, ps in plan.items() if v not in done}
    if not args.overwrite:
        refuse_overwrite([o for ps in plan.values() for o in ps.values()],
                         "use --overwrite, or --skip-existing to skip finished videos")
    return plan


def _predict_videos(predictor, plan: Dict[Path, Dict[str, Path]], args: argparse.Namespace,
                    options: Optional[VideoOptions]) -> int:
    """Predict every video of `plan` with `options`, naming and skipping those that fail; the number that failed."""
    from ..workflows.video import predict_video

    failures = 0
    for video, paths in plan.items():
        try:
            result = predict_video(predictor, video, paths, options)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
            continue
        print(f"{video}: {result.summary()}")
    if plan:
        print(f"wrote outputs of {len(plan) - failures} of {len(plan)} video(s) to {args.out}")
    return failures


def _plan(args: argparse.Namespace, files: List[Path]) -> Dict[Path, Dict[str, Path]]:
    """Output paths of each photo, after the refusals (collisions, outputs over inputs, existing outputs)."""
    from ..inference.predict_files import is_complete, output_paths

    outputs: Dict[Path, Dict[str, Path]] = {}
    stems: Dict[str, Path] = {}
    inputs = {f.resolve() for f in files}
    for f in files:
        if f.stem in stems and stems[f.stem].resolve() != f.resolve():
            raise UsageError(f"{stems[f.stem]} and {f} share the name {f.stem!r}; their outputs would collide")
        stems[f.stem] = f
        paths = output_paths(f, args.out, args.landing, args.confidence)
        if any(o.resolve() in inputs for o in paths.values()):
            raise UsageError(f"an output of {f} would overwrite an input")
        outputs[f] = paths
    if args.skip_existing:
        done = [f for f, ps in outputs.items() if is_complete(ps)]
        if done:
            print(f"skipping {len(done)} photo(s) whose outputs exist already")
        return {f: ps for f, ps in outputs.items() if f not in done}  # incomplete photos are done again
    if not args.overwrite:
        refuse_overwrite([o for ps in outputs.values() for o in ps.values()],
                         "use --overwrite, or --skip-existing to skip finished photos")
    return outputs


def _run(args: argparse.Namespace) -> int:
    options = predict_options(args)
    scan = _scan(args)
    landing, video = _landings(args, bool(scan.videos))
    if args.overwrite and args.skip_existing:
        raise UsageError("--overwrite and --skip-existing exclude each other")
    for p in args.inputs:
        if p.is_dir():
            try:
                ensure_outside(args.out, p)
            except ValueError as e:
                raise UsageError(f"{e} (outputs would be read back as photos)") from None
    prepare_cli()
    from ..inference.predictor import (
        Predictor,  # torch loads here, after the arguments are known to be good
    )

    files, problems = scan.photos, scan.problems
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    outputs = _plan(args, files)
    videos = _plan_videos(args, scan.videos)
    if videos:
        from ..workflows.video import require_av

        require_av()
    if not outputs and not videos:
        if problems:
            print("no photo or video could be read", file=sys.stderr)
            return 1
        print("nothing to do")
        return 0
    predictor = Predictor(args.model, options)
    if predictor.engine_note:
        print(predictor.engine_note)
    writable_folder(args.out)  # before any photo is predicted: a bad --out is refused at once
    for checked in {id(o): o for o in (landing, video and video.landing) if o is not None}.values():
        try:
            checked.check_classes(predictor.classes)
        except ValueError as e:
            raise UsageError(str(e)) from None
    rc = _predict_all(predictor, outputs, args, landing, len(problems)) if outputs else int(bool(problems))
    return 1 if _predict_videos(predictor, videos, args, video) else rc


def _predict_all(predictor, outputs, args: argparse.Namespace, landing, failures: int) -> int:
    """Predict every photo of `outputs`, naming and skipping those that fail; the exit code."""
    from ..workflows.batch import predict_to_files

    todo = list(outputs.items())
    if not args.no_progress:
        from fastprogress.fastprogress import progress_bar

        todo = progress_bar(todo)
    written = 0
    for image, paths in todo:
        try:
            note = predict_to_files(predictor, image, paths, args.alpha, landing)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
            continue
        print(f"{image}: {note}")
        written += 1
    print(f"wrote outputs of {written} of {written + failures} photo(s) to {args.out}")
    if failures:
        print(f"{failures} input(s) failed", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 an input or the model failed, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
