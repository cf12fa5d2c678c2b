"""``python -m dronefast.prepare``: the ``prepare`` command (:mod:`dronefast.cli.prepare`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("prepare"))
