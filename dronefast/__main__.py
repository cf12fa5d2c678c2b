"""``python -m dronefast``: lists the commands; ``python -m dronefast COMMAND ...`` runs one."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
