"""Tests of benchmarks.overhead: one tiny in-process run of ``python -m benchmarks overhead`` on a scripted clock
(exact per-step figures and overheads in its JSON), the variant names with levers, the comparison on chosen
numbers and the optimizer timing."""
from __future__ import annotations

import json

import pytest

from benchmarks import overhead
from benchmarks.__main__ import COMMANDS, main
from benchmarks.harness import Timer
from benchmarks.overhead import OverheadBench, bench_optimizers, compare, parse_variant
from dronefast.errors import UsageError

# 6 photos of 32x32 at --valid-pct 0.34: 4 training photos, 2 steps of 2 an epoch
TINY = ["--threads", "1", "--n", "4", "--valid-pct", "0.34", "--size", "32x32", "--bs", "2", "--device", "cpu"]


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The sub-command, registered as benchmarks/__main__.py registers it (a no-op once it does)."""
    monkeypatch.setitem(COMMANDS, "overhead", overhead)


def test_overhead_json_on_a_scripted_clock(tmp_path, bench_work, scripted_clock, capsys):
    # round 1: floor, dronefast, fastai; round 2: dronefast, fastai, floor (warm-up epochs are not timed)
    clock = scripted_clock([1.0, 3.0, 4.0, 2.0, 5.0, 1.5])
    out = tmp_path / "overhead.json"
    argv = ["overhead", *TINY, "--epochs", "2", "--profile", "5", "--work", str(bench_work), "--json", str(out)]
    assert main(argv, clock=clock) == 0
    assert clock.done()
    r = json.loads(out.read_text())
    assert r["command"] == "overhead" and r["argv"][:4] == ["python", "-m", "benchmarks", "overhead"]
    assert set(r) == {"command", "machine", "settings", "variants", "overhead_ms", "overhead_ms_of_min", "ratios",
                      "checks", "profile", "profile_variant", "argv"}
    s = r["settings"]
    assert (s["n_train"], s["n_valid"], s["steps_per_epoch"], s["n_classes"]) == (4, 2, 2, 24)
    assert (s["precision"], s["channels_last"], s["progress_bar"], s["opt"], s["threads"]) == ("fp32", True, True,
                                                                                                 "fastai", 1)
    v = r["variants"]
    assert list(v) == ["floor", "dronefast", "fastai"]
    assert [v[k]["epoch_s"]["samples"] for k in v] == [[1.0, 1.5], [3.0, 2.0], [4.0, 5.0]]
    assert [v[k]["ms_per_step"] for k in v] == [625.0, 1250.0, 2250.0]      # median epoch / 2 steps
    assert [v[k]["ms_per_step_min"] for k in v] == [500.0, 1000.0, 2000.0]
    assert r["overhead_ms"] == {"dronefast": 625.0, "fastai": 1625.0}
    assert r["overhead_ms_of_min"] == {"dronefast": 500.0, "fastai": 1500.0}
    assert r["ratios"] == {"dronefast_over_floor": 2.0, "fastai_over_floor": 3.6}
    assert r["checks"] == {"overhead_target_ms": 3.0, "overhead_met": False}
    assert r["profile_variant"] == "dronefast" and len(r["profile"]) == 5
    assert set(r["profile"][0]) == {"function", "calls", "own_ms", "cum_ms"}
    text = capsys.readouterr().out
    assert "(b) dronefast" in text and "overhead +625.00 ms/step" in text and "(target <= 3: NOT met)" in text


def test_variants_with_levers_and_bad_names(bench_work, scripted_clock):
    s = OverheadBench()
    assert parse_variant("dronefast", s) == ("dronefast", "fastai", False)
    assert parse_variant("dronefast+fused+compile", s) == ("dronefast", "fused", True)
    assert parse_variant("floor+compile", OverheadBench(opt="adamw")) == ("floor", "adamw", True)
    for bad in ("bogus", "dronefast+turbo", "fastai+fused+adamw"):
        with pytest.raises(UsageError):
            parse_variant(bad, s)
    with pytest.raises(UsageError):
        OverheadBench(variants=())
    assert main(["overhead", *TINY, "--variants", "floor,bogus", "--work", str(bench_work)],
                clock=scripted_clock([])) == 2


def test_compare_takes_compiled_variants_over_the_compiled_floor():
    def res(ms, low):
        return {"ms_per_step": ms, "ms_per_step_min": low}

    results = {"floor": res(1.0, 0.9), "dronefast": res(3.0, 2.5), "floor+compile": res(0.5, 0.5),
               "dronefast+compile": res(2.0, 1.5), "dronefast+fused": res(2.5, 2.4)}
    out = compare(results)
    assert out["overhead_ms"] == {"dronefast": 2.0, "dronefast+compile": 1.5, "dronefast+fused": 1.5}
    assert out["overhead_ms_of_min"] == {"dronefast": 1.6, "dronefast+compile": 1.0, "dronefast+fused": 1.5}
    assert out["ratios"] == {"dronefast_over_floor": 3.0, "dronefast+compile_over_floor+compile": 4.0,
                             "dronefast+fused_over_floor": 2.5}
    assert out["checks"] == {"overhead_target_ms": 3.0, "overhead_met": True}
    assert compare({"fastai": res(2.0, 2.0)}) == {"overhead_ms": {}, "overhead_ms_of_min": {}, "ratios": {},
                                                  "checks": {}}


def test_optimizer_steps_on_a_scripted_clock(scripted_clock):
    # one round over none, fastai, lean, adamw, fused: 10 steps each
    clock = scripted_clock([0.01, 0.06, 0.03, 0.04, 0.02])
    r = bench_optimizers(6, None, 1, Timer(clock), steps=10)
    assert clock.done()
    assert r["n_tensors"] == 6 and r["grads_ms"] == pytest.approx(1.0)
    assert r["ms_per_step"] == pytest.approx({"fastai": 5.0, "lean": 2.0, "adamw": 3.0, "fused": 1.0})
