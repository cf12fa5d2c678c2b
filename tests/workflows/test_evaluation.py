"""Tests of dronefast.evaluate: the training split is reproduced, and the scores of a known predictor (a network
that reads the class back from each pixel's colour) match a confusion matrix counted by hand."""
import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dronefast.cli.evaluate import main
from dronefast.data.block import drone_datablock
from dronefast.data.cache import load_items
from dronefast.data.classes import standard_classes
from dronefast.data.layout import find_layout
from dronefast.data.split import Split, split_files, split_settings, validation_files
from dronefast.errors import DronefastError
from dronefast.inference.predict_options import PredictOptions
from dronefast.models.modelfile import ModelInfo, build_model, save_model
from dronefast.workflows.evaluation import evaluate_model
from dronefast.workflows.reports import EVAL_FILES
from tests.conftest import TINY_ARCH

C = standard_classes()
UNLAB, PAVED, GRASS, ROOF, CAR, TREE = (C.id_of(n) for n in ("unlabeled", "paved-area", "grass", "roof", "car",
                                                             "tree"))
SIZE = (32, 48)

CPU = PredictOptions(device="cpu")


class PaletteOracle(nn.Module):
    """Logits = minus the squared RGB distance of each pixel to each class colour: predicts the class whose
    colour the photo shows (exactly, for lossless photos painted in the palette)."""

    def __init__(self, info: ModelInfo):
        super().__init__()
        self.register_buffer("pal", torch.tensor(info.classes.palette, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(info.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info.std).view(1, 3, 1, 1))

    def forward(self, x):
        rgb = (x * self.std + self.mean) * 255
        return -((rgb[:, None] - self.pal[None, :, :, None, None]) ** 2).sum(2)


def oracle(size=SIZE):
    info = ModelInfo(arch="resnet18", classes=C, size=size, void_code=UNLAB)
    return PaletteOracle(info), info


def hand_dataset(root, k=1):
    """Two 48x32 (times k) photos painted with the *predicted* classes and masks holding the true ones.

    photo 0: truth = grass on rows 0-15, paved-area on rows 16-31 except a 4x8 unlabeled block (rows 28-31,
             columns 40-47); prediction = the same but columns 0-7 of rows 0-15 and the unlabeled block paved.
    photo 1: truth = roof with an 8x8 car (rows 8-15, columns 8-15); prediction = roof everywhere except a
             4x4 tree (rows 20-23, columns 30-33).
    Counts (k=1): grass->grass 16*40 = 640, grass->paved 16*8 = 128, paved->paved 16*48-32 = 736,
    unlabeled->paved 32, roof->roof 1536-64-16 = 1456, roof->tree 16, car->roof 64.
    """
    t0 = np.full((32, 48), GRASS, np.uint8)
    t0[16:] = PAVED
    t0[28:32, 40:48] = UNLAB
    p0 = t0.copy()
    p0[:16, :8] = PAVED
    p0[28:32, 40:48] = PAVED
    t1 = np.full((32, 48), ROOF, np.uint8)
    t1[8:16, 8:16] = CAR
    p1 = np.full((32, 48), ROOF, np.uint8)
    p1[20:24, 30:34] = TREE
    (root / "original_images").mkdir(parents=True)
    (root / "label_images_semantic").mkdir()
    (root / "class_dict_seg.csv").write_text(C.to_csv())
    block = np.ones((k, k), np.uint8)
    for i, (t, p) in enumerate(((t0, p0), (t1, p1))):
        Image.fromarray(C.palette[np.kron(p, block)]).save(root / "original_images" / f"{i:03d}.png")
        Image.fromarray(np.kron(t, block), "L").save(root / "label_images_semantic" / f"{i:03d}.png")
    return root


def hand_confusion():
    cm = np.zeros((24, 24), np.int64)
    cm[GRASS, GRASS], cm[GRASS, PAVED], cm[PAVED, PAVED], cm[UNLAB, PAVED] = 640, 128, 736, 32
    cm[ROOF, ROOF], cm[ROOF, TREE], cm[CAR, ROOF] = 1456, 16, 64
    return cm


# ------------------------------------------------------------------------------------------ scores

def test_scores_match_hand_counted_confusion(tmp_path):
    data = hand_dataset(tmp_path / "data")
    m = evaluate_model(oracle(), data, out=tmp_path / "eval", all_images=True, options=CPU, progress=False)
    assert m["split"] == {"subset": "all", "valid_pct": None, "seed": None, "test_pct": None, "test_stems": None,
                          "from": None, "n_images": 2, "n_total": 2, "added": [], "note": None}
    for key in ("train_res", "full_res"):   # photos are the model size: both resolutions are the same here
        r = m[key]
        np.testing.assert_array_equal(np.array(r["confusion"]), hand_confusion())
        assert r["pixel_accuracy"] == pytest.approx(2832 / 3072)            # 0.921875
        assert r["accuracy_mask"] == pytest.approx(2832 / 3040)             # unlabeled truth left out
        assert r["miou"] == pytest.approx((736 / 864 + 640 / 768 + 1456 / 1536 + 0 + 0) / 5)
        assert r["miou_classes"] == ["paved-area", "grass", "roof", "car", "tree"]
        assert r["iou"]["paved-area"] == pytest.approx(736 / 864)           # the unlabeled->paved row is dropped
        assert r["iou"]["roof"] == pytest.approx(1456 / 1536)               # fp 64 (car), fn 16 (tree)
        assert r["iou"]["car"] == 0 and r["iou"]["tree"] == 0
        assert r["iou"]["unlabeled"] is None and r["iou"]["dirt"] is None
        assert r["dice"]["paved-area"] == pytest.approx(1472 / 1600)        # 0.92
        assert r["class_accuracy"]["roof"] == pytest.approx(1456 / 1472)
        assert r["class_accuracy"]["tree"] is None
        assert r["support"]["grass"] == 768 and r["support"]["unlabeled"] == 32
        assert r["n_pixels"] == 3072 and r["n_scored_pixels"] == 3040
    out = tmp_path / "eval"
    assert sorted(p.name for p in out.iterdir()) == sorted(EVAL_FILES)
    assert json.loads((out / "metrics.json").read_text())["train_res"]["miou"] == pytest.approx(m["train_res"]["miou"])
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert len(rows) == 24
    grass = rows[GRASS]
    assert grass["class"] == "grass" and grass["support_train"] == "768" and grass["support_full"] == "768"
    assert float(grass["iou_train"]) == pytest.approx(640 / 768) and float(grass["dice_full"]) == pytest.approx(
        1280 / 1408)
    assert rows[UNLAB]["iou_train"] == ""
    md = (out / "per_class.md").read_text()
    assert "| 3 | grass | 768 | 0.8333 |" in md and "paved-area, grass, roof, car, tree" in md
    for name in ("confusion.png", "iou.png", "examples.png"):
        assert Image.open(out / name).size[0] > 100


def test_full_resolution_goes_through_tiled_prediction(tmp_path):
    data = hand_dataset(tmp_path / "data", k=2)             # 96x64 photos, model input 48x32
    m = evaluate_model(oracle(), data, all_images=True, progress=False,
                       options=PredictOptions(device="cpu", tile=True, scale=1.0))
    np.testing.assert_array_equal(np.array(m["full_res"]["confusion"]), 4 * hand_confusion())
    assert m["full_res"]["how"] == "tiled at scale 1 (96x64): 9 window(s) of 48x32, overlap 0.25"
    assert m["full_res"]["miou"] == pytest.approx((736 / 864 + 640 / 768 + 1456 / 1536) / 5)
    assert np.array(m["train_res"]["confusion"]).sum() == 3072     # scored at 48x32
    m2 = evaluate_model(oracle(), data, all_images=True, options=CPU, full_res=False, progress=False)
    assert m2["full_res"] is None and m2["train_res"] == m["train_res"]


class CountingOracle(PaletteOracle):
    """PaletteOracle that counts the photos it is given."""

    seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return super().forward(x)


@pytest.mark.parametrize("tta, passes", [(False, 1), (True, 3)])
def test_tta_at_both_resolutions(tmp_path, tta, passes):
    data = hand_dataset(tmp_path / "data")
    info = oracle()[1]
    net = CountingOracle(info)
    m = evaluate_model((net, info), data, all_images=True, progress=False,
                       options=PredictOptions(device="cpu", tta=tta))
    assert net.seen == 2 * 2 * passes   # 2 photos, each at both resolutions; TTA adds 2 flipped copies
    for key in ("train_res", "full_res"):   # each flip is undone: the per-pixel oracle's scores do not change
        np.testing.assert_array_equal(np.array(m[key]["confusion"]), hand_confusion())
        assert m[key]["tta"] is tta and m[key]["how"].endswith(", TTA") is tta


def test_refusals(tmp_path):
    data = hand_dataset(tmp_path / "data")
    one = hand_dataset(tmp_path / "one")
    (one / "original_images" / "001.png").unlink()
    (one / "label_images_semantic" / "001.png").unlink()
    with pytest.raises(DronefastError, match="1 photos are too few to split"):  # nothing left to train on
        evaluate_model(oracle(), one, options=CPU, progress=False)
    m = evaluate_model(oracle(), data, options=CPU, full_res=False, progress=False)
    assert m["split"]["n_images"] == 1  # int(0.1 * 2) = 0 validation photos by fastai's cut: one held out
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(DronefastError, match="refusing to overwrite"):
        evaluate_model(oracle(), data, out=out, all_images=True, options=CPU, progress=False)
    assert (out / "metrics.json").read_text() == "{}"
    with pytest.raises(DronefastError, match="inside the input folder"):
        evaluate_model(oracle(), data, out=data / "original_images" / "eval", all_images=True, progress=False)
    net, info = oracle()
    other = ModelInfo(arch="resnet18", classes=C.__class__(C.names[:3], C.colours[:3]), size=SIZE)
    with pytest.raises(DronefastError, match="differ from the model"):
        evaluate_model((net, other), data, all_images=True, options=CPU, progress=False)


# ------------------------------------------------------------------------------------------ the split

def test_split_is_the_training_split(sample_kaggle):
    layout = find_layout(sample_kaggle)                          # 10 photos of 96x64
    state = torch.random.get_rng_state()
    train, valid = split_files(layout, 0.3, 5)
    assert torch.equal(torch.random.get_rng_state(), state)     # the global seed is left alone
    assert len(valid) == 3 and len(train) == 7 and set(train) | set(valid) == set(layout.image_files())
    store = load_items(layout, SIZE, workers=1, progress=False)
    assert list(store.images) == layout.image_files()           # the cache keeps the sorted order
    for st in (None, store):
        dsets = drone_datablock(layout, SIZE, valid_pct=0.3, seed=5, store=st).datasets(layout.image_dir)
        assert list(dsets.valid.items) == valid and list(dsets.train.items) == train
    assert validation_files(layout, 0.3, 6) != valid            # another seed, another split


def test_split_settings_sources():
    info = ModelInfo(arch="resnet18", classes=C, size=SIZE)
    assert split_settings(info.extra.get("train_args")) == (Split(0.1, 42), "default")
    info.extra["train_args"] = {"seed": 7, "valid_pct": 0.2}
    assert split_settings(info.extra.get("train_args")) == (Split(0.2, 7), "model")
    assert split_settings(info.extra.get("train_args"), seed=1) == (Split(0.2, 1), "model+arguments")
    info.extra["train_args"] = {"seed": 7, "valid_pct": 0.2, "test_pct": 0.25}
    assert split_settings(info.extra.get("train_args")) == (Split(0.2, 7, test_pct=0.25), "model")
    info.extra["train_args"] = {"seed": None, "valid_pct": 0.2}
    with pytest.raises(DronefastError, match="unseeded"):
        split_settings(info.extra.get("train_args"))


def test_cli_on_a_saved_model(sample_kaggle, tmp_path, capsys):
    torch.manual_seed(0)
    train_args = {"seed": 3, "valid_pct": 0.2, "data": str(sample_kaggle)}   # as dronefast.train records them
    info = ModelInfo(arch=TINY_ARCH, classes=C, size=SIZE, extra={"train_args": train_args})
    _, jpath = save_model(build_model(info), tmp_path / "m" / "model", info)
    args = [str(jpath), "--no-progress", "--device", "cpu", "--examples", "2"]   # --data from the model
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "2 of 10 photos scored: validation split (valid_pct 0.2, seed 3, from model)" in printed
    out = tmp_path / "m" / "eval"                                    # default: beside the model
    m = json.loads((out / "metrics.json").read_text())
    assert m["images"] == [p.name for p in sorted(validation_files(find_layout(sample_kaggle), 0.2, 3))]
    assert m["train_res"]["size"] == "48x32" and m["full_res"]["how"] == "whole-image at 48x32"
    assert np.array(m["full_res"]["confusion"]).sum() == 2 * 64 * 96
    assert np.array(m["train_res"]["confusion"]).sum() == 2 * 32 * 48
    assert sorted(p.name for p in out.iterdir()) == sorted(EVAL_FILES)
    assert main(args) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(args + ["--all", "--seed", "1"]) == 2
    assert main([str(tmp_path / "none.json"), "--data", str(sample_kaggle), "--no-progress"]) == 1
    assert "not found" in capsys.readouterr().err
