"""``python -m dronefast.train``: the ``train`` command (:mod:`dronefast.cli.train`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("train"))
