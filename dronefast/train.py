"""``python -m dronefast.train``: runs :func:`dronefast.cli.train.main`."""
import sys

from .cli.train import main

if __name__ == "__main__":
    sys.exit(main())
