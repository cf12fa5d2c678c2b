"""Tests of dronefast.models.optim: torch's AdamW behind fastai's OptimWrapper, BatchNorm and bias weights kept out
of weight decay, fastai's schedules, discriminative rates and freezing reaching every group. Tiny: a conv, a
BatchNorm and a conv on 8x8 tensors, split into 3 groups as a U-Net's splitter does."""
from __future__ import annotations

import math
import pickle

import fastai.callback.schedule  # noqa: F401 -- adds fit_one_cycle to Learner
import pytest
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner, Recorder
from fastai.torch_core import params
from torch import nn

from dronefast.models.encoders import resnet_split
from dronefast.models.optim import NoDecayWrapper, adamw, no_decay


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def three_groups(m):
    return [params(m[0]), params(m[1]), params(m[2])]


def tiny_learner(tmp_path, n=16, bs=2):
    torch.manual_seed(1)
    items = [(torch.randn(3, 8, 8), torch.randn(2, 8, 8)) for _ in range(n)]
    dls = DataLoaders(DataLoader(items, bs=bs, shuffle=False, drop_last=True), DataLoader(items[:4], bs=bs))
    learn = Learner(dls, tiny_model(), loss_func=nn.MSELoss(), opt_func=adamw, splitter=three_groups, wd=0.1,
                    path=tmp_path)
    learn.remove_cb(ProgressCallback)
    return learn


def test_bn_and_bias_weights_get_no_weight_decay(tmp_path):
    learn = tiny_learner(tmp_path)
    learn.create_opt()
    learn.opt.set_hypers(wd=learn.wd, lr=1e-2)  # as Learner.fit does
    m, opt = learn.model, learn.opt
    assert isinstance(opt, NoDecayWrapper) and isinstance(opt.opt, torch.optim.AdamW)
    groups = opt.opt.param_groups
    assert len(groups) == 6 and [g["weight_decay"] for g in groups] == [0.1, 0.0] * 3
    decayed = {id(p) for g in groups if g["weight_decay"] for p in g["params"]}
    assert decayed == {id(m[0].weight), id(m[2].weight)}  # BatchNorm weight and bias, conv biases: none
    assert [h["wd"] for h in opt.hypers] == [0.1, 0.1, 0.1] and len(opt.param_lists) == 3
    assert opt.param_lists[1] == [m[1].weight, m[1].bias]
    # one step with zero gradients: Adam's update is 0, so only the decay moves a weight: p * (1 - lr * wd)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(m[0].weight, before["0.weight"] * (1 - 1e-2 * 0.1), rtol=0, atol=1e-7)
    assert not torch.equal(m[0].weight, before["0.weight"])
    for k in ("0.bias", "1.weight", "1.bias", "2.bias"):
        assert torch.equal(m.state_dict()[k], before[k]), k


def test_no_decay_is_fastais_norm_and_bias_split_on_a_resnet_unet():
    from fastai.torch_core import norm_bias_params
    from fastai.vision.learner import create_unet_model

    from dronefast.models.encoders import Encoder

    model = create_unet_model(Encoder("resnet18", pretrained=False), 3, (32, 32), pretrained=False)
    assert {id(p) for p in model.parameters() if no_decay(p)} == {id(p) for p in norm_bias_params(model)}
    groups = resnet_split(model)
    assert len(groups) == 3 and sum(len(g) for g in groups) == len(list(model.parameters()))
    assert groups[0][0] is model[0][0].weight and groups[2][-1] is list(model.parameters())[-1]


class LRs(Callback):
    """Records every torch param group's lr, beta1 and weight decay after each training step."""

    order = 100

    def before_fit(self):
        self.steps = []

    def after_step(self):
        self.steps.append([float(v) for g in self.opt.opt.param_groups
                           for v in (g["lr"], g["betas"][0], g["weight_decay"])])


def test_fit_one_cycle_schedules_reach_every_group(tmp_path):
    learn = tiny_learner(tmp_path)  # 8 steps an epoch
    rec = LRs()
    learn.fit_one_cycle(1, slice(1e-4, 1e-2), pct_start=0.25, cbs=rec)
    assert len(rec.steps) == 8
    # step 1 of 8: pct 1/8, halfway through the warm-up's cosine from lr_max/25 to lr_max (fastai's moms 0.95 to
    # 0.85 likewise); lr_max of the 3 groups: even_mults(1e-4, 1e-2, 3) = 1e-4, 1e-3, 1e-2
    lrs = [1e-4 * (1 / 25 + 1) / 2, 1e-3 * (1 / 25 + 1) / 2, 1e-2 * (1 / 25 + 1) / 2]
    expected = [v for lr in lrs for wd in (0.1, 0.0) for v in (lr, 0.9, wd)]
    assert rec.steps[1] == pytest.approx(expected, rel=1e-9)
    assert rec.steps[0][-3:] == pytest.approx([1e-2 / 25, 0.95, 0.0])
    assert type(learn.recorder) is Recorder
    assert learn.recorder.lrs[1] == pytest.approx(lrs[-1]) and len(learn.recorder.losses) == 8
    learn.opt.set_hyper("lr", slice(1e-3))  # fastai's slice(lr): lr / 10 for all groups but the last
    assert [g["lr"] for g in learn.opt.opt.param_groups] == pytest.approx([1e-4, 1e-4, 1e-4, 1e-4, 1e-3, 1e-3])
    assert not math.isnan(learn.recorder.values[-1][0])


def test_freezing_keeps_batchnorm_training_and_the_optimizer_pickles(tmp_path):
    learn = tiny_learner(tmp_path)
    learn.freeze()  # all groups but the last frozen; fastai's train_bn keeps BatchNorm training
    m = learn.model
    assert not m[0].weight.requires_grad and not m[0].bias.requires_grad
    assert m[1].weight.requires_grad and m[2].weight.requires_grad
    frozen = m[0].weight.detach().clone()
    learn.fit(1, 1e-3)
    assert torch.equal(m[0].weight, frozen) and learn.opt.frozen_idx == 2
    assert pickle.loads(pickle.dumps(learn.opt_func)) is adamw  # export.pkl keeps the optimizer by name


def test_a_flat_parameter_list_is_one_group_and_fused_is_chosen_on_cuda_only():
    m = tiny_model()
    opt = adamw(list(m.parameters()), lr=1e-3)
    assert len(opt.param_lists) == 1 and len(opt.opt.param_groups) == 2
    assert opt.opt.param_groups[0]["foreach"] and not opt.opt.param_groups[0]["fused"]


def test_lr_find_runs_and_restores_weights_and_optimizer(tmp_path):
    learn = tiny_learner(tmp_path)
    learn.fit(1, 1e-3)
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    steps = [int(s["step"]) for s in learn.opt.state_dict()["state"].values()]
    sugg = learn.lr_find(num_it=12, show_plot=False)
    assert len(learn.recorder.lrs) > 5 and sugg.valley > 0  # fastai's sweep drove every group's lr
    assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in weights.items())
    assert [int(s["step"]) for s in learn.opt.state_dict()["state"].values()] == steps == [8] * 6
