"""``python -m dronefast.predict``: the ``predict`` command (:mod:`dronefast.cli.predict`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("predict"))
