"""What every command shares: argparse types, the help formatter and the error-to-exit-code wrapper.

Every command is a thin argparse layer over library functions with ``main(argv=None) -> int``: exit 0 on
success, 1 on a data or run failure (printed as one line, no traceback), 2 on bad usage (argparse's own).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

from ..errors import DronefastError, UsageError
from ..sizes import parse_size

__all__ = ["size_arg", "positive_int", "positive_float", "factor", "fraction", "share", "probability",
           "probabilities", "at_least", "at_most", "lr_arg", "stems_arg", "run_main",
           "DefaultsFormatter", "prepare_cli", "KNOWN_WARNINGS", "describe_os_error"]


def size_arg(text: str):
    """argparse type for ``WxH`` sizes; returns ``(height, width)``."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return at_least(1)(text)


def at_least(low: int) -> Callable[[str], int]:
    """argparse type: an integer >= `low`."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v
    return parse


def at_most(high: int, low: int = 1) -> Callable[[str], int]:
    """argparse type: an integer from `low` to `high`."""
    def parse(text: str) -> int:
        v = at_least(low)(text)
        if v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {v}")
        return v
    return parse


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


def factor(text: str) -> float:
    """argparse type: a finite number >= 1."""
    v = _float_or_nan(text)
    if not (math.isfinite(v) and v >= 1):
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {text!r}")
    return v


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    v = _float_or_nan(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


def share(text: str) -> float:
    """argparse type: a share in [0, 1) (``0``: none)."""
    if _float_or_nan(text) == 0:
        return 0.0
    return fraction(text)


def probability(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    v = _float_or_nan(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text!r}")
    return v


def probabilities(text: str) -> Tuple[float, ...]:
    """argparse type: comma-separated numbers in [0, 1] (at least one)."""
    values = tuple(_float_or_nan(t) for t in text.split(",") if t.strip())
    if not values or not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated probabilities between 0 and 1, got {text!r}")
    return values


def stems_arg(text: str) -> Tuple[str, ...]:
    """argparse type: comma-separated file stems, or ``@FILE`` holding one a line."""
    if text.startswith("@"):
        try:
            lines = Path(text[1:]).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]} ({e})") from None
        stems = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    else:
        stems = [s.strip() for s in text.split(",") if s.strip()]
    if not stems:
        raise argparse.ArgumentTypeError("expected at least one file stem")
    return tuple(stems)


def lr_arg(text: str) -> Union[float, str]:
    """argparse type: a learning rate in (0, 10], or ``auto`` (run lr_find)."""
    from ..training.config import MAX_LR

    if text == "auto":
        return "auto"
    v = _float_or_nan(text)
    if not (math.isfinite(v) and 0 < v <= MAX_LR):
        raise argparse.ArgumentTypeError(f"lr must be a number in (0, {MAX_LR:g}] or 'auto', got {text!r}")
    return v


#: Warnings that third-party imports print on every command (nothing the user can act on).
KNOWN_WARNINGS = (
    ("ignore", r"`torch.jit.script` is deprecated", FutureWarning),
    ("ignore", r".*torch.cuda.amp.*is deprecated", FutureWarning),
    ("ignore", r"Arguments other than a weight enum", UserWarning),
    ("ignore", r"The parameter 'pretrained' is deprecated", UserWarning),
)


def prepare_cli() -> None:
    """What a command sets up before it imports the heavy libraries: the known third-party warnings silenced,
    matplotlib without a display, and fastprogress bars off when output is not a terminal (fastprogress checks
    ``sys.stdout.isatty`` without calling it, so a log file would get one line per update)."""
    for action, message, category in KNOWN_WARNINGS:
        warnings.filterwarnings(action, message=message, category=category)
    import matplotlib

    matplotlib.use("Agg")
    if not sys.stdout.isatty():
        import fastprogress.fastprogress as fp

        fp.NO_BAR = True
        _quiet_probe(fp.ConsoleProgressBar)


def _quiet_probe(bar_class: type) -> None:
    """fastprogress's console bar prints its fill character once when it is made (an encoding probe), bar or no
    bar: a stray ``█`` in a log file per bar. Without a terminal it is made silently."""
    if getattr(bar_class, "_quiet_probe", False):
        return
    init = bar_class.__init__

    def quiet_init(self, *args, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()):
            init(self, *args, **kwargs)

    bar_class.__init__, bar_class._quiet_probe = quiet_init, True


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ones (those options say their default in words) and those of flags."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def run_main(fn: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
             argv: Optional[List[str]] = None) -> int:
    """Parse `argv` with `parser` and call `fn(args)`.

    A :class:`UsageError` is printed as ``PROG: error: ...`` and gives exit code 2 (as argparse does); any
    other :class:`DronefastError` is printed as ``error: ...`` on stderr and gives exit code 1. As a last resort an
    ``OSError`` the library did not turn into a :class:`DronefastError` (a file it could not read or write) is
    printed the same way, as ``error: FILE: reason``, with exit code 1 instead of a traceback.
    """
    args = parser.parse_args(argv)
    try:
        return int(fn(args) or 0)
    except UsageError as e:
        print(f"{parser.prog}: error: {e.for_cli()}", file=sys.stderr)
        return 2
    except DronefastError as e:
        print(f"error: {e.for_cli()}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def describe_os_error(e: OSError) -> str:
    """``FILE: reason`` of an ``OSError`` (``FILE -> OTHER: reason`` for a rename; the bare message when no file
    is known), on one line."""
    reason = e.strerror or str(e) or type(e).__name__
    if e.filename is None:
        return " ".join(reason.split())
    where = str(e.filename) + (f" -> {e.filename2}" if getattr(e, "filename2", None) else "")
    return f"{where}: {reason}"
