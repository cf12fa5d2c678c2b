"""``python -m dronefast.app``: the ``app`` command (:mod:`dronefast.cli.app`)."""
import sys

from ..cli import run

if __name__ == "__main__":
    sys.exit(run("app"))
