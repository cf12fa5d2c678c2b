"""``python -m dronefast.train``: runs :func:`dronefast.cli.train.main`.

Importing this module leaves ``dronefast.train`` the function :func:`dronefast.workflows.training_run.train`, in any
order
(the package declines the submodule binding, see ``dronefast/__init__.py``)."""
import sys

from .cli.train import main

if __name__ == "__main__":
    sys.exit(main())
