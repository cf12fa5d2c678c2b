"""Shared fixtures: tiny synthetic datasets made by dronefast.sample (never real data), in both layouts."""
from __future__ import annotations

import errno
import os
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import matplotlib
import pytest

from tests.tiny_encoder import TINY_ARCH, tiny_encoder  # noqa: F401 -- registers the tests' tiny encoder

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Run the suite's torch work on one thread: on 2 cores shared with other jobs, torch's spinning OpenMP
    threads made U-Net forwards many times slower (measured 20x on a loaded machine); tests stay small."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def classes():
    """The standard 24-class table."""
    from dronefast.data.classes import standard_classes

    return standard_classes()


@pytest.fixture(scope="session")
def sample_kaggle(tmp_path_factory) -> Path:
    """10 synthetic images, 96x64 (WxH), Kaggle layout (id masks, class_dict_seg.csv)."""
    from dronefast.synthetic.generator import generate_sample

    return generate_sample(tmp_path_factory.mktemp("kaggle") / "data", n=10, size=(64, 96), seed=1)


@pytest.fixture(scope="session")
def sample_both(tmp_path_factory) -> Path:
    """4 synthetic images, 96x64, in both the Kaggle and the TU Graz layout (colour masks)."""
    from dronefast.synthetic.generator import generate_sample

    return generate_sample(tmp_path_factory.mktemp("both") / "data", n=4, size=(64, 96), seed=2, layout="both")


@pytest.fixture
def kaggle_copy(sample_kaggle, tmp_path) -> Path:
    """A private, writable copy of `sample_kaggle` for tests that damage the data."""
    dst = tmp_path / "data"
    shutil.copytree(sample_kaggle, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_dls(sample_kaggle):
    """DataLoaders at 32x48 (HxW), batch size 3, no augmentation: fast and deterministic."""
    from dronefast.data.block import drone_dataloaders

    return drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, valid_pct=0.2, seed=0, augment=False,
                             progress=False)


class _PickleBomb:
    """Pickles to a call that creates `path`: a stand-in for malicious code in a weights or model file."""

    def __init__(self, path):
        self.path = Path(path)

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.fixture
def pickle_bomb(tmp_path):
    """``(payload, marker)``: unpickling `payload` creates the file `marker` (which must never appear)."""
    marker = tmp_path / "pwned"
    return _PickleBomb(marker), marker


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network and an empty torch hub cache; returns ``(TORCH_HOME, list of blocked download urls)``."""
    import torch

    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    calls = []

    def blocked(url, *args, **kwargs):
        calls.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("network blocked by the test")

    def no_socket(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", blocked)
    monkeypatch.setattr(torch.hub, "urlopen", blocked)
    monkeypatch.setattr(urllib.request, "urlopen", blocked)
    monkeypatch.setattr(socket.socket, "connect", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    return home, calls


#: Training arguments recorded in the tiny ONNX test model: the split its int8 calibration must respect.
TINY_MODEL_ARGS = {"valid_pct": 0.2, "seed": 0, "test_pct": 0.2}
#: The tiny ONNX test model's input (height, width).
TINY_MODEL_SIZE = (32, 48)


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory, sample_kaggle) -> Path:
    """A run folder of an untrained, seeded U-Net on the tests' tiny encoder (input 48x32) recording the tiny sample
    as its training data (the model the ONNX tests export)."""
    import torch

    from dronefast.data.classes import standard_classes
    from dronefast.models.modelfile import ModelInfo, build_model, save_model

    run = tmp_path_factory.mktemp("tiny-run")
    torch.manual_seed(0)
    info = ModelInfo(arch=TINY_ARCH, classes=standard_classes(), size=TINY_MODEL_SIZE,
                     extra={"train_args": {**TINY_MODEL_ARGS, "data": str(sample_kaggle)}})
    save_model(build_model(info).eval(), run / "model", info)
    return run


@pytest.fixture(scope="session")
def exported(tmp_path_factory, run_folder) -> Path:
    """The export folder (fp32 + int8) of `run_folder`, made once per session; int8 is forced past an agreement no
    graph reaches (an untrained network's int8 is not accurate anyway), so that both variants are made and
    checked. Needs the ``[onnx]`` extra (the tests that use it skip without it)."""
    from dronefast.workflows.export_onnx import export_onnx

    out = tmp_path_factory.mktemp("tiny-export") / "export"
    export_onnx(run_folder, out, int8=True, force=True, min_int8_agreement=1.01, n_calibration=4, n_check=2)
    return out


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(*names)``: from then on ``os.write`` fails with ENOSPC on the temporary files of the outputs with
    these file names (``.<stem>.<random>.tmp<suffix>``, :func:`dronefast.outputs.atomic_path`), as a full disk
    would; other writes go on. Reads ``/proc/self/fd`` (Linux)."""
    write = os.write

    def fill(*names: str) -> None:
        targets = [(f".{Path(n).stem}.", Path(n).suffix) for n in names]

        def full(fd, data):
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            if any(name.startswith(stem) and name.endswith(suffix) for stem, suffix in targets):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return write(fd, data)

        monkeypatch.setattr(os, "write", full)
    return fill
