"""``python -m dronefast.landing``: the ``landing`` command (:mod:`dronefast.cli.landing`)."""
import sys

from ..cli import run

if __name__ == "__main__":
    sys.exit(run("landing"))
