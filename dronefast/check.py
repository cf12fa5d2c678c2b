"""``python -m dronefast.check``: runs :func:`dronefast.cli.check.main`."""
import sys

from .cli.check import main

if __name__ == "__main__":
    sys.exit(main())
