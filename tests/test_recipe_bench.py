"""Tests of dronefast.recipe_bench (``python -m dronefast.bench recipes``) on a tiny generated sample: the scores it
reports are those of the saved models, and the differences are computed from them."""
import json

import pytest

from dronefast.bench import main
from dronefast.errors import UsageError
from dronefast.evaluate import evaluate_model
from dronefast.recipe_bench import parse_run

TINY = ["--n", "10", "--photo-size", "96x64", "--size", "48x32", "--bs", "4", "--lr-find-iters", "20"]


@pytest.mark.parametrize("text, expected", [("nadir", ("nadir", None)), ("reference:12", ("reference", 12))])
def test_parse_run(text, expected):
    assert parse_run(text) == expected


@pytest.mark.parametrize("text, message", [("fast", "recipe must be one of nadir, reference"),
                                           ("nadir:0", "epochs must be a positive integer"),
                                           ("nadir:x", "epochs must be a positive integer")])
def test_parse_run_refuses(text, message):
    with pytest.raises(UsageError, match=message):
        parse_run(text)


def test_recipes_side_by_side(tmp_path, capsys):
    work, js = tmp_path / "work", tmp_path / "r.json"
    assert main(["recipes", "--runs", "reference:1,nadir:2", "--seeds", "3", "--work", str(work), "--json", str(js),
                 *TINY]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    assert res["command"] == "recipes" and res["settings"]["seeds"] == [3] and res["settings"]["pretrained"] is False
    ref, nadir = res["variants"]["reference:1"], res["variants"]["nadir:2"]
    assert (ref["recipe"], ref["epochs"], nadir["recipe"], nadir["epochs"]) == ("reference", 1, "nadir", 2)
    data = res["settings"]["data"]
    for run, v in res["variants"].items():
        row = v["per_seed"][0]
        assert row["seed"] == 3 and row["minutes"] > 0
        # the reported scores are those of the saved model at full resolution
        full = evaluate_model(work / "recipes-runs" / f"{run.replace(':', '-')}-s3" / "model.json", data,
                              progress=False)["full_res"]
        assert row["miou"] == pytest.approx(full["miou"]) and row["pixel_accuracy"] == pytest.approx(
            full["pixel_accuracy"])
        assert row["iou_car"] == full["iou"]["car"] and v["mean"]["miou"] == pytest.approx(row["miou"])
    r = res["ratios"]["nadir:2"]
    assert r["miou_diff"] == pytest.approx(nadir["mean"]["miou"] - ref["mean"]["miou"])
    assert r["minutes_ratio"] == pytest.approx(nadir["mean"]["minutes"] / ref["mean"]["minutes"])
    assert res["ratios"]["reference:1"]["miou_diff"] == 0
    assert "| run | epochs | pixel accuracy | mIoU | IoU person | IoU car | minutes |" in out
    assert f"| nadir:2 | 2 | {nadir['mean']['pixel_accuracy']:.3f} | {nadir['mean']['miou']:.3f} |" in out
    assert f"nadir:2 vs reference:1: mIoU {r['miou_diff']:+.3f}" in out


@pytest.mark.parametrize("args, message", [(["--runs", "fast"], "recipe must be one of nadir, reference"),
                                           (["--runs", "nadir,nadir"], "runs must differ"),
                                           (["--seeds", "a"], "--seeds must be comma-separated integers")])
def test_bad_usage_exits_2(tmp_path, capsys, args, message):
    assert main(["recipes", "--work", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
