"""Tests of benchmarks.overhead: one tiny in-process run of ``python -m benchmarks overhead`` (its plan, variants
and profile; synchronisations not measured without CUDA), the synchronisation count, the variant names with
levers, the comparison on chosen numbers and the optimizer timing."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from fastai.callback.core import CancelFitException

from benchmarks import overhead
from benchmarks.__main__ import COMMANDS, main
from benchmarks.harness import Timer
from benchmarks.loop import LoopBench, StepClock, bench_loop, loop_lines, loop_summary
from benchmarks.overhead import (
    SYNC_WARNING,
    OverheadBench,
    bench_optimizers,
    compare,
    count_syncs,
    parse_variant,
    report_lines,
    sync_counts,
)
from dronefast.errors import UsageError

# 6 photos of 32x32 at --valid-pct 0.34: 4 training photos, 2 steps of 2 an epoch
TINY = ["--threads", "1", "--n", "4", "--valid-pct", "0.34", "--size", "32x32", "--bs", "2", "--device", "cpu"]


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The sub-command, registered as benchmarks/__main__.py registers it (a no-op once it does)."""
    monkeypatch.setitem(COMMANDS, "overhead", overhead)


def test_overhead_run_on_cpu(tmp_path, bench_work, capsys):
    out = tmp_path / "overhead.json"
    argv = ["overhead", *TINY, "--epochs", "1", "--profile", "5", "--work", str(bench_work), "--json", str(out)]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    assert r["command"] == "overhead" and r["argv"][:4] == ["python", "-m", "benchmarks", "overhead"]
    assert set(r) == {"command", "machine", "settings", "variants", "overhead_ms", "overhead_ms_of_min", "ratios",
                      "checks", "syncs", "profile", "profile_variant", "argv"}
    s = r["settings"]
    assert (s["n_train"], s["n_valid"], s["steps_per_epoch"], s["n_classes"]) == (4, 2, 2, 24)
    assert (s["precision"], s["channels_last"], s["progress_bar"], s["opt"], s["threads"]) == ("fp32", True, True,
                                                                                                 "fastai", 1)
    assert list(r["variants"]) == ["floor", "dronefast", "fastai"] and set(r["overhead_ms"]) == {"dronefast", "fastai"}
    assert r["syncs"] is None   # no CUDA device: not measured, and not made up
    assert r["profile_variant"] == "dronefast" and len(r["profile"]) == 5
    assert set(r["profile"][0]) == {"function", "calls", "own_ms", "cum_ms"}
    text = capsys.readouterr().out
    assert "(b) dronefast" in text and "host-device synchronisations: not measured (they need a CUDA device)" in text


def test_count_syncs_counts_the_sync_warnings_and_restores_the_mode():
    modes = []

    def epoch():
        warnings.warn(f"{SYNC_WARNING} (a .item())")
        warnings.warn("some other warning")
        warnings.warn(SYNC_WARNING)

    assert count_syncs(epoch, modes.append) == 2 and modes == ["warn", "default"]
    with pytest.raises(RuntimeError):
        count_syncs(lambda: (_ for _ in ()).throw(RuntimeError("boom")), modes.append)
    assert modes[-1] == "default"
    out = sync_counts({"floor": lambda: None, "fastai": epoch}, steps=4, set_mode=modes.append)
    assert out == {"floor": {"per_epoch": 0, "per_step": 0.0}, "fastai": {"per_epoch": 2, "per_step": 0.5}}
    assert report_lines({"variants": {}, "overhead_ms": {}, "checks": {}, "syncs": out})[0] == (
        "  host-device synchronisations per training step (per epoch): floor 0.00 (0), fastai 0.50 (2)")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_count_syncs_on_cuda():
    x = torch.ones(8, device="cuda")
    assert count_syncs(lambda: (x + 1).sum()) == 0
    assert count_syncs(lambda: [(x * i).sum().item() for i in range(3)]) == 3


def test_variants_with_levers_and_bad_names(bench_work, scripted_clock):
    s = OverheadBench()
    assert parse_variant("dronefast", s) == ("dronefast", "nodecay", False)  # dronefast's optimizer
    assert parse_variant("fastai", s) == ("fastai", "fastai", False)
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
    # one round over none, fastai, nodecay, adamw, fused: 10 steps each
    clock = scripted_clock([0.01, 0.06, 0.03, 0.04, 0.02])
    r = bench_optimizers(6, None, 1, Timer(clock), steps=10)
    assert clock.done()
    assert r["n_tensors"] == 6 and r["grads_ms"] == pytest.approx(1.0)
    assert r["ms_per_step"] == pytest.approx({"fastai": 5.0, "nodecay": 2.0, "adamw": 3.0, "fused": 1.0})


def test_loop_step_clock_and_summary_on_chosen_numbers():
    clock = StepClock(2, clock=iter([(10.0, 1.0), (12.5, 2.0), (13.0, 2.25)]).__next__)
    clock.before_train()
    clock.after_batch()
    with pytest.raises(CancelFitException):  # stops the fit after its 2 steps
        clock.after_batch()
    assert clock.step_times() == [(2.5, 1.0), (0.5, 0.25)]
    r = loop_summary({"fastai": [(2.0, 1.0), (4.0, 3.0), (3.0, 2.0)], "adam": [(3.0, 1.5), (9.0, 2.5)]})
    assert r["variants"]["fastai"] == {"steps": 3, "samples": [[2.0, 1.0], [4.0, 3.0], [3.0, 2.0]],
                                       "wall_s_per_step": {"median": 3.0, "mean": 3.0},
                                       "cpu_s_per_step": {"median": 2.0, "mean": 2.0}}
    assert r["ratios"] == {"adam_over_fastai": {"wall_s_per_step": 2.0, "cpu_s_per_step": 1.0}}
    lines = loop_lines({"sizes": {"32x32": r}})
    assert lines[0] == "  32x32 fastai   3.000 s/step wall, 2.000 s CPU (median of 3 steps)"
    assert lines[-1] == "  32x32 adam_over_fastai: 2.000 wall, 1.000 CPU"
    with pytest.raises(UsageError):
        LoopBench(variants=("lean",))


def test_loop_run_on_cpu(bench_work):
    logs = []
    r = bench_loop(LoopBench(sizes=((32, 32),), bs=2, steps=2, rounds=1, arch="resnet18", work=bench_work),
                   log=logs.append)
    assert r["mode"] == "loop" and r["settings"]["recipe"] == "nadir" and list(r["sizes"]) == ["32x32"]
    v = r["sizes"]["32x32"]["variants"]
    assert list(v) == ["fastai", "adam"] and all(x["steps"] == 2 for x in v.values())
    assert all(x["cpu_s_per_step"]["median"] > 0 for x in v.values()) and len(logs) == 1
    assert r["machine"]["load_avg_before"] is not None and "load_avg_after" in r["machine"]
