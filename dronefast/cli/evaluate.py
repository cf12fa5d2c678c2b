"""``python -m dronefast.evaluate MODEL [--data PATH]``: score a model on the photos its training held out (see
:mod:`dronefast.inference.evaluate`); writes metrics.json, per-class tables and plots."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..data.layout import LAYOUTS
from ..data.split import SUBSETS
from ..errors import ModelFileError, UsageError
from ..models.files import model_json_path
from .common import at_least, fraction, prepare_cli, run_main
from .predict import add_predict_arguments, predict_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.evaluate``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.evaluate",
        description="Score a model on its validation split (or all photos) at training and full resolution; "
                    "writes metrics.json, per_class.csv/.md, confusion.png, iou.png and examples.png.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="a training run folder or its model.json / model.safetensors (a .pkl needs --pickle)")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="dataset folder, any layout (default: the one the model was trained on, if recorded)")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="layout to use when several are present")
    p.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: <model folder>/eval)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--subset", choices=SUBSETS, default=None,
                       help="photos to score: test (default when training set some aside with --test-pct), "
                            "validation (default otherwise: the photos the best epoch was chosen on), train or all")
    which.add_argument("--all", dest="subset", action="store_const", const="all", help="score every photo")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the model's, else 42)")
    p.add_argument("--valid-pct", type=fraction, default=None, metavar="F",
                   help="validation share (default: the model's, else 0.1)")
    p.add_argument("--full-res", action=argparse.BooleanOptionalAction, default=True,
                   help="also score full-resolution predictions (default: yes)")
    add_predict_arguments(p)
    p.add_argument("--examples", type=at_least(0), default=4, metavar="N", help="photos shown in examples.png (4)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _line(title: str, r: Dict[str, Any]) -> str:
    from ..inference.reports import fmt

    return (f"{title}: pixel accuracy {fmt(r['pixel_accuracy'])}, accuracy without {r['void_class']} "
            f"{fmt(r['accuracy_mask'])}, mIoU {fmt(r['miou'])} over {len(r['miou_classes'])} classes")


def _trained_on(model: Path) -> Path:
    """The dataset folder recorded in a saved model's ``train_args`` (UsageError when there is none)."""
    if model.suffix == ".pkl":
        raise UsageError("--data is needed with a .pkl model")
    jpath = model_json_path(model)
    if not jpath.is_file():
        raise ModelFileError(f"{jpath}: model file not found")
    try:
        desc = json.loads(jpath.read_text(encoding="utf-8"))
        data = ((desc.get("extra") or {}).get("train_args") or {}).get("data")
    except (OSError, ValueError, AttributeError) as e:
        raise ModelFileError(f"{jpath}: cannot read the model description ({e})") from None
    if not data:
        raise UsageError("--data is needed: the model description does not record its training data")
    return Path(data)


def _run(args: argparse.Namespace) -> int:
    options = predict_options(args)
    if args.subset == "all" and (args.seed is not None or args.valid_pct is not None):
        raise UsageError("--all scores every photo; it does not go with --seed or --valid-pct")
    data = args.data if args.data is not None else _trained_on(args.model)
    prepare_cli()
    from ..inference.evaluate import default_out, evaluate_model  # torch loads here
    from ..inference.reports import describe_split

    out = args.out if args.out is not None else default_out(args.model)
    m = evaluate_model(args.model, data, out, options=options, subset=args.subset, valid_pct=args.valid_pct,
                       seed=args.seed, full_res=args.full_res, layout=args.layout,
                       n_examples=args.examples, overwrite=args.overwrite, progress=not args.no_progress)
    sp = m["split"]
    print(f"{sp['n_images']} of {sp['n_total']} photos scored: {describe_split(sp)}")
    print(_line(f"training resolution {m['train_res']['size']}", m["train_res"]))
    if m["full_res"] is not None:
        print(_line(f"full resolution ({m['full_res']['how']})", m["full_res"]))
    print(f"mIoU classes: {', '.join(m['train_res']['miou_classes'])}")
    print(f"report written to {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 data/model failure, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
