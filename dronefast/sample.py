"""``python -m dronefast.sample``: the ``sample`` command (:mod:`dronefast.cli.sample`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("sample"))
