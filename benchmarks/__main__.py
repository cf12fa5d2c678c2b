"""``python -m benchmarks {train,overhead,prepare,predict,export,levers,recipes} ...``: run one benchmark, print its
report and, with ``--json PATH``, write the full results (every sample, the machine, the load before and after).

Variants are timed side by side in one run, interleaved round by round with the order rotated, and reported as
medians, so that a load change on a shared machine hits all of them alike; the ratios printed are those the
project's targets are written in. Each sub-command's options are in its module (``add_arguments``).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from types import ModuleType
from typing import Dict, List, Optional

from benchmarks import export, levers, overhead, predict, prepare, recipes, train
from benchmarks.harness import Clock, machine_line, torch_threads
from dronefast.cli.common import DefaultsFormatter, run_main

__all__ = ["PROG", "COMMANDS", "build_parser", "run", "main"]

PROG = "python -m benchmarks"
#: Sub-command -> its module (``HELP``, ``add_arguments``, ``from_args``, ``report_lines``).
COMMANDS: Dict[str, ModuleType] = {"train": train, "overhead": overhead, "prepare": prepare, "predict": predict,
                                   "export": export, "levers": levers, "recipes": recipes}


def _first_paragraph(doc: str) -> str:
    """A docstring's first paragraph without reST markup, for --help."""
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", doc.split("\n\n")[0]).replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m benchmarks``."""
    p = argparse.ArgumentParser(prog=PROG, description=_first_paragraph(__doc__), formatter_class=DefaultsFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=_first_paragraph(module.__doc__),
                                            formatter_class=DefaultsFormatter))
    return p


def run(args: argparse.Namespace, argv: List[str], clock: Clock = time.perf_counter) -> int:
    """Run the benchmark `args` name, print its report, write its JSON when asked; returns the exit code."""
    from dronefast.cli.common import prepare_cli
    from dronefast.outputs import write_json

    prepare_cli()
    module = COMMANDS[args.command]
    with warnings.catch_warnings(), torch_threads(args.threads):
        warnings.filterwarnings("ignore", category=UserWarning)
        result = module.from_args(args, clock)
    result["argv"] = [*PROG.split(), *argv]
    print("\n".join([machine_line(result["machine"]), *module.report_lines(result)]))
    if args.json:
        write_json(args.json, result)
        print(f"results written to {args.json}")
    return 0


def main(argv: Optional[List[str]] = None, clock: Clock = time.perf_counter) -> int:
    """Command-line entry point; returns the exit code. `clock` times the benchmarks (tests pass a fake one)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    return run_main(lambda a: run(a, args_list, clock), build_parser(), args_list)


if __name__ == "__main__":
    sys.exit(main())
