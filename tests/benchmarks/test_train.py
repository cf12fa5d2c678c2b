"""Tests of benchmarks.train: the split arithmetic, the comparison of variants on chosen numbers, and one tiny
in-process run of ``python -m benchmarks train`` on a scripted clock (exact medians and ratios in its JSON)."""
from __future__ import annotations

import json

import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.train import TARGETS, compare, n_total

TINY = ["--threads", "1", "--n", "2", "--valid-pct", "0.34", "--photo-size", "72x48", "--size", "48x32", "--bs", "2",
        "--arch", "resnet18", "--epochs", "1", "--stock-workers", "0", "--device", "cpu"]


def test_n_total_leaves_exactly_n_training_images():
    assert n_total(16, 0.2) == 20      # int(0.2 * 20) = 4 held out (19 would hold out 3)
    assert n_total(320, 0.2) == 400    # the reference configuration: 400 photos, 80 validation
    assert n_total(5, 0.1) == 5        # int(0.5) = 0 held out
    assert n_total(2, 0.34) == 3       # the tiny run below: 2 training photos, 1 validation photo
    for n, pct in [(3, 0.5), (7, 0.25), (1, 0.2)]:
        total = n_total(n, pct)
        assert total - int(pct * total) == n


def test_compare_ratios_and_checks():
    def res(median, low, cpu, acc=None):
        r = {"epoch_s": {"median": median, "min": low}, "cpu_s": cpu}
        return r if acc is None else {**r, "accuracy": acc}

    results = {"stock": res(12.0, 9.0, 30.0, 0.5), "dronefast": res(4.0, 3.0, 6.0, 0.53), "floor": res(3.2, 3.0, 4.0)}
    out = compare(results, "cpu", acc_tol=0.05)
    assert out["ratios"] == {"dronefast_over_floor": 1.25, "stock_over_dronefast": 3.0}
    assert out["ratios_of_min"] == {"dronefast_over_floor": 1.0, "stock_over_dronefast": 3.0}
    assert out["ratios_of_cpu"] == {"dronefast_over_floor": 1.5, "stock_over_dronefast": 5.0}
    c = out["checks"]
    assert (c["overhead_target"], c["overhead_met"]) == (TARGETS["train_overhead_max_cpu"], False)
    assert (c["speedup_target"], c["speedup_met"]) == (1.5, True)
    assert c["accuracy_diff"] == pytest.approx(0.03) and c["same_accuracy"] is True
    only = compare({k: results[k] for k in ("dronefast", "floor")}, "cuda", acc_tol=0.05)
    assert list(only["ratios"]) == ["dronefast_over_floor"]
    assert only["checks"] == {"overhead_target": 1.05, "overhead_met": False}


def test_train_json_on_a_scripted_clock(tmp_path, bench_work, scripted_clock):
    # one round, in (a), (b), (c) order: stock 6 s, dronefast 3 s, floor 2 s
    clock = scripted_clock([6.0, 3.0, 2.0])
    out = tmp_path / "train.json"
    assert main(["train", *TINY, "--work", str(bench_work), "--json", str(out)], clock=clock) == 0
    assert clock.done()
    r = json.loads(out.read_text())
    assert r["command"] == "train" and r["argv"][:4] == ["python", "-m", "benchmarks", "train"]
    assert set(r) == {"command", "machine", "settings", "setup_s", "variants", "ratios", "ratios_of_min",
                      "ratios_of_cpu", "checks", "argv"}
    s = r["settings"]
    assert (s["n_train"], s["n_valid"], s["steps_per_epoch"], s["generated"]) == (2, 1, 1, True)
    assert (s["precision"], s["channels_last"], s["threads"]) == ("fp32", True, 1)
    v = r["variants"]
    assert [v[k]["epoch_s"]["samples"] for k in ("stock", "dronefast", "floor")] == [[6.0], [3.0], [2.0]]
    assert (v["dronefast"]["s_per_image"], v["dronefast"]["images_per_s"]) == (1.5, 2 / 3)
    assert r["ratios"] == {"dronefast_over_floor": 1.5, "stock_over_dronefast": 2.0}
    assert r["ratios_of_min"] == r["ratios"]
    c = r["checks"]
    assert (c["overhead_met"], c["speedup_met"]) == (False, True)
    acc_a, acc_b = v["stock"]["accuracy"], v["dronefast"]["accuracy"]
    assert 0 <= acc_a <= 1 and 0 <= acc_b <= 1 and "accuracy" not in v["floor"]
    assert c["accuracy_diff"] == pytest.approx(abs(acc_a - acc_b))
    assert v["floor"]["cpu_s"] >= 0 and v["floor"]["page_faults"] >= 0
    assert r["machine"]["cores"] >= 1 and "load_avg_before" in r["machine"]


def test_train_one_variant_and_refusals(tmp_path, bench_work, scripted_clock, capsys):
    out = tmp_path / "t.json"
    clock = scripted_clock([1.0])
    assert main(["train", *TINY, "--variants", "floor", "--precision", "bf16", "--no-channels-last",
                 "--work", str(bench_work), "--json", str(out)], clock=clock) == 0
    r = json.loads(out.read_text())
    assert set(r["variants"]) == {"floor"} and r["ratios"] == {} and r["checks"] == {}
    assert r["settings"]["precision"] == "bf16" and r["settings"]["channels_last"] is False
    capsys.readouterr()
    assert main(["train", "--variants", "stock,nope", "--work", str(tmp_path)]) == 2
    assert "unknown variant" in capsys.readouterr().err
    assert main(["train", "--precision", "fp16", "--device", "cpu", "--work", str(tmp_path)]) == 2
    assert "fp16 mixed precision needs a GPU" in capsys.readouterr().err
    bad_device = ["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "meta"]
    assert main(["train", *bad_device, "--work", str(tmp_path)]) == 2
    assert main(["train", *TINY, "--n", "2", "--valid-pct", "0.2", "--variants", "floor",
                 "--work", str(bench_work)]) == 2
    assert "1 training images make no full batch of 2" in capsys.readouterr().err  # one photo validates
