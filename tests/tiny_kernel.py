"""``python -m tests.tiny_kernel -f CONNECTION_FILE``: ipykernel's kernel in a process that knows the tests' tiny
encoder (``tiny-test``, tests/tiny_encoder.py): the kernel the notebook tests run the notebooks in."""
from ipykernel import kernelapp

import tests.tiny_encoder  # noqa: F401 -- registers the tiny encoder

if __name__ == "__main__":
    kernelapp.launch_new_instance()
