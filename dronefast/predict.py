"""``python -m dronefast.predict``: runs :func:`dronefast.cli.predict.main`."""
import sys

from .cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
