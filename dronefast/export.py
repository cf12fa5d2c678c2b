"""``python -m dronefast.export``: the ``export`` command (:mod:`dronefast.cli.export`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("export"))
