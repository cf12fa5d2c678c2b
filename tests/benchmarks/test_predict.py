"""Tests of benchmarks.predict: the windows it times as the bare forward are those the Predictor cuts and blends,
and the comparison against the target on chosen numbers."""
from __future__ import annotations

import json

import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.predict import TARGETS, compare


def test_compare_tiled_over_forward_against_the_target():
    def res(median, low):
        return {"s": {"median": median, "min": low}}

    out = compare({"tiled": res(2.3, 1.5), "forward": res(2.0, 1.5)})
    assert out["ratios"] == {"tiled_over_forward": pytest.approx(1.15)}
    assert out["ratios_of_min"] == {"tiled_over_forward": 1.0}
    assert out["checks"]["overhead_target"] == TARGETS["predict_overhead_max"] == 1.15
    assert compare({"tiled": res(2.4, 2.4), "forward": res(2.0, 2.0)})["checks"]["overhead_met"] is False
    assert compare({"tiled": res(2.2, 2.2), "forward": res(2.0, 2.0)})["checks"]["overhead_met"] is True


def test_predict_runs_the_predictors_plan(tmp_path, bench_work):
    out = tmp_path / "pred.json"
    assert main(["predict", "--threads", "1", "--photo-size", "128x96", "--size", "48x32", "--scale", "0.5",
                 "--arch", "resnet18", "--batch-size", "3", "--device", "cpu", "--repeats", "1",
                 "--work", str(bench_work), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    s = r["settings"]
    assert s["working_size"] == "64x48" and s["windows"] == 4   # 2 x 2 windows of 48x32 with overlap 0.25
    assert (s["batch_size"], s["bf16"], s["threads"]) == (3, False, 1)
    assert [len(r["variants"][k]["s"]["samples"]) for k in ("tiled", "forward")] == [1, 1]


def test_window_batches_are_the_predictors_windows(bench_work):
    from benchmarks.harness import photo_dataset
    from benchmarks.predict import window_batches
    from dronefast.data.classes import standard_classes
    from dronefast.inference.predictor import Predictor
    from dronefast.models.modelfile import ModelInfo, build_model
    from dronefast.models.tiling import blend_window

    photo = photo_dataset(bench_work / "w", 1, (96, 128)) / "original_images" / "0000.jpg"
    info = ModelInfo(arch="resnet18", classes=standard_classes(), size=(32, 48))
    pred = Predictor((build_model(info), info), device="cpu", tile=True, scale=0.5, overlap=0.25, batch_size=3)
    batches, n = window_batches(pred, photo, (48, 64))
    assert n == 4 and [tuple(b.shape) for b in batches] == [(3, 3, 32, 48), (1, 3, 32, 48)]
    with torch.inference_mode():
        logits = [pred.model(x).float() for x in batches]
    # blend the bare forwards by hand: the Predictor's working-resolution logits
    acc, wsum, w = torch.zeros(24, 48, 64), torch.zeros(48, 64), blend_window((32, 48))
    for (y, x), o in zip([(0, 0), (0, 16), (16, 0), (16, 16)], torch.cat(logits)):
        acc[:, y:y + 32, x:x + 48] += o * w
        wsum[y:y + 32, x:x + 48] += w
    torch.testing.assert_close(pred.predict_logits(photo), acc / wsum, atol=1e-4, rtol=1e-4)
