"""``python -m dronefast.prepare``: runs :func:`dronefast.cli.prepare.main`."""
import sys

from .cli.prepare import main

if __name__ == "__main__":
    sys.exit(main())
