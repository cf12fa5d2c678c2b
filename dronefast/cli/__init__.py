"""The command line: one module per command (parser and ``main`` only, over library functions), what they share
(:mod:`.common`), and the table of commands (:data:`COMMANDS`). Every command runs the same two ways:
``python -m dronefast.<command> ...`` and ``python -m dronefast <command> ...``; ``python -m dronefast`` lists
them. The library never imports this package."""
from __future__ import annotations

import sys
from importlib import import_module
from typing import List, Optional

__all__ = ["COMMANDS", "run", "main", "usage"]

#: Command -> what it does, in the order a new user meets them (each is ``dronefast/cli/<command>.py``).
COMMANDS = {
    "train": "train a U-Net on a dataset (the built-in sample when none is given): the main job",
    "check": "check a dataset: every photo has a mask, sizes match, every class is known, every file decodes",
    "prepare": "write a training-ready copy of a dataset at a smaller size",
    "sample": "write the built-in synthetic sample",
    "predict": "class maps (and landing spots) of photos of any size and of drone videos",
    "evaluate": "score a model on the photos its training held out; landing safety against the truth",
    "landing": "landing spots of class masks, in pixels, metres and GPS",
    "export": "export a model to ONNX (optionally int8) for ONNX Runtime, TensorRT or OpenVINO",
    "app": "the web page: drop a drone photo, see the class map and where to land",
}


def run(command: str, argv: Optional[List[str]] = None) -> int:
    """Exit code of ``command`` (a key of :data:`COMMANDS`) run with `argv` (None: ``sys.argv[1:]``)."""
    if command not in COMMANDS:
        raise KeyError(f"unknown command {command!r}; the commands are {', '.join(COMMANDS)}")
    return import_module(f".{command}", __name__).main(argv)


def usage() -> str:
    """The list of commands ``python -m dronefast`` prints."""
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m dronefast COMMAND [ARGS...]   (or: python -m dronefast.<command> [ARGS...])", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()]
    lines += ["", "python -m dronefast COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m dronefast [COMMAND [ARGS...]]``: the list of commands (exit 0; exit 2 for an unknown one) or the
    command's exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"python -m dronefast: error: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return run(argv[0], argv[1:])
