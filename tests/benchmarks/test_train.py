"""Tests of benchmarks.train: the split arithmetic, the comparison and report of variants on chosen numbers, the
checks each row gets, the photos (a') resizes once, and one tiny real run whose rows must really have trained in
the way they are labelled (no clock values are injected: the timings themselves are not asserted)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.__main__ import main
from benchmarks.harness import photo_dataset
from benchmarks.train import TARGETS, compare, model_checks, n_total, report_lines, resize_photos
from dronefast.data.layout import find_layout

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


def _res(median, low, cpu, acc=None):
    r = {"epoch_s": {"median": median, "min": low}, "cpu_s": cpu}
    return r if acc is None else {**r, "accuracy": acc}


def test_compare_ratios_and_checks():
    results = {"stock": _res(12.0, 9.0, 30.0, 0.5), "fastai": _res(6.0, 4.5, 9.0, 0.6),
               "dronefast": _res(4.0, 3.0, 6.0, 0.53), "floor": _res(3.2, 3.0, 4.0)}
    out = compare(results, "cpu", acc_tol=0.05)
    assert out["ratios"] == {"dronefast_over_floor": 1.25, "stock_over_dronefast": 3.0, "fastai_over_dronefast": 1.5}
    assert out["ratios_of_min"] == {"dronefast_over_floor": 1.0, "stock_over_dronefast": 3.0,
                                    "fastai_over_dronefast": 1.5}
    assert out["ratios_of_cpu"] == {"dronefast_over_floor": 1.5, "stock_over_dronefast": 5.0,
                                    "fastai_over_dronefast": 1.5}
    c = out["checks"]
    assert (c["overhead_target"], c["overhead_met"]) == (TARGETS["train_overhead_max_cpu"], False)
    assert (c["speedup_target"], c["speedup_met"]) == (1.5, True)   # the target is the tutorial's (a/b)
    assert c["accuracy_diff"] == pytest.approx(0.03) and c["same_accuracy"] is True
    assert c["fastai_accuracy_diff"] == pytest.approx(0.07) and c["fastai_same_accuracy"] is False
    only = compare({k: results[k] for k in ("dronefast", "floor")}, "cuda", acc_tol=0.05)
    assert list(only["ratios"]) == ["dronefast_over_floor"]
    assert only["checks"] == {"overhead_target": 1.05, "overhead_met": False}
    tuned = compare({k: results[k] for k in ("fastai", "dronefast")}, "cpu", acc_tol=0.1)
    assert tuned["ratios"] == {"fastai_over_dronefast": 1.5} and "speedup_met" not in tuned["checks"]
    assert tuned["checks"]["fastai_same_accuracy"] is True


def test_report_names_both_fastai_rows_and_both_speedups():
    v = {"stock": {**_res(12.0, 9.0, 30.0, 0.5), "precision": "fp32"},
         "fastai": {**_res(6.0, 4.5, 9.0, 0.52), "precision": "fp32"}, "dronefast": _res(4.0, 3.0, 6.0, 0.53)}
    v["dronefast"]["precision"] = "bf16"
    for name, x in v.items():
        x.update(label=name.upper(), s_per_image=1.0, images_per_s=1.0, weight_change=0.1,
                 channels_last_weights=name != "stock")
        x["epoch_s"].update(max=x["epoch_s"]["median"], samples=[x["epoch_s"]["median"]])
    result = {"variants": v, "setup_s": {"fastai_resize": 2.5}, **compare(v, "cpu", 0.05)}
    text = "\n".join(report_lines(result))
    assert "a/b speed-up over the fastai tutorial: 3.000 (target >= 1.50" in text
    assert "a'/b speed-up over tuned fastai: 1.500 (no target" in text
    assert "resized the photos once beforehand in 2.5 s" in text
    assert "accuracy a' vs b: |0.5200 - 0.5300| = 0.0100 <= 0.05" in text
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert "NCHW" in lines["STOCK"] and "channels-last" in lines["FASTAI"] and "bf16" in lines["DRONEFAST"]


def test_model_checks_weight_change_and_memory_format():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, bias=False), torch.nn.Conv2d(2, 2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(0.5)   # 36 weights: norm 3
        model[1].weight.fill_(2.0)   # 4 weights: norm 4
    before = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert model_checks(model, before) == {"weight_change": 0.0, "channels_last_weights": False}
    with torch.no_grad():
        model[0].weight.fill_(1.0)   # norm 6: the norms moved by (3, 0), 3/5 of their norm 5
    model.to(memory_format=torch.channels_last)
    out = model_checks(model, before)
    assert out["weight_change"] == pytest.approx(0.6) and out["channels_last_weights"] is True


def test_resize_photos_once_to_the_training_size(tmp_path, bench_work):
    # the tiny run's photos (generated once per module, whichever test comes first)
    layout = find_layout(photo_dataset(bench_work / "train-3-72x48-s0", 3, (48, 72), workers=1))
    resized = resize_photos(layout, (32, 48), tmp_path / "resized", workers=0)
    assert resized.image_dir == tmp_path / "resized" / "original_images" and resized.classes == layout.classes
    for img, mask in resized.pairs()[0]:
        assert Image.open(img).size == (48, 32) and Image.open(img).mode == "RGB"
        small, big = np.asarray(Image.open(mask)), np.asarray(Image.open(layout.label_func(img)))
        assert small.shape == (32, 48) and set(np.unique(small)) <= set(np.unique(big))  # ids, not blends
        assert np.array_equal(small, np.asarray(Image.fromarray(big).resize((48, 32), Image.Resampling.NEAREST)))
    (tmp_path / "resized" / "original_images" / "stale.jpg").write_bytes(b"x")
    resize_photos(layout, (32, 48), tmp_path / "resized", workers=0)   # a fresh copy each run
    assert sorted(p.name for p in resized.image_dir.iterdir()) == ["0000.jpg", "0001.jpg", "0002.jpg"]


def test_train_rows_really_train_as_labelled(tmp_path, bench_work):
    out = tmp_path / "train.json"
    assert main(["train", *TINY, "--work", str(bench_work), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["command"] == "train" and r["argv"][:4] == ["python", "-m", "benchmarks", "train"]
    assert set(r) == {"command", "machine", "settings", "setup_s", "variants", "ratios", "ratios_of_min",
                      "ratios_of_cpu", "checks", "argv"}
    s, v = r["settings"], r["variants"]
    assert (s["n_train"], s["n_valid"], s["steps_per_epoch"], s["precision"]) == (2, 1, 1, "fp32")
    assert list(v) == ["stock", "fastai", "dronefast", "floor"]
    assert all(x["weight_change"] > 0 for x in v.values())          # every row trained
    assert [v[k]["channels_last_weights"] for k in v] == [False, True, True, True]
    assert [v[k]["precision"] for k in ("stock", "fastai", "dronefast")] == ["fp32"] * 3
    assert s["malloc_untuned_variants"] == (["stock"] if s["malloc_tuned"] else [])
    photos = sorted((bench_work / "train-3-72x48-s0" / "original_images").iterdir())
    resized = sorted((bench_work / "resized-train-3-72x48-s0-48x32" / "original_images").iterdir())
    assert s["resized"] == str(resized[0].parent.parent) and r["setup_s"]["fastai_resize"] > 0
    assert [Image.open(p).size for p in photos] == [(72, 48)] * 3 and [Image.open(p).size for p in resized] == [
        (48, 32)] * 3
    assert set(r["ratios"]) == {"dronefast_over_floor", "stock_over_dronefast", "fastai_over_dronefast"}
    assert 0 <= v["fastai"]["accuracy"] <= 1 and "accuracy" not in v["floor"]


def test_train_refusals(tmp_path, bench_work, capsys):
    assert main(["train", "--variants", "stock,nope", "--work", str(tmp_path)]) == 2
    assert "unknown variant" in capsys.readouterr().err
    assert main(["train", "--precision", "fp16", "--device", "cpu", "--work", str(tmp_path)]) == 2
    assert "fp16 mixed precision needs a GPU" in capsys.readouterr().err
    bad_device = ["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "meta"]
    assert main(["train", *bad_device, "--work", str(tmp_path)]) == 2
    assert main(["train", *TINY, "--n", "2", "--valid-pct", "0.2", "--variants", "floor",
                 "--work", str(bench_work)]) == 2
    assert "1 training images make no full batch of 2" in capsys.readouterr().err  # one photo validates
