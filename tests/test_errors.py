"""Tests of dronefast.errors."""
from dronefast.errors import RunFolderError


def test_run_folder_errors_fill_only_their_options():
    """Paths and exception texts go into the message as they are, braces and all; only the named options are
    spelled, for Python or for the command line."""
    e = RunFolderError("runs/{a}b: cannot resume ({'x': 1} is not {valid}); pass {resume} or {overwrite}")
    assert str(e) == "runs/{a}b: cannot resume ({'x': 1} is not {valid}); pass resume=True or overwrite=True"
    assert e.for_cli() == "runs/{a}b: cannot resume ({'x': 1} is not {valid}); pass --resume or --overwrite"

