"""Shared pieces of the command-line tools: size parsing and the error-to-exit-code wrapper.

Every command is a thin argparse layer over library functions with ``main(argv=None) -> int``: exit 0 on
success, 1 on a data or run failure (printed as one line, no traceback), 2 on bad usage (argparse's own).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from .errors import DronefastError, UsageError

__all__ = ["parse_size", "size_arg", "format_size", "positive_int", "positive_float", "fraction", "run_main"]


def parse_size(text: str) -> Tuple[int, int]:
    """Parse a size written ``WxH`` (width first, e.g. ``300x200``) or ``N`` (square) into fastai's
    ``(height, width)`` order. Raises ValueError on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*", str(text))
    if not m:
        raise ValueError(f"size must be WxH (width first, e.g. 300x200) or a single number, got {text!r}")
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) else w
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return h, w


def size_arg(text: str) -> Tuple[int, int]:
    """argparse type for ``WxH`` sizes; returns ``(height, width)``."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # fails every range check below


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    v = _float_or_nan(text)
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    v = _float_or_nan(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


def format_size(hw: Sequence[int]) -> str:
    """``(height, width)`` -> ``'WxH'``."""
    h, w = hw
    return f"{w}x{h}"


def run_main(fn: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
             argv: Optional[List[str]] = None) -> int:
    """Parse `argv` with `parser` and call `fn(args)`.

    A :class:`UsageError` is printed as ``PROG: error: ...`` and gives exit code 2 (as argparse does); any
    other :class:`DronefastError` is printed as ``error: ...`` on stderr and gives exit code 1.
    """
    args = parser.parse_args(argv)
    try:
        return int(fn(args) or 0)
    except UsageError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except DronefastError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
