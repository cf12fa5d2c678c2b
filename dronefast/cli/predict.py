"""``python -m dronefast.predict MODEL INPUT... --out DIR``: class maps of photos of any size (see
:mod:`dronefast.inference.predictor`), and the prediction options shared with ``evaluate``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import DatasetError, UsageError
from ..inference.options import DEFAULT_OVERLAP, ENGINES, PredictOptions
from ..outputs import ensure_outside, refuse_overwrite, writable_folder
from .common import positive_float, positive_int, prepare_cli, probability, run_main
from .landing import add_landing_arguments, landing_options, landing_requested

__all__ = ["add_predict_arguments", "predict_options", "parse_device", "build_parser", "main"]


def add_predict_arguments(p) -> None:
    """Add the options of a :class:`~dronefast.inference.options.PredictOptions` (tiling, scale, TTA, device,
    engine, ...) to a parser; shared by ``predict`` and ``evaluate``."""
    p.add_argument("--pickle", action="store_true",
                   help="allow loading a fastai .pkl export (it can run arbitrary code: only files you trust)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiled", dest="tile", action="store_const", const=True, default="auto",
                      help="always tile (default: tile photos more than 2x the model size)")
    mode.add_argument("--whole-image", dest="tile", action="store_const", const=False,
                      help="always predict the whole photo resized to the model size")
    p.add_argument("--scale", type=positive_float, metavar="S",
                   help="resize factor before tiling (default: the training object scale)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP, metavar="F",
                   help=f"share of a window overlapping its neighbour, 0..1 (default {DEFAULT_OVERLAP})")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="windows per forward pass")
    p.add_argument("--tta", action="store_true", help="average with horizontally and vertically flipped photos")
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
                        "model.onnx (--engine onnxruntime); a fastai .pkl needs --pickle")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photos or folders of photos")
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
    return p


def _landing(args: argparse.Namespace):
    if not landing_requested(args):
        return None
    return landing_options(args)  # no clearance: 2 m where the photo gives the scale, else 40 px of the photo


def _plan(args: argparse.Namespace, files: List[Path]) -> Dict[Path, Dict[str, Path]]:
    """Output paths of each photo, after the refusals (collisions, outputs over inputs, existing outputs)."""
    from ..inference.files import is_complete, output_paths

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
    landing = _landing(args)
    if args.overwrite and args.skip_existing:
        raise UsageError("--overwrite and --skip-existing exclude each other")
    for p in args.inputs:
        if p.is_dir():
            try:
                ensure_outside(args.out, p)
            except ValueError as e:
                raise UsageError(f"{e} (outputs would be read back as photos)") from None
    prepare_cli()
    from ..inference.files import list_inputs
    from ..inference.predictor import (
        Predictor,  # torch loads here, after the arguments are known to be good
    )

    files, problems = list_inputs(args.inputs)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    outputs = _plan(args, files)
    if not outputs:
        if problems:
            print("no photo could be read", file=sys.stderr)
            return 1
        print("nothing to do")
        return 0
    predictor = Predictor(args.model, options)
    writable_folder(args.out)  # before any photo is predicted: a bad --out is refused at once
    if landing is not None:
        try:
            landing.check_classes(predictor.classes)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return _predict_all(predictor, outputs, args, landing, len(problems))


def _predict_all(predictor, outputs, args: argparse.Namespace, landing, failures: int) -> int:
    """Predict every photo of `outputs`, naming and skipping those that fail; the exit code."""
    from ..inference.batch import predict_to_files

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
