"""The public API of ``import dronefast``: every name resolves to the object of the module that defines it, the
import itself is light, and the commands' help answers without loading PyTorch."""
import importlib
import subprocess
import sys

import pytest

import dronefast


def test_every_public_name_is_the_defining_modules_object():
    for name in dronefast.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(f"dronefast.{dronefast._EXPORTS[name]}")
        assert getattr(dronefast, name) is getattr(module, name), name
        assert name in module.__all__, f"{name} is not in {module.__name__}.__all__"
    assert sorted(dronefast.__all__) == sorted(["__version__", *dronefast._EXPORTS])
    assert dronefast.train.__module__ == "dronefast.training.run"
    with pytest.raises(AttributeError, match="no attribute 'bench_train'"):
        dronefast.bench_train  # benchmarks live outside the package


def test_import_is_light():
    """`import dronefast` must not load fastai/torch (the light CLIs start fast)."""
    code = "import sys, dronefast; print('fastai' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "landing", "check", "prepare", "sample",
                                     "export", "app"])
def test_help_does_not_import_torch(command):
    """``--help`` answers at once: no PyTorch, fastai or matplotlib before the arguments are parsed."""
    code = (f"import runpy, sys; sys.argv = ['x', '--help']\n"
            f"try:\n    runpy.run_module('dronefast.{command}', run_name='__main__')\n"
            f"except SystemExit as e:\n    code = e.code\n"
            f"print(code, [m for m in ('torch', 'fastai', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"
