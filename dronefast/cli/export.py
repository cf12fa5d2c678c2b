"""``python -m dronefast.export MODEL --out DIR [--int8]``: a saved model as ``DIR/model.onnx`` (+ ``model.json``,
``export.json``; ``model.int8.onnx`` with ``--int8``) for ONNX Runtime, TensorRT or OpenVINO (see
:mod:`dronefast.workflows.export_onnx`); predict with it by ``python -m dronefast.predict DIR PHOTO --out O --engine
onnxruntime``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..errors import UsageError
from .common import positive_int, run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.export``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.export",
        description="Export a trained model to ONNX (opset 17, dynamic batch, height and width) beside a copy of its "
                    "model.json, after onnx.checker and a comparison with PyTorch; --int8 also writes a statically "
                    "quantised model.int8.onnx for CPUs. Needs the optional extra: pip install 'dronefast[onnx]'.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="a training run folder, its model.json / model.safetensors (a fastai .pkl needs --pickle)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="export folder")
    p.add_argument("--int8", action="store_true",
                   help="also write model.int8.onnx (ONNX Runtime static int8), calibrated on training photos; refused "
                        "when it agrees with fp32 on less than 99%% of the pixels of held-out photos (then only the "
                        "fp32 model.onnx is written, and the command fails)")
    p.add_argument("--calibration", type=Path, metavar="DATA",
                   help="dataset folder of the int8 calibration photos (its training split; default: the model's "
                        "recorded training data)")
    p.add_argument("--calibration-photos", type=positive_int, default=16, metavar="N",
                   help="training photos calibrating int8 (default 16)")
    p.add_argument("--check-photos", type=positive_int, default=8, metavar="N",
                   help="held-out photos the int8 agreement is measured on (default 8)")
    p.add_argument("--force", action="store_true", help="write model.int8.onnx even below 99%% agreement")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in DIR")
    p.add_argument("--pickle", action="store_true",
                   help="allow exporting a fastai .pkl export (it can run arbitrary code: only files you trust)")
    return p


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _run(args: argparse.Namespace) -> int:
    if not args.int8:
        given = [f for f, v in (("--calibration", args.calibration is not None), ("--force", args.force)) if v]
        if given:
            raise UsageError(f"{given[0]} is an int8 option; add --int8")
    from .common import prepare_cli

    prepare_cli()
    from ..workflows.export_onnx import (
        export_onnx,  # torch loads here, after the arguments are known to be good
    )

    r = export_onnx(args.model, args.out, int8=args.int8, calibration=args.calibration,
                    n_calibration=args.calibration_photos, n_check=args.check_photos, overwrite=args.overwrite,
                    allow_pickle=args.pickle, force=args.force, log=print)
    print(f"wrote {r.onnx} ({_mb(r.onnx)}, opset {r.record['opset']}, input (batch, 3, height, width) normalised "
          f"RGB, output (batch, {r.record['classes']}, height, width) logits)")
    q = r.record["int8"]
    if q is not None:
        note = " (FORCED below the threshold)" if q["forced"] else ""
        print(f"wrote {r.int8} ({_mb(r.int8)}): agrees with fp32 on {q['agreement_with_fp32']:.2%} of the pixels "
              f"of {len(q['held_out_photos'])} held-out photo(s){note}")
    print(f"wrote {r.description} and {r.report}")
    print(f"predict with: python -m dronefast.predict {r.out} PHOTO --out DIR --engine onnxruntime")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 the model or the export failed, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
