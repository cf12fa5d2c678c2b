"""``python -m dronefast.app``: runs :func:`dronefast.cli.app.main` (the command line lives in
:mod:`dronefast.cli`)."""
import sys

from ..cli.app import main

sys.exit(main())
