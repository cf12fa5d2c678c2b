"""Tests of benchmarks.prepare: one tiny in-process run of ``python -m benchmarks prepare`` on a scripted clock
(exact medians and ratios in its JSON), and the naive loop's output."""
from __future__ import annotations

import json

from PIL import Image

from benchmarks.__main__ import main
from benchmarks.harness import photo_dataset
from benchmarks.prepare import naive_prepare


def test_prepare_json_on_a_scripted_clock(tmp_path, scripted_clock):
    # in the order they run: naive, dronefast / dronefast, naive; then decoding: full, draft / draft, full /
    # full, draft (at least 3 rounds)
    clock = scripted_clock([10.0, 2.0, 2.0, 14.0, 3.0, 1.0, 2.0, 5.0, 4.0, 1.0])
    out = tmp_path / "prep.json"
    assert main(["prepare", "--threads", "1", "--n", "2", "--photo-size", "120x80", "--size", "30x20",
                 "--repeats", "2", "--workers", "1", "--work", str(tmp_path / "w"), "--json", str(out)],
                clock=clock) == 0
    assert clock.done()
    r = json.loads(out.read_text())
    assert set(r) == {"command", "machine", "settings", "setup_s", "variants", "ratios", "ratios_of_min", "decode",
                      "checks", "argv"}
    v = r["variants"]
    assert v["naive"]["total_s"]["samples"] == [10.0, 14.0] and v["dronefast"]["total_s"]["samples"] == [2.0, 2.0]
    naive, fast = v["naive"], v["dronefast"]
    assert (naive["total_s"]["median"], naive["s_per_image"], fast["images_per_s"]) == (12.0, 6.0, 1.0)
    assert r["ratios"] == {"naive_over_dronefast": 6.0} and r["ratios_of_min"] == {"naive_over_dronefast": 5.0}
    assert r["checks"] == {"speedup_target": 5.0, "speedup_met": True}
    d = r["decode"]
    assert d["full_decode_s"]["samples"] == [3.0, 5.0, 4.0] and d["draft_decode_resize_s"]["samples"] == [1.0, 2.0, 1.0]
    assert d["ratio"] == 4.0
    assert r["settings"] == {"n": 2, "photo_size": "120x80", "size": "30x20", "repeats": 2, "workers": 1, "seed": 0}


def test_naive_prepare_writes_resized_pairs(tmp_path):
    from dronefast.data.layout import find_layout

    layout = find_layout(photo_dataset(tmp_path / "p", 2, (40, 60), workers=1))
    naive_prepare(layout, tmp_path / "out", (20, 30))
    for sub, suffix in (("images", ".jpg"), ("masks", ".png")):
        files = sorted((tmp_path / "out" / sub).iterdir())
        assert [f.name for f in files] == [f"0000{suffix}", f"0001{suffix}"]
        with Image.open(files[0]) as im:
            assert im.size == (30, 20)
