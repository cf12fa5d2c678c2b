"""The notebooks in nbs/: committed without outputs, and executed headless (nbclient) on a tiny built-in sample.

Each notebook reads its parameters from ``DRONEFAST_NB_*`` environment variables (defaults are the real-use
values); here they are set to tiny values (48x32, the tests' tiny encoder (tests/tiny_encoder.py) without
ImageNet weights, 1 epoch, 20 ``lr_find`` steps, 12 photos of 96x64) so both notebooks run in about a minute on two
CPU cores. The kernel runs this test session's Python with the tiny encoder registered (a kernel spec written to a
temporary ``JUPYTER_PATH`` that starts tests/tiny_kernel.py), so a fresh machine that only ran
``pip install -e ".[test]"`` needs nothing else; its working folder is a temporary folder, where the notebooks
write their outputs.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.tiny_encoder import TINY_ARCH

NB_DIR = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
EXPECTED = {"00_quickstart.ipynb", "01_reproduce_reference.ipynb"}
KERNEL = "python3"
CELL_TIMEOUT_S = 600

#: Tiny settings for the test run (the notebooks' defaults are for real use).
TINY_ENV = {
    "DRONEFAST_NB_DATA": "",
    "DRONEFAST_NB_SAMPLE_N": "12",
    "DRONEFAST_NB_SAMPLE_SIZE": "96x64",
    "DRONEFAST_NB_SIZE": "48x32",
    "DRONEFAST_NB_BS": "4",
    "DRONEFAST_NB_ARCH": TINY_ARCH,
    "DRONEFAST_NB_PRETRAINED": "0",
    "DRONEFAST_NB_EPOCHS": "1",
    "DRONEFAST_NB_LR_FIND_ITERS": "20",  # dronefast.find_lr needs at least 20 steps
}


def _ids(paths):
    return [p.name for p in paths]


def test_notebooks_present():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_clean(path):
    """Valid nbformat 4, every code cell without outputs or execution count, and a tagged parameters cell."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or an execution count; clear them"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: expected one code cell tagged 'parameters'"
    for var in TINY_ENV:
        assert var in params[0].source, f"{path.name}: the parameters cell does not read {var}"


def test_quickstart_badge_points_at_itself():
    nb = nbformat.read(NB_DIR / "00_quickstart.ipynb", as_version=4)
    url = "https://colab.research.google.com/github/dronefast/dronefast/blob/main/nbs/00_quickstart.ipynb"
    assert url in nb.cells[0].source


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A module-scoped ``monkeypatch`` (environment variables for the kernels)."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, monkeypatch_module):
    """Environment for the kernels: tiny parameters, a private sample cache, and a ``python3`` kernel spec
    that runs this interpreter with this checkout first on the import path and the tiny encoder registered."""
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(root / "kernels" / KERNEL, overrides={
        "display_name": "Python 3 (dronefast tests)",
        "argv": [sys.executable, "-m", "tests.tiny_kernel", "-f", "{connection_file}"]})
    monkeypatch_module.setenv("JUPYTER_PATH", str(root))
    monkeypatch_module.setenv("DRONEFAST_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch_module.setenv("PYTHONPATH", str(NB_DIR.parent), prepend=os.pathsep)
    for k, v in TINY_ENV.items():
        monkeypatch_module.setenv(k, v)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_executes(path, kernel_env, tmp_path):
    """Run every cell in a fresh kernel (working folder: a temporary folder); any cell error fails the test."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.time()
    try:
        client.execute()
    except CellExecutionError as e:
        nbformat.write(nb, tmp_path / f"executed-{path.name}")  # for a closer look
        pytest.fail(f"{path.name}: a cell failed (executed copy: {tmp_path / ('executed-' + path.name)})\n{e}",
                    pytrace=False)
    print(f"{path.name}: {time.time() - t0:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_offline_defaults_stop_at_the_top_with_the_setting_to_flip(path, kernel_env, tmp_path, monkeypatch):
    """With ImageNet weights asked for (the real-use default) on a machine that cannot download them, the notebook
    stops at the cell right after the parameters, naming the setting to flip, before reading any data."""
    monkeypatch.setenv("DRONEFAST_NB_PRETRAINED", "1")
    monkeypatch.setenv("DRONEFAST_NB_ARCH", "resnet18")                  # an encoder with ImageNet weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))           # an empty weights cache
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")                    # nothing listens there: no download
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert "cannot get ImageNet weights" in str(info.value)
    assert "Set PRETRAINED = False in the Parameters cell" in str(info.value)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
              any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == [params + 1]
    assert not (tmp_path / "runs").exists()
