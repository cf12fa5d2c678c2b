"""Data-parallel training: two CPU processes (gloo) launched by torchrun through fastai + accelerate."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from dronefast.training.distributed import (
    DroneDistributedDL,
    broadcast_object,
    distributed,
    is_main_process,
    world_size,
)
from tests.conftest import TINY_ARCH

#: The repository root: the launched processes import the tests' tiny encoder from there.
REPO = Path(__file__).resolve().parents[2]
ARGS = ["--size", "48x32", "--arch", TINY_ARCH, "--bs", "2", "--epochs", "2", "--lr", "1e-3", "--valid-pct", "0.3",
        "--test-pct", "0",
        "--no-pretrained", "--no-progress"]


@pytest.fixture(scope="module")
def two_process_run(sample_kaggle, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    # dronefast.train's main, in workers that know the tiny encoder (tests/tiny_train.py)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "tests.tiny_train",
           str(sample_kaggle), "--out", str(out), *ARGS]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    return proc, out


def test_two_processes_finish_and_rank0_alone_writes(two_process_run):
    proc, out = two_process_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "batch size 2 per process x 2 processes" in proc.stdout
    assert proc.stdout.count("outputs in ") == 1  # one summary: rank 0's
    for name in ("model.json", "model.safetensors", "metrics.json", "show_results.png", "show_batch.png"):
        assert (out / name).is_file(), name
    assert not (out / "models").exists()  # the finished run's checkpoint is gone: the weights are kept once
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == [0, 1]  # one logger: no rows written twice
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


def test_metrics_equal_a_one_process_run(two_process_run, sample_kaggle):
    """Every validation pixel is counted exactly once across the two ranks: the scores of the saved model
    recomputed in one process over the same validation split are the same."""
    from dronefast.data.block import drone_dataloaders
    from dronefast.metrics.callback import find_confusion
    from dronefast.models.learner import drone_learner
    from dronefast.models.modelfile import load_model

    proc, out = two_process_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((out / "metrics.json").read_text())
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=2, valid_pct=0.3, seed=42, progress=False)
    assert len(dls.valid_ds) == 3  # 3 images on 2 ranks: fastai pads one rank with a repeat
    learn = drone_learner(dls, TINY_ARCH, pretrained=False)
    learn.model, _ = load_model(out / "model.json")
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    learn.validate()
    one = find_confusion(learn).scores()
    assert ddp["support"] == one["support"]
    assert sum(one["support"].values()) == ddp["n_pixels"] == 3 * 32 * 48
    assert ddp["pixel_accuracy"] == pytest.approx(one["pixel_accuracy"], abs=1e-9)
    assert ddp["miou"] == pytest.approx(one["miou"], abs=1e-9)


def test_single_process_helpers_are_no_ops(tiny_dls):
    from dronefast.models.learner import drone_learner

    assert world_size() == 1 and is_main_process()
    assert broadcast_object({"lr": 1e-3}) == {"lr": 1e-3}
    learn = drone_learner(tiny_dls, TINY_ARCH, pretrained=False)
    n = len(learn.cbs)
    with distributed(learn):
        assert len(learn.cbs) == n  # nothing added outside a distributed launch


def test_index_broadcast_works_on_a_cpu_group(tmp_path):
    """fastai's DistributedDL broadcasts with .cuda() tensors; ours uses the CPU with gloo."""
    dist = torch.distributed
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert DroneDistributedDL._broadcast(None, [3, 1, 2], 0) == [3, 1, 2]
    finally:
        dist.destroy_process_group()


NOTEBOOK_LAUNCH = '''
import sys
from accelerate import notebook_launcher
from dronefast import train
from tests.tiny_encoder import TINY_ARCH

def run():  # as the quickstart notebook's multi-GPU note does
    train(data=sys.argv[1], out=sys.argv[2], arch=TINY_ARCH, size=(32, 48), bs=2, epochs=1, lr=1e-3,
          valid_pct=0.3, pretrained=False, progress=False)

notebook_launcher(run, num_processes=2)
'''


def test_notebook_launcher_runs_train_on_two_processes(sample_kaggle, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run([sys.executable, "-c", NOTEBOOK_LAUNCH, str(sample_kaggle), str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["world_size"] == 2
    assert proc.stdout.count("outputs in ") == 1
