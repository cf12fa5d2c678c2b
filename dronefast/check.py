"""``python -m dronefast.check``: the ``check`` command (:mod:`dronefast.cli.check`)."""
import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run("check"))
