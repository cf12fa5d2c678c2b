"""Writing output files atomically: each file is written to a temporary name beside its target and then
renamed over it, so an interrupted run never leaves a half-written file where a complete one is expected.

Guarantees of every writer here (:func:`atomic_path` and those built on it):

* the target is either its old complete content or the new complete content, never a mix or a truncated file;
* the temporary file has a unique name (``.<stem>.<random>.tmp<suffix>``, :func:`tempfile.mkstemp`) and is removed
  when writing fails or is interrupted (only a kill -9 can leave one behind: :func:`remove_temp_files`);
* a new file gets the permissions a plain ``open(path, "w")`` gives it (``0o666`` less the umask), a replaced file
  keeps its own;
* every ``OSError`` of creating the folder, writing or renaming (a path that is a file, no permission, a read-only
  file system, a full disk) is raised as one :class:`~dronefast.errors.OutputError` naming the path.

The writers of bytes (:func:`atomic_file`, and :func:`write_text`, :func:`save_image`, :func:`save_figure`,
:func:`write_bytes` built on it) hand libraries a Python file object that writes every byte through ``os.write``
and checks it was written: Pillow writes a JPEG with C ``write`` calls whose short writes (a disk filling up) it
does not check, and PyTorch's zip writer turns a failed write into a C++ error naming neither the file nor the
cause. Through :func:`atomic_file`, a full disk is always one ``OutputError`` "FILE: cannot write (No space left on
device)", and no truncated file is ever renamed into place.
"""
from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Union

import numpy as np
from PIL import Image

from .errors import DronefastError, OutputError

__all__ = ["atomic_path", "atomic_file", "write_bytes", "write_text", "write_json", "save_image", "save_figure",
           "ensure_outside", "refuse_overwrite", "make_folder", "writable_folder", "remove_file", "output_error",
           "write_failure", "is_temp_file", "remove_temp_files", "new_file_mode"]

PathLike = Union[str, Path]
#: Names :func:`atomic_path` gives its temporary files (``tempfile.mkstemp``'s 8 random characters).
_TEMP_NAME = re.compile(r"^\..*\.[a-z0-9_]{8}\.tmp(\.[^.]*)?$")
_umask_lock = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux), else by setting and
    restoring it under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode(path: PathLike) -> int:
    """Permissions a write to `path` should leave: those of the file it replaces, else ``0o666 & ~umask`` (what
    ``open(path, "w")`` gives a new file; ``tempfile.mkstemp`` would leave 0o600)."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _blocker(folder: Path) -> Optional[Path]:
    """The first of `folder` and its parents that exists and is not a folder, or None."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def output_error(e: OSError, path: PathLike) -> OutputError:
    """`e`, raised while writing `path`, as one :class:`OutputError` naming the path and the reason."""
    path = Path(path)
    reason = e.strerror or str(e) or type(e).__name__
    if e.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(e, (NotADirectoryError, FileExistsError)):
        blocker = _blocker(path.parent)
        if blocker is not None:
            return OutputError(f"exists and is not a folder; cannot write {path} under it", blocker)
    other = getattr(e, "filename", None)
    where = f" on {other}" if other and Path(other).name != path.name and ".tmp" not in Path(other).name else ""
    return OutputError(f"cannot write ({reason}{where})", path)


def make_folder(folder: PathLike) -> Path:
    """Create `folder` and its parents if missing; :class:`OutputError` naming the path when that fails (a file in
    the way, no permission, a read-only file system)."""
    folder = Path(folder)
    blocker = _blocker(folder)
    if blocker is not None:
        what = "exists and is not a folder" + (f"; cannot create {folder}" if blocker != folder else "")
        raise OutputError(what, blocker)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder ({e.strerror or e})", folder) from None
    return folder


def writable_folder(folder: PathLike) -> Path:
    """:func:`make_folder`, then a probe that a file can be created there (and is removed again), so that a command
    refuses a read-only or forbidden output folder before any work rather than at its first write; OutputError
    naming the folder otherwise."""
    folder = make_folder(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write into this folder ({e.strerror or e})", folder) from None
    os.close(fd)
    with suppress(OSError):
        os.unlink(name)
    return folder


def remove_file(path: PathLike) -> bool:
    """Remove `path` if it exists (a folder with everything in it); OutputError naming it when that fails. True when
    something was removed."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            return True
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        raise OutputError(f"cannot remove it ({e.strerror or e})", getattr(e, "filename", None) or path) from None


def is_temp_file(path: PathLike) -> bool:
    """True for a temporary file :func:`atomic_path` names (left behind only by a process killed while writing)."""
    return bool(_TEMP_NAME.match(Path(path).name))


def remove_temp_files(folder: PathLike) -> List[Path]:
    """Remove the temporary files of :func:`atomic_path` directly in `folder` (a killed writer's leftovers); only
    call it where no other process may be writing (e.g. under a lock). Returns what was removed."""
    folder = Path(folder)
    gone = []
    if folder.is_dir():
        for p in folder.iterdir():
            if is_temp_file(p) and p.is_file():
                with suppress(FileNotFoundError):
                    p.unlink()
                    gone.append(p)
    return gone


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on error remove it.

    The temporary name keeps the target's suffix so that libraries choosing a format by extension
    (Pillow, matplotlib, torch) still work. Any ``OSError`` (creating the folder, writing, renaming) becomes an
    :class:`~dronefast.errors.OutputError` naming `path`; the file that was there is left as it was.
    """
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as e:
        raise output_error(e, path) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise output_error(e, path) from None
        raise


class _Sink(io.RawIOBase):
    """A write-only file over `fd` writing through ``os.write``, a zero-byte write counted as a full disk, and
    remembering the first error it raised (libraries such as PyTorch's zip writer swallow it and raise their own).
    It has no ``fileno``: Pillow then writes through it too, instead of unchecked C ``write`` calls."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd, self.error = fd, None

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = memoryview(b).cast("B")
        try:
            n = os.write(self.fd, data)
            if data.nbytes and not n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            self.error = self.error or e
            raise
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


@contextmanager
def atomic_file(path: PathLike) -> Iterator[io.BufferedWriter]:
    """Yield a binary file object writing to a temporary file beside `path`, renamed to `path` when the block ends
    without an error (see the module docstring). Any write that fails, however the library calling ``write``
    reports it, becomes one :class:`~dronefast.errors.OutputError` naming `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            sink = _Sink(os.open(tmp, os.O_WRONLY | os.O_TRUNC))
        except OSError as e:
            raise output_error(e, path) from None
        try:
            with io.BufferedWriter(sink, buffer_size=1 << 20) as f:
                yield f
        except Exception as e:
            if sink.error is not None and not isinstance(e, DronefastError):
                raise output_error(sink.error, path) from None
            raise
        finally:
            sink.close()


def write_failure(e: BaseException, path: PathLike) -> OutputError:
    """An error a library raised writing `path` without an ``OSError`` (PyTorch's zip writer to a path:
    "[enforce fail at inline_container.cc:...] file write failed") as one OutputError naming the path; the reason
    is "No space left on device" when the folder has no space left."""
    reason = " ".join(str(e).split())[:200] or type(e).__name__
    with suppress(OSError):
        if os.statvfs(Path(path).parent).f_bavail == 0:
            reason = os.strerror(errno.ENOSPC)
    return OutputError(f"cannot write ({reason})", path)


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_file(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically (numpy scalars and paths are converted)."""

    def default(o):
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "item"):
            return o.item()
        raise TypeError(f"cannot write {type(o).__name__} as JSON")

    return write_text(path, json.dumps(obj, indent=2, default=default, allow_nan=True) + "\n")


def save_image(img: Union[Image.Image, np.ndarray], path: PathLike, **kwargs) -> Path:
    """Save a PIL image (or a HxW / HxWx3 uint8 array) to `path` atomically; the format follows the suffix."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    with atomic_file(path) as f:
        img.save(f, format=fmt, **kwargs)
    return Path(path)


def save_figure(fig, path: PathLike, dpi: int = 100) -> Path:
    """Save a matplotlib figure to `path` atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_file(path) as f:
        fig.savefig(f, format=Path(path).suffix.lstrip(".").lower() or None, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def ensure_outside(dst: PathLike, src: PathLike) -> None:
    """Raise ValueError if folder `dst` is `src` or lies inside it (outputs must never land among inputs)."""
    dst, src = Path(dst).resolve(), Path(src).resolve()
    if dst == src or src in dst.parents:
        raise ValueError(f"the output folder {dst} lies inside the input folder {src}; choose another")


def refuse_overwrite(paths: Iterable[PathLike], hint: str = "use --overwrite") -> None:
    """Raise :class:`~dronefast.errors.DronefastError` naming the first existing files among `paths` (with
    `hint`, e.g. how to allow replacing them); nothing when none exists."""
    existing = [Path(p) for p in paths if Path(p).exists()]
    if existing:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise DronefastError(f"refusing to overwrite {', '.join(map(str, existing[:3]))}{more} ({hint})")
