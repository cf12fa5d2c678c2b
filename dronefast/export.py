"""``python -m dronefast.export``: runs :func:`dronefast.cli.export.main`."""
import sys

from .cli.export import main

if __name__ == "__main__":
    sys.exit(main())
