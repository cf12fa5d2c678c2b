"""``python -m dronefast.landing``: runs :func:`dronefast.cli.landing.main` (the command line lives in
:mod:`dronefast.cli`)."""
import sys

from ..cli.landing import main

sys.exit(main())
