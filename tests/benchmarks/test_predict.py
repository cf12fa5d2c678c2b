"""Tests of benchmarks.predict: the windows it times are those the Predictor cuts, and one tiny in-process run of
``python -m benchmarks predict`` on a scripted clock (exact medians and ratio in its JSON)."""
from __future__ import annotations

import json

import torch

from benchmarks.__main__ import main

TINY = ["--threads", "1", "--photo-size", "128x96", "--size", "48x32", "--scale", "0.5", "--arch", "resnet18",
        "--batch-size", "3", "--device", "cpu"]


def test_predict_json_on_a_scripted_clock(tmp_path, bench_work, scripted_clock):
    clock = scripted_clock([3.0, 2.0, 2.0, 5.0])   # tiled, forward / forward, tiled (warm-ups are not timed)
    out = tmp_path / "pred.json"
    assert main(["predict", *TINY, "--repeats", "2", "--work", str(bench_work), "--json", str(out)], clock=clock) == 0
    assert clock.done()
    r = json.loads(out.read_text())
    assert set(r) == {"command", "machine", "settings", "variants", "ratios", "ratios_of_min", "checks", "argv"}
    s = r["settings"]
    assert s["working_size"] == "64x48" and s["windows"] == 4   # 2 x 2 windows of 48x32 with overlap 0.25
    assert (s["batch_size"], s["bf16"], s["threads"]) == (3, False, 1)
    v = r["variants"]
    assert v["tiled"]["s"]["samples"] == [3.0, 5.0] and v["forward"]["s"]["samples"] == [2.0, 2.0]
    assert r["ratios"] == {"tiled_over_forward": 2.0} and r["ratios_of_min"] == {"tiled_over_forward": 1.5}
    assert r["checks"] == {"overhead_target": 1.15, "overhead_met": False}


def test_window_batches_are_the_predictors_windows(bench_work):
    from benchmarks.harness import photo_dataset
    from benchmarks.predict import window_batches
    from dronefast.data.classes import standard_classes
    from dronefast.inference.predictor import Predictor
    from dronefast.inference.tiling import blend_window
    from dronefast.models.modelfile import ModelInfo, build_model

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
