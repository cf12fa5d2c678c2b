"""Tests of benchmarks.harness on fake clocks: the interleaving order, what each sample holds (and what it must
not hold), exact summaries, medians and ratios; the generated photo dataset; the command line's plumbing."""
from __future__ import annotations

import contextlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.harness import (
    Sample,
    Timer,
    interleave,
    machine_line,
    photo_dataset,
    ratio,
    render_photo,
    split_csv,
    summarise,
)

REPO = Path(__file__).resolve().parents[2]


class WorkClock:
    """A clock (and a usage counter) that only the fake work moves: ``work(name, seconds, cpu, faults)``."""

    def __init__(self):
        self.now, self.cpu, self.faults = 50.0, 0.0, 0
        self.log = []

    def __call__(self) -> float:
        return self.now

    def usage(self):
        return self.cpu, self.faults

    def work(self, name: str, seconds, cpu=0.0, faults=0):
        """A variant whose k-th call lasts ``seconds[k]`` (and uses ``cpu[k]`` CPU seconds, ``faults[k]`` faults)."""
        calls = iter(range(len(seconds)))

        def fn():
            k = next(calls)
            self.log.append(name)
            self.now += seconds[k]
            self.cpu += cpu[k] if cpu else 0.0
            self.faults += faults[k] if faults else 0
        return fn


def no_time():
    return 0.0


def test_interleave_rotates_the_order_every_round():
    clock = WorkClock()
    fns = {n: clock.work(n, [1.0] * 4) for n in "abc"}
    t = interleave(fns, 4, Timer(clock, usage=clock.usage))
    expected = list("abc" "bca" "cab" "abc")
    assert t.order == expected and clock.log == expected
    assert {n: len(s) for n, s in t.samples.items()} == {"a": 4, "b": 4, "c": 4}
    two = WorkClock()
    assert interleave({n: two.work(n, [1.0] * 3) for n in "ab"}, 3, Timer(two)).order == list("ab" "ba" "ab")


def test_interleave_samples_exact_medians_and_ratio():
    clock = WorkClock()
    fns = {"a": clock.work("a", [3.0, 1.0, 2.0], cpu=[0.5, 1.5, 1.0], faults=[10, 30, 20]),
           "b": clock.work("b", [4.0, 4.0, 10.0], cpu=[2.0, 2.0, 2.0], faults=[7, 7, 7])}
    t = interleave(fns, 3, Timer(clock, usage=clock.usage))
    # each sample is the call's own time, in round order, whatever the order within the round (a b / b a / a b)
    assert t.seconds("a") == [3.0, 1.0, 2.0] and t.seconds("b") == [4.0, 4.0, 10.0]
    a, b = t.summary("a"), t.summary("b")
    assert (a["median"], a["min"], a["max"], a["spread"]) == (2.0, 1.0, 3.0, 1.0)
    assert (b["median"], b["min"], b["max"], b["spread"]) == (4.0, 4.0, 10.0, 1.5)
    assert ratio(b["median"], a["median"]) == 2.0 and ratio(b["min"], a["min"]) == 4.0
    assert t.cpu_s("a") == 1.0 and t.cpu_s("b") == 2.0
    assert t.page_faults("a") == 20 and t.page_faults("b") == 7
    assert t.peak_bytes("a") is None   # off CUDA
    assert t.samples["a"][0] == Sample(3.0, 0.5, 10, None)


def test_contexts_are_entered_outside_the_timing():
    clock = WorkClock()
    entered = []

    @contextlib.contextmanager
    def slow_setting():
        entered.append(clock.log.count("a"))
        clock.now += 100.0   # a setting that takes long to apply must not count
        yield
        clock.now += 100.0

    t = interleave({"a": clock.work("a", [1.0, 2.0]), "b": clock.work("b", [5.0, 5.0])}, 2, Timer(clock),
                   contexts={"a": slow_setting})
    assert t.seconds("a") == [1.0, 2.0] and t.seconds("b") == [5.0, 5.0]
    assert entered == [0, 1]   # once around each call of a, before it ran


def test_timer_reads_the_clock_right_before_and_after_the_call(scripted_clock):
    clock = scripted_clock([2.5, 0.25])
    reads_during = []
    timer = Timer(clock, usage=lambda: (0.0, 0))
    value, sample = timer.call(lambda: reads_during.append(clock.reads) or "result")
    assert value == "result" and sample.seconds == 2.5 and reads_during == [1]
    assert timer.measure(lambda: None).seconds == 0.25 and clock.done()


def test_interleave_with_a_scripted_clock(scripted_clock):
    # durations in the order the calls run: round 0 a, b; round 1 b, a; round 2 a, b
    clock = scripted_clock([4.0, 1.0, 2.0, 8.0, 6.0, 3.0])
    t = interleave({"a": lambda: None, "b": lambda: None}, 3, Timer(clock, usage=lambda: (0.0, 0)))
    assert clock.done() and t.order == ["a", "b", "b", "a", "a", "b"]
    assert t.seconds("a") == [4.0, 8.0, 6.0] and t.seconds("b") == [1.0, 2.0, 3.0]
    assert t.summary("a")["median"] == 6.0 and t.summary("b")["median"] == 2.0
    assert ratio(t.summary("a")["median"], t.summary("b")["median"]) == 3.0


def test_summarise_and_ratio():
    s = summarise([3.0, 1.0, 2.0, 10.0])
    assert s == {"samples": [3.0, 1.0, 2.0, 10.0], "median": 2.5, "min": 1.0, "max": 10.0, "spread": 9.0 / 2.5}
    assert summarise([7]) == {"samples": [7.0], "median": 7.0, "min": 7.0, "max": 7.0, "spread": 0.0}
    assert math.isnan(summarise([0.0, 0.0])["spread"])
    assert ratio(3.0, 1.5) == 2.0 and math.isnan(ratio(1.0, 0.0))


def test_photo_dataset_is_cached_and_has_the_size(tmp_path):
    from PIL import Image

    root = photo_dataset(tmp_path / "p", 3, (40, 60), seed=1, workers=1)
    jpgs = sorted((root / "original_images").glob("*.jpg"))
    pngs = sorted((root / "label_images_semantic").glob("*.png"))
    assert [p.stem for p in jpgs] == ["0000", "0001", "0002"] == [p.stem for p in pngs]
    with Image.open(jpgs[0]) as im:
        assert im.size == (60, 40) and im.mode == "RGB"
    mtime = jpgs[0].stat().st_mtime_ns
    photo_dataset(tmp_path / "p", 3, (40, 60), seed=1, workers=1)
    assert jpgs[0].stat().st_mtime_ns == mtime  # reused, not regenerated
    photo_dataset(tmp_path / "p", 2, (40, 60), seed=1, workers=1)  # fewer: the extra pair goes
    assert len(list((root / "original_images").glob("*.jpg"))) == 2


def test_render_photo_upscales_large_scenes():
    img, mask = render_photo((60, 90), 0, 0, max_render_px=1000)
    assert img.shape == (60, 90, 3) and img.dtype == np.uint8
    assert mask.shape == (60, 90) and mask.max() < 23


def test_report_plumbing():
    assert split_csv(" a, b,,c ") == ["a", "b", "c"]
    m = {"cpu": "X", "cores": 2, "torch": "2.x", "torch_threads": 1, "load_avg_before": [1.0], "load_avg_after": [2.0]}
    assert machine_line(m) == "machine: X, 2 cores, torch 2.x (1 threads); load average [1.0] -> [2.0]"


def test_help_is_fast_and_imports_no_torch():
    code = ("import sys, contextlib, io\n"
            "from benchmarks.__main__ import main\n"
            "for cmd in ([], ['train'], ['prepare'], ['predict'], ['levers'], ['recipes']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        main([*cmd, '--help'])\n"
            "print(sorted(m for m in ('torch', 'fastai') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bad_usage_exits_2(capsys):
    from benchmarks.__main__ import main

    assert main(["levers", "--levers", "warp9"]) == 2
    assert "unknown lever(s) ['warp9']" in capsys.readouterr().err
    assert main(["predict", "--overlap", "1.5"]) == 2
    assert "overlap must be in [0, 1)" in capsys.readouterr().err
    for argv in (["nope"], ["train", "--valid-pct", "1.5"], ["prepare", "--n", "0"], ["levers", "--threads", "0"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
