"""``python -m dronefast.check PATH``: check a dataset (see :mod:`dronefast.data.check`); exit 1 listing every
offending file."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..data.check import check_dataset
from ..data.layout import LAYOUTS
from .common import at_least, run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.check``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.check",
        description="Check a dataset before training: every image has a mask and vice versa, sizes match, every id "
                    "or colour is in the class table and every file decodes.")
    p.add_argument("path", help="dataset folder (Kaggle, TU Graz or prepared layout, up to 3 folders down)")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="layout to use when several are present")
    p.add_argument("--headers-only", action="store_true",
                   help="read only the photos' headers (faster; truncated photos are not detected)")
    p.add_argument("--workers", type=at_least(1), default=None, help="processes (default: all cores)")
    return p


def _run(args) -> int:
    from fastprogress.fastprogress import progress_bar

    report = check_dataset(args.path, decode_images=not args.headers_only, workers=args.workers,
                           kind=args.layout, progress=lambda it, **kw: progress_bar(it, **kw))
    print(report.summary())
    return 0 if report.ok else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
