"""``python -m dronefast.prepare SRC DST --size WxH``: a training-ready copy of a dataset (see
:mod:`dronefast.data.preparation`)."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..data.layout import LAYOUTS
from ..data.preparation import prepare_dataset
from .common import at_least, run_main, size_arg

__all__ = ["build_parser", "main"]


def _scale_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a number such as 0.05, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"scale must be in (0, 1], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.prepare``."""
    p = argparse.ArgumentParser(prog="python -m dronefast.prepare",
                                description="Make a small, training-ready copy of a dataset (images/, masks/, "
                                            "class_dict.csv).",
                                epilog="Exit status: 0 all pairs prepared, 1 bad pairs or data errors "
                                       "(the good pairs are still prepared), 2 bad usage.")
    p.add_argument("src", help="dataset folder (Kaggle, TU Graz or prepared layout, up to 3 folders down)")
    p.add_argument("dst", help="output folder (created; must not lie inside SRC)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--size", type=size_arg, metavar="WxH", help="exact output size, width first (e.g. 300x200)")
    how.add_argument("--scale", type=_scale_arg, metavar="F",
                     help="scale each image by F (0 < F <= 1, e.g. 0.05), keeping its aspect")
    p.add_argument("--workers", type=at_least(1), default=None, help="processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true",
                   help="prepare every pair again, even if DST was prepared with other settings (its former "
                        "outputs are removed; a DST that prepare did not make loses nothing)")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="layout of SRC when several are present")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    return p


def _run(args) -> int:
    report = prepare_dataset(args.src, args.dst, size=args.size, scale=args.scale, workers=args.workers,
                             overwrite=args.overwrite, progress=not args.no_progress, kind=args.layout)
    head, *rest = report.summary().split("\n")
    print(head)
    if rest:
        print("error: " + "\n".join(rest), file=sys.stderr)
    return 0 if report.ok else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
