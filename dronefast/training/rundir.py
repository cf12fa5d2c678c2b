"""The output folder of a training run: one run at a time, never replaced or mixed without being asked.

A folder is *empty* (or missing), holds a *finished* run (``metrics.json`` written last), an *interrupted* one
(``run.json`` without ``metrics.json``), or files of its own that dronefast did not write. Training

* into a finished or interrupted run is refused unless ``overwrite`` (the run's files are removed first; other
  files are left alone) or, for an interrupted run, ``resume``;
* takes a lock on the folder (``.lock``, an OS file lock released when the process ends, however it ends), so a
  second training into the same folder fails at once, naming the process that holds it; under the lock, the
  temporary files a killed run may have left (``.<name>.<random>.tmp<suffix>``, never a complete output) are removed;
* resumes only from a checkpoint (``models/last.pth``, written atomically after every epoch): a run killed before
  its first epoch ended is refused with "nothing to resume";
* reports a folder it cannot create or write (a file in the way, read-only, no permission) as one
  :class:`~dronefast.errors.OutputError` naming the path;
* on resume compares every setting that changes the result with the run's record (``run.json``) and refuses with
  the list of differences; the record is only rewritten once that check has passed.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List

from ..errors import RunFolderError
from ..outputs import (
    make_folder,
    output_error,
    remove_file,
    remove_temp_files,
    write_json,
)
from .callbacks import CHECKPOINT_NAME, STATE_FILE

__all__ = ["RunFolder", "RUN_FILES", "CHECKPOINT_FILES", "RUN_RECORD", "FINISHED_MARK", "LOCK_FILE"]

RUN_RECORD = "run.json"
#: The folder's lock file (left in place: removing it could let two processes lock two different files).
LOCK_FILE = ".lock"
#: Written last: its presence means the run finished.
FINISHED_MARK = "metrics.json"
#: Files (relative to the folder) a run writes; ``overwrite`` removes these and nothing else.
RUN_FILES = (RUN_RECORD, FINISHED_MARK, "show_batch.png", "lr_find.png", "history.csv", "history.stage0.csv",
             "history.stage1.csv", "show_results.png", "model.json", "model.safetensors", "export.pkl", "models")
#: The resume checkpoint inside ``models/`` (the checkpoint itself, and its progress as readable JSON), removed when
#: a run finishes unless kept.
CHECKPOINT_FILES = (f"{CHECKPOINT_NAME}.pth", STATE_FILE)


class RunFolder:
    """A training run's output folder (see the module docstring).

    Args:
        path: the folder (created when the run starts).
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def state(self) -> str:
        """``"empty"``, ``"finished"``, ``"interrupted"`` or ``"other"`` (files, but no run)."""
        if not self.path.is_dir() or not any(p.name != LOCK_FILE for p in self.path.iterdir()):
            return "empty"
        if (self.path / FINISHED_MARK).is_file():
            return "finished"
        if (self.path / RUN_RECORD).is_file() or any((self.path / "models" / n).is_file() for n in CHECKPOINT_FILES):
            return "interrupted"
        return "other"

    def check_start(self, resume: bool, overwrite: bool) -> None:
        """Refuse to start as asked when the folder's state does not allow it (RunFolderError)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path}: exists and is not a folder; choose another output folder")
        state = self.state
        if resume and overwrite:
            raise RunFolderError("{resume} and {overwrite} exclude each other")
        if resume:
            if state == "finished":
                raise RunFolderError(f"{self.path}: the run there finished; nothing to resume (pass "
                                     f"{{overwrite}} to train it again)")
            if not (self.path / "models" / CHECKPOINT_FILES[0]).is_file():
                why = "was interrupted before its first epoch ended" if state == "interrupted" else "holds no run"
                raise RunFolderError(f"{self.path}: nothing to resume (the folder {why}); start it again with "
                                     f"{{overwrite}}")
            return
        if state == "finished" and not overwrite:
            raise RunFolderError(f"{self.path}: holds a finished run ({FINISHED_MARK}); pass {{overwrite}} "
                                 f"to replace it, or choose another output folder")
        if state == "interrupted" and not overwrite:
            raise RunFolderError(f"{self.path}: holds an interrupted run; pass {{resume}} to continue it or "
                                 f"{{overwrite}} to start again")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock for the block; RunFolderError at once if another process holds it, OutputError
        when the folder cannot be created or written. Once held, a killed run's temporary files are removed."""
        make_folder(self.path)
        f = self.path / LOCK_FILE
        try:
            fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(e, f) from None
        try:
            if not _try_lock(fd):
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                raise RunFolderError(f"{self.path}: another training (process {holder}) is writing into "
                                     f"this folder; wait for it or choose another output folder")
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError as e:
                raise output_error(e, f) from None
            for folder in (self.path, self.path / "models"):
                remove_temp_files(folder)
            yield
        finally:
            os.close(fd)  # releases the lock

    def clear(self) -> None:
        """Remove the files a run writes (:data:`RUN_FILES`); anything else in the folder stays."""
        for name in RUN_FILES:
            remove_file(self.path / name)

    def read_record(self) -> Dict[str, Any]:
        """The run's record (``run.json``); RunFolderError when missing or unreadable."""
        f = self.path / RUN_RECORD
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{f}: cannot read the run's record ({e}); start the run again with "
                                 f"{{overwrite}}") from None
        if not isinstance(record, dict):
            raise RunFolderError(f"{f}: not a run record (a JSON object); start the run again with "
                                 f"{{overwrite}}")
        return record

    def write_record(self, record: Dict[str, Any]) -> None:
        """Write the run's record atomically."""
        write_json(self.path / RUN_RECORD, record)

    def check_resume(self, settings: Dict[str, Any]) -> Dict[str, Any]:
        """The record of the run to resume, after checking that `settings` are the ones it was started with;
        RunFolderError listing every difference otherwise."""
        record = self.read_record()
        recorded = record.get("settings", {})
        if isinstance(recorded, dict) and "lr" not in recorded and "lr" in record:
            recorded = {**recorded, "lr": record["lr"]}  # a record written before the asked lr was a setting
        old, new = _flat(recorded if isinstance(recorded, dict) else {}), _flat(settings)
        diffs = [f"{k}: {_show(old.get(k))} -> {_show(new.get(k))}" for k in new if old.get(k) != new.get(k)]
        if diffs:
            raise RunFolderError(f"{self.path}: cannot resume with other settings than the run's ("
                                 + "; ".join(diffs) + "); resume with the same settings, or start again "
                                 "with {overwrite}")
        return record

    def remove_checkpoint(self) -> List[Path]:
        """Remove the resume checkpoint (:data:`CHECKPOINT_FILES`); returns what was removed."""
        return [self.path / "models" / n for n in CHECKPOINT_FILES if remove_file(self.path / "models" / n)]


def _show(v: Any) -> str:
    return "unset" if v is None else json.dumps(v)


def _flat(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Nested settings as ``{"a.b": value}``, so a difference names the very setting."""
    out: Dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no locking
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


