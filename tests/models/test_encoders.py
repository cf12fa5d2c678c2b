"""Tests of dronefast.models.encoders: the encoder builders, local weights files and the offline error.

The network is never used: every test that could download blocks ``torch.hub`` / ``urllib`` / sockets and
points ``TORCH_HOME`` at an empty folder.
"""
import pickle
from pathlib import Path

import pytest
import torch
from fastai.vision.learner import model_meta
from torchvision import models

from dronefast.errors import ModelFileError, OfflineWeightsError
from dronefast.models.archs import ARCHS, arch_names
from dronefast.models.encoders import Encoder, encoder, imagenet_state_dict, register_encoder, weights_url
from dronefast.models.learner import drone_learner
from tests.tiny_encoder import TINY_ARCH, tiny_encoder

R18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
# torchvision resnet children -> index in fastai's encoder body (children up to avgpool, cut=-2)
BODY_INDEX = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}


@pytest.fixture(scope="module")
def r18_state():
    """A randomly initialised torchvision resnet18 state dict (what an ImageNet checkpoint looks like)."""
    torch.manual_seed(0)
    return models.resnet18(weights=None).state_dict()


@pytest.fixture(scope="module")
def r18_file(r18_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18-local.pth"
    torch.save(r18_state, path)
    return path


def assert_body_equals(body, state):
    """Every tensor of a fastai encoder body equals the torchvision state dict's (fc left out)."""
    body_sd = body.state_dict()
    assert len(body_sd) == len([k for k in state if not k.startswith("fc.")])
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        head, _, rest = key.partition(".")
        assert torch.equal(body_sd[f"{BODY_INDEX[head]}.{rest}"].cpu(), value), key


def test_archs_and_unknown_name():
    assert ARCHS == ("resnet18", "resnet34", "resnet50", "pm-resnet50")
    with pytest.raises(ValueError, match="unknown arch 'resnet99'.*resnet18, resnet34, resnet50, pm-resnet50"):
        Encoder("resnet99")


def test_a_registered_encoder_is_known_everywhere(tiny_dls, tmp_path, offline):
    """tests/tiny_encoder.py registered the tests' encoder: it follows the built-in names, a U-Net is built on it
    (fastai's cut and splitter from the registration), saved and loaded back by name; no ImageNet weights."""
    from dronefast.models.modelfile import load_model, save_model
    from dronefast.training.config import TrainConfig

    assert arch_names() == (*ARCHS, TINY_ARCH) and TrainConfig(arch=TINY_ARCH).arch == TINY_ARCH
    with pytest.raises(ValueError, match=f"encoder '{TINY_ARCH}' exists already"):
        register_encoder(TINY_ARCH, tiny_encoder)
    with pytest.raises(ValueError, match="encoder 'resnet18' exists already"):
        register_encoder("resnet18", tiny_encoder)
    learn = drone_learner(tiny_dls, TINY_ARCH, pretrained=False, path=tmp_path)
    learn.create_opt()
    assert len(learn.opt.param_lists) == 3 and learn.model[0][0].out_channels == 8   # the registered split, cut
    save_model(learn, tmp_path / "model", learn.dronefast_info)
    net, info = load_model(tmp_path / "model.json")
    assert info.arch == TINY_ARCH
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), learn.model.state_dict().values()))
    for asked in (lambda: encoder(TINY_ARCH), lambda: drone_learner(tiny_dls, TINY_ARCH, path=tmp_path)):
        with pytest.raises(ModelFileError, match=f"{TINY_ARCH}: no ImageNet weights for an added encoder"):
            asked()
    assert offline[1] == []   # refused before any download was tried


def test_weights_urls():
    assert weights_url("resnet18") == R18_URL
    assert weights_url("resnet34") == "https://download.pytorch.org/models/resnet34-b627a593.pth"
    assert weights_url("pm-resnet50") == "https://download.pytorch.org/models/resnet50-19c8e357.pth"


def test_encoder_is_registered_and_picklable():
    enc = Encoder("resnet18", pretrained=False)
    assert model_meta[enc]["cut"] == -2
    clone = pickle.loads(pickle.dumps(enc))
    assert (clone.name, clone.pretrained, clone.weights) == ("resnet18", False, None)
    assert clone in model_meta  # registered again when unpickled (fastai looks the cut up by arch)
    assert repr(clone) == "Encoder('resnet18', pretrained=False, weights=None)"


def test_random_encoder_builds_without_weights(offline):
    _, calls = offline
    net = encoder("resnet18", pretrained=False)()
    assert isinstance(net, models.ResNet) and net.fc.out_features == 1000
    assert calls == []


def test_local_weights_file(r18_file, r18_state):
    enc = encoder("resnet18", weights=r18_file)
    assert enc.pretrained and enc.weights == str(r18_file)
    net = enc()
    for k, v in net.state_dict().items():
        assert torch.equal(v, r18_state[k]), k
    # a second build (fastai's export/rebuild) reads the file again
    assert torch.equal(enc().conv1.weight, r18_state["conv1.weight"])


def test_local_weights_wrapped_in_state_dict_key(r18_state, tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": r18_state, "epoch": 3}, path)
    assert torch.equal(encoder("resnet18", weights=path)().conv1.weight, r18_state["conv1.weight"])


def test_learner_with_local_weights_loads_them_into_the_encoder(tiny_dls, r18_file, r18_state, tmp_path, offline):
    _, calls = offline
    learn = drone_learner(tiny_dls, "resnet18", weights=r18_file, path=tmp_path)
    assert calls == []  # no download attempted
    assert_body_equals(learn.model[0], r18_state)
    assert learn.model[0][0].weight.requires_grad is False  # pretrained: encoder frozen as unet_learner does


def test_local_weights_errors(tmp_path, r18_state):
    with pytest.raises(ModelFileError, match="nope.pth: encoder weights file not found"):
        encoder("resnet18", weights=tmp_path / "nope.pth")
    bad = tmp_path / "junk.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="junk.pth: not a loadable state dict"):
        encoder("resnet18", weights=bad)
    tensor_file = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(ModelFileError, match="tensor.pth: expected a state dict, found Tensor"):
        encoder("resnet18", weights=tensor_file)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": r18_state["conv1.weight"]}, wrong)
    enc = encoder("resnet18", weights=wrong)
    with pytest.raises(ModelFileError, match=r"wrong.pth: does not fit resnet18 \(missing"):
        enc()


def test_pickled_code_in_weights_file_is_not_run(tmp_path, pickle_bomb):
    bomb, marker = pickle_bomb
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": bomb}, evil)
    with pytest.raises(ModelFileError, match="evil.pth: not a loadable state dict"):
        encoder("resnet18", weights=evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # control: the payload is live when unpickled
    assert marker.exists()


def test_hub_cache_is_used_offline(offline, r18_state):
    home, calls = offline
    cached = home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(r18_state, cached)
    sd = imagenet_state_dict("resnet18")
    assert calls == []
    assert torch.equal(sd["conv1.weight"], r18_state["conv1.weight"])
    assert torch.equal(encoder("resnet18")().layer4[1].conv2.weight, r18_state["layer4.1.conv2.weight"])


@pytest.mark.parametrize("arch, url", [("resnet18", R18_URL),
                                       ("pm-resnet50",
                                        "https://download.pytorch.org/models/resnet50-19c8e357.pth")])
def test_offline_pretrained_gives_clear_error(offline, tiny_dls, tmp_path, arch, url):
    home, calls = offline
    cached = home / "hub" / "checkpoints" / Path(url).name
    with pytest.raises(OfflineWeightsError) as info:
        drone_learner(tiny_dls, arch, pretrained=True, path=tmp_path)
    msg = str(info.value)
    assert calls == [url]  # the cache was looked at, then the one download attempt was blocked
    assert f"cannot get ImageNet weights for {arch} (URLError:" in msg
    assert url in msg and str(cached) in msg
    assert "weights=PATH" in msg and "pretrained=False" in msg and "TORCH_HOME" in msg    # spelled for Python
    cli = info.value.for_cli()
    assert "--weights PATH" in cli and "--no-pretrained" in cli and "pretrained=False" not in cli
    assert "\n" not in msg
    assert not cached.exists()
