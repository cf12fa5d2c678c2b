"""``python -m dronefast.evaluate MODEL [--data PATH]``: score a model on the photos its training held out (see
:mod:`dronefast.workflows.evaluation`); writes metrics.json, per-class tables and plots."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..data.layout import LAYOUTS
from ..data.split import SUBSETS
from ..errors import UsageError
from ..models.description import model_json_path, read_description
from .common import at_least, fraction, prepare_cli, probabilities, run_main, size_arg
from .landing import add_landing_arguments, landing_options, landing_requested
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
    p.add_argument("--seed", type=int, default=None,
                   help="split seed of a model that records no split (default: the model's, else 42); refused "
                        "when the model records its photos (split.json)")
    p.add_argument("--valid-pct", type=fraction, default=None, metavar="F",
                   help="validation share of a model that records no split (default: the model's, else 0.1); "
                        "refused when the model records its photos (split.json)")
    p.add_argument("--full-res", action=argparse.BooleanOptionalAction, default=True,
                   help="also score full-resolution predictions (default: yes)")
    add_predict_arguments(p)
    p.add_argument("--examples", type=at_least(0), default=4, metavar="N", help="photos shown in examples.png (4)")
    g = p.add_argument_group("landing safety (see python -m dronefast.landing)")
    g.add_argument("--landing", action="store_true",
                   help="also run the landing finder on the predicted maps and check every spot against the true "
                        "mask: top-1 truly safe rate, spots touching a person/dog/car/bicycle, abstention rate, for a "
                        "sweep of P(safe) thresholds (landing_safety.csv and .png)")
    g.add_argument("--landing-size", type=size_arg, default=None, metavar="WxH",
                   help="size the predicted maps are analysed at (default 300x200)")
    g.add_argument("--thresholds", type=probabilities, default=None, metavar="LIST",
                   help="comma-separated P(safe) thresholds to sweep "
                        "(default 0,0.3,0.5,0.6,0.7,0.8,0.9,0.95,0.98,0.99)")
    add_landing_arguments(g, "analysed map")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _safety(args: argparse.Namespace):
    """The landing safety check the flags ask for (None without --landing); the clearance in pixels of the photos
    (or metres with --gsd or the camera flags), converted to the analysed map."""
    if not landing_requested(args, extra=("landing_size", "thresholds")):
        return None
    from ..landing.safety import DEFAULT_ANALYSIS_SIZE, DEFAULT_THRESHOLDS, SafetyCheck

    options = landing_options(args)
    try:
        options.scale_for((1, 1))  # no camera per photo here: the flags must give the scale a clearance in m needs
    except ValueError as e:
        raise UsageError(str(e).replace("clearance_m", "--clearance-m")) from None
    return SafetyCheck(options=options, size=args.landing_size or DEFAULT_ANALYSIS_SIZE,
                       thresholds=args.thresholds or DEFAULT_THRESHOLDS)


def _line(title: str, r: Dict[str, Any]) -> str:
    from ..workflows.reports import fmt

    return (f"{title}: pixel accuracy {fmt(r['pixel_accuracy'])}, accuracy without {r['void_class']} "
            f"{fmt(r['accuracy_mask'])}, mIoU {fmt(r['miou'])} over {len(r['miou_classes'])} classes")


def _trained_on(model: Path) -> Path:
    """The dataset folder recorded in a saved model's ``train_args`` (UsageError when there is none)."""
    if model.suffix == ".pkl":
        raise UsageError("--data is needed with a .pkl model")
    desc = read_description(model_json_path(model))  # checked field by field: ModelFileError names file and field
    data = ((desc.get("extra") or {}).get("train_args") or {}).get("data")
    if not data:
        raise UsageError("--data is needed: the model description does not record its training data")
    return Path(data)


def _run(args: argparse.Namespace) -> int:
    options = predict_options(args)
    if args.subset == "all" and (args.seed is not None or args.valid_pct is not None):
        raise UsageError("--all scores every photo; it does not go with --seed or --valid-pct")
    data = args.data if args.data is not None else _trained_on(args.model)
    safety = _safety(args)
    prepare_cli()
    from ..workflows.evaluation import default_out, evaluate_model  # torch loads here
    from ..workflows.reports import describe_split, fmt

    out = args.out if args.out is not None else default_out(args.model)
    m = evaluate_model(args.model, data, out, options=options, subset=args.subset, valid_pct=args.valid_pct,
                       seed=args.seed, full_res=args.full_res, layout=args.layout, n_examples=args.examples,
                       overwrite=args.overwrite, progress=not args.no_progress, landing=safety)
    sp = m["split"]
    if sp["note"]:
        print(f"note: {sp['note']}")
    print(f"{sp['n_images']} of {sp['n_total']} photos scored: {describe_split(sp)}")
    print(_line(f"training resolution {m['train_res']['size']}", m["train_res"]))
    if m["full_res"] is not None:
        print(_line(f"full resolution ({m['full_res']['how']})", m["full_res"]))
    print(f"mIoU classes: {', '.join(m['train_res']['miou_classes'])}")
    cal = m["calibration"]
    print(f"calibration (ECE, training resolution): top class {fmt(cal['class']['before']['ece'])} -> "
          f"{fmt(cal['class']['after']['ece'])}, P(safe) {fmt(cal['p_safe']['before']['ece'])} -> "
          f"{fmt(cal['p_safe']['after']['ece'])} (temperature {cal['temperature']:.3f})")
    if m.get("landing"):
        r = m["landing"]["result"]
        rate = "n/a" if r["top1_safe_rate"] is None else f"{r['top1_safe_rate']:.3f}"
        print(f"landing at {m['landing']['size']} (P(safe) >= {r['threshold']:g}): top-1 truly safe {rate} "
              f"({r['top1_safe']} of {r['offered']}), {r['spots_touching']} spot(s) touching a person/dog/car/bicycle, "
              f"abstained {r['abstained']} of {r['photos']}, missed {r['missed']}")
    print(f"report written to {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 data/model failure, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
