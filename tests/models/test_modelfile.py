"""Tests of dronefast.models.modelfile: the safe model format (safetensors + JSON), fastai's export beside it, and
the refusal of pickles."""
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from fastai.callback.progress import ProgressCallback
from fastai.learner import load_learner

from dronefast.data.classes import standard_classes
from dronefast.errors import ModelFileError
from dronefast.models.description import MODEL_FORMAT, model_paths
from dronefast.models.learner import drone_learner
from dronefast.models.modelfile import (
    FORMAT_VERSION,
    ModelInfo,
    UncheckedWeightsWarning,
    load_model,
    save_model,
)


@pytest.fixture(scope="module")
def saved(tiny_dls, tmp_path_factory):
    """A random resnet18 U-Net learner (with a U-Net option, so the rebuild must read it), saved in the safe
    format and exported with fastai."""
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    learn = drone_learner(tiny_dls, "resnet18", pretrained=False, self_attention=True, path=out)
    learn.remove_cb(ProgressCallback)
    learn.dronefast_info.extra = {"scores": {"miou": 0.25}, "note": "test"}
    paths = save_model(learn, out / "model", learn.dronefast_info)
    learn.export(out / "export.pkl")
    learn.model.eval()
    return learn, out, paths


@pytest.fixture(scope="module")
def safe(saved):
    """The saved model loaded back from the safe format: ``(network, ModelInfo)``."""
    learn, out, _ = saved
    return load_model(out / "model.json", device=learn.dls.device)


@pytest.fixture(scope="module")
def batch(tiny_dls):
    return tiny_dls.one_batch()[0]


def _logits(model, x):
    with torch.no_grad():
        return model.eval()(x)


def test_model_paths():
    for given in ("out/model", "out/model.json", "out/model.safetensors"):
        assert model_paths(given) == (Path("out/model.safetensors"), Path("out/model.json"))
    assert model_paths("a.b/m.v2") == (Path("a.b/m.v2.safetensors"), Path("a.b/m.v2.json"))


def test_model_info_json_round_trip():
    info = ModelInfo(arch="resnet34", classes=standard_classes(), size=(200, 300), void_code=None,
                     unet={"self_attention": True, "y_range": [0, 1]}, extra={"epochs": 3})
    d = json.loads(json.dumps(info.to_json()))
    assert d["format"] == MODEL_FORMAT == "dronefast-unet" and d["format_version"] == FORMAT_VERSION == 2
    assert d["classes"]["names"][1] == "paved-area" and d["classes"]["colours"][1] == [128, 64, 128]
    back = ModelInfo.from_json(d)
    assert back == info
    assert back.size == (200, 300) and back.mean == (0.485, 0.456, 0.406)


def test_save_writes_both_files(saved):
    learn, out, paths = saved
    assert paths == (out / "model.safetensors", out / "model.json")
    d = json.loads((out / "model.json").read_text())
    assert d["format"] == "dronefast-unet" and d["arch"] == "resnet18"
    assert d["size"] == [32, 48] and d["void_code"] == 0 and d["unet"] == {"self_attention": True}
    assert len(d["classes"]["names"]) == 24
    assert not list(out.glob(".*tmp*"))  # atomic writes left no temporary file


def test_safe_round_trip(saved, safe):
    learn, out, _ = saved
    model, info = safe
    assert info == learn.dronefast_info
    assert info.classes.names == learn.dronefast_info.classes.names and info.size == (32, 48)
    assert info.extra == {"scores": {"miou": 0.25}, "note": "test"}
    assert not model.training
    ref = learn.model.state_dict()
    got = model.state_dict()
    assert got.keys() == ref.keys()
    for k in ref:
        assert torch.equal(got[k].cpu(), ref[k].cpu()), k


def test_safe_model_gives_the_same_logits(saved, safe, batch):
    learn, out, _ = saved
    model, _ = safe
    expected = _logits(learn.model, batch)
    assert expected.shape == (3, 24, 32, 48)
    torch.testing.assert_close(_logits(model, batch), expected, rtol=0, atol=1e-5)


def test_export_load_predict_same_mask(saved, safe, tiny_dls):
    learn, out, _ = saved
    image = tiny_dls.valid_ds.items[0]
    mask, _, probs = learn.predict(image)
    loaded = load_learner(out / "export.pkl", cpu=learn.dls.device.type == "cpu")
    assert loaded.dronefast_info == learn.dronefast_info
    mask2, _, probs2 = loaded.predict(image)
    assert mask.shape == (32, 48)
    assert torch.equal(mask2, mask)
    torch.testing.assert_close(probs2, probs, rtol=0, atol=1e-5)
    # the safe format predicts the same mask from the same (normalised) input
    model, _ = safe
    x = loaded.dls.test_dl([image]).one_batch()[0]
    assert torch.equal(_logits(model, x)[0].argmax(0).cpu(), mask.as_subclass(torch.Tensor).cpu())


def test_pickle_export_only_when_allowed(saved, batch):
    learn, out, _ = saved
    with pytest.raises(ModelFileError) as info:
        load_model(out / "export.pkl")
    msg = str(info.value)
    assert msg.startswith(f"{out / 'export.pkl'}: a fastai pickle can run arbitrary code")
    assert "model.json" in msg and "allow_pickle=True" in msg and "--pickle" in msg
    model, minfo = load_model(out / "export.pkl", allow_pickle=True, device=learn.dls.device)
    assert minfo == learn.dronefast_info
    torch.testing.assert_close(_logits(model, batch), _logits(learn.model, batch), rtol=0, atol=1e-5)


def test_pickled_payload_is_never_run(saved, tmp_path, pickle_bomb):
    _, out, _ = saved
    bomb, marker = pickle_bomb
    shutil.copy(out / "model.json", tmp_path / "model.json")
    torch.save(bomb, tmp_path / "model.safetensors")
    with pytest.raises(ModelFileError, match=r"model.safetensors: not a complete safetensors file"):
        load_model(tmp_path / "model.json")
    assert not marker.exists()
    shutil.copy(tmp_path / "model.safetensors", tmp_path / "evil.pkl")
    with pytest.raises(ModelFileError, match="arbitrary code"):
        load_model(tmp_path / "evil.pkl")
    assert not marker.exists()
    torch.load(tmp_path / "evil.pkl", weights_only=False)  # control: the payload is live when unpickled
    assert marker.exists()


def _write_json(folder, text, saved_out):
    weights = folder / "model.safetensors"
    if not weights.exists():
        weights.symlink_to(saved_out / "model.safetensors")
    (folder / "model.json").write_text(text)
    return folder / "model.json"


def test_bad_descriptions(saved, tmp_path):
    _, out, _ = saved
    good = json.loads((out / "model.json").read_text())
    with pytest.raises(ModelFileError, match=r"model.json: not valid JSON"):
        load_model(_write_json(tmp_path, '{"format": "dronefast-unet", ', out))
    with pytest.raises(ModelFileError, match=r"model.json: not a dronefast model description \(format=None, "):
        load_model(_write_json(tmp_path, json.dumps({"arch": "resnet18"}), out))
    missing = {k: v for k, v in good.items() if k != "classes"}
    with pytest.raises(ModelFileError, match=r"model.json: missing field\(s\) classes$"):
        load_model(_write_json(tmp_path, json.dumps(missing), out))
    with pytest.raises(ModelFileError, match=r"model.json: arch: expected a known encoder \(.*\), got 'vgg16'"):
        load_model(_write_json(tmp_path, json.dumps({**good, "arch": "vgg16"}), out))
    # weights of another network: refused by the strict load, not silently half-loaded
    with pytest.raises(ModelFileError, match=r"weights cannot be loaded safely into resnet18 U-Net"):
        load_model(_write_json(tmp_path, json.dumps({**good, "unet": {}}), out))


def test_missing_files(saved, tmp_path):
    _, out, _ = saved
    with pytest.raises(ModelFileError, match=r"model.safetensors: model file not found"):
        load_model(tmp_path / "model")
    (tmp_path / "model.safetensors").symlink_to(out / "model.safetensors")
    with pytest.raises(ModelFileError, match=r"model.json: model file not found"):
        load_model(tmp_path / "model.safetensors")


# ------------------------------------------------------------------------------------------ the weights' SHA-256

def _copy(out: Path, dst: Path) -> Path:
    shutil.copytree(out, dst, ignore=shutil.ignore_patterns("export.pkl"))
    return dst


def test_the_description_records_the_weights_sha256(saved):
    _, out, _ = saved
    recorded = json.loads((out / "model.json").read_text())["weights_sha256"]
    assert recorded == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


def test_weights_changed_in_place_are_refused_by_name(saved, tmp_path):
    """One bit of the last weight flipped: the same size, a valid file of finite weights, refused by its digest."""
    m = _copy(saved[1], tmp_path / "m")
    w = m / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-4] ^= 0x01   # the lowest mantissa bit of the file's last number
    w.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as e:
        load_model(m)
    assert str(e.value) == (f"{w}: its SHA-256 differs from the one model.json records: the weights were changed or "
                            f"damaged since they were saved; refusing to use them")


def test_a_model_saved_without_a_digest_loads_with_a_warning(saved, safe, tmp_path):
    """A model of an older dronefast (no weights_sha256) is used as before, with a warning naming it."""
    m = _copy(saved[1], tmp_path / "old")
    d = json.loads((m / "model.json").read_text())
    del d["weights_sha256"]
    (m / "model.json").write_text(json.dumps(d))
    with pytest.warns(UncheckedWeightsWarning, match=r"model.json: records no SHA-256 of model.safetensors \(saved "
                                                     r"by an older dronefast\): its weights are used unchecked"):
        net, info = load_model(m)
    ref = safe[0].state_dict()
    assert all(torch.equal(t.cpu(), ref[k].cpu()) for k, t in net.state_dict().items())
