"""The public API of ``import dronefast``: every name resolves to the object of the module that defines it, the
import itself is light, and the commands' help answers without loading PyTorch."""
import importlib
import subprocess
import sys
from pathlib import Path

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
    assert dronefast.train.__module__ == "dronefast.workflows.training_run"
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


def _submodule_names():
    """Public names that are also the name of a module or subpackage of dronefast (e.g. ``train``)."""
    root = Path(dronefast.__file__).parent
    return sorted(n for n in dronefast._EXPORTS if (root / f"{n}.py").is_file() or (root / n / "__init__.py").is_file())


def test_public_names_that_are_submodule_names_are_known():
    assert _submodule_names() == ["train"]   # a new one is covered by the tests below; this says which they are


ORDERS = {
    "submodule first": "import dronefast.{name}\nimport dronefast as df\n",
    "function first": "import dronefast as df\nfirst = df.{name}\nimport dronefast.{name}\nassert df.{name} is first\n",
}


@pytest.mark.parametrize("name", _submodule_names())
def test_importing_the_command_module_keeps_the_public_function(name):
    """``import dronefast.train`` (the module of ``python -m dronefast.train``) binds the submodule to the package's
    attribute; ``dronefast.train`` must stay the function, in either order, and the module stay importable.

    Both orders run in one new interpreter: before each, every ``dronefast`` module is dropped from
    ``sys.modules``, so the package is imported afresh (torch and fastai, loaded once, are not what is tested)."""
    checks = (f"import sys\nassert callable(df.{name}), type(df.{name})\n"
              f"assert df.{name}.__module__ == df._EXPORTS[{name!r}].join(['dronefast.', ''])\n"
              f"assert sys.modules['dronefast.{name}'].run is sys.modules['dronefast.cli'].run\n"
              f"from dronefast import {name} as again\nassert again is df.{name}\n"
              f"try:\n    df.{name}(no_such_setting=1)\nexcept TypeError as e:\n    print(order, '|', e)\n")
    fresh = "import sys\nfor m in [m for m in sys.modules if m.split('.')[0] == 'dronefast']:\n    del sys.modules[m]\n"
    code = "".join(f"{fresh}order = {order!r}\n{imports.format(name=name)}{checks}"
                   for order, imports in ORDERS.items())
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    error = "TrainConfig.__init__() got an unexpected keyword argument 'no_such_setting'"
    assert run.stdout.strip().splitlines()[-2:] == [f"{order} | {error}" for order in ORDERS]


def test_other_submodules_are_still_bound_to_the_package():
    """Only public names are kept from a submodule import: a command module without a public name of its own is the
    package's attribute as usual."""
    code = ("import dronefast.predict, dronefast\n"
            "print(type(dronefast.predict).__name__, dronefast.predict.run.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["module", "dronefast.cli"]
