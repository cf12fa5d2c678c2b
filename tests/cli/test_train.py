"""Tests of the training command, ``python -m dronefast.train``, run in-process on the 10-image synthetic
sample at 48x32 with a random U-Net on the tests' tiny encoder."""
import io
import json
import math
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import fastai
import pandas as pd
import pytest
import torch
from fastai.torch_core import default_device
from PIL import Image

import dronefast
from dronefast.cli.train import main
from dronefast.models.modelfile import load_model
from dronefast.training.precision import resolve_precision
from tests.conftest import TINY_ARCH

FAST = ["--size", "48x32", "--arch", TINY_ARCH, "--bs", "3", "--no-pretrained", "--no-progress", "--test-pct", "0"]
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
    for name in ("model.json", "model.safetensors", "history.csv", "metrics.json", "run.json",
                 "show_batch.png", "show_results.png", "history.stage0.csv"):
        assert (cli.dir / name).is_file(), name
    # the weights once (model.safetensors): no pickle unless asked, the checkpoint (models/) goes once a run
    # finished, and no lock file is left behind
    for name in ("export.pkl", "models", ".lock", ".next-run"):
        assert not (cli.dir / name).exists(), name
    assert not (cli.dir / "lr_find.png").exists()  # lr given: no lr_find
    assert not list(cli.dir.rglob(".*tmp*"))  # atomic writes left nothing behind
    assert "validation (the best epoch was chosen on it): pixel accuracy" in cli.out
    assert "train/valid/test: 8/2/0 images; photos at 48x32 (WxH)" in cli.out


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
    assert m["malloc_tuned"] is sys.platform.startswith("linux")  # dronefast.training.tuning, on by default
    assert m["channels_last"] is True
    assert m["data"] == str(sample_kaggle) and m["synthetic_sample"] is False
    a = m["args"]
    assert (a["size"], a["bs"], a["lr"], a["arch"], a["epochs"], a["out"]) == ("48x32", 3, 0.01, TINY_ARCH, 2, "run")
    assert a["pretrained"] is False and a["valid_pct"] == 0.2 and a["recipe"] == "nadir"
    assert m["versions"]["fastai"] == fastai.__version__ and m["versions"]["torch"] == torch.__version__
    assert m["versions"]["dronefast"] == dronefast.__version__ and set(m["versions"]) >= {"torchvision", "python"}
    assert isinstance(m["time_s"], float) and m["time_s"] > 0
    run = json.loads((cli.dir / "run.json").read_text())
    s = run["settings"]
    assert run["lr"] == 0.01 and s["size"] == [32, 48] and s["arch"] == TINY_ARCH and s["recipe"] == "nadir"
    assert (s["bs"], s["epochs"], s["monitor"], s["seed"], s["valid_pct"]) == (3, 2, "miou", 42, 0.2)
    assert s["data"] == str(sample_kaggle.resolve())


def test_saved_models_hold_the_best_weights(cli):
    model, info = load_model(cli.dir / "model.json")
    assert info.arch == TINY_ARCH and info.size == (32, 48) and info.void_code == 0
    assert info.extra["scores"] == {k: cli.metrics[k] for k in ("pixel_accuracy", "accuracy_mask", "miou")}
    assert info.extra["train_args"]["size"] == [32, 48]
    import hashlib

    digest = hashlib.sha256((cli.dir / "model.safetensors").read_bytes()).hexdigest()
    assert json.loads((cli.dir / "model.json").read_text())["weights_sha256"] == digest


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


def test_offline_pretrained_is_one_clear_line(offline, sample_kaggle, tmp_path, monkeypatch):
    home, _ = offline
    import dronefast.data.block as block

    decoded = []
    monkeypatch.setattr(block, "load_items", lambda *a, **k: decoded.append(a))
    # real data (not the built-in sample): pretrained by default
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "off"), "--size", "48x32",
                          "--arch", "resnet18", "--epochs", "1", "--lr", "1e-2", "--no-progress"])
    assert rc == 1
    assert decoded == [] and not (tmp_path / "off").exists()  # refused before any photo was decoded or written
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error: cannot get ImageNet weights for resnet18")
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in line
    assert str(home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in line
    assert "--weights PATH" in line and "--no-pretrained" in line


@pytest.mark.parametrize("args, message", [
    (["--bs", "0"], "argument --bs: must be at least 1, got 0"),
    (["--size", "10by"], "argument --size: size must be WxH (width first, e.g. 300x200)"),
    (["--lr", "-1"], "argument --lr: lr must be a number in (0, 10] or 'auto', got '-1'"),
    (["--lr", "fast"], "argument --lr: lr must be a number in (0, 10] or 'auto', got 'fast'"),
    # issue 25: refused before any data is read, each naming its option
    (["--lr", "1e6"], "argument --lr: lr must be a number in (0, 10] or 'auto', got '1e6'"),
    (["--monitor", "foo"], "argument --monitor: invalid choice: 'foo' (choose from 'miou', 'accuracy_mask', "
                           "'valid_loss', 'train_loss')"),
    (["--size", "1x1"], "python -m dronefast.train: error: --size must be at least 32 pixels a side (the encoders' "
                        "stride), at most 8192 a side and 16777216 pixels (what a model file may hold), got 1x1 (WxH)"),
    (["--size", "32x32", "--bs", "1"], "error: --bs must be at least 2 at a training size of 32x32: the deepest "
                                       "feature map is one cell"),
    (["--epochs", str(10 ** 12)], "argument --epochs: must be at most 10000, got 1000000000000"),
    (["--unfrozen-epochs", "10001"], "argument --unfrozen-epochs: must be at most 10000, got 10001"),
    (["--work-size", "40x30", "--size", "48x32"], "error: --work-size must be at least the training size in both "
                                                  "sides (training windows are cut from photos at the working size"),
    (["--void-code", "300"], "argument --void-code: must be at most 254, got 300"),
    (["--void-code", "-2"], "argument --void-code: must be at least -1, got -2"),
    (["--void-code", "99"], "python -m dronefast.train: error: --void-code 99 is not a class id of the data's class "
                            "table (24 classes from "),
    (["--valid-pct", "1.5"], "argument --valid-pct: expected a number between 0 and 1, got '1.5'"),
    (["--arch", "vgg16"], "argument --arch: invalid choice: 'vgg16'"),
    (["--workers", "-1"], "argument --workers: must be at least 0, got -1"),
    (["--unfrozen-epochs", "-2"], "argument --unfrozen-epochs: must be at least 0, got -2"),
    (["--epochs", "two"], "argument --epochs: expected an integer, got 'two'"),
    (["--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume"),
    (["--recipe", "fast"], "argument --recipe: invalid choice: 'fast'"),
    (["--augment", "strong"], "argument --augment: invalid choice: 'strong'"),
    (["--class-weights", "median"], "argument --class-weights: invalid choice: 'median'"),
    (["--dice", "-1"], "error: --dice must be >= 0, got -1.0"),
    (["--context", "0.5"], "argument --context: expected a number of at least 1, got '0.5'"),
    (["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
])
def test_bad_arguments_exit_2(sample_kaggle, tmp_path, args, message):
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "out"), *args])
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_resume_without_a_run_exits_1(sample_kaggle, tmp_path):
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / "out"), "--resume", *FAST])
    assert rc == 1 and "Traceback" not in err
    assert err.strip() == (f"error: {tmp_path / 'out'}: nothing to resume (the folder holds no run); start it again "
                           f"with --overwrite")


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
    assert json.loads((cli.dir / "run.json").read_text())["settings"]["recipe"] == "nadir"
    assert json.loads((cli.dir / "model.json").read_text())["extra"]["train_args"]["recipe"] == "nadir"


def test_reference_recipe(sample_kaggle, tmp_path):
    out = tmp_path / "ref"
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--recipe", "reference", "--epochs", "1",
                               "--lr", "1e-2", "--valid-pct", "0.2", "--size", "48x32", "--arch", TINY_ARCH,
                               "--no-pretrained", "--no-progress"])
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["recipe"] == "reference" and m["class_weights"] is None
    assert (m["bs"], m["pct_start"], m["monitor"], m["epochs"]) == (4, 0.8, "accuracy_mask", 1)
    h = pd.read_csv(out / "history.csv")
    assert m["accuracy_mask"] == pytest.approx(h.accuracy_mask.max(), rel=1e-6)
    assert ("recipe reference: fastai aug_transforms, cross-entropy; lr 1.00e-02, one-cycle pct_start 0.8, "
            "1 epoch, batch size 4, best accuracy_mask kept") in stdout
    assert "train/valid/test: 8/1/1 images; photos at 48x32 (WxH); batch size 4" in stdout  # the default test split
    t = m["test"]
    assert t["n_images"] == 1 and m["split"] == {"valid_pct": 0.2, "seed": 42, "test_pct": 0.1, "test_stems": None}
    assert 0 <= t["pixel_accuracy"] <= 1 and sum(t["support"].values()) == 32 * 48
    assert f"test (1 photo no step of training saw): pixel accuracy {t['pixel_accuracy']:.4f}" in stdout
    info = json.loads((out / "model.json").read_text())["extra"]["train_args"]
    assert (info["test_pct"], info["valid_pct"], info["seed"]) == (0.1, 0.2, 42)


def test_augment_and_loss_overrides(sample_kaggle, tmp_path):
    out = tmp_path / "over"
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "1", "--lr", "1e-3",
                               "--augment", "nadir", "--class-weights", "none", "--dice", "0.5",
                               "--monitor", "valid_loss", "--valid-pct", "0.2", "--no-channels-last",
                               "--no-malloc-tuning", "--export-pkl", *FAST])
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    s = m["recipe_settings"]
    assert (s["augment"], s["weights"], s["dice"], m["class_weights"], m["monitor"]) == \
        ("nadir", "none", 0.5, None, "valid_loss")
    assert m["channels_last"] is False and m["malloc_tuned"] is False
    assert ("recipe nadir: nadir augmentations, cross-entropy, void ignored + 0.5 x Dice; lr 1.00e-03, "
            "one-cycle pct_start 0.3, 1 epoch, batch size 3, best valid_loss kept") in stdout
    from fastai.learner import load_learner
    from fastai.vision.augment import Dihedral

    learner = load_learner(out / "export.pkl")  # the nadir transforms and the loss survive the pickle
    assert (learner.loss_func.dice, learner.loss_func.weight, learner.loss_func.void_code) == (0.5, None, 0)
    assert any(isinstance(t, Dihedral) for t in learner.dls.after_batch.fs)
    sd = load_model(out)[0].state_dict()   # the pickle holds the very weights of model.safetensors
    assert all(torch.equal(learner.model.state_dict()[k].cpu(), sd[k]) for k in sd)


def test_same_seed_same_run(sample_kaggle, tmp_path):
    runs = []
    for name in ("a", "b"):
        rc, _, err = run_cli([str(sample_kaggle), "--out", str(tmp_path / name), "--epochs", "1", "--lr", "1e-3",
                              "--valid-pct", "0.2", "--seed", "5", *FAST])
        assert rc == 0, err
        runs.append(pd.read_csv(tmp_path / name / "history.csv"))
    pd.testing.assert_frame_equal(runs[0].drop(columns="time"), runs[1].drop(columns="time"))


# ------------------------------------------------------------------------------------------ the run folder

def _files(folder):
    """Every file of a folder with its bytes (to show that nothing changed)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_run_is_not_replaced(cli):
    before = _files(cli.dir)
    rc, _, err = run_cli([str(cli.dir.parent / "nothing-here"), "--out", str(cli.dir), *FAST])
    assert rc == 1 and "folder does not exist" in err          # a bad data path is refused before anything
    rc, _, err = run_cli(["--out", str(cli.dir), "--epochs", "1", *FAST])
    assert rc == 1 and "Traceback" not in err
    assert err.strip() == (f"error: {cli.dir}: holds a finished run (metrics.json); pass --overwrite to replace it, "
                           f"or choose another output folder")
    assert _files(cli.dir) == before


def _entries(folder):
    """Every file and folder under `folder` (relative), hidden ones included."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize("fault", ["a truncated photo", "a class name twice"])
def test_overwrite_with_bad_data_keeps_the_finished_run(cli, kaggle_copy, tmp_path, fault):
    """The data is checked before anything of the finished run is touched: refused by name, the run as it was."""
    run = tmp_path / "run"
    shutil.copytree(cli.dir, run)
    if fault == "a truncated photo":
        bad = sorted((kaggle_copy / "original_images").glob("*.jpg"))[3]
        bad.write_bytes(bad.read_bytes()[:300])
    else:
        bad = kaggle_copy / "class_dict_seg.csv"
        lines = bad.read_text().splitlines()
        bad.write_text("\n".join([*lines, lines[3]]) + "\n")
    before, entries = _files(run), _entries(run)
    rc, _, err = run_cli([str(kaggle_copy), "--out", str(run), "--overwrite", "--epochs", "1", *FAST])
    assert rc == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and any(f"{bad}: " in ln for ln in err.splitlines()), err
    assert _files(run) == before and _entries(run) == entries     # nothing removed, changed or added
    load_model(run)


def test_overwrite_replaces_only_the_runs_files_once_the_new_run_finished(cli, sample_kaggle, tmp_path,
                                                                          monkeypatch):
    from dronefast.training.rundir import RunFolder

    run = tmp_path / "run"
    shutil.copytree(cli.dir, run)
    (run / "models").mkdir()
    (run / "models" / "my_model_v7.pth").write_bytes(b"the user's own model")
    (run / "models" / "best.pth").write_bytes(b"an older run's best epoch")   # a run's file: replaced
    (run / "notes.txt").write_text("mine")
    old = _files(run)
    seen = []
    finish = RunFolder.finish

    def watched(self, work):   # just before the swap: the old run is still whole, the new one finished beside it
        now = {k: v for k, v in _files(run).items() if k.parts[0] not in (".next-run", ".lock")}
        seen.append((work == run / ".next-run", (work / "metrics.json").is_file(), now == old))
        finish(self, work)

    monkeypatch.setattr(RunFolder, "finish", watched)
    rc, out, err = run_cli([str(sample_kaggle), "--out", str(run), "--overwrite", "--epochs", "1", "--lr", "1e-3",
                            "--valid-pct", "0.2", *FAST])
    assert rc == 0, err
    assert seen == [(True, True, True)]
    assert f"outputs in {run}: model.json + model.safetensors, history.csv" in out
    new = _files(run)
    assert new[Path("models/my_model_v7.pth")] == b"the user's own model" and new[Path("notes.txt")] == b"mine"
    assert Path("models/best.pth") not in new and not (run / ".next-run").exists() and not (run / ".lock").exists()
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [0]
    assert json.loads((run / "run.json").read_text())["settings"]["epochs"] == 1
    assert new[Path("model.safetensors")] != old[Path("model.safetensors")]
    load_model(run)


def test_a_folder_that_is_not_a_run_is_refused_unless_asked(sample_kaggle, tmp_path):
    out = tmp_path / "mine"
    (out / "models").mkdir(parents=True)
    (out / "models" / "best.pth").write_bytes(b"my own weights")
    (out / "export").mkdir()
    (out / "export" / "model.onnx").write_bytes(b"my own graph")
    before, entries = _files(out), _entries(out)
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "1", *FAST])
    assert rc == 1 and err.strip() == (f"error: {out}: not empty and not a dronefast run (holds export, models); "
                                       f"choose an empty or new output folder, or pass --overwrite to train into "
                                       f"it beside these files")
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(out), "--overwrite", "--epochs", "1", *FAST])
    assert rc == 1 and err.strip() == (f"error: {out / 'models' / 'best.pth'}: a file a run writes, but not a "
                                       f"dronefast run's; move it away or choose another output folder (nothing "
                                       f"was changed)")
    assert _files(out) == before and _entries(out) == entries


@pytest.mark.parametrize("target", ["model.safetensors", "models/last.pth"])
def test_a_full_disk_in_training_is_one_line_naming_the_file(sample_kaggle, tmp_path, full_disk, target):
    """ENOSPC on the weights (safetensors) or on the checkpoint (torch.save): exit 1, the file and the cause."""
    out = tmp_path / "run"
    full = out / target
    full_disk(full.name)
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "1", "--lr", "1e-3", "--valid-pct",
                          "0.2", *FAST])
    assert rc == 1 and err.strip() == f"error: {full}: cannot write (No space left on device)"
    assert not full.exists() and not list(out.rglob(".*tmp*"))


def test_evaluate_scores_the_training_resolution_as_training_did(cli, tmp_path):
    """evaluate's training-resolution scores of the saved model equal the scores training wrote."""
    from dronefast.cli.evaluate import main as evaluate

    out = tmp_path / "eval"
    assert evaluate([str(cli.dir), "--out", str(out), "--no-full-res", "--no-progress"]) == 0
    scored = json.loads((out / "metrics.json").read_text())
    assert scored["split"]["from"] == "record" and scored["split"]["n_images"] == cli.metrics["n_valid"]
    for k in ("pixel_accuracy", "accuracy_mask", "miou"):
        assert scored["train_res"][k] == pytest.approx(cli.metrics[k], abs=1e-9), k
    assert scored["train_res"]["support"] == cli.metrics["support"]


@pytest.fixture
def interrupted(sample_kaggle, tmp_path):
    """A 2-epoch run whose checkpoint is kept and whose last step (metrics.json) is removed, as a kill leaves it."""
    out = tmp_path / "run"
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(out), "--epochs", "2", "--lr", "1e-2", "--valid-pct",
                          "0.2", "--keep-checkpoint", *FAST])
    assert rc == 0, err
    (out / "metrics.json").unlink()
    return out


def test_resume_finishes_an_interrupted_run(interrupted, sample_kaggle):
    rc, _, err = run_cli([str(interrupted), "--out", str(interrupted), "--resume", *FAST])   # no data: refused
    assert rc == 1 and f"error: {interrupted}: no Semantic Drone Dataset layout found" in err   # before the folder
    rc, out, err = run_cli([str(sample_kaggle), "--out", str(interrupted), "--resume", "--epochs", "2",
                            "--lr", "1e-2", "--valid-pct", "0.2", *FAST])
    assert rc == 0, err
    m = json.loads((interrupted / "metrics.json").read_text())
    h = pd.read_csv(interrupted / "history.csv")
    assert h.epoch.tolist() == [0, 1] and m["miou"] == pytest.approx(h.miou.max(), rel=1e-6)
    assert not (interrupted / "models" / "last.pth").exists()


def test_resume_with_other_settings_is_refused_with_the_differences(interrupted, sample_kaggle):
    record = (interrupted / "run.json").read_bytes()
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(interrupted), "--resume", "--epochs", "3",
                          "--recipe", "reference", "--lr", "1e-2", "--valid-pct", "0.2", *FAST])
    assert rc == 1 and "Traceback" not in err
    assert f"error: {interrupted}: cannot resume with other settings than the run's (" in err
    assert 'recipe: "nadir" -> "reference"' in err and "epochs: 2 -> 3" in err and "bs: 3 -> 3" not in err
    assert (interrupted / "run.json").read_bytes() == record          # the run's record is left as it was


def test_resume_with_another_lr_is_refused_in_one_line(interrupted, sample_kaggle):
    """Issue 25: the learning rate is compared on resume like every setting (it changed the history, while run.json
    kept the old one)."""
    before = _files(interrupted)
    rc, out, err = run_cli([str(sample_kaggle), "--out", str(interrupted), "--resume", "--epochs", "2", "--lr", "1e-3",
                            "--valid-pct", "0.2", *FAST])
    assert rc == 1 and out == ""
    assert err == (f"error: {interrupted}: cannot resume with other settings than the run's (lr: 0.01 -> 0.001); "
                   f"resume with the same settings, or start again with --overwrite\n")
    assert _files(interrupted) == before
    settings = json.loads((interrupted / "run.json").read_text())["settings"]
    assert (settings["lr"], settings["world_size"]) == (0.01, 1)


def test_an_interrupted_run_is_not_started_over_without_asking(interrupted, sample_kaggle):
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(interrupted), "--epochs", "1", *FAST])
    assert rc == 1
    assert "holds an interrupted run; pass --resume to continue it or --overwrite to start again" in err
    rc, _, err = run_cli([str(sample_kaggle), "--out", str(interrupted), "--epochs", "1", "--overwrite",
                          "--valid-pct", "0.2", "--lr", "1e-2", *FAST])
    assert rc == 0, err
    assert pd.read_csv(interrupted / "history.csv").epoch.tolist() == [0]
    assert not (interrupted / "models" / "last.pth").exists()


def test_keep_checkpoint(interrupted):
    for name in ("last.pth", "checkpoint.json", "best.pth"):
        assert (interrupted / "models" / name).is_file(), name


# ------------------------------------------------------------------------------------------ object scale (issue 14)

@pytest.fixture(scope="module")
def windows(sample_kaggle, tmp_path_factory):
    """Object-scale training: the 96x64 photos at a working scale of 96x64, training on random 48x32 windows (2 an
    epoch) showing 1x to 2x their extent, validation photos whole by tiles; a test split of 2 photos."""
    out = tmp_path_factory.mktemp("windows") / "run"
    rc, stdout, err = run_cli([str(sample_kaggle), "--out", str(out), "--work-size", "96x64", "--repeats", "2",
                               "--context", "2", "--epochs", "2", "--lr", "1e-2", "--valid-pct", "0.25",
                               "--size", "48x32", "--arch", TINY_ARCH, "--bs", "3", "--no-pretrained",
                               "--no-progress", "--test-pct", "0.2"])
    assert rc == 0, err
    return SimpleNamespace(out=out, stdout=stdout, metrics=json.loads((out / "metrics.json").read_text()))


def test_object_scale_training_records_its_scale(windows):
    m = windows.metrics
    assert ("train/valid/test: 6/2/2 images; windows of 48x32, showing 1 to 2x their extent from photos at 96x64 "
            "(x2 an epoch)") in windows.stdout
    assert (m["size"], m["work_size"], m["repeats"], m["context"]) == ([32, 48], [64, 96], 2, 2.0)
    assert (m["n_valid"], m["n_test"]) == (2, 2)
    assert m["n_pixels"] == 2 * 64 * 96                       # validation scored whole photos, not windows
    info = json.loads((windows.out / "model.json").read_text())
    assert info["size"] == [32, 48] and info["work_size"] == [64, 96] and info["format_version"] == 2
    assert m["test"]["how"] == "photo and mask at the working scale 96x64, tiled with 48x32 windows"


def test_object_scale_validation_is_what_predict_and_evaluate_deliver(windows, sample_kaggle, tmp_path):
    """The scores training kept its best epoch by are those of the prediction path: evaluate's working-scale
    scores of the saved model equal training's, and the test scores training wrote equal evaluate's."""
    from dronefast.cli.evaluate import main as evaluate

    for subset, expected in (("validation", windows.metrics), ("test", windows.metrics["test"])):
        out = tmp_path / subset
        assert evaluate([str(windows.out), "--out", str(out), "--subset", subset, "--no-full-res",
                         "--no-progress"]) == 0
        scored = json.loads((out / "metrics.json").read_text())["train_res"]
        for k in ("pixel_accuracy", "accuracy_mask", "miou"):
            assert scored[k] == pytest.approx(expected[k], abs=1e-9), (subset, k)
        assert scored["support"] == expected["support"]
    default = tmp_path / "default"
    assert evaluate([str(windows.out), "--out", str(default), "--no-full-res", "--no-progress"]) == 0
    assert json.loads((default / "metrics.json").read_text())["split"]["subset"] == "test"  # test when there is one


def test_metrics_json_labels_calibration_errors_by_the_photos_measured(windows, tmp_path):
    """metrics.json: the calibration error on the photos the temperature was fitted on (validation; 2 photos are
    too few, so T stays 1) apart from the error on the test photos, which is evaluate's on them."""
    from dronefast.cli.evaluate import main as evaluate

    cal = windows.metrics["calibration"]
    assert (cal["temperature"], cal["fitted"], cal["not_fitted_because"], cal["fit_photos"]) == (
        1.0, False, "2 validation photos (fewer than 3)", 2)
    assert 0 < cal["fit_pixels"] <= 2 * 64 * 96 and (cal["min_photos"], cal["min_pixels"]) == (3, 30_000)
    assert 0 < cal["ece_fit_photos"]["before"] == cal["ece_fit_photos"]["after"] <= 1
    assert "ece" not in windows.metrics["test"]
    assert evaluate([str(windows.out), "--out", str(tmp_path / "eval"), "--no-full-res", "--no-progress"]) == 0
    ev = json.loads((tmp_path / "eval" / "metrics.json").read_text())["calibration"]["class"]
    assert cal["ece_test"] == pytest.approx({k: ev[k]["ece"] for k in ("before", "after")}, abs=1e-9)
    assert 0 < cal["ece_test"]["after"] <= 1 and cal["ece_test"] != cal["ece_fit_photos"]


def test_evaluate_checks_landing_spots_against_the_truth(windows, tmp_path):
    """evaluate --landing: the sweep over P(safe) thresholds, every spot checked on the true mask."""
    from dronefast.cli.evaluate import main as evaluate
    from dronefast.landing.policy import DEFAULT_MIN_P_SAFE

    out = tmp_path / "eval"
    assert evaluate([str(windows.out), "--out", str(out), "--landing", "--landing-size", "48x32",
                     "--clearance-px", "2", "--thresholds", "0,0.5,0.9", "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    rows = {r["threshold"]: r for r in m["landing"]["rows"]}
    assert sorted({0.0, 0.5, 0.9, DEFAULT_MIN_P_SAFE}) == sorted(rows)     # the sweep and the default's row
    assert m["landing"]["result"] == {**rows[DEFAULT_MIN_P_SAFE], "truth_had_spot": 2}
    for r in rows.values():
        assert r["photos"] == 2 and r["offered"] + r["abstained"] == 2 and r["spots_safe"] <= r["spots"]
    assert rows[0.9]["abstained"] >= rows[0.5]["abstained"] >= rows[0.0]["abstained"]   # stricter: abstains more
    assert (out / "landing_safety.csv").is_file() and (out / "landing_safety.png").is_file()
    cal = m["calibration"]
    info = json.loads((windows.out / "model.json").read_text())
    assert cal["temperature"] == pytest.approx(info["temperature"])      # the model's own, fitted in training
    assert 0 <= cal["class"]["before"]["ece"] <= 1 and cal["class"]["before"]["pixels"] == 2 * 64 * 96
