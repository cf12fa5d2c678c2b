"""Tests of the training command, ``python -m dronefast.train``, run in-process on the 10-image synthetic
sample at 48x32 with a random resnet18 encoder."""
import io
import json
import sys
import math
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import fastai
import pandas as pd
import pytest
import torch
from fastai.torch_core import default_device
from PIL import Image

import dronefast
from dronefast.modelfile import load_model
from dronefast.fitting import resolve_precision
from dronefast.train import main

FAST = ["--size", "48x32", "--arch", "resnet18", "--bs", "3", "--no-pretrained", "--no-progress"]
COLUMNS = ["stage", "epoch", "train_loss", "valid_loss", "accuracy_mask", "miou", "time"]


def run_cli(argv):
    """``main(argv)`` as ``(exit code, stdout, stderr)``; argparse's own errors (SystemExit) included."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def assert_png(path):
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100
        im.verify()


@pytest.fixture(scope="module")
def cli(sample_kaggle, tmp_path_factory):
    """One training run, 2 epochs at lr 1e-2, into a folder given relative to the current directory."""
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rc, out, err = run_cli([str(sample_kaggle), "--out", "run", "--epochs", "2", "--lr", "1e-2",
                                "--valid-pct", "0.2", *FAST])
    run = root / "run"
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else None
    return SimpleNamespace(rc=rc, out=out, err=err, dir=run, metrics=metrics)


def test_exit_code_and_outputs(cli):
    assert cli.rc == 0, cli.err
    assert "Traceback" not in cli.err
    for name in ("model.json", "model.safetensors", "export.pkl", "history.csv", "metrics.json", "run.json",
                 "show_batch.png", "show_results.png", "models/best.pth", "models/last.pth"):
        assert (cli.dir / name).is_file(), name
    assert not (cli.dir / "lr_find.png").exists()  # lr given: no lr_find
    assert not list(cli.dir.rglob(".*tmp*"))  # atomic writes left nothing behind
    assert "validation pixel accuracy" in cli.out and "train/valid: 8/2 images at 48x32 (WxH)" in cli.out


def test_history_csv(cli):
    h = pd.read_csv(cli.dir / "history.csv")
    assert list(h.columns) == COLUMNS
    assert h.epoch.tolist() == [0, 1] and h.stage.tolist() == [0, 0]
    for c in ("train_loss", "valid_loss"):
        assert (h[c] > 0).all() and h[c].map(math.isfinite).all()
    assert h.accuracy_mask.between(0, 1).all() and h.miou.between(0, 1).all()


def test_metrics_json(cli, sample_kaggle):
    m = cli.metrics
    h = pd.read_csv(cli.dir / "history.csv")
    for k in ("pixel_accuracy", "accuracy_mask", "miou", "baseline_pixel_accuracy"):
        assert 0 <= m[k] <= 1, k
    # the best miou epoch was kept (the default nadir recipe's monitor) and scored again on the whole valid set
    assert m["monitor"] == "miou"
    assert m["miou"] == pytest.approx(h.miou.max(), rel=1e-6)
    names = json.loads((cli.dir / "model.json").read_text())["classes"]["names"]
    assert list(m["iou"]) == names and len(names) == 24
    assert m["iou"]["unlabeled"] is None and m["void_class"] == "unlabeled"
    absent = {n for n, v in m["iou"].items() if v is None}
    assert absent == set(names) - set(m["miou_classes"])
    assert 0 < len(m["miou_classes"]) < 24
    for n in names[1:]:
        if m["support"][n] > 0:
            assert 0 <= m["iou"][n] <= 1, n
        else:
            assert m["iou"][n] in (None, 0.0), n  # absent from the truth: NaN, or 0 if predicted
    assert m["n_pixels"] == 2 * 32 * 48 and (m["n_train"], m["n_valid"]) == (8, 2)
    assert (m["lr"], m["epochs"], m["unfrozen_epochs"]) == (0.01, 2, 0)
    assert m["device"] == str(default_device()) and m["precision"] == resolve_precision("auto", default_device())
    assert m["malloc_tuned"] is sys.platform.startswith("linux")  # dronefast.tuning, on by default
    assert m["channels_last"] is True
    assert m["data"] == str(sample_kaggle) and m["synthetic_sample"] is False
    a = m["args"]
    assert (a["size"], a["bs"], a["lr"], a["arch"], a["epochs"], a["out"]) == ("48x32", 3, 0.01, "resnet18", 2, "run")
    assert a["pretrained"] is False and a["valid_pct"] == 0.2 and a["recipe"] == "nadir"
    assert m["versions"]["fastai"] == fastai.__version__ and m["versions"]["torch"] == torch.__version__
    assert m["versions"]["dronefast"] == dronefast.__version__ and set(m["versions"]) >= {"torchvision", "python"}
    assert isinstance(m["time_s"], float) and m["time_s"] > 0
    run = json.loads((cli.dir / "run.json").read_text())
    assert run["lr"] == 0.01 and run["size"] == [32, 48] and run["arch"] == "resnet18"


def test_saved_models_hold_the_best_weights(cli):
    model, info = load_model(cli.dir / "model.json")
    assert info.arch == "resnet18" and info.size == (32, 48) and info.void_code == 0
    assert info.extra["scores"] == {k: cli.metrics[k] for k in ("pixel_accuracy", "accuracy_mask", "miou")}
    assert info.extra["train_args"]["size"] == [32, 48]
    best = torch.load(cli.dir / "models" / "best.pth", map_location="cpu")
    sd = model.state_dict()
    assert sd.keys() == best.keys()
    assert all(torch.equal(sd[k], best[k]) for k in sd)
    exported, einfo = load_model(cli.dir / "export.pkl", allow_pickle=True)
    assert einfo.extra["scores"] == info.extra["scores"]
    esd = exported.state_dict()
    assert all(torch.equal(esd[k], sd[k]) for k in sd)


def test_plots_are_png(cli):
    assert_png(cli.dir / "show_batch.png")
    assert_png(cli.dir / "show_results.png")


def test_lr_auto_runs_lr_find(sample_kaggle, tmp_path):
    out = tmp_path / "auto"
    # 5 training images in batches of 3: one step an epoch
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "1", "--lr", "auto",
                               "--lr-find-iters", "20", "--valid-pct", "0.5", *FAST])
    assert rc == 0, err
    assert_png(out / "lr_find.png")
    m = json.loads((out / "metrics.json").read_text())
    assert m["lr"] > 0 and math.isfinite(m["lr"])
    assert json.loads((out / "run.json").read_text())["lr"] == m["lr"]
    assert f"lr_find suggests lr = {m['lr']:.2e}" in stdout
    assert pd.read_csv(out / "history.csv").epoch.tolist() == [0]


def test_offline_pretrained_is_one_clear_line(offline, sample_kaggle, tmp_path):
    home, _ = offline
    # real data (not the built-in sample): pretrained by default
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "off"), "--size", "48x32",
                          "--arch", "resnet18", "--epochs", "1", "--lr", "1e-2", "--no-progress"])
    assert rc == 1
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error: cannot get ImageNet weights for resnet18")
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in line
    assert str(home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in line
    assert "--weights PATH" in line and "--no-pretrained" in line


@pytest.mark.parametrize("args, message", [
    (["--bs", "0"], "argument --bs: must be at least 1, got 0"),
    (["--size", "10by"], "argument --size: size must be WxH (width first, e.g. 300x200)"),
    (["--lr", "-1"], "argument --lr: lr must be positive, got -1.0"),
    (["--lr", "fast"], "argument --lr: lr must be a number or 'auto', got 'fast'"),
    (["--valid-pct", "1.5"], "argument --valid-pct: must be between 0 and 1 (exclusive), got 1.5"),
    (["--arch", "vgg16"], "argument --arch: invalid choice: 'vgg16'"),
    (["--workers", "-1"], "error: --workers must be >= 0, got -1"),
    (["--unfrozen-epochs", "-2"], "error: --unfrozen-epochs must be >= 0, got -2"),
    (["--recipe", "fast"], "argument --recipe: invalid choice: 'fast'"),
    (["--augment", "strong"], "argument --augment: invalid choice: 'strong'"),
    (["--class-weights", "median"], "argument --class-weights: invalid choice: 'median'"),
    (["--dice", "-1"], "error: --dice must be >= 0, got -1.0"),
])
def test_bad_arguments_exit_2(sample_kaggle, tmp_path, args, message):
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "out"), *args])
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_resume_without_a_run_exits_2(sample_kaggle, tmp_path):
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "out"), "--resume"])
    assert rc == 2
    assert f"--resume: {tmp_path / 'out' / 'run.json'} not found; nothing to resume" in err


def test_missing_data_folder_exits_1(tmp_path):
    rc, _, err = run_cli([str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert rc == 1
    assert err.strip() == f"error: {tmp_path / 'nope'}: folder does not exist"


# ------------------------------------------------------------------------------------------ recipes (issue 8)

def test_default_recipe_is_nadir(cli):
    m = cli.metrics
    assert m["recipe"] == "nadir" and m["recipe_settings"]["augment"] == "fastai"
    assert (m["bs"], m["pct_start"], m["monitor"]) == (3, 0.3, "miou")  # --bs given, the rest from the recipe
    w = m["class_weights"]
    assert len(w) == 24 and w[0] == 0 and min(w[1:]) == 1 and max(w) <= 10  # void 0, commonest class 1, cap 10
    assert ("recipe nadir: fastai aug_transforms, class-weighted cross-entropy (inv_sqrt, cap 10x), void ignored; "
            "lr 1.00e-02, one-cycle pct_start 0.3, 2 epochs, batch size 3, best miou kept") in cli.out
    assert json.loads((cli.dir / "run.json").read_text())["recipe"] == "nadir"
    assert json.loads((cli.dir / "model.json").read_text())["extra"]["train_args"]["recipe"] == "nadir"


def test_reference_recipe(sample_kaggle, tmp_path):
    out = tmp_path / "ref"
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--recipe", "reference", "--epochs", "1",
                               "--lr", "1e-2", "--valid-pct", "0.2", "--size", "48x32", "--arch", "resnet18",
                               "--no-pretrained", "--no-progress"])
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["recipe"] == "reference" and m["class_weights"] is None
    assert (m["bs"], m["pct_start"], m["monitor"], m["epochs"]) == (4, 0.8, "accuracy_mask", 1)
    h = pd.read_csv(out / "history.csv")
    assert m["accuracy_mask"] == pytest.approx(h.accuracy_mask.max(), rel=1e-6)
    assert ("recipe reference: fastai aug_transforms, cross-entropy; lr 1.00e-02, one-cycle pct_start 0.8, "
            "1 epoch, batch size 4, best accuracy_mask kept") in stdout
    assert "train/valid: 8/2 images at 48x32 (WxH), batch size 4" in stdout


def test_augment_and_loss_overrides(sample_kaggle, tmp_path):
    out = tmp_path / "over"
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "1", "--lr", "1e-3",
                               "--augment", "nadir", "--class-weights", "none", "--dice", "0.5",
                               "--monitor", "valid_loss", "--valid-pct", "0.2", "--no-channels-last",
                               "--no-malloc-tuning", *FAST])
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    s = m["recipe_settings"]
    assert (s["augment"], s["weights"], s["dice"], m["class_weights"], m["monitor"]) == \
        ("nadir", "none", 0.5, None, "valid_loss")
    assert m["channels_last"] is False and m["malloc_tuned"] is False
    assert ("recipe nadir: nadir augmentations, cross-entropy, void ignored + 0.5 x Dice; lr 1.00e-03, "
            "one-cycle pct_start 0.3, 1 epoch, batch size 3, best valid_loss kept") in stdout
    model, _ = load_model(out / "export.pkl", allow_pickle=True)  # the nadir transforms and the loss pickle
    assert sum(p.numel() for p in model.parameters()) > 0


def test_resume_with_another_recipe_exits_2(cli):
    rc, _, err = run_cli(["--out", str(cli.dir), "--recipe", "reference", "--resume"])
    assert rc == 2
    assert f"--resume: the run in {cli.dir} used --recipe nadir, not reference; resume it with the same recipe" in err


def test_same_seed_same_run(sample_kaggle, tmp_path):
    runs = []
    for name in ("a", "b"):
        rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / name), "--epochs", "1", "--lr", "1e-3",
                              "--valid-pct", "0.2", "--seed", "5", *FAST])
        assert rc == 0, err
        runs.append(pd.read_csv(tmp_path / name / "history.csv"))
    pd.testing.assert_frame_equal(runs[0].drop(columns="time"), runs[1].drop(columns="time"))
