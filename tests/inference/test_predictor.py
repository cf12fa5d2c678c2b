"""Tests of dronefast.inference.predictor with a tiny untrained U-Net on the tests' tiny encoder (input 48x32, WxH)
on small random photos."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dronefast.cli.predict import main
from dronefast.data.classes import standard_classes
from dronefast.inference.predict_files import OUTPUT_SUFFIXES, scan_inputs
from dronefast.inference.predictor import Predictor
from dronefast.landing.policy import resolve_policy
from dronefast.models.grid import tile_positions
from dronefast.models.modelfile import ModelInfo, build_model, save_model
from dronefast.models.tiling import blend_window, iter_upsampled, upsample_argmax
from tests.conftest import TINY_ARCH

CLASSES = standard_classes()
SIZE = (32, 48)  # model input (height, width)


@pytest.fixture(scope="module")
def net_info():
    torch.manual_seed(0)
    info = ModelInfo(arch=TINY_ARCH, classes=CLASSES, size=SIZE)
    return build_model(info).eval(), info


@pytest.fixture(scope="module")
def model_file(net_info, tmp_path_factory):
    wpath, jpath = save_model(net_info[0], tmp_path_factory.mktemp("model") / "model", net_info[1])
    return jpath


@pytest.fixture
def fast_load(net_info, monkeypatch):
    """Make the CLI take the in-memory network instead of rebuilding it from the file (saves seconds)."""
    import dronefast.inference.predictor as mod

    def load(path, device="cpu", allow_pickle=False):
        assert Path(path).is_file()
        return net_info
    monkeypatch.setattr(mod, "load_model", load)


def photo(h, w, seed=0):
    """A smooth random RGB photo (uint8), so that resizing changes it only a little."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)).copy()


def direct_logits(net, info, arr):
    """The network called directly on one (h, w, 3) uint8 photo: (C, h, w) logits."""
    x = torch.from_numpy(arr)[None].permute(0, 3, 1, 2).float().div(255)
    x = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        return net(x)[0].as_subclass(torch.Tensor).float()


def clear_margin(logits, eps=1e-3):
    """Pixels whose best logit beats the second by more than eps (argmax is stable there)."""
    top = torch.topk(logits, 2, dim=0).values
    return (top[0] - top[1] > eps).numpy()


# ------------------------------------------------------------------------------------------ helpers

def test_tile_positions_cover_and_align_last_window():
    assert tile_positions(64, 32, 0.25) == [0, 16, 32]
    assert tile_positions(96, 48, 0.25) == [0, 24, 48]
    assert tile_positions(100, 32, 0.25) == [0, 23, 45, 68]      # stride 24 nominal, 22.67 actual, last at 68
    assert tile_positions(32, 32, 0.25) == [0]
    assert tile_positions(20, 32, 0.5) == [0]
    assert tile_positions(33, 32, 0.0) == [0, 1]
    with pytest.raises(ValueError):
        tile_positions(10, 4, 1.0)


def test_blend_window_is_hann_with_floor():
    w = blend_window((4, 2), floor=0.1)
    ramp4 = 0.1 + 0.9 * np.sin(np.pi * (np.arange(4) + 0.5) / 4) ** 2   # 0.2318, 0.8682, 0.8682, 0.2318
    ramp2 = 0.1 + 0.9 * np.sin(np.pi * (np.arange(2) + 0.5) / 2) ** 2   # 0.55, 0.55
    np.testing.assert_allclose(w.numpy(), np.outer(ramp4, ramp2), rtol=1e-6)
    assert w.min() > 0 and abs(float(w[0, 0]) - 0.2318 * 0.55) < 1e-3


def test_strip_upsampling_equals_torch_bilinear():
    torch.manual_seed(1)
    logits = torch.randn(5, 7, 11)
    ref = F.interpolate(logits[None], size=(50, 33), mode="bilinear", align_corners=False)[0]
    strips = list(iter_upsampled(logits, (50, 33), max_bytes=5 * 4 * 33 * 4))   # 4 rows per strip
    assert len(strips) == 13 and strips[0][1].shape == (5, 4, 33)
    torch.testing.assert_close(torch.cat([s for _, s in strips], 1), ref, atol=1e-5, rtol=1e-5)
    ids = upsample_argmax(logits, (50, 33), max_bytes=1000)
    stable = clear_margin(ref)
    assert ids.dtype == np.uint8 and ids.shape == (50, 33)
    np.testing.assert_array_equal(ids[stable], ref.argmax(0).numpy()[stable])
    # same size: no interpolation at all
    np.testing.assert_array_equal(upsample_argmax(logits, (7, 11), 100), logits.argmax(0).numpy())


# ------------------------------------------------------------------------------------------ predictor

def test_whole_image_at_model_size_is_the_direct_argmax(net_info):
    net, info = net_info
    arr = photo(*SIZE)
    pred = Predictor(net_info, device="cpu", tile=False)
    ids = pred.predict(arr)
    assert ids.dtype == np.uint8 and ids.shape == SIZE
    np.testing.assert_array_equal(ids, direct_logits(net, info, arr).argmax(0).numpy())
    # a PIL image and a path give the same
    np.testing.assert_array_equal(pred.predict(Image.fromarray(arr)), ids)


def test_single_tile_equals_direct_call(net_info):
    net, info = net_info
    arr = photo(*SIZE, seed=1)
    pred = Predictor(net_info, device="cpu", tile=True, scale=1.0)
    assert pred.plan(SIZE) == (True, SIZE)
    ref = direct_logits(net, info, arr)
    torch.testing.assert_close(pred.predict_logits(arr), ref)
    np.testing.assert_array_equal(pred.predict(arr), ref.argmax(0).numpy())
    proba = pred.predict_proba(arr)
    assert proba.shape == (24, *SIZE)
    np.testing.assert_allclose(proba.sum(0), 1, atol=1e-5)


def test_tiled_region_seen_by_one_window_equals_that_window(net_info):
    net, info = net_info
    arr = photo(64, 96, seed=2)
    pred = Predictor(net_info, device="cpu", tile=True, scale=1.0, overlap=0.25, batch_size=4)
    assert "9 window(s)" in pred.describe((64, 96))   # rows at 0, 16, 32; columns at 0, 24, 48
    logits = pred.predict_logits(arr)
    ids = pred.predict(arr)
    assert logits.shape == (24, 64, 96) and ids.shape == (64, 96)
    # top-left 16x24 px only lie in the window at (0, 0); bottom-right 16x24 px only in the window at (32, 48)
    for (y, x) in ((0, 0), (32, 48)):
        ref = direct_logits(net, info, np.ascontiguousarray(arr[y:y + 32, x:x + 48]))
        ry, rx = (slice(0, 16), slice(0, 24)) if y == 0 else (slice(16, 32), slice(24, 48))
        oy, ox = slice(y + ry.start, y + ry.stop), slice(x + rx.start, x + rx.stop)
        torch.testing.assert_close(logits[:, oy, ox], ref[:, ry, rx], atol=1e-4, rtol=1e-4)
        stable = clear_margin(ref[:, ry, rx])
        np.testing.assert_array_equal(ids[oy, ox][stable], ref[:, ry, rx].argmax(0).numpy()[stable])
    # where two windows overlap, the blend lies between their logits
    a = direct_logits(net, info, np.ascontiguousarray(arr[0:32, 0:48]))[:, 0, 30]   # pixel (0, 30), window x=0
    b = direct_logits(net, info, np.ascontiguousarray(arr[0:32, 24:72]))[:, 0, 6]   # same pixel, window x=24
    blended = logits[:, 0, 30]
    assert bool(((blended >= torch.minimum(a, b) - 1e-4) & (blended <= torch.maximum(a, b) + 1e-4)).all())


@pytest.mark.parametrize("h, w", [(50, 70), (20, 30), (33, 100), (1, 5)])
def test_tiling_keeps_any_size(net_info, h, w):
    pred = Predictor(net_info, device="cpu", tile=True, scale=1.0)
    ids = pred.predict(photo(h, w, seed=3))
    assert ids.shape == (h, w) and ids.dtype == np.uint8 and ids.max() < 24


def test_small_photo_is_reflect_padded_then_cropped(net_info):
    net, info = net_info
    arr = photo(20, 30, seed=4)
    padded = np.pad(arr, ((0, 12), (0, 18), (0, 0)), mode="reflect")
    ref = direct_logits(net, info, padded)[:, :20, :30]
    got = Predictor(net_info, device="cpu", tile=True, scale=1.0).predict_logits(arr)
    torch.testing.assert_close(got, ref)


def test_tiled_at_training_scale_equals_whole_image(net_info):
    # a 96x64 photo at scale 0.5 is one 48x32 window: the same resize and forward as whole-image
    arr = photo(64, 96, seed=5)
    tiled = Predictor(net_info, device="cpu", tile=True)          # default scale: sqrt(32*48 / (64*96)) = 0.5
    assert tiled.plan((64, 96)) == (True, SIZE)
    whole = Predictor(net_info, device="cpu", tile=False)
    np.testing.assert_array_equal(tiled.predict(arr), whole.predict(arr))
    auto = Predictor(net_info, device="cpu")
    assert auto.plan((64, 96)) == (False, SIZE) and auto.plan((65, 96))[0]   # tiles beyond 2x the model size


def test_default_scale_is_the_model_inputs_pixel_count_and_a_crop_takes_its_photos(net_info):
    """No recorded source size is read (training records none): the default brings the photo to the model input's
    pixel count, and a crop is predicted at the training object scale by giving the full photo's scale."""
    net, info = net_info
    info2 = ModelInfo(arch=info.arch, classes=info.classes, size=SIZE, extra={"source_size": [128, 192]})
    pred = Predictor((net, info2), device="cpu", tile=True)
    assert pred.scale_for((256, 384)) == 0.125 and pred.plan((256, 384)) == (True, SIZE)   # sqrt(32*48/(256*384))
    crop = Predictor((net, info2), device="cpu", tile=True, scale=pred.scale_for((256, 384)))
    assert crop.plan((128, 192)) == (True, (16, 24))   # half of the photo: half of the working size each way


def tta_views(net, info, arr):
    """Logits of the photo and of its two flips, flipped back: (3, C, h, w)."""
    return torch.stack([direct_logits(net, info, arr), direct_logits(net, info, arr[:, ::-1].copy()).flip(2),
                        direct_logits(net, info, arr[::-1].copy()).flip(1)])


def test_tta_averages_the_probabilities_of_the_flips(net_info):
    """With TTA every output is made of the mean of the views' probabilities softmax(logits / T), never of the
    mean logits: predict_proba, the class map and softmax(predict_logits / T)."""
    net, info = net_info
    info2 = dataclasses.replace(info, temperature=0.5)
    arr = photo(*SIZE, seed=6)
    pred = Predictor((net, info2), device="cpu", tile=False, tta=True)
    views = tta_views(net, info, arr)
    mean_p = torch.softmax(views / 0.5, 1).mean(0)
    np.testing.assert_allclose(pred.predict_proba(arr), mean_p.numpy(), atol=1e-6)
    np.testing.assert_array_equal(pred.predict(arr), mean_p.argmax(0).numpy())
    torch.testing.assert_close(torch.softmax(pred.predict_logits(arr) / 0.5, 0), mean_p, atol=1e-6, rtol=1e-5)
    mean_logits_p = torch.softmax(views.mean(0) / 0.5, 0)   # what averaging logits would give: measurably other
    assert float((mean_logits_p - mean_p).abs().max()) > 1e-3
    conf = pred.predict_confidence(arr, safe=[1, 2])
    np.testing.assert_allclose(conf.p_safe, mean_p[[1, 2]].sum(0).numpy(), atol=1e-6)


class ConstantNet(torch.nn.Module):
    """Logits `bias` at every pixel, whatever the photo."""

    def __init__(self, bias):
        super().__init__()
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32))

    def forward(self, x):
        return self.bias.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2], x.shape[3]).clone()


@pytest.mark.parametrize("tta", [False, True])
def test_predict_proba_applies_the_temperature(tta):
    """By hand: logits (2 ln 3, 0, 0) at T = 2 are (ln 3, 0, 0), softmax (3, 1, 1) / 5."""
    from dronefast.data.classes import ClassTable

    classes = ClassTable(("a", "b", "c"), ((0, 0, 0), (1, 1, 1), (2, 2, 2)))
    info = ModelInfo(arch="resnet18", classes=classes, size=(8, 12), temperature=2.0)
    pred = Predictor((ConstantNet([2 * np.log(3), 0, 0]), info), device="cpu", tile=False, tta=tta)
    proba = pred.predict_proba(photo(8, 12))
    assert proba.shape == (3, 8, 12)
    np.testing.assert_allclose(proba[:, 3, 5], [0.6, 0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(proba, np.broadcast_to(proba[:, :1, :1], proba.shape))
    np.testing.assert_allclose(pred.predict_confidence(photo(8, 12), safe=[1, 2]).p_safe, 0.4, atol=1e-6)


@pytest.mark.parametrize("tta", [False, True])
def test_one_prediction_gives_the_full_map_and_a_small_confidence(net_info, tta):
    """predict_with_confidence: the full-size map of predict and the small maps of predict_confidence(size=...),
    from one tiled prediction."""
    arr = photo(80, 120, seed=8)
    pred = Predictor(net_info, device="cpu", tile=True, tta=tta)
    calls = []
    engine = pred.engine
    pred.engine = lambda x: calls.append(1) or engine(x)
    ids, small = pred.predict_with_confidence(arr, (20, 30), [1, 2])
    once = len(calls)
    np.testing.assert_array_equal(ids, pred.predict(arr))
    ref = pred.predict_confidence(arr, [1, 2], size=(20, 30))
    assert len(calls) == 3 * once and ids.shape == (80, 120) and small.ids.shape == (20, 30)
    for name in ("ids", "p_safe"):
        np.testing.assert_array_equal(getattr(small, name), getattr(ref, name))
    assert small.p_class is None and ref.p_class.shape == (20, 30)  # only asked-for maps are upsampled
    lean = pred.predict_confidence(arr, [1, 2], size=(20, 30), p_class=False)
    assert lean.p_class is None and np.array_equal(lean.p_safe, ref.p_safe) and np.array_equal(lean.ids, ref.ids)


def test_bad_arguments_and_arrays(net_info):
    with pytest.raises(ValueError, match="overlap"):
        Predictor(net_info, device="cpu", overlap=1.0)
    with pytest.raises(ValueError, match="tile"):
        Predictor(net_info, device="cpu", tile="yes")
    with pytest.raises(ValueError, match="uint8"):
        Predictor(net_info, device="cpu").predict(np.zeros((8, 8), np.uint8))


# ------------------------------------------------------------------------------------------ command line

def write_photos(folder, names, h=40, w=60):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(photo(h, w, seed=10 + i)).save(folder / name, quality=95)
    return folder


def test_cli_writes_mask_colour_overlay_and_landing(model_file, net_info, tmp_path, capsys):
    src = write_photos(tmp_path / "in", ["a.jpg", "b.png"])
    out = tmp_path / "out"
    rc = main([str(model_file), str(src), "--out", str(out), "--no-progress", "--device", "cpu",
               "--landing", "--clearance-px", "2", "--confidence", "--min-p-safe", "0"])
    assert rc == 0, capsys.readouterr().err
    pred = Predictor(net_info, device="cpu")   # the file holds these weights
    for stem, ext in (("a", ".jpg"), ("b", ".png")):
        mask = Image.open(out / f"{stem}.mask.png")
        assert mask.mode == "L" and mask.size == (60, 40)
        ids = np.asarray(mask)
        np.testing.assert_array_equal(ids, pred.predict(src / f"{stem}{ext}"))
        colour = np.asarray(Image.open(out / f"{stem}.colour.png"))
        assert colour.shape == (40, 60, 3)
        np.testing.assert_array_equal(colour, CLASSES.palette[ids])        # pixel-wise palette colours
        for i in np.unique(ids):
            assert tuple(colour[ids == i][0]) == CLASSES.colours[i]
        assert Image.open(out / f"{stem}.overlay.jpg").size == (60, 40)
        conf = pred.predict_confidence(src / f"{stem}{ext}", resolve_policy(pred.classes, None, None)[0])
        np.testing.assert_array_equal(conf.ids, ids)
        for kind in ("p_safe", "p_class"):
            grey = np.asarray(Image.open(out / f"{stem}.{kind}.png"))
            assert grey.dtype == np.uint8 and grey.shape == (40, 60)
            np.testing.assert_array_equal(grey, np.floor(getattr(conf, kind).astype(np.float64) * 255 + 0.5))
        spots = json.loads((out / f"{stem}.landing.json").read_text())
        assert spots["meta"]["clearance_px"] == 2 and spots["meta"]["map_size"] == "60x40"
        assert spots["meta"]["confidence"] is True and spots["meta"]["min_p_safe"] == 0
        assert spots["verdict"]["abstained"] is (not spots["spots"])
        for sp in spots["spots"]:
            assert 0 <= sp["p_safe_min"] <= sp["p_safe_mean"] <= 1
        assert Image.open(out / f"{stem}.landing.png").size == (60, 40)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s}{suf}" for s in "ab" for suf in OUTPUT_SUFFIXES.values())     # no temporary files left


def test_cli_reports_corrupt_photo_and_goes_on(model_file, fast_load, tmp_path, capsys):
    src = write_photos(tmp_path / "in", ["good.jpg"])
    (src / "bad.jpg").write_bytes((src / "good.jpg").read_bytes()[:200])   # truncated JPEG
    (src / "junk.jpg").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    rc = main([str(model_file), str(src), str(tmp_path / "missing.jpg"), "--out", str(out), "--no-progress",
               "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "bad.jpg" in err and "junk.jpg" in err and "missing.jpg: file not found" in err
    assert (out / "good.mask.png").is_file() and (out / "good.overlay.jpg").is_file()
    assert not (out / "bad.mask.png").exists() and not (out / "junk.mask.png").exists()


def test_cli_does_not_overwrite_without_flag(model_file, fast_load, tmp_path, capsys):
    src = write_photos(tmp_path / "in", ["a.jpg"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mask.png").write_bytes(b"keep me")
    args = [str(model_file), str(src / "a.jpg"), "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "a.mask.png" in err and "--overwrite" in err
    assert (out / "a.mask.png").read_bytes() == b"keep me" and not (out / "a.colour.png").exists()
    assert main(args + ["--overwrite"]) == 0
    assert Image.open(out / "a.mask.png").size == (60, 40)
    assert main(args + ["--skip-existing"]) == 0
    assert "skipping 1 photo" in capsys.readouterr().out


def test_cli_refuses_pickle_missing_model_and_output_in_input_folder(model_file, tmp_path, capsys):
    src = write_photos(tmp_path / "in", ["a.jpg"])
    pkl = tmp_path / "export.pkl"
    pkl.write_bytes(b"\x80\x04N.")
    assert main([str(pkl), str(src), "--out", str(tmp_path / "o1"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "pickle" in err and "--pickle" in err and err.startswith("error: ")
    assert not (tmp_path / "o1").exists()

    assert main([str(tmp_path / "nothere.json"), str(src), "--out", str(tmp_path / "o2"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "nothere" in err and "not found" in err and "Traceback" not in err

    assert main([str(model_file), str(src), "--out", str(src), "--no-progress"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert main([str(model_file), str(src), "--out", str(tmp_path / "o3"), "--clearance-px", "3"]) == 2
    assert "--landing" in capsys.readouterr().err


def test_scan_inputs_skips_own_outputs_and_reports_missing(tmp_path):
    src = write_photos(tmp_path / "in", ["b.jpg", "a.png"])
    (src / "a.mask.png").write_bytes(b"x")
    (src / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    scan = scan_inputs([src, tmp_path / "nope.jpg", tmp_path / "empty"], videos=False)
    files, problems = scan.photos, scan.problems
    assert [f.name for f in files] == ["a.png", "b.jpg"]
    assert len(problems) == 2 and "nope.jpg: file not found" in problems[0] and "no images" in problems[1]
