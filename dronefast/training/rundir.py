"""The output folder of a training run: one run at a time, never replaced or mixed without being asked, and a
finished run never lost.

A folder is *empty* (or missing), holds a *finished* run (``metrics.json`` written last), an *interrupted* one
(``run.json`` without ``metrics.json``), or files of its own that dronefast did not write (*other*). Training

* into a finished or interrupted run, or into a folder of other files, is refused unless ``overwrite`` (or, for an
  interrupted run, ``resume``);
* with ``overwrite`` into a folder that is not empty, runs in a staging folder inside it (``.next-run``) and
  replaces the old run's files only once the new run has finished (:meth:`RunFolder.finish`): a new run that fails
  (bad data, a full disk) or is killed leaves the old run as it was. Only the files a run writes
  (:data:`RUN_FILES`) are ever removed or replaced; any other file (``models/my_model_v7.pth``) stays. Into a
  folder of other files, ``overwrite`` writes beside them, and is refused when one of them has a name a run writes;
* replaces the old run crash-safely: the old run's files that the new one does not replace are removed first
  (``metrics.json`` first, so a half-replaced folder never looks finished), a mark is written, then the new files
  are renamed in (``metrics.json`` last); a replacement interrupted at any point is completed by the next training
  into the folder (:meth:`RunFolder.recover`, under the lock);
* takes a lock on the folder (``.lock``, an OS file lock released when the process ends, however it ends, and the
  file removed when the process lets it go), so a second training into the same folder fails at once, naming the
  process that holds it; under the lock, the temporary files a killed run may have left
  (``.<name>.<random>.tmp<suffix>``, never a complete output) are removed;
* resumes only from a checkpoint (``models/last.pth``, written atomically after every epoch; the staging folder's
  first, when a replacement was interrupted): a run killed before its first epoch ended is refused with "nothing
  to resume";
* reports a folder it cannot create or write (a file in the way, read-only, no permission) as one
  :class:`~dronefast.errors.OutputError` naming the path;
* on resume compares every setting that changes the result with the run's record (``run.json``) and refuses with
  the list of differences; the record is only rewritten once that check has passed.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from ..data.split import SPLIT_FILE
from ..errors import RunFolderError
from ..outputs import (
    make_folder,
    output_error,
    remove_file,
    remove_temp_files,
    write_json,
    write_text,
)
from .callbacks import BEST_NAME, CHECKPOINT_NAME, STATE_FILE

__all__ = ["RunFolder", "RUN_FILES", "CHECKPOINT_FILES", "RUN_RECORD", "FINISHED_MARK", "LOCK_FILE", "NEXT_RUN"]

RUN_RECORD = "run.json"
#: The folder's lock file (removed by the process holding the lock when it lets it go).
LOCK_FILE = ".lock"
#: Written last: its presence means the run finished.
FINISHED_MARK = "metrics.json"
#: The staging folder (inside the output folder) of a run that replaces another, and its mark of a replacement
#: under way (the old run's files are gone, the new ones are being moved in).
NEXT_RUN, SWAP_MARK = ".next-run", ".swapping"
#: The resume checkpoint inside ``models/`` (the checkpoint, its progress as readable JSON, and the best epoch's
#: weights a resumed run ends with), removed when a run finishes unless kept.
CHECKPOINT_FILES = (f"{CHECKPOINT_NAME}.pth", STATE_FILE, f"{BEST_NAME}.pth")
#: Files of an ONNX export into the run folder (``python -m dronefast.export RUN --out RUN``): they would not match
#: a new run's model.
EXPORT_FILES = ("model.onnx", "model.int8.onnx", "export.json")
#: Files (relative to the folder) a run writes; ``overwrite`` removes or replaces these and nothing else.
RUN_FILES = (RUN_RECORD, FINISHED_MARK, "show_batch.png", "lr_find.png", "history.csv", "history.stage0.csv",
             "history.stage1.csv", "show_results.png", "model.json", SPLIT_FILE, "model.safetensors", "export.pkl",
             *(f"models/{n}" for n in CHECKPOINT_FILES), *EXPORT_FILES)
_OWN = (LOCK_FILE, NEXT_RUN)


class RunFolder:
    """A training run's output folder (see the module docstring).

    Args:
        path: the folder (created when the run starts).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.next = self.path / NEXT_RUN

    @property
    def state(self) -> str:
        """``"empty"``, ``"finished"``, ``"interrupted"`` or ``"other"`` (files, but no run)."""
        if (self.path / FINISHED_MARK).is_file():
            return "finished"
        if _has_run(self.path) or _has_run(self.next):
            return "interrupted"
        if not self.path.is_dir() or not any(p.name not in _OWN for p in self.path.iterdir()):
            return "empty"
        return "other"

    def check_start(self, resume: bool, overwrite: bool) -> Path:
        """Refuse to start as asked when the folder's state does not allow it (RunFolderError); otherwise the
        folder the run writes into: the output folder, or its staging folder (a replacement, or the resume of an
        interrupted one)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path}: exists and is not a folder; choose another output folder")
        if resume and overwrite:
            raise RunFolderError("{resume} and {overwrite} exclude each other")
        if resume:
            return self._resume_folder()
        state = self.state
        if state == "finished" and not overwrite:
            raise RunFolderError(f"{self.path}: holds a finished run ({FINISHED_MARK}); pass {{overwrite}} "
                                 f"to replace it, or choose another output folder")
        if state == "interrupted" and not overwrite:
            raise RunFolderError(f"{self.path}: holds an interrupted run; pass {{resume}} to continue it or "
                                 f"{{overwrite}} to start again")
        if state == "other":
            self._check_other(overwrite)
        remove_file(self.next)  # an abandoned replacement
        if state == "empty":
            return self.path
        make_folder(self.next)
        return self.next

    def _resume_folder(self) -> Path:
        if (self.next / "models" / CHECKPOINT_FILES[0]).is_file():
            return self.next
        state = self.state
        if state == "finished":
            raise RunFolderError(f"{self.path}: the run there finished; nothing to resume (pass "
                                 f"{{overwrite}} to train it again)")
        if not (self.path / "models" / CHECKPOINT_FILES[0]).is_file():
            why = "was interrupted before its first epoch ended" if state == "interrupted" else "holds no run"
            raise RunFolderError(f"{self.path}: nothing to resume (the folder {why}); start it again with "
                                 f"{{overwrite}}")
        return self.path

    def _check_other(self, overwrite: bool) -> None:
        """A folder holding files but no run: refused unless `overwrite`, and then still when one of its files has
        a name a run writes (it would be replaced)."""
        mine = sorted(p.name for p in self.path.iterdir() if p.name not in _OWN)
        if not overwrite:
            shown = ", ".join(mine[:3]) + (f" and {len(mine) - 3} more" if len(mine) > 3 else "")
            raise RunFolderError(f"{self.path}: not empty and not a dronefast run (holds {shown}); choose an empty "
                                 f"or new output folder, or pass {{overwrite}} to train into it beside these files")
        clash = [n for n in RUN_FILES if (self.path / n).exists()]
        if clash:
            raise RunFolderError(f"{self.path / clash[0]}: a file a run writes, but not a dronefast run's; move it "
                                 f"away or choose another output folder (nothing was changed)")

    def finish(self, work: Path) -> None:
        """The run in `work` has finished: when it is the staging folder, replace the old run's files by its own
        (module docstring)."""
        if Path(work) == self.next:
            self._swap()

    def abandon(self, work: Path) -> None:
        """The run in `work` failed: a staging folder with nothing to resume from is removed (the old run stays
        as it was)."""
        if Path(work) == self.next and not (self.next / "models" / CHECKPOINT_FILES[0]).is_file():
            remove_file(self.next)

    def recover(self) -> bool:
        """Complete a replacement that was interrupted (the staging folder finished, or its files being moved in);
        True when there was one. Call it under the lock."""
        if (self.next / SWAP_MARK).is_file() or (self.next / FINISHED_MARK).is_file():
            self._swap()
            return True
        return False

    def _swap(self) -> None:
        """Replace the old run's files by the staging folder's, crash-safely (every step can be done again)."""
        mark = self.next / SWAP_MARK
        if not mark.is_file():
            new = set(_files(self.next))
            remove_file(self.path / FINISHED_MARK)
            for name in RUN_FILES:
                if name not in new:
                    remove_file(self.path / name)
            write_text(mark, "")
        moving = sorted(_files(self.next), key=lambda n: n == FINISHED_MARK)  # the finished mark last
        for name in moving:
            make_folder((self.path / name).parent)
            try:
                os.replace(self.next / name, self.path / name)
            except OSError as e:
                raise output_error(e, self.path / name) from None
        remove_file(self.next)
        _remove_if_empty(self.path / "models")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock for the block; RunFolderError at once if another process holds it, OutputError
        when the folder cannot be created or written. Once held, a killed run's temporary files are removed; when
        let go, the lock file is removed."""
        make_folder(self.path)
        f = self.path / LOCK_FILE
        fd = _locked_fd(f, self.path)
        try:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError as e:
                raise output_error(e, f) from None
            for folder in (self.path, self.path / "models", self.next, self.next / "models"):
                remove_temp_files(folder)
            yield
        finally:
            with suppress(OSError):
                os.unlink(f)  # while still held: a process waiting on this file finds it gone, and opens it again
            os.close(fd)  # releases the lock

    def clear(self) -> None:
        """Remove the files a run writes (:data:`RUN_FILES`); anything else in the folder stays."""
        for name in RUN_FILES:
            remove_file(self.path / name)
        _remove_if_empty(self.path / "models")

    def read_record(self, folder: Optional[Path] = None) -> Dict[str, Any]:
        """The run's record (``run.json`` of `folder`, default the output folder); RunFolderError when missing or
        unreadable."""
        f = Path(folder or self.path) / RUN_RECORD
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{f}: cannot read the run's record ({e}); start the run again with "
                                 f"{{overwrite}}") from None
        if not isinstance(record, dict):
            raise RunFolderError(f"{f}: not a run record (a JSON object); start the run again with "
                                 f"{{overwrite}}")
        return record

    def write_record(self, record: Dict[str, Any], folder: Optional[Path] = None) -> None:
        """Write the run's record atomically (into `folder`, default the output folder)."""
        write_json(Path(folder or self.path) / RUN_RECORD, record)

    def check_resume(self, settings: Dict[str, Any], folder: Optional[Path] = None) -> Dict[str, Any]:
        """The record of the run to resume (in `folder`, default the output folder), after checking that `settings`
        are the ones it was started with; RunFolderError listing every difference otherwise."""
        record = self.read_record(folder)
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

    def remove_checkpoint(self, folder: Optional[Path] = None) -> List[Path]:
        """Remove the resume checkpoint (:data:`CHECKPOINT_FILES`) of `folder` (default the output folder), and
        ``models/`` when nothing else is left in it; returns what was removed."""
        models = Path(folder or self.path) / "models"
        gone = [models / n for n in CHECKPOINT_FILES if remove_file(models / n)]
        _remove_if_empty(models)
        return gone


def _has_run(folder: Path) -> bool:
    return (folder / RUN_RECORD).is_file() or any((folder / "models" / n).is_file() for n in CHECKPOINT_FILES[:2])


def _files(folder: Path) -> List[str]:
    """Every file under `folder` (relative, POSIX), but the replacement's mark."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != SWAP_MARK)


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


def _locked_fd(f: Path, folder: Path) -> int:
    """A descriptor of the lock file `f`, locked; RunFolderError naming the holder when another process holds it.
    A lock taken on a file that its holder removed meanwhile is let go and taken again on the new file."""
    while True:
        try:
            fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(e, f) from None
        if not _try_lock(fd):
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(f"{folder}: another training (process {holder}) is writing into "
                                 f"this folder; wait for it or choose another output folder")
        try:
            if os.path.samestat(os.fstat(fd), os.stat(f)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


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


