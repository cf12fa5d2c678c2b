"""``python -m dronefast.check PATH``: check a dataset (see :mod:`dronefast.data.validation`); exit 1 listing every
offending file.

The number of photos is checked first, as ``train`` checks it (the same split and batch size options, with train's
defaults), so that a dataset ``check`` passes is one ``train`` can start on. Progress bars go to a terminal only:
with output redirected (or ``--no-progress``) nothing but the report is printed.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..data.layout import LAYOUTS
from ..data.split import DEFAULT_SEED, Split
from ..data.validation import check_dataset
from ..training.recipes import DEFAULT_RECIPE, get_recipe
from .common import at_least, fraction, positive_int, run_main, share

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.check``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.check",
        description="Check a dataset before training: enough photos for the training split and batch size, every "
                    "image has a mask and vice versa, sizes match, every id or colour is in the class table and "
                    "every file decodes.")
    p.add_argument("path", help="dataset folder (Kaggle, TU Graz or prepared layout, up to 3 folders down)")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="layout to use when several are present")
    p.add_argument("--headers-only", action="store_true",
                   help="read only the photos' headers (faster; truncated photos are not detected)")
    p.add_argument("--workers", type=at_least(1), default=None, help="processes (default: all cores)")
    bs = get_recipe(DEFAULT_RECIPE).bs
    t = p.add_argument_group("the training the photo count is checked for (train's options and defaults)")
    t.add_argument("--bs", type=positive_int, default=bs, help=f"batch size (default {bs}, the {DEFAULT_RECIPE} "
                                                                f"recipe's)")
    t.add_argument("--valid-pct", type=fraction, default=0.1, help="share of the photos held out for validation "
                                                                   "(default 0.1)")
    t.add_argument("--test-pct", type=share, default=0.1, help="share of the photos set aside for the test "
                                                               "(default 0.1; 0 for none)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none either when output is not a terminal)")
    return p


def _run(args) -> int:
    progress = None
    if not args.no_progress and sys.stdout.isatty():
        from fastprogress.fastprogress import progress_bar

        progress = lambda it, **kw: progress_bar(it, **kw)  # noqa: E731
    split = Split(args.valid_pct, DEFAULT_SEED, args.test_pct)  # the seed does not change the counts
    report = check_dataset(args.path, decode_images=not args.headers_only, workers=args.workers,
                           kind=args.layout, progress=progress, split=split, bs=args.bs)
    print(report.summary())
    return 0 if report.ok else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
