"""Tests of dronefast.models.learner: the dynamic U-Net learner, its parameter groups, metrics and model description."""
import pytest
import torch
from fastai.learner import Learner
from fastai.vision.data import imagenet_stats
from torch import nn

from dronefast.metrics.callback import AccuracyMask, MeanIoU, find_confusion
from dronefast.models.learner import REFERENCE_WD, drone_learner, learner_info
from dronefast.models.modelfile import ModelInfo


@pytest.fixture(scope="module")
def batch(tiny_dls):
    return tiny_dls.one_batch()


# resnet18 also carries non-default options (one construction less on slow machines)
@pytest.mark.parametrize("arch, kwargs", [
    pytest.param("resnet18", {"self_attention": True, "void_code": -1, "wd": 0.1}, id="resnet18-options"),
    pytest.param("resnet34", {}, id="resnet34"),
    pytest.param("pm-resnet50", {}, id="pm-resnet50"),
])
def test_construction(tiny_dls, batch, tmp_path, arch, kwargs):
    if arch == "pm-resnet50":
        pytest.importorskip("pretrainedmodels")
    torch.manual_seed(0)
    learn = drone_learner(tiny_dls, arch, pretrained=False, path=tmp_path, **kwargs)
    x, y = batch
    assert x.shape == (3, 3, 32, 48) and y.shape == (3, 32, 48)
    learn.model.eval()
    with torch.no_grad():
        out = learn.model(x)
    assert out.shape == (3, 24, 32, 48)
    assert torch.isfinite(out).all()

    groups = learn.splitter(learn.model)
    assert len(groups) == 3
    learn.create_opt()
    assert len(learn.opt.param_lists) == 3
    n_params = sum(p.numel() for p in learn.model.parameters())
    assert sum(p.numel() for g in groups for p in g) == n_params
    # random encoder: nothing frozen
    assert all(p.requires_grad for p in learn.model.parameters())

    assert learn.wd == kwargs.get("wd", REFERENCE_WD) and REFERENCE_WD == 1e-2
    assert [m.name for m in learn.metrics] == ["accuracy_mask", "miou"]
    assert isinstance(learn.metrics[0], AccuracyMask) and isinstance(learn.metrics[1], MeanIoU)
    hub = find_confusion(learn)
    void = None if kwargs.get("void_code") == -1 else 0
    assert hub.n_classes == 24 and hub.void_code == void and hub.class_names == tiny_dls.classes.codes

    info = learn.dronefast_info
    assert isinstance(info, ModelInfo) and learner_info(learn) is info
    assert info.arch == arch
    assert info.classes == tiny_dls.classes and len(info.classes) == 24
    assert info.classes.names[0] == "unlabeled"
    assert info.size == (32, 48)
    assert info.mean == pytest.approx(imagenet_stats[0]) and info.std == pytest.approx(imagenet_stats[1])
    assert info.void_code == void and info.extra == {}
    if kwargs:
        assert info.unet == {"self_attention": True}
        assert any(type(m).__name__ == "SelfAttention" for m in learn.model.modules())
    else:
        assert info.unet == {}


def test_learner_info_of_a_plain_learner(tiny_dls):
    learn = Learner(tiny_dls, nn.Conv2d(3, 24, 1), loss_func=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="not built by dronefast.drone_learner"):
        learner_info(learn)
