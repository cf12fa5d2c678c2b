"""``python -m dronefast.sample DST``: write the built-in synthetic dataset (see
:mod:`dronefast.synthetic.generator`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..errors import UsageError
from ..sizes import format_size
from ..synthetic.generator import (
    DEFAULT_LAYOUT,
    DEFAULT_N,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    LAYOUTS,
    generate_sample,
    read_manifest,
    sample_is_complete,
    sample_params,
    sample_summary,
)
from .common import run_main, size_arg

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.sample``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.sample",
        description="Write the built-in synthetic drone-scene dataset (real class list and colours, "
                    "drawn scenes) to a folder.")
    p.add_argument("dst", type=Path, help="output folder (new or empty, or an earlier sample)")
    p.add_argument("-n", "--n", type=int, default=DEFAULT_N, help=f"number of images (default {DEFAULT_N})")
    p.add_argument("--size", type=size_arg, default=DEFAULT_SIZE, metavar="WxH",
                   help=f"image size, width first (default {format_size(DEFAULT_SIZE)})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed >= 0 (default {DEFAULT_SEED})")
    p.add_argument("--layout", choices=LAYOUTS, default=DEFAULT_LAYOUT,
                   help="folder layout: Kaggle (id + colour masks), TU Graz (colour masks) or both "
                        f"(default {DEFAULT_LAYOUT})")
    return p


def _run(args: argparse.Namespace) -> int:
    try:
        params = sample_params(args.n, args.size, args.seed, args.layout)
    except ValueError as e:
        raise UsageError(str(e)) from None
    fresh = not sample_is_complete(args.dst, params) if args.dst.is_dir() else True
    generate_sample(args.dst, **params)
    print(sample_summary(args.dst, read_manifest(args.dst), fresh))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point: ``python -m dronefast.sample DST [--n N] [--size WxH] [--seed S] [--layout L]``."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
