"""``python -m dronefast.evaluate``: the ``evaluate`` command (:mod:`dronefast.cli.evaluate`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("evaluate"))
