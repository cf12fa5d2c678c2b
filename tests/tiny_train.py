"""``python -m tests.tiny_train ARGS``: ``python -m dronefast.train ARGS`` in a process that knows the tests' tiny
encoder (``--arch tiny-test``, tests/tiny_encoder.py), for tests that train in new processes (torchrun's
workers)."""
import sys

import tests.tiny_encoder  # noqa: F401 -- registers the tiny encoder
from dronefast.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
