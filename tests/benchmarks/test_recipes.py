"""Tests of benchmarks.recipes (``python -m benchmarks recipes``) on a tiny generated sample and a scripted clock:
the scores it reports are those of the saved models, the minutes are the clock's, and the differences and means
are computed from them."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.__main__ import main
from benchmarks.recipes import compare_runs, mean_scores, parse_run, run_config
from dronefast.data.layout import find_layout
from dronefast.data.masks import read_mask
from dronefast.errors import UsageError
from dronefast.workflows.evaluation import evaluate_model
from tests.conftest import TINY_ARCH

TINY = ["--n", "10", "--photo-size", "96x64", "--lr-find-iters", "20", "--valid-pct", "0.25", "--test-pct", "0.2"]
SMALL = "/size=48x32/work=96x64/bs=4"


@pytest.mark.parametrize("text, expected", [
    ("nadir", ("nadir", None, {})), ("reference:12", ("reference", 12, {})),
    ("nadir:12/work=none/size=144x96", ("nadir", 12, {"whole_photos": True, "size": (96, 144)})),
    ("nadir/work=600x400/repeats=3/bs=4/lr=1e-3/weights=inv",
     ("nadir", None, {"work_size": (400, 600), "repeats": 3, "bs": 4, "lr": 1e-3, "class_weights": "inv"})),
    ("reference:2/lr=auto", ("reference", 2, {"lr": "auto"})),
    ("stock", ("stock", None, {})), ("stock:1/size=48x32", ("stock", 1, {"size": (32, 48)}))])
def test_parse_run(text, expected):
    assert parse_run(text) == expected


@pytest.mark.parametrize("text, message", [("fast", "recipe must be one of nadir, reference"),
                                           ("nadir:0", "epochs must be a positive integer"),
                                           ("nadir:x", "epochs must be a positive integer"),
                                           ("nadir/speed=2", "unknown setting 'speed'"),
                                           ("nadir/size=big", "size must be WxH"),
                                           ("stock/bs=4", "stock takes only size")])
def test_parse_run_refuses(text, message):
    with pytest.raises(UsageError, match=message):
        parse_run(text)


def test_run_config_is_a_train_config_by_name(tmp_path):
    opts = dict(arch="resnet18", valid_pct=0.25, test_pct=0.2, lr_find_iters=20, progress=False)
    c = run_config("reference:3/size=48x32/bs=4", 5, tmp_path / "d", tmp_path / "o", **opts)
    assert (c.recipe, c.epochs, c.unfrozen_epochs, c.seed, c.size, c.bs, c.valid_pct, c.test_pct) == (
        "reference", 3, 0, 5, (32, 48), 4, 0.25, 0.2)
    assert (c.pretrained, c.overwrite, c.lr, c.lr_find_iters, c.progress) == (False, True, None, 20, False)
    plan = run_config("nadir", 1, tmp_path, tmp_path, **opts)
    assert plan.epochs is None and plan.size is None   # the recipe's own
    whole = run_config("nadir/work=none", 1, tmp_path, tmp_path, **opts).resolve()
    assert whole.work_size is None and whole.repeats == 1
    with pytest.raises(UsageError, match="lr_find_iters must be at least 20"):
        run_config("nadir", 1, tmp_path, tmp_path, **{**opts, "lr_find_iters": 5})


def test_means_and_differences():
    rows = [{"seed": 1, "miou": 0.25, "minutes": 1.0, "iou_car": None, "size": "48x32"},
            {"seed": 2, "miou": 0.75, "minutes": 3.0, "iou_car": 0.5, "size": "48x32"}]
    assert mean_scores(rows) == {"miou": 0.5, "minutes": 2.0, "iou_car": 0.5, "size": "48x32"}
    variants = {"a": {"mean": {"miou": 0.5, "pixel_accuracy": 0.75, "minutes": 2.0, "cpu_s": 100.0}},
                "b": {"mean": {"miou": 0.625, "pixel_accuracy": 0.5, "minutes": 3.0, "cpu_s": 125.0}}}
    assert compare_runs(variants, "a") == {
        "a": {"miou_diff": 0.0, "pixel_accuracy_diff": 0.0, "minutes_ratio": 1.0, "cpu_ratio": 1.0},
        "b": {"miou_diff": 0.125, "pixel_accuracy_diff": -0.25, "minutes_ratio": 1.5, "cpu_ratio": 1.25}}


def test_recipes_side_by_side(tmp_path, capsys, scripted_clock):
    work, js = tmp_path / "work", tmp_path / "r.json"
    clock = scripted_clock([60.0, 90.0])   # nadir:1 trains for 1 minute, nadir:2 for 1.5
    # (the reference recipe would add lr_find's 20 steps at least: see test_run_config_is_a_train_config_by_name)
    runs = f"nadir:1{SMALL},nadir:2{SMALL}"
    assert main(["recipes", "--runs", runs, "--seeds", "3", "--work", str(work), "--json", str(js),
                 "--arch", TINY_ARCH, *TINY], clock=clock) == 0
    assert clock.done()
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    assert res["command"] == "recipes" and res["settings"]["seeds"] == [3] and res["settings"]["pretrained"] is False
    one, two = res["variants"][f"nadir:1{SMALL}"], res["variants"][f"nadir:2{SMALL}"]
    assert (one["recipe"], one["epochs"], two["recipe"], two["epochs"]) == ("nadir", 1, "nadir", 2)
    assert (one["per_seed"][0]["minutes"], two["per_seed"][0]["minutes"]) == (1.0, 1.5)
    data = res["settings"]["data"]
    for run, v in res["variants"].items():
        row = v["per_seed"][0]
        assert row["seed"] == 3 and row["epochs"] == v["epochs"]
        assert (row["size"], row["work_size"], row["bs"]) == ("48x32", "96x64", 4) and row["cpu_s"] > 0
        # the reported scores are those of the saved model on the test photos at full resolution
        model = next((work / "recipes-runs").glob(f"nadir-{v['epochs']}*-s3")) / "model.json"
        scored = evaluate_model(model, data, progress=False)
        assert scored["split"]["subset"] == "test" and scored["split"]["n_images"] == 2
        full = scored["full_res"]
        assert row["miou"] == pytest.approx(full["miou"]) and row["pixel_accuracy"] == pytest.approx(
            full["pixel_accuracy"])
        assert row["iou_car"] == full["iou"]["car"] and v["mean"]["miou"] == pytest.approx(row["miou"])
    r = res["ratios"][f"nadir:2{SMALL}"]
    assert r["miou_diff"] == pytest.approx(two["mean"]["miou"] - one["mean"]["miou"])
    assert r["minutes_ratio"] == 1.5 and res["ratios"][f"nadir:1{SMALL}"]["miou_diff"] == 0
    assert "| run | size | working scale | epochs | pixel accuracy | mIoU | IoU person | IoU car | CPU s | minutes |" \
        in out
    assert (f"| nadir:2{SMALL} | 48x32 | 96x64 | 2 | {two['mean']['pixel_accuracy']:.3f} | "
            f"{two['mean']['miou']:.3f} |") in out
    assert f"nadir:2{SMALL} vs nadir:1{SMALL}: mIoU {r['miou_diff']:+.3f}" in out and "minutes x1.50" in out


@pytest.mark.parametrize("args, message", [(["--runs", "fast"], "recipe must be one of nadir, reference"),
                                           (["--runs", "nadir,nadir"], "runs must differ"),
                                           (["--seeds", "a"], "--seeds must be comma-separated integers"),
                                           (["--lr-find-iters", "5"], "lr_find_iters must be at least 20")])
def test_bad_usage_exits_2(tmp_path, capsys, args, message):
    assert main(["recipes", "--work", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())   # refused before any sample or run was written


@pytest.fixture(scope="module")
def real_layout(tmp_path_factory):
    """12 generated photos 96x64 in the TU Graz layout (colour masks), standing in for the real ones, and a file
    listing 2 of them as the test photos."""
    from dronefast.synthetic.generator import generate_sample

    root = tmp_path_factory.mktemp("real")
    data = generate_sample(root / "data", n=12, size=(64, 96), seed=3, layout="tugraz")
    stems = root / "test-stems.txt"
    stems.write_text("# scored only\n002\n007\n", encoding="utf-8")
    return data, stems


REAL_RUNS = ["stock:1/size=48x32", "nadir:1/size=48x32/work=none/bs=4"]


def test_real_photos_with_a_stock_row(tmp_path, capsys, real_layout):
    data, stems = real_layout
    work, js = tmp_path / "work", tmp_path / "r.json"
    assert main(["recipes", "--data", str(data), "--test-stems", f"@{stems}", "--cache-size", "72x48",
                 "--runs", ",".join(REAL_RUNS), "--seeds", "1", "--valid-pct", "0.25", "--work", str(work),
                 "--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    s, test = res["settings"], {"002", "007"}
    assert s["test_stems"] == ["002", "007"] and s["test_pct"] == 0.0 and s["n"] is None
    assert res["argv"][:3] == ["python", "-m", "benchmarks"] and res["machine"]["load_avg_after"] is not None
    # the decoded copy: every photo at 72x48, its mask the source's colour mask read as ids and resized NEAREST
    cache = Path(s["cache"]["path"])
    assert s["data"] == str(cache) and cache.parent == work and s["cache"]["size"] == "72x48"
    source = find_layout(data)
    assert source.kind == "tugraz" and s["cache"]["photos"] == 12
    assert s["cache"]["bytes"] == sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    for photo in source.image_files():
        img = Image.open(cache / "images" / f"{photo.stem}.jpg")
        mask = Image.open(cache / "masks" / f"{photo.stem}.png")
        assert (img.mode, img.size, mask.mode, mask.size) == ("RGB", (72, 48), "L", (72, 48))
        ids = np.array(mask)
        assert ids.max() < 24 and np.array_equal(ids, np.array(read_mask(source.label_path_for(photo),
                                                                          source.classes, (48, 72))))
    all_stems = {p.stem for p in source.image_files()}
    stock, nadir = (res["variants"][r]["per_seed"][0] for r in REAL_RUNS)
    for row, n_valid in ((stock, 1), (nadir, 2)):   # 10% (at least 1) of 10 photos, 25% of 10
        items = row["items"]   # what the learner's DataLoaders held
        assert not test & (set(items["train"]) | set(items["validation"]))
        assert set(items["train"]) | set(items["validation"]) | test == all_stems
        assert len(items["validation"]) == n_valid and not set(items["train"]) & set(items["validation"])
        assert row["cpu_s"] > 0 and all(math.isfinite(row[k]) for k in ("pixel_accuracy", "miou", "iou_car"))
    assert (stock["epochs"], stock["bs"], stock["lr"], stock["size"], stock["valid_miou"]) == (1, 8, 3e-3, "48x32",
                                                                                              None)
    assert stock["weight_change"] > 0   # fit_one_cycle moved the weights
    # the dronefast row is scored on the test photos of the decoded copy, by the same scorer as the stock row
    model = next((work / "recipes-runs").glob("nadir-1*-s1")) / "model.json"
    scored = evaluate_model(model, cache, progress=False)
    assert scored["split"]["subset"] == "test" and sorted(scored["images"]) == ["002.jpg", "007.jpg"]
    assert nadir["miou"] == pytest.approx(scored["full_res"]["miou"])
    assert "12 real photos" in out and "decoded once at 72x48" in out
    assert f"| {REAL_RUNS[0]} | 48x32 | whole photo | 1 | {stock['pixel_accuracy']:.3f} |" in out


def test_stock_model_is_scored_by_evaluate_model(tmp_path, real_layout):
    from benchmarks.recipes import decoded_copy, score_model
    from benchmarks.stock import stock_learner, stock_model

    data, _ = real_layout
    cache, _ = decoded_copy(data, tmp_path, (48, 72))
    learn = stock_learner(cache, ["002", "007"], seed=1, size=(32, 48))
    net, info = stock_model(learn, cache, ["002", "007"], (32, 48))
    assert (info.mean, info.std, info.size) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (32, 48))  # no Normalize
    scored = evaluate_model((net, info), cache, subset="test", progress=False)
    assert sorted(scored["images"]) == ["002.jpg", "007.jpg"]
    assert score_model((net, info), cache)["miou"] == scored["full_res"]["miou"]


@pytest.mark.parametrize("args, message", [
    (["--test-stems", "002"], "--data and --test-stems go together"),
    (["--runs", "stock"], "run 'stock' trains on real photos only"),
    (["--data", "DATA"], "--data and --test-stems go together"),
    (["--data", "DATA", "--test-stems", "002,zzz"], "1 stem(s) name no photo"),
    (["--data", "DATA", "--test-stems", "002,002"], "listed more than once"),
    (["--data", "DATA", "--test-stems", "002", "--runs", "stock/size=144x96", "--cache-size", "72x48"],
     "works at 144x96, larger than the decoded copy's 72x48"),
    (["--data", "DATA", "--test-stems", "002", "--runs", "nadir/work=600x400", "--cache-size", "72x48"],
     "works at 600x400")])
def test_real_data_bad_usage_exits_2(tmp_path, capsys, real_layout, args, message):
    data, _ = real_layout
    argv = [str(data) if a == "DATA" else a for a in args]
    assert main(["recipes", "--work", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())   # refused before the decoded copy or any run was written

