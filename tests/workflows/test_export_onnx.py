"""Tests of dronefast.workflows.export_onnx and ``python -m dronefast.export``: a U-Net on the tests' tiny encoder
(input 48x32, WxH) saved as a run folder recording the tiny sample as its training data, exported once per session
(fp32 and int8); every encoder traced, checked and compared with PyTorch at 96x64; the int8 gate; the refusals of
the command."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from dronefast.cli.export import main  # noqa: E402
from dronefast.data.classes import standard_classes  # noqa: E402
from dronefast.data.images import read_image  # noqa: E402
from dronefast.errors import DronefastError, ModelFileError  # noqa: E402
from dronefast.inference.onnx import TRACE_SIZE  # noqa: E402
from dronefast.models.modelfile import ModelInfo, build_model, load_model  # noqa: E402
from dronefast.workflows.export_onnx import calibration_photos, export_onnx, photo_windows  # noqa: E402
from tests.conftest import TINY_MODEL_ARGS as TRAIN_ARGS  # noqa: E402

#: The encoders of the project; the ResNet-50 U-Nets hold 339 M parameters (1.3 GB of fp32 weights, mostly the
#: decoder's 2048 -> 4096 -> 2048 middle convolutions): ~50 s and ~6 GB per export on 2 cores, so only on demand.
BIG = pytest.mark.skipif(os.environ.get("DRONEFAST_BIG_EXPORTS") != "1",
                         reason="ResNet-50 U-Nets are 1.3 GB graphs (~50 s, ~6 GB each): set DRONEFAST_BIG_EXPORTS=1")
ARCHS = ["resnet18", "resnet34", pytest.param("resnet50", marks=BIG), pytest.param("pm-resnet50", marks=BIG)]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def weight_bytes(path) -> int:
    """Bytes of the weights (initializers) an ONNX graph stores."""
    return sum(onnx.numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer)


def test_export_writes_a_checked_dynamic_graph_beside_model_json(exported, run_folder):
    assert sorted(p.name for p in exported.iterdir()) == ["export.json", "model.int8.onnx", "model.json", "model.onnx"]
    onnx.checker.check_model(str(exported / "model.onnx"), full_check=True)
    m = onnx.load(str(exported / "model.onnx"), load_external_data=False)
    assert m.opset_import[0].version == 17
    dims = [[d.dim_param or d.dim_value for d in t.type.tensor_type.shape.dim] for t in (m.graph.input[0],
                                                                                         m.graph.output[0])]
    assert dims == [["batch", 3, "height", "width"], ["batch", 24, "height", "width"]]
    # the description travels with the graph: the same classes, colours, size and normalisation (the digest of the
    # safetensors weights stays with them: the graph's own is in export.json)
    desc = json.loads((run_folder / "model.json").read_text())
    assert json.loads((exported / "model.json").read_text()) == {k: v for k, v in desc.items() if k != "weights_sha256"}
    rec = json.loads((exported / "export.json").read_text())
    assert rec["opset"] == 17 and rec["trace_size"] == list(TRACE_SIZE) and rec["classes"] == 24
    assert rec["fp32"]["agreement"] >= 0.999 and rec["fp32"]["sizes"] == ["2x3x32x48", "1x3x39x61"]
    assert rec["files"]["model.onnx"]["bytes"] == (exported / "model.onnx").stat().st_size
    assert rec["files"]["model.onnx"]["sha256"] == hashlib.sha256((exported / "model.onnx").read_bytes()).hexdigest()
    assert set(rec["versions"]) == {"dronefast", "torch", "onnx", "onnxruntime"}
    assert not [p for p in exported.iterdir() if p.name.startswith(".")]   # no temporary files left


def test_the_graph_runs_at_other_sizes_and_batches_like_pytorch(exported, run_folder):
    net, _ = load_model(run_folder)
    s = _session(exported / "model.onnx")
    rng = np.random.default_rng(1)
    for shape in ((3, 3, 32, 48), (1, 3, 64, 96), (2, 3, 45, 67)):   # a batch, a larger photo, odd sizes
        x = rng.standard_normal(shape, dtype=np.float32)
        with torch.inference_mode():
            ref = net(torch.from_numpy(x)).as_subclass(torch.Tensor).numpy()
        y = s.run(None, {"input": x})[0]
        assert y.shape == ref.shape == (shape[0], 24, *shape[2:])
        np.testing.assert_allclose(y, ref, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_encoder_exports_checks_and_agrees(arch, tmp_path):
    torch.manual_seed(0)
    info = ModelInfo(arch=arch, classes=standard_classes(), size=(64, 96))
    r = export_onnx((build_model(info).eval(), info), tmp_path / arch)
    assert r.int8 is None and not (tmp_path / arch / "model.int8.onnx").exists()
    record = r.record
    shutil.rmtree(tmp_path / arch)   # 124 MB (resnet18), 157 MB (resnet34) to 1.3 GB (the ResNet-50s)
    assert record["arch"] == arch and record["fp32"]["agreement"] >= 0.999 and len(record["fp32"]["sizes"]) == 2


def test_int8_is_calibrated_on_training_photos_and_measured_on_held_out_ones(exported, sample_kaggle):
    from dronefast.data.layout import find_layout
    from dronefast.data.split import Split, split_photos

    q = json.loads((exported / "export.json").read_text())["int8"]
    parts = split_photos(find_layout(sample_kaggle), Split(**TRAIN_ARGS))
    names = {k: {p.name for p in v} for k, v in parts.items()}
    assert q["calibration_photos"] and set(q["calibration_photos"]) <= names["train"]
    assert not set(q["held_out_photos"]) & set(q["calibration_photos"])
    assert not (set(q["calibration_photos"]) | set(q["held_out_photos"])) & names["test"]   # never test photos
    assert q["data"] == str(sample_kaggle) and q["format"] == "QDQ" and q["float_nodes"]
    assert 0 <= q["agreement_with_fp32"] <= 1 and q["forced"] and q["min_agreement"] == 1.01
    # below the threshold, the full-resolution tail was tried in float too, and kept (forced)
    assert [t["float_part"] for t in q["tried"]] == ["logits", "tail"] and q["float_part"] == "tail"
    assert "/net/layers.12/layers.12.0/Conv" in q["float_nodes"] and len(q["float_nodes"]) > 5
    # QDQ: int8 weights and quantise/dequantise pairs, the last convolution (the logits) in float
    ops = {n.op_type for n in onnx.load(str(exported / "model.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    # the weights stored take under a third of fp32's (the graph's own bytes, a large share of a tiny U-Net's file,
    # left out)
    assert weight_bytes(exported / "model.int8.onnx") < weight_bytes(exported / "model.onnx") / 3


def test_calibration_windows_are_the_models_input(run_folder, sample_kaggle):
    info = load_model(run_folder)[1]
    data, calib, held = calibration_photos(info, n_calibration=3, n_check=2)
    assert data == sample_kaggle and len(calib) == 3 and len(held) == 2
    x = photo_windows(calib, info)
    assert x.shape == (3, 3, 32, 48) and x.dtype == np.float32 and abs(float(x.mean())) < 3
    info.work_size, info.size = (64, 96), (32, 48)   # object scale: windows cut from photos at the working size
    assert photo_windows(calib[:1], info, per_photo=4).shape == (4, 3, 32, 48)


def test_int8_calibration_photos_come_from_the_recorded_split(run_folder, sample_kaggle, tmp_path):
    """Recorded: training 000-004, validation 005-006, test 007 (008 and 009 came later). Calibration: 3 training
    photos spread over them; held out: validation, then the other training photos; never a test or an added photo.
    The export's model.json carries the record."""
    from dronefast.data.split import Split, SplitRecord
    from dronefast.errors import DatasetError

    net, info = load_model(run_folder)
    record = SplitRecord.of([f"{i:03d}" for i in range(5)], ["005", "006"], ["007"], Split(**TRAIN_ARGS)).as_dict()
    info.extra["split"] = record
    lines = []
    data, calib, held = calibration_photos(info, n_calibration=3, n_check=3, log=lines.append)
    assert data == sample_kaggle and [p.stem for p in calib] == ["000", "001", "003"]
    assert [p.stem for p in held] == ["005", "006", "002"]
    assert lines == ["int8: 2 photos added since training are left out: 008, 009"]
    copy = shutil.copytree(sample_kaggle, tmp_path / "data")
    (copy / "original_images" / "006.jpg").unlink()
    with pytest.raises(DatasetError, match=r"original_images: photo\(s\) of the model's recorded split missing: "
                                           r"validation 006 \(restore"):
        calibration_photos(info, copy)
    export_onnx((net, info), tmp_path / "export")
    assert json.loads((tmp_path / "export" / "model.json").read_text())["extra"]["split"] == record


def test_calibration_windows_are_the_predictors_windows_normalised_as_before(run_folder):
    info = load_model(run_folder)[1]
    photo = calibration_photos(info, n_calibration=1, n_check=1)[1][0]
    info.work_size, info.size = (64, 96), (32, 48)
    arr = np.asarray(read_image(photo, (64, 96)), np.float32) / 255.0   # the former normalisation, in numpy
    norm = ((arr - np.asarray(info.mean, np.float32)) / np.asarray(info.std, np.float32)).transpose(2, 0, 1)
    # the Predictor's grid over 64x96 at overlap 0.25 (rows 0, 16, 32; columns 0, 24, 48), every second window
    boxes = [(0, 0), (0, 48), (16, 24), (32, 0)]
    expected = np.stack([norm[:, y:y + 32, x:x + 48] for y, x in boxes])
    np.testing.assert_array_equal(photo_windows([photo], info, per_photo=4), expected)


def _reuse_int8(monkeypatch, exported):
    """quantize_int8 copies the session's int8 graph instead of quantising again (10 s); the parts asked for."""
    import dronefast.workflows.export_onnx as mod

    calls = []

    def quantize(pre, int8, windows, part):
        calls.append(part)
        shutil.copy(exported / "model.int8.onnx", int8)
        return {"windows": len(windows), "float_part": part}

    monkeypatch.setattr(mod, "quantize_int8", quantize)
    return calls


def test_int8_below_the_threshold_is_refused_and_the_fp32_graph_written(run_folder, exported, tmp_path, monkeypatch):
    calls = _reuse_int8(monkeypatch, exported)
    out = tmp_path / "deploy"
    with pytest.raises(DronefastError) as e:
        export_onnx(run_folder, out, int8=True, n_calibration=2, n_check=1, min_int8_agreement=1.01)
    assert calls == ["logits", "tail"]   # the faster graph first, then the full-resolution tail in float
    record = json.loads((out / "export.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.json", "model.onnx"]   # fp32, no int8
    assert list(record["files"]) == ["model.onnx"] and record["fp32"]["agreement"] >= 0.999
    q = record["int8"]
    assert (q["written"], q["forced"], q["min_agreement"], [t["float_part"] for t in q["tried"]]) == (
        False, False, 1.01, ["logits", "tail"])
    best = max(t["agreement_with_fp32"] for t in q["tried"])
    assert str(e.value) == (f"int8 agrees with fp32 on only {best:.2%} of the pixels of 1 held-out photo(s) (at least "
                            f"101% required; tried the logits then the tail in float): model.int8.onnx not written "
                            f"(use force=True / --force to write it anyway); the fp32 {out / 'model.onnx'} that "
                            f"passed is written")
    _session(out / "model.onnx")   # a complete graph ONNX Runtime loads


def test_cli_int8_below_the_threshold_fails_in_one_line_and_keeps_fp32(run_folder, exported, tmp_path, monkeypatch,
                                                                      capsys):
    import dronefast.workflows.export_onnx as mod

    _reuse_int8(monkeypatch, exported)
    monkeypatch.setitem(mod.export_onnx.__kwdefaults__, "min_int8_agreement", 1.01)   # a gate no graph passes
    out = tmp_path / "deploy"
    err = _fails([str(run_folder), "--out", str(out), "--int8", "--calibration-photos", "2", "--check-photos", "1"],
                 capsys)
    assert err.startswith("error: int8 agrees with fp32 on only ") and "model.int8.onnx not written" in err
    assert (out / "model.onnx").is_file() and not (out / "model.int8.onnx").exists()


def test_overwrite_replaces_an_export_in_the_run_folder_and_drops_a_stale_int8(run_folder, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    (run / "model.int8.onnx").write_bytes(b"from an earlier export")
    before = (run / "model.json").read_bytes(), (run / "model.json").stat().st_mtime_ns
    with pytest.raises(DronefastError, match=r"model.int8.onnx: exists already; refusing .*overwrite"):
        export_onnx(run, run)
    r = export_onnx(run, run, overwrite=True)   # the export beside the run's own model.json, which stays as it is
    assert sorted(p.name for p in run.iterdir()) == ["export.json", "model.json", "model.onnx", "model.safetensors"]
    assert ((run / "model.json").read_bytes(), (run / "model.json").stat().st_mtime_ns) == before
    assert r.onnx.stat().st_size > 1e5 and r.record["int8"] is None   # a whole graph (the tiny U-Net: 0.26 MB)


# ------------------------------------------------------------------------------------------ the command

def _fails(argv, capsys, code=1):
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err   # one line, no traceback
    return err


def test_cli_exports_and_says_how_to_predict(run_folder, tmp_path, capsys):
    out = tmp_path / "deploy"
    assert main([str(run_folder / "model.json"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out / 'model.onnx'}" in text and "--engine onnxruntime" in text
    assert (out / "model.onnx").is_file() and (out / "export.json").is_file()
    err = _fails([str(run_folder), "--out", str(out)], capsys)   # again: refused, the file named
    assert f"{out / 'model.onnx'}: exists already" in err and "--overwrite" in err


def test_cli_refusals(run_folder, tmp_path, capsys):
    pkl = tmp_path / "export.pkl"
    pkl.write_bytes(b"not looked at")
    err = _fails([str(pkl), "--out", str(tmp_path / "o")], capsys)
    assert err.startswith(f"error: {pkl}: a fastai pickle can run arbitrary code") and "--pickle" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"{empty}: no model.json" in _fails([str(empty), "--out", str(tmp_path / "o")], capsys)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8")
    assert f"{photo}: not a model" in _fails([str(photo), "--out", str(tmp_path / "o")], capsys)
    assert f"{tmp_path / 'nope'}: not found" in _fails([str(tmp_path / "nope"), "--out", str(tmp_path / "o")], capsys)
    assert "--calibration is an int8 option" in _fails([str(run_folder), "--out", str(tmp_path / "o"),
                                                        "--calibration", str(tmp_path)], capsys, code=2)
    assert "--force is an int8 option" in _fails([str(run_folder), "--out", str(tmp_path / "o"), "--force"], capsys,
                                                  code=2)
    assert not (tmp_path / "o").exists()


def test_cli_refuses_an_onnx_export_as_source(exported, tmp_path, capsys):
    err = _fails([str(exported / "model.onnx"), "--out", str(tmp_path / "o")], capsys)
    assert "already an ONNX export" in err


def test_missing_extra_says_how_to_install_it(run_folder, tmp_path, monkeypatch, capsys):
    import sys

    for name in ("onnx", "onnxruntime"):   # as if not installed: importing them raises ModuleNotFoundError
        monkeypatch.setitem(sys.modules, name, None)
    err = _fails([str(run_folder), "--out", str(tmp_path / "o")], capsys)
    assert err == ("error: ONNX export needs the optional package onnx: pip install 'dronefast[onnx]' (or: pip "
                   "install onnx onnxruntime)")
    with pytest.raises(DronefastError, match=r"pip install 'dronefast\[onnx\]'"):
        from dronefast.inference.onnx import OnnxEngine

        OnnxEngine.from_path(tmp_path)
    assert not (tmp_path / "o").exists()


def test_a_description_that_does_not_fit_the_graph_is_refused(exported, tmp_path):
    from dronefast.inference.onnx import OnnxEngine

    bad = tmp_path / "bad"
    shutil.copytree(exported, bad, ignore=shutil.ignore_patterns("model.int8.onnx"))
    d = json.loads((bad / "model.json").read_text())
    d["classes"] = {"names": d["classes"]["names"][:5], "colours": d["classes"]["colours"][:5]}
    (bad / "model.json").write_text(json.dumps(d))
    with pytest.raises(ModelFileError, match=r"model.onnx: output 'logits' is \(batch, 24, height, width\), but "
                                             r"model.json lists 5 classes"):
        OnnxEngine.from_path(bad)


@pytest.mark.parametrize("where", ["the graph", "the record"])
def test_a_full_disk_names_the_file_it_could_not_write(run_folder, tmp_path, monkeypatch, full_disk, capsys, where):
    out = tmp_path / "deploy"
    if where == "the graph":   # the exporter writes with a plain open(): its OSError names no file
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(torch.onnx, "export", full)
        named = out / "model.onnx"
    else:
        full_disk("export.json")
        named = out / "export.json"
    err = _fails([str(run_folder), "--out", str(out)], capsys)
    assert err == f"error: {named}: cannot write (No space left on device)"
    assert not out.exists()
