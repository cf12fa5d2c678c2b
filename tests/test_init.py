import subprocess
import sys

import dronefast


def test_every_public_name_resolves():
    for name in dronefast.__all__:
        assert getattr(dronefast, name) is not None, name
    assert dronefast.drone_dataloaders.__module__ == "dronefast.data"


def test_import_is_light():
    """`import dronefast` must not load fastai/torch (the light CLIs start fast)."""
    code = "import sys, dronefast; print('fastai' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
