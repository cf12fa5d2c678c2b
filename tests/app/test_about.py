"""What the page says about the model (its recorded scores, and on which photos) and the scale a photo is judged
at."""
from __future__ import annotations

import json

from dronefast.app.about import judged_line, model_scores, scores_markdown


def write_run(folder, metrics=None, kept=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps({"format": "dronefast-unet", "extra": {"scores": kept or {}}}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_test_scores_from_the_run_folder(tmp_path):
    run = write_run(tmp_path / "run", {"n_valid": 2, "miou": 0.9, "test": {
        "n_images": 12, "miou": 0.41234, "pixel_accuracy": 0.8766, "accuracy_mask": 0.8, "iou": [0.1]}},
        kept={"miou": 0.9})
    scores = model_scores(run)
    assert scores == {"split": "test", "n_images": 12,
                      "scores": {"miou": 0.41234, "pixel_accuracy": 0.8766, "accuracy_mask": 0.8}}
    assert model_scores(run / "model.json") == scores
    assert scores_markdown(scores) == ("**Model scores on its test photos (12 photos):** mIoU 0.412, pixel accuracy "
                                       "0.877, accuracy (void excluded) 0.800.")


def test_validation_scores_are_labelled_as_such(tmp_path):
    run = write_run(tmp_path / "run", {"n_valid": 3}, kept={"miou": 0.5, "pixel_accuracy": 0.75})
    scores = model_scores(run)
    assert scores == {"split": "validation", "n_images": 3, "scores": {"miou": 0.5, "pixel_accuracy": 0.75}}
    assert scores_markdown(scores).startswith("**Model scores on its validation photos (3 photos)** (no test scores "
                                              "recorded; validation chose the epoch, so these flatter it): mIoU "
                                              "0.500, pixel accuracy 0.750.")


def test_no_scores(tmp_path):
    assert model_scores(write_run(tmp_path / "bare")) is None
    assert model_scores(None) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{not json")
    assert model_scores(tmp_path / "bad") is None
    assert scores_markdown(None).startswith("**Model scores:** none recorded with this model")


def test_judged_line():
    assert judged_line((100, 150), (4000, 6000), False) == \
        "Judged at 150x100 from a 6000x4000 photo (as one picture, 40x smaller)."
    assert judged_line((667, 1000), (4000, 6000), True) == \
        "Judged at 1000x667 from a 6000x4000 photo (in windows, 6x smaller)."
    assert judged_line((64, 96), (64, 96), True) == "Judged at 96x64 from a 96x64 photo (in windows)."
