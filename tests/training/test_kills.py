"""Runs killed with SIGKILL at each write: nothing is truncated, nothing is lost, ``--resume`` finishes them, and a
run killed and resumed (however often) gives the very history of one that was not interrupted.

Each training is the command's ``main`` (what ``python -m dronefast.train`` runs) in a forked child process, on the
10-photo sample at 48x32 with a random U-Net on the tests' tiny encoder. A child is killed from outside the library:
the test replaces ``os.replace``
in the child only (every output is written to a temporary file and renamed by ``os.replace``), and the
replacement sends SIGKILL to its own process just before or just after the n-th rename onto a chosen file. Forking
(instead of ``python -m``) spares each run the 8 s import of fastai and PyTorch; the child is a separate process
killed as a user's would be, and all runs, the uninterrupted one included, start from the same state.

One chain of runs (4 epochs) is killed at a different write each time and resumed, then finished; its history must
equal, number for number, that of an uninterrupted run with the same settings.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

from tests.conftest import TINY_ARCH

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the runs are forked children (POSIX)")

ARGS = ["--size", "48x32", "--arch", TINY_ARCH, "--bs", "8", "--no-pretrained", "--no-progress", "--test-pct", "0",
        "--epochs", "4", "--lr", "1e-2", "--valid-pct", "0.2"]
TEMP = ".tmp"  # every temporary file of dronefast.outputs.atomic_path has it in its name


def _kill_on_replace(target: Path, when: str, nth: int) -> None:
    """In this (child) process: SIGKILL right `when` ("before" / "after") the `nth` rename onto `target`."""
    real, seen = os.replace, [0]

    def replace(src, dst, *args, **kwargs):
        hit = os.path.abspath(dst) == str(target)
        if hit:
            seen[0] += 1
        if hit and seen[0] == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *args, **kwargs)
        if hit and seen[0] == nth and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace


def start_child(argv, log: Path, kill=None) -> SimpleNamespace:
    """Start ``dronefast.cli.train.main(argv)`` in a forked child; `kill`: ``(file, "before" | "after", nth)`` or
    None. :func:`wait_child` gives its outcome."""
    out, err = log.with_suffix(".out"), log.with_suffix(".err")
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            if kill is not None:
                _kill_on_replace(*kill)
            from dronefast.cli.train import main

            code = main(list(argv))
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return SimpleNamespace(pid=pid, out=out, err=err, argv=argv)


def wait_child(child: SimpleNamespace, timeout: float = 300) -> SimpleNamespace:
    """The exit code of a child (or the signal that ended it, as ``-N``) and its stdout and stderr."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(child.pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
            raise TimeoutError(f"training child {child.argv} did not end in {timeout} s")
        time.sleep(0.05)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return SimpleNamespace(rc=rc, out=child.out.read_text(), err=child.err.read_text())


def train_child(argv, log: Path, kill=None) -> SimpleNamespace:
    """:func:`start_child` and :func:`wait_child`."""
    return wait_child(start_child(argv, log, kill))


def incomplete_files(folder: Path) -> list:
    """Files of a run folder that are not complete (each read back by its format); temporary files not counted."""
    bad = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or TEMP in p.name or p.name == ".lock":
            continue
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".csv":
                assert len(pd.read_csv(p).columns) > 1
            elif p.suffix == ".png":
                with Image.open(p) as im:
                    im.verify()
            elif p.suffix in (".pth", ".pkl"):  # torch's zip format: every member's CRC checked
                with zipfile.ZipFile(p) as z:
                    assert z.testzip() is None
            elif p.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(p), framework="pt") as f:
                    assert list(f.keys())
        except Exception as e:
            bad.append(f"{p.relative_to(folder)}: {type(e).__name__}: {e}")
    return bad


def temp_files(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(f"*{TEMP}*"))


def history(folder: Path) -> pd.DataFrame:
    """The history as written (text, so that equal means equal to the last digit), without the time column."""
    return pd.read_csv(folder / "history.csv", dtype=str).drop(columns="time")


#: The chain: (what is killed, start flag, file renamed onto, before / after the rename, which rename in that run).
#: Epochs are counted from 1 here; the run has 4. Each run after the first resumes the one killed before it. From
#: the second on, the run replaces the first one's folder: it runs in the staging folder ``.next-run`` and is moved
#: into place once finished (the last kill interrupts that move).
CHAIN = [
    ("first epoch, best model half-written", None, "models/best.pth", "before", 1),
    ("epoch boundary after epoch 2 of 4", "--overwrite", ".next-run/models/checkpoint.json", "after", 2),
    ("epoch 3 checkpoint renamed, its progress json not", "--resume", ".next-run/models/last.pth", "after", 1),
    ("epoch 4 logged, not checkpointed", "--resume", ".next-run/history.stage0.csv", "after", 2),
    ("history merged, model.safetensors half-written", "--resume", ".next-run/model.safetensors", "before", 1),
    ("metrics.json (the finished mark) half-written", "--resume", ".next-run/metrics.json", "before", 1),
    (SWAP := "finished, moved into place but for metrics.json", "--resume", "metrics.json", "before", 1),
]


@pytest.fixture(scope="module")
def chain(sample_kaggle, tmp_path_factory):
    """The uninterrupted run, then the chain of killed runs (each checked right after its kill), then the final
    resume; the refusal of a resume after the first kill."""
    import matplotlib.pyplot  # noqa: F401  -- imported once here, not in each forked child

    import dronefast.cli.train  # noqa: F401
    import dronefast.workflows.training_run  # noqa: F401

    root = tmp_path_factory.mktemp("kills")
    reference = root / "reference"  # beside the chain, on the other core
    ref = start_child([str(sample_kaggle), "--out", str(reference), *ARGS], root / "reference")
    run = root / "run"
    steps, refusal = {}, None
    for i, (name, flag, target, when, nth) in enumerate(CHAIN):
        argv = [str(sample_kaggle), "--out", str(run), *([flag] if flag else []), *ARGS]
        res = train_child(argv, root / f"step{i}", kill=(run / target, when, nth))
        steps[name] = SimpleNamespace(res=res, incomplete=incomplete_files(run), temps=temp_files(run),
                                      files={str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()})
        if i == 0:
            refusal = train_child([str(sample_kaggle), "--out", str(run), "--resume", *ARGS], root / "refusal")
    final = train_child([str(sample_kaggle), "--out", str(run), "--resume", *ARGS], root / "final")
    return SimpleNamespace(ref=wait_child(ref), reference=reference, run=run, steps=steps, refusal=refusal, final=final)


@pytest.mark.parametrize("step", [c[0] for c in CHAIN])
def test_a_kill_at_each_write_leaves_only_complete_files(chain, step):
    s = chain.steps[step]
    assert s.res.rc == -signal.SIGKILL, (s.res.rc, s.res.err[-2000:])  # killed at that very write
    assert s.incomplete == [], s.incomplete                              # nothing truncated
    target, when = next((c[2], c[3]) for c in CHAIN if c[0] == step)
    if step == SWAP:       # every file of the new run moved into place but the finished mark, still in staging
        assert ".next-run/metrics.json" in s.files and "metrics.json" not in s.files and "model.json" in s.files
    elif when == "before":   # the new file is left in its temporary name only
        assert any(Path(t).name.startswith(f".{Path(target).stem}.") for t in s.temps), s.temps
    else:
        assert target in s.files


def test_a_kill_in_the_first_epoch_leaves_nothing_to_resume(chain):
    r = chain.refusal
    assert r.rc == 1 and "Traceback" not in r.err, r.err
    [line] = r.err.strip().splitlines()
    assert line.startswith(f"error: {chain.run}: nothing to resume (the folder was interrupted before its first "
                           f"epoch ended)") and "--overwrite" in line


def test_resume_finishes_with_a_loadable_model_and_no_leftovers(chain):
    from dronefast.models.modelfile import load_model

    f = chain.final
    assert f.rc == 0, f.err[-3000:]
    assert "Traceback" not in f.err
    assert "replacement of the run before it had been interrupted; it is now complete" in f.out
    assert incomplete_files(chain.run) == [] and temp_files(chain.run) == []
    for name in (".next-run", ".lock", "models", "export.pkl"):   # the weights once, nothing left over
        assert not (chain.run / name).exists(), name
    net, info = load_model(chain.run)
    assert info.size == (32, 48) and len(info.classes) == 24
    assert (chain.run / "metrics.json").is_file()


def test_killed_and_resumed_equals_uninterrupted(chain):
    """Killed at the boundary after epoch 2 of 4 and then again mid-checkpoint, after logging an epoch it had not
    checkpointed, twice while writing the outputs and once while moving them into place, and resumed each time: the
    history of the uninterrupted run, exactly (train_loss, valid_loss and metrics of every epoch), and the same
    final scores."""
    assert chain.ref.rc == 0, chain.ref.err[-3000:]
    expected, got = history(chain.reference), history(chain.run)
    assert list(expected.epoch) == ["0", "1", "2", "3"]
    pd.testing.assert_frame_equal(got, expected)
    m_ref = json.loads((chain.reference / "metrics.json").read_text())
    m_run = json.loads((chain.run / "metrics.json").read_text())
    for k in ("pixel_accuracy", "accuracy_mask", "miou", "iou"):
        assert m_run[k] == m_ref[k], k
