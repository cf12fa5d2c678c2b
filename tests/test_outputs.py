import json

import numpy as np
import pytest
from PIL import Image

from dronefast.outputs import (
    atomic_path,
    ensure_outside,
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
