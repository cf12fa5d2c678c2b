import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from dronefast.errors import OutputError
from dronefast.outputs import (
    atomic_file,
    atomic_path,
    ensure_outside,
    save_figure,
    save_image,
    write_json,
    write_text,
)


def test_atomic_write_replaces_only_on_success(tmp_path):
    f = tmp_path / "a.txt"
    write_text(f, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(f) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert f.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp file left behind


def test_json_and_image(tmp_path):
    write_json(tmp_path / "m.json", {"x": np.float32(0.5), "n": np.int64(3), "p": tmp_path, "nan": float("nan")})
    d = json.loads((tmp_path / "m.json").read_text().replace("NaN", "null"))
    assert d == {"x": 0.5, "n": 3, "p": str(tmp_path), "nan": None}
    ids = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_image(ids, tmp_path / "sub" / "m.png")
    assert Image.open(tmp_path / "sub" / "m.png").mode == "L"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sub" / "m.png")), ids)


def test_ensure_outside(tmp_path):
    ensure_outside(tmp_path / "out", tmp_path / "src")
    with pytest.raises(ValueError, match="lies inside the input folder"):
        ensure_outside(tmp_path / "src" / "out", tmp_path / "src")
    with pytest.raises(ValueError):
        ensure_outside(tmp_path / "src", tmp_path / "src")


# ------------------------------------------------------------------------------------------ a disk filling up

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
@pytest.mark.parametrize("writer", ["jpeg", "png", "text", "torch", "figure"])
def test_a_full_disk_is_one_output_error_and_leaves_the_old_file(tmp_path, full_disk, writer):
    import matplotlib.pyplot as plt
    import torch

    names = {"jpeg": "a.overlay.jpg", "png": "a.png", "text": "a.txt", "torch": "a.pth", "figure": "a.png"}
    f = tmp_path / names[writer]
    f.write_bytes(b"old")
    full_disk(f.name)
    with pytest.raises(OutputError) as e:
        if writer in ("jpeg", "png"):
            save_image(np.zeros((64, 96, 3), np.uint8), f, **({"quality": 90} if writer == "jpeg" else {}))
        elif writer == "text":
            write_text(f, "new")
        elif writer == "torch":   # PyTorch's own error would be a C++ "enforce fail" naming neither file nor cause
            with atomic_file(f) as out:
                torch.save({"w": torch.zeros(1000)}, out)
        else:
            save_figure(plt.figure(), f)
    assert str(e.value) == f"{f}: cannot write (No space left on device)"
    assert f.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [f.name]


@pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"), reason="a forked child")
def test_a_short_write_never_leaves_a_truncated_jpeg(tmp_path):
    """A disk filling up mid-file makes the kernel write part of a buffer and return (a short write), which Pillow's
    C JPEG writer does not check: the file was complete in name only. Reproduced with a real limit on file sizes
    (RLIMIT_FSIZE) in a child process: refused by name, nothing under the final name."""
    import resource
    import signal

    photo = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)   # ~50 kB as a JPEG
    target = tmp_path / "000.overlay.jpg"
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
            save_image(photo, target, quality=90)
            code = 0
        except OutputError as e:
            code = 1 if str(e) == f"{target}: cannot write (File too large)" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("free", [0, 1 << 30])
def test_a_libraries_write_error_names_the_file_and_a_full_disk(tmp_path, monkeypatch, free):
    """PyTorch writing to a path (fastai's learn.export) reports a full disk as a C++ error naming neither."""
    from types import SimpleNamespace

    from dronefast.outputs import write_failure

    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_bavail=free, f_frsize=4096))
    e = RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: "
                     "file write failed")
    err = write_failure(e, tmp_path / "export.pkl")
    reason = "No space left on device" if free == 0 else " ".join(str(e).split())
    assert isinstance(err, OutputError) and str(err) == f"{tmp_path / 'export.pkl'}: cannot write ({reason})"
