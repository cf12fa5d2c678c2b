"""Tests of the split a training run records (dronefast.workflows.training_run): ``split.json`` holds the photos
its DataLoaders used, and ``evaluate`` scores the recorded photos whatever happened to the data folder since: a
training photo removed changes nothing, a test photo removed is refused by name, a photo added is left out and
named. One tiny run (10 synthetic photos, 1 epoch at 48x32, random resnet18)."""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from dronefast.cli.evaluate import main as evaluate
from dronefast.data.layout import find_layout
from dronefast.data.split import Split
from dronefast.inference.predict_options import PredictOptions
from dronefast.workflows.evaluation import evaluate_model
from dronefast.workflows.training_run import train


@pytest.fixture(scope="module")
def run(sample_kaggle, tmp_path_factory):
    """``(TrainResult, the split.json it wrote)``: 2 test photos, then 2 validation and 6 training photos."""
    out = tmp_path_factory.mktemp("split-run") / "run"
    result = train(data=sample_kaggle, out=out, arch="resnet18", size=(32, 48), bs=3, epochs=1, lr=1e-3,
                   valid_pct=0.25, test_pct=0.2, pretrained=False, progress=False)
    return result, json.loads((out / "split.json").read_text())


def _data_copy(sample_kaggle: Path, dst: Path) -> Path:
    shutil.copytree(sample_kaggle, dst)
    return dst


def _remove(data: Path, stem: str) -> None:
    """Remove a photo and its mask."""
    lay = find_layout(data)
    photo = next(p for p in lay.image_files() if p.stem == stem)
    lay.label_path_for(photo).unlink()
    photo.unlink()


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = evaluate(argv)
    return rc, out.getvalue(), err.getvalue()


def test_split_json_holds_the_photos_the_dataloaders_used(run, sample_kaggle):
    result, split = run
    dls = result.learn.dls
    assert (split["format"], split["version"]) == ("dronefast-split", 1)
    assert split["train"] == sorted(p.stem for p in dls.train_ds.items) and len(split["train"]) == 6
    assert split["valid"] == sorted(p.stem for p in dls.valid_ds.items) and len(split["valid"]) == 2
    assert split["test"] == sorted(p.stem for p in dls.test_items) and len(split["test"]) == 2
    assert sorted(split["train"] + split["valid"] + split["test"]) == [f"{i:03d}" for i in range(10)]
    assert split["settings"] == {"valid_pct": 0.25, "seed": 42, "test_pct": 0.2, "test_stems": None}
    assert json.loads((result.out / "model.json").read_text())["extra"]["split"] == split   # travels with the model
    assert result.metrics["test"]["images"] == [f"{s}.jpg" for s in split["test"]]          # scored on the record


def test_a_training_photo_removed_leaves_the_test_photos_as_recorded(run, sample_kaggle, tmp_path):
    """The hazard: some training photo, once removed, makes the settings' split give other test photos (photos
    the model trained on); with the record, evaluate scores the recorded test photos all the same."""
    result, split = run
    photos = find_layout(sample_kaggle).image_files()
    settings = Split(0.25, 42, test_pct=0.2)
    moving = [s for s in split["train"]
              if sorted(p.stem for p in settings.divide([p for p in photos if p.stem != s])[2]) != split["test"]]
    assert moving, "no training photo whose removal changes the re-derived test photos"
    data = _data_copy(sample_kaggle, tmp_path / "data")
    _remove(data, moving[0])
    m = evaluate_model(result.out, data, full_res=False, progress=False, options=PredictOptions(device="cpu"))
    assert m["images"] == [f"{s}.jpg" for s in split["test"]]
    assert (m["split"]["subset"], m["split"]["from"], m["split"]["note"]) == ("test", "record", None)
    assert (m["split"]["n_images"], m["split"]["n_total"]) == (2, 9)


def test_a_recorded_test_photo_removed_is_refused_by_name(run, sample_kaggle, tmp_path):
    result, split = run
    data = _data_copy(sample_kaggle, tmp_path / "data")
    _remove(data, split["test"][1])
    out = tmp_path / "eval"
    rc, _, err = _cli([str(result.out), "--data", str(data), "--out", str(out), "--no-full-res", "--no-progress"])
    image_dir = find_layout(data).image_dir
    assert rc == 1 and err == (f"error: {image_dir}: photo(s) of the model's recorded split missing: test "
                               f"{split['test'][1]} (restore them; the split is not re-derived)\n")
    assert not out.exists()   # nothing written


def test_a_photo_added_since_training_is_named_and_left_out(run, sample_kaggle, tmp_path):
    result, split = run
    data = _data_copy(sample_kaggle, tmp_path / "data")
    lay = find_layout(data)
    photo = lay.image_files()[0]
    shutil.copy(photo, photo.with_name("zzz" + photo.suffix))
    shutil.copy(lay.label_path_for(photo), lay.label_path_for(photo).with_name("zzz.png"))
    out = tmp_path / "eval"
    rc, printed, err = _cli([str(result.out), "--data", str(data), "--out", str(out), "--no-full-res",
                             "--no-progress", "--subset", "validation"])
    assert rc == 0, err
    assert "note: 1 photo added since training is left out: zzz\n" in printed
    assert "2 of 11 photos scored: validation split (valid_pct 0.25, seed 42, after test_pct 0.2, as recorded by " \
           "the run)" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["images"] == [f"{s}.jpg" for s in split["valid"]] and m["split"]["added"] == ["zzz"]


def test_split_arguments_are_refused_when_the_split_is_recorded(run, sample_kaggle, tmp_path):
    result, _ = run
    for flag in (["--seed", "1"], ["--valid-pct", "0.5"]):
        rc, _, err = _cli([str(result.out), "--data", str(sample_kaggle), "--out", str(tmp_path / "eval"),
                           "--no-progress", *flag])
        assert rc == 2 and "the model records the photos of its split" in err and err.count("\n") == 1
    assert not (tmp_path / "eval").exists()
