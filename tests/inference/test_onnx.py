"""Tests of dronefast.inference.onnx: ONNX Runtime as the Predictor's engine on a U-Net on the tests' tiny encoder
(input 48x32, WxH) exported once per session (see tests/workflows/test_export_onnx.py): the same class maps and landing
spots as PyTorch through the same code path, and one clear ModelFileError for every broken file or input."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from dronefast.cli.predict import main as predict_main  # noqa: E402
from dronefast.errors import DronefastError, ModelFileError  # noqa: E402
from dronefast.inference.onnx import OnnxEngine, onnx_files  # noqa: E402
from dronefast.inference.predictor import Predictor  # noqa: E402
from dronefast.models.modelfile import load_model  # noqa: E402


@pytest.fixture(scope="module")
def torch_pair(run_folder):
    """The PyTorch network and its description, loaded once."""
    return load_model(run_folder)


@pytest.fixture(scope="module")
def ort_pair(exported):
    """The ONNX Runtime engine of the export and its description, loaded once (shared by Predictors)."""
    return OnnxEngine.from_path(exported, threads=1)


@pytest.fixture(scope="module")
def photos(sample_kaggle):
    return sorted((sample_kaggle / "original_images").glob("*.jpg"))[:3]


def _small_copy(exported: Path, dst: Path, graph: bytes, recorded: bool = False) -> Path:
    """An export folder at `dst` holding `exported`'s model.json and export.json and the bytes `graph` as
    model.onnx; with `recorded`, export.json records the size and SHA-256 of these bytes (a consistent record, so
    that ONNX Runtime gets to read them)."""
    dst.mkdir()
    for name in ("model.json", "export.json"):
        shutil.copy(exported / name, dst / name)
    (dst / "model.onnx").write_bytes(graph)
    if recorded:
        record = json.loads((dst / "export.json").read_text())
        record["files"]["model.onnx"] = {"bytes": len(graph), "sha256": hashlib.sha256(graph).hexdigest()}
        (dst / "export.json").write_text(json.dumps(record))
    return dst


def test_engine_from_a_folder_its_graphs_or_its_description(exported, ort_pair):
    engine, info = ort_pair
    assert engine.path == exported / "model.onnx" and len(info.classes) == 24 and info.size == (32, 48)
    assert engine.providers == ["CPUExecutionProvider"] and engine.device == torch.device("cpu")
    assert engine.max_batch == 1   # on the CPU a batch runs one window at a time (same time per window, less memory)
    assert OnnxEngine.from_path(exported / "model.int8.onnx")[0].path == exported / "model.int8.onnx"
    assert onnx_files(exported / "model.json") == (exported / "model.onnx", exported / "model.json")
    assert OnnxEngine.from_path((engine, info)) == (engine, info)   # shared by several Predictors


def test_engine_gives_pytorchs_logits(torch_pair, ort_pair):
    net, engine = torch_pair[0], ort_pair[0]
    x = torch.randn(2, 3, 32, 48).contiguous(memory_format=torch.channels_last)   # as the Predictor hands it over
    with torch.inference_mode():
        ref = net(x).as_subclass(torch.Tensor)
        y = engine(x)
    assert y.dtype == torch.float32 and y.shape == (2, 24, 32, 48)
    torch.testing.assert_close(y, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("changes", [{"tile": False}, {"tile": True, "scale": 1.0}, {"tile": True, "tta": True}],
                         ids=["whole", "tiled", "tiled-tta"])
def test_predictor_on_onnxruntime_matches_torch(torch_pair, ort_pair, photos, changes):
    torch_pred = Predictor(torch_pair, device="cpu", **changes)
    ort_pred = Predictor(ort_pair, device="cpu", engine="onnxruntime", **changes)
    assert ort_pred.describe((64, 96)) == torch_pred.describe((64, 96))
    for p in photos:
        a, b = torch_pred.predict(p), ort_pred.predict(p)
        assert a.shape == b.shape == (64, 96)
        assert (a == b).mean() >= 0.999
        np.testing.assert_allclose(ort_pred.predict_proba(p), torch_pred.predict_proba(p), atol=1e-4)


def test_int8_predicts_through_the_same_path(exported, photos):
    pred = Predictor(exported / "model.int8.onnx", device="cpu", engine="onnxruntime", threads=1)
    out = pred.predict(photos[0])
    assert out.shape == (64, 96) and out.dtype == np.uint8 and out.max() < 24


def test_predict_landing_spots_identical_between_engines(exported, run_folder, photos, tmp_path, capsys):
    from dronefast.landing.policy import DEFAULT_HAZARDS

    names = json.loads((run_folder / "model.json").read_text())["classes"]["names"]
    safe = ",".join(n for n in names if n not in DEFAULT_HAZARDS and n != "unlabeled")   # an untrained network
    outs = {}
    for engine, model in (("torch", run_folder), ("onnxruntime", exported)):
        outs[engine] = tmp_path / engine
        rc = predict_main([str(model), *map(str, photos), "--out", str(outs[engine]), "--engine", engine,
                           "--device", "cpu", "--no-progress", "--landing", "--clearance-px", "1", "--safe", safe,
                           "--min-p-safe", "0.2"])
        assert rc == 0, capsys.readouterr().err
    for p in photos:
        a = json.loads((outs["torch"] / f"{p.stem}.landing.json").read_text())
        b = json.loads((outs["onnxruntime"] / f"{p.stem}.landing.json").read_text())
        where = [[(s["rank"], s["x"], s["y"], s["radius_px"], s["surface"]) for s in r["spots"]] for r in (a, b)]
        assert where[0] == where[1]   # the same spots in the same order; their confidences equal to float32 rounding
        for sa, sb in zip(a["spots"], b["spots"]):
            assert sb == pytest.approx(sa, abs=1e-5)
        assert (outs["torch"] / f"{p.stem}.mask.png").read_bytes() == \
            (outs["onnxruntime"] / f"{p.stem}.mask.png").read_bytes()
    assert any(json.loads(f.read_text())["spots"] for f in outs["torch"].glob("*.landing.json"))


def test_an_export_folder_runs_on_onnxruntime_without_asking(exported, run_folder, photos):
    """The default engine given an export folder (model.onnx, no model.safetensors), its model.json or an .onnx file
    takes what is there, and says so; a run folder stays on PyTorch."""
    asked = Predictor(exported, device="cpu", engine="onnxruntime", threads=1)
    for model in (exported, exported / "model.json", exported / "model.onnx"):
        pred = Predictor(model, device="cpu", threads=1)
        assert isinstance(pred.engine, OnnxEngine) and pred.options.engine == "onnxruntime"
        assert pred.engine_note == (f"{model}: an ONNX export (no model.safetensors): running it with ONNX Runtime "
                                    f"(engine onnxruntime)")
    np.testing.assert_array_equal(pred.predict(photos[0]), asked.predict(photos[0]))
    torch_pred = Predictor(run_folder, device="cpu")
    assert torch_pred.options.engine == "torch" and torch_pred.engine_note is None
    with pytest.raises(ModelFileError, match=r"an ONNX export, run with ONNX Runtime: bf16 is a PyTorch autocast"):
        Predictor(exported, device="cpu", bf16=True)


def test_cli_predicts_with_an_export_folder_and_says_which_engine(exported, photos, tmp_path, capsys):
    out = tmp_path / "o"
    assert predict_main([str(exported), str(photos[0]), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{exported}: an ONNX export (no model.safetensors): running it with ONNX Runtime (engine " \
                       f"onnxruntime)"
    assert (out / f"{photos[0].stem}.mask.png").is_file()


def test_a_folder_with_neither_model_is_one_clear_error(exported, photos, tmp_path, capsys):
    only_json = tmp_path / "only-json"
    only_json.mkdir()
    shutil.copy(exported / "model.json", only_json / "model.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (only_json, empty):
        with pytest.raises(ModelFileError, match=r"neither a saved model \(model.json \+ model.safetensors\) nor an "
                                                 r"ONNX export \(model.onnx \+ model.json\) in this folder"):
            Predictor(folder, device="cpu")
    rc = predict_main([str(only_json), str(photos[0]), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith(f"error: {only_json}: neither a saved model") and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------------------ broken files, inputs

def test_truncated_graph_is_a_model_file_error_naming_it(exported, tmp_path):
    head = (exported / "model.onnx").read_bytes()[:100_000]   # the tiny U-Net's graph is 0.26 MB
    folder = _small_copy(exported, tmp_path / "cut", head)
    with pytest.raises(ModelFileError, match=r"model.onnx: 100,000 bytes, but export.json records .*: truncated"):
        OnnxEngine.from_path(folder)
    folder = _small_copy(exported, tmp_path / "cut2", head, recorded=True)   # ONNX Runtime's own error, translated
    with pytest.raises(ModelFileError) as e:
        OnnxEngine.from_path(folder)
    assert str(e.value).startswith(f"{folder / 'model.onnx'}: not a complete ONNX model: truncated, damaged")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"", b"this is not an onnx file\n", bytes(range(256)) * 16],
                         ids=["empty", "text", "garbage"])
def test_damaged_graph_is_a_model_file_error(exported, tmp_path, content):
    folder = _small_copy(exported, tmp_path / "bad", content, recorded=True)
    with pytest.raises(ModelFileError, match=r"model.onnx: "):
        OnnxEngine.from_path(folder)


def test_missing_files_are_named(exported, run_folder, tmp_path):
    with pytest.raises(ModelFileError, match=r"not an exported ONNX model .*export it first"):
        OnnxEngine.from_path(run_folder)   # a training run folder: no model.onnx
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model.onnx").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"lonely/model.json: model file not found; an exported model.onnx "):
        OnnxEngine.from_path(lonely / "model.onnx")
    with pytest.raises(ModelFileError, match=r"nothing.onnx: model file not found"):
        OnnxEngine.from_path(tmp_path / "nothing.onnx")
    with pytest.raises(ModelFileError, match=r"no model.onnx in this folder"):
        OnnxEngine.from_path(tmp_path)


def test_wrong_inputs_are_model_file_errors(ort_pair):
    engine = ort_pair[0]
    with pytest.raises(ModelFileError, match=r"model.onnx: expects float32 \(batch, 3, height, width\) photos, got "
                                             r"torch.float32 \(1, 4, 32, 48\)"):
        engine(torch.zeros(1, 4, 32, 48))
    with pytest.raises(ModelFileError, match=r"model.onnx: on a batch of shape \(1, 3, 32, 48\): ONNX Runtime "):
        engine.run(np.zeros((1, 3, 32, 48), np.float64))


def test_a_network_is_not_an_onnx_model(torch_pair):
    with pytest.raises(TypeError, match="exported model"):
        Predictor(torch_pair, device="cpu", engine="onnxruntime")


def test_predict_without_the_extra_says_how_to_install_it(exported, photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # as if not installed
    with pytest.raises(DronefastError, match=r"needs the optional package onnxruntime: pip install"):
        OnnxEngine.from_path(exported)
    rc = predict_main([str(exported), str(photos[0]), "--out", str(tmp_path / "o"), "--engine", "onnxruntime",
                       "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err == ("error: the onnxruntime engine needs the optional package onnxruntime: pip install "
                               "'dronefast[onnx]' (or: pip install onnx onnxruntime)")


def _flipped(exported: Path, dst: Path) -> Path:
    """A copy of the export whose model.onnx has one bit flipped in the middle (inside the weights): the same size,
    a graph ONNX Runtime still loads."""
    shutil.copytree(exported, dst, ignore=shutil.ignore_patterns("model.int8.onnx"))
    data = bytearray((dst / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x40
    (dst / "model.onnx").write_bytes(bytes(data))
    return dst


def test_a_graph_changed_in_place_is_refused_and_its_record_is_required(exported, tmp_path):
    folder = _flipped(exported, tmp_path / "flipped")
    graph = folder / "model.onnx"
    assert graph.stat().st_size == (exported / "model.onnx").stat().st_size
    ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])   # ONNX Runtime itself sees nothing wrong
    with pytest.raises(ModelFileError) as e:
        OnnxEngine.from_path(folder)
    assert str(e.value) == (f"{graph}: its SHA-256 differs from the one export.json records: changed or damaged "
                            f"since the export; refusing to use it")
    (folder / "export.json").unlink()   # the check is not switched off by removing the record
    with pytest.raises(ModelFileError) as e:
        OnnxEngine.from_path(folder)
    assert str(e.value) == (f"{graph}: no export.json beside it, which records the graph's SHA-256 (an export is "
                            f"never used unchecked); copy export.json with the graph, or export the model again")


def test_evaluate_with_a_changed_graph_is_one_line(exported, sample_kaggle, tmp_path, capsys):
    from dronefast.cli.evaluate import main as evaluate_main

    folder = _flipped(exported, tmp_path / "flipped")
    rc = evaluate_main([str(folder), "--data", str(sample_kaggle), "--all", "--engine", "onnxruntime", "--device",
                        "cpu", "--out", str(tmp_path / "eval"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.strip() == (f"error: {folder / 'model.onnx'}: its SHA-256 differs from the one export.json records: "
                           f"changed or damaged since the export; refusing to use it")
    assert not (tmp_path / "eval").exists()
