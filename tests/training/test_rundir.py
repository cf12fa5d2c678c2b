"""Tests of dronefast.training.rundir without training: a run replaced only once the new one has finished, only a
run's files touched, a replacement killed at any rename completed by the next training, and the lock file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from dronefast.errors import RunFolderError
from dronefast.training.rundir import NEXT_RUN, RunFolder

OLD = {"run.json": "old record", "metrics.json": "old scores", "model.json": "old description",
       "model.safetensors": "old weights", "export.pkl": "old pickle", "models/best.pth": "old best epoch",
       "history.stage1.csv": "old second stage", "split.json": "old split"}
NEW = {"run.json": "new record", "metrics.json": "new scores", "model.json": "new description",
       "model.safetensors": "new weights", "history.csv": "new history", "history.stage0.csv": "new stage"}
MINE = {"models/my_model_v7.pth": "the user's model", "notes.txt": "the user's notes"}


def _write(root: Path, files: dict) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _read(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def replacing(tmp_path):
    """A finished old run with the user's files in it, and a finished new run in its staging folder."""
    run = tmp_path / "run"
    _write(run, {**OLD, **MINE})
    folder = RunFolder(run)
    assert folder.state == "finished"
    _write(run / NEXT_RUN, NEW)
    return folder


def test_finish_replaces_the_runs_files_and_nothing_else(replacing):
    replacing.finish(replacing.path / NEXT_RUN)
    assert _read(replacing.path) == {**NEW, **MINE}   # the old run's other files gone, the user's kept


@pytest.mark.parametrize("kill_at", range(len(NEW) + 1))
def test_a_replacement_killed_at_any_rename_is_completed_by_the_next_training(replacing, monkeypatch, kill_at):
    """Killed before the n-th rename (the mark written, then each file moved in, metrics.json last): the folder is
    never a finished mix of both runs, and :meth:`RunFolder.recover` completes it to the very same result."""
    real, calls = os.replace, [0]

    class Killed(BaseException):
        pass

    def replace(src, dst):
        if calls[0] == kill_at:
            raise Killed
        calls[0] += 1
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
        replacing.finish(replacing.path / NEXT_RUN)
    monkeypatch.setattr(os, "replace", real)
    assert replacing.state == "interrupted"        # not finished: metrics.json, the old one first, went first
    with replacing.lock():
        assert RunFolder(replacing.path).recover() is True
    assert _read(replacing.path) == {**NEW, **MINE}
    assert RunFolder(replacing.path).recover() is False


def test_overwrite_starts_in_the_staging_folder_and_a_failure_leaves_the_old_run(tmp_path):
    run = tmp_path / "run"
    _write(run, {**OLD, **MINE})
    folder = RunFolder(run)
    with pytest.raises(RunFolderError, match="holds a finished run"):
        folder.check_start(resume=False, overwrite=False)
    work = folder.check_start(resume=False, overwrite=True)
    assert work == run / NEXT_RUN and work.is_dir()
    folder.write_record({"settings": {}}, work)
    folder.abandon(work)                            # failed before its first checkpoint: nothing to resume
    assert _read(run) == {**OLD, **MINE} and not work.exists()


def test_a_folder_of_other_files(tmp_path):
    out = tmp_path / "mine"
    _write(out, MINE)
    folder = RunFolder(out)
    assert folder.state == "other"
    with pytest.raises(RunFolderError, match=r"not empty and not a dronefast run \(holds models, notes.txt\)"):
        folder.check_start(resume=False, overwrite=False)
    assert folder.check_start(resume=False, overwrite=True) == out / NEXT_RUN   # beside the user's files
    _write(out, {"model.json": "the user's own description"})
    with pytest.raises(RunFolderError, match=r"mine/model.json: a file a run writes, but not a dronefast run's"):
        folder.check_start(resume=False, overwrite=True)


def test_the_lock_refuses_a_second_training_and_leaves_no_file(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock():
        assert (folder.path / ".lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunFolderError, match=rf"another training \(process {os.getpid()}\) is writing"):
            with RunFolder(folder.path).lock():
                pass
        assert (folder.path / ".lock").is_file()     # the refused one left the holder's lock alone
    assert list(folder.path.iterdir()) == []
