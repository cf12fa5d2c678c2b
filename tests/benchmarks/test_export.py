"""Tests of benchmarks.export: one tiny in-process run of ``python -m benchmarks export`` on a scripted clock (exact
medians, ratios and checks in its JSON) with the session's tiny export (tests/workflows/test_export_onnx.py), and the
peak
memory of a child process."""
from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("onnxruntime")

from benchmarks.__main__ import main  # noqa: E402
from benchmarks.export import peak_memory, thread_counts  # noqa: E402
from dronefast.errors import UsageError  # noqa: E402
from tests.conftest import TINY_ARCH  # noqa: E402


def test_export_json_on_a_scripted_clock(tmp_path, run_folder, exported, bench_work, scripted_clock):
    run, export = run_folder, exported
    # one round each (warm-ups are not timed): tiles of torch, ort_fp32, ort_int8 (batch 1, batch 3), then photos
    clock = scripted_clock([1.0, 6.0, 0.5, 4.0, 0.25, 2.0, 10.0, 8.0, 2.5])
    out = tmp_path / "export.json"
    argv = ["export", "--model", str(run), "--export", str(export), "--photo-size", "128x96", "--scale", "0.5",
            "--batch-size", "3", "--thread-counts", "1", "--tile-repeats", "1", "--repeats", "1", "--no-memory",
            "--work", str(bench_work), "--json", str(out)]
    assert main(argv, clock=clock) == 0
    assert clock.done()
    r = json.loads(out.read_text())
    assert set(r) == {"command", "machine", "settings", "files", "variants", "ratios", "ratios_of_min", "agreement",
                      "memory", "checks", "argv"}
    s = r["settings"]
    assert (s["arch"], s["size"], s["working_size"], s["windows"], s["batch_size"]) == \
        (TINY_ARCH, "48x32", "64x48", 4, 3)
    v = r["variants"]["threads=1"]
    assert set(v) == {"tile_b1", "tile_b3", "photo"}
    assert [v["tile_b1"][e]["s"]["median"] for e in ("torch", "ort_fp32", "ort_int8")] == [1.0, 0.5, 0.25]
    assert [v["photo"][e]["s"]["median"] for e in ("torch", "ort_fp32", "ort_int8")] == [10.0, 8.0, 2.5]
    assert r["ratios"]["threads=1"] == {"tile_b1": {"ort_fp32": 2.0, "ort_int8": 4.0},
                                        "tile_b3": {"ort_fp32": 1.5, "ort_int8": 3.0},
                                        "photo": {"ort_fp32": 1.25, "ort_int8": 4.0}}
    c = r["checks"]
    assert (c["ort_fp32_speedup_worst_tile"], c["ort_int8_speedup_worst_tile"]) == (1.5, 3.0)
    assert c["ort_fp32_speedup_met"] and c["ort_int8_speedup_met"] and r["memory"] is None
    a = r["agreement"]
    assert a["tile"]["ort_fp32"] >= 0.999 and a["photo"]["ort_fp32"] >= 0.999 and a["photo_pixels"] == 96 * 128
    assert 0 <= a["tile"]["ort_int8"] <= 1 and c["ort_fp32_agreement_met"]
    assert r["files"]["ort_int8"] < r["files"]["ort_fp32"]


def test_peak_memory_is_the_childs_own():
    ballast = bytearray(400 << 20)   # this process is big; the child must not inherit its high-water mark
    ballast[::4096] = b"1" * len(ballast[::4096])
    small = peak_memory(["-c", "x = 1"])
    grow = peak_memory(["-c", "x = bytearray(300 << 20); x[::4096] = b'1' * len(x[::4096])"])
    assert small["rc"] == grow["rc"] == 0 and small["peak_bytes"] < 200 << 20
    assert grow["peak_bytes"] - small["peak_bytes"] > 280 << 20 and grow["seconds"] > 0
    fail = peak_memory(["-m", "json.tool", "/nonexistent/file.json"])
    assert fail["rc"] != 0 and "nonexistent" in fail["stderr_tail"] and fail["peak_bytes"] > 0
    with pytest.raises(ValueError):
        peak_memory([sys.executable, "x.py"])


def test_thread_counts():
    assert thread_counts("1") == [1]
    assert thread_counts("1, 2,1") == [1, 2]
    assert thread_counts("all")[0] >= 1
    for bad in ("0", "x", ""):
        with pytest.raises(UsageError):
            thread_counts(bad)
