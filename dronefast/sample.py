"""``python -m dronefast.sample``: runs :func:`dronefast.cli.sample.main`."""
import sys

from .cli.sample import main

if __name__ == "__main__":
    sys.exit(main())
