"""Tests of dronefast.training.lean and of the cached loader's fast iteration (dronefast.data.loaders): the
streamlined loop computes, records and shows what fastai's does (the same losses, metrics, learning rates,
weights, optimizer state and progress output, to the bit on the CPU), and the fast iteration yields fastai's
batches with fastai's random draws. Tiny: a 2-layer conv net on the 10-image sample at 32x48, batches of 3."""
from __future__ import annotations

import contextlib
import io
import random
import re

import fastai.callback.schedule  # noqa: F401 -- adds fit_one_cycle to Learner
import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.data.core import TfmdDL
from fastai.learner import Learner, Recorder, load_learner
from fastai.optimizer import Adam, Optimizer
from torch import nn

from dronefast.data.block import drone_dataloaders
from dronefast.metrics.callback import segmentation_metrics
from dronefast.training.augment import nadir_transforms
from dronefast.training.lean import (
    LeanAdam,
    LeanLearner,
    LeanProgress,
    LeanRecorder,
    LossText,
    is_fastai_adam,
    lean_adam,
    lean_state,
    streamline,
)
from dronefast.training.losses import SegLoss
from dronefast.training.recipes import NadirAugment


@pytest.fixture(scope="module")
def aug_dls(sample_kaggle):
    """The sample's DataLoaders with fastai's aug_transforms (flip, warp, rotate, zoom, lighting) and the cache."""
    return drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, valid_pct=0.2, seed=0, progress=False)


def tiny_learner(dls, path, lean: bool, progress: bool = False, seed: int = 0):
    """fastai's Learner on a seeded 2-layer conv net with the confusion metrics and a weighted SegLoss."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 24, 1))
    conf, metrics = segmentation_metrics(24, 0, dls.classes.codes)
    weight = torch.linspace(0.5, 2.0, 24)
    learn = Learner(dls, model, loss_func=SegLoss(weight, void_code=0), metrics=metrics, cbs=[conf], path=path,
                    wd=1e-2)
    if not progress:
        learn.remove_cb(ProgressCallback)
    return streamline(learn) if lean else learn


def seeded_fit(learn, dls, epochs=2, lr=3e-3):
    """fit_one_cycle from the same random states (Python, torch and the loaders' shuffling)."""
    random.seed(0)
    torch.manual_seed(0)
    for dl in dls.loaders:
        dl.rng = random.Random(1)
    learn.fit_one_cycle(epochs, lr)


def as_floats(values):
    return [float(v) for v in values]


# ------------------------------------------------------------------------------------------ the learner

def test_streamline_swaps_in_the_lean_parts_and_is_idempotent(aug_dls, tmp_path):
    learn = tiny_learner(aug_dls, tmp_path, lean=False, progress=True)
    recorder_before = learn.recorder
    streamline(learn)
    assert lean_state(learn) == {"learner": "LeanLearner", "recorder": "LeanRecorder", "progress": "LeanProgress",
                                 "opt": None}
    assert isinstance(learn, Learner) and isinstance(learn.recorder, Recorder)
    assert isinstance(learn.progress, ProgressCallback) and learn.opt_func is lean_adam
    assert learn.recorder is not recorder_before and recorder_before not in learn.cbs
    names = [type(cb).__name__ for cb in learn.cbs]
    assert names.count("LeanRecorder") == 1 and "Recorder" not in names
    assert learn.recorder.add_time == recorder_before.add_time and learn.recorder.smooth_loss.beta == 0.98
    cbs = list(learn.cbs)
    streamline(learn)
    assert list(learn.cbs) == cbs
    learn.create_opt()
    assert type(learn.opt) is LeanAdam
    # removing the progress bar by fastai's class still works (dronefast.train does it without --progress)
    learn.remove_cb(ProgressCallback)
    assert not any(isinstance(cb, ProgressCallback) for cb in learn.cbs) and not hasattr(learn, "progress")


def test_the_lean_loop_records_what_fastai_records(aug_dls, tmp_path):
    stock = tiny_learner(aug_dls, tmp_path / "stock", lean=False)
    lean = tiny_learner(aug_dls, tmp_path / "lean", lean=True)
    seeded_fit(stock, aug_dls)
    seeded_fit(lean, aug_dls)
    rs, rl = stock.recorder, lean.recorder
    assert rs.metric_names == rl.metric_names
    assert [v[:-1] for v in rs.values] == [v[:-1] for v in rl.values]  # train/valid loss, metrics (not time)
    assert len(rs.losses) == len(rl.losses) == 2 * len(aug_dls.train)
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in rl.losses)
    assert as_floats(rs.losses) == as_floats(rl.losses)
    assert rs.lrs == rl.lrs and rs.iters == rl.iters and rs.hps == rl.hps
    assert float(stock.smooth_loss) == float(lean.smooth_loss)
    for a, b in zip(stock.model.state_dict().values(), lean.model.state_dict().values()):
        assert torch.equal(a, b)
    assert list(stock.validate()) == list(lean.validate())
    # the optimizer state is fastai's (checkpoints are read back the same way)
    ss, sl = stock.opt.state_dict(), lean.opt.state_dict()
    assert type(lean.opt) is LeanAdam and len(ss["state"]) == len(sl["state"])
    for a, b in zip(ss["state"], sl["state"]):
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]
                                        for k in a)
    stock.recorder.plot_loss()  # fastai's plot reads the losses (a GPU run keeps them on the CPU after training)
    lean.recorder.plot_loss()


def test_progress_output_is_fastais(aug_dls, tmp_path, monkeypatch):
    import fastprogress.fastprogress as fp

    monkeypatch.setattr(fp, "NO_BAR", False)  # the command-line layer turns bars off when not on a terminal
    outs = {}
    for lean in (False, True):
        learn = tiny_learner(aug_dls, tmp_path / str(lean), lean=lean, progress=True)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            seeded_fit(learn, aug_dls, epochs=2)
        outs[lean] = buf.getvalue()
    assert isinstance(learn.progress, LeanProgress)

    def table(text):  # the epoch table, without its time column
        rows = [ln.split() for ln in text.replace("\r", "\n").splitlines() if re.match(r"^(epoch|\d+)\s", ln)]
        return [r[:-1] for r in rows]

    assert table(outs[True]) == table(outs[False]) and len(table(outs[True])) == 3
    assert table(outs[True])[0] == ["epoch", "train_loss", "valid_loss", "accuracy_mask", "miou"]
    assert re.search(r"\|[█-]+\| \d+\.\d\d% \[\d+/\d+", outs[True]), "no progress bar printed"
    shown = [re.findall(r"\.\.\. (\d+\.\d{4})\]", outs[k]) for k in (True, False)]
    assert shown[0] and shown[0] == shown[1]  # the smoothed loss the bars show (2 steps an epoch: all drawn)


def test_loss_text_is_read_only_when_printed():
    reads = []

    class Probe(torch.Tensor):
        def item(self):
            reads.append(1)
            return super().item()

    text = LossText(torch.tensor(1.234567).as_subclass(Probe))
    assert bool(text) and reads == []
    assert f"{text}" == "1.2346" and str(text) == "1.2346" and len(reads) == 2


class Events(Callback):
    """Records the events it handles into `log`; switches itself off (``run = False``) after its first batch of
    every fit, as fastai callbacks may."""

    order = 5

    def __init__(self, log):
        self.log = log

    def before_fit(self):
        self.log.append("before_fit")

    def after_batch(self):
        self.log.append(f"after_batch:{'train' if self.training else 'valid'}")
        self.run = False

    def after_fit(self):
        self.log.append("after_fit")


class Early(Callback):
    """Added later, ordered earlier (4 < 5): records before and after each fit."""

    order = 4

    def __init__(self, log):
        self.log = log

    def before_fit(self):
        self.log.append("early")

    def after_fit(self):
        self.log.append("early_after_fit")


def test_dispatch_keeps_fastais_rules(aug_dls, tmp_path):
    learn = tiny_learner(aug_dls, tmp_path, lean=True)
    assert type(learn) is LeanLearner
    log = []
    ev = Events(log)
    learn.add_cb(ev)
    learn.fit(1, 1e-3)
    # switched off after its first batch: no more batches, no after_fit (fastai then resets run for the next fit)
    assert log == ["before_fit", "after_batch:train"] and ev.run
    learn.add_cb(Early(log))
    learn.fit(1, 1e-3)
    assert log[2:] == ["early", "before_fit", "after_batch:train", "early_after_fit"]
    learn.remove_cb(ev)
    learn.fit(1, 1e-3)
    assert log[6:] == ["early", "early_after_fit"]
    with pytest.raises(Exception, match="missing before_nothing"):
        learn("before_nothing")


def test_a_streamlined_learner_exports_and_loads(aug_dls, tmp_path):
    learn = tiny_learner(aug_dls, tmp_path, lean=True)
    learn.fit(1, 1e-3)
    learn.export(tmp_path / "export.pkl")
    back = load_learner(tmp_path / "export.pkl")
    assert type(back) is LeanLearner and type(back.recorder) is LeanRecorder
    x = aug_dls.one_batch()[0][:1]
    with torch.no_grad():
        assert torch.equal(back.model.eval()(x), learn.model.eval()(x))


# ------------------------------------------------------------------------------------------ the optimizer

def two_groups(seed=0):
    torch.manual_seed(seed)
    return [[nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(7))],
            [nn.Parameter(torch.randn(4, 4)), nn.Parameter(torch.randn(2))]]


def test_lean_adam_is_fastais_adam_to_the_bit():
    pa, pb = two_groups(), two_groups()
    fa, fb = Adam(pa, lr=1e-2, wd=0.1), lean_adam(pb, lr=1e-2, wd=0.1)
    assert type(fa) is Optimizer and type(fb) is LeanAdam and is_fastai_adam(fb.cbs)
    for opt, ps in ((fa, pa), (fb, pb)):
        opt.state[ps[0][1]]["do_wd"] = False  # as the Learner marks bias and normalisation parameters
    flat_a, flat_b = [p for g in pa for p in g], [p for g in pb for p in g]
    for i in range(7):
        grads = [torch.randn(p.shape, generator=torch.Generator().manual_seed(10 * i + k))
                 for k, p in enumerate(flat_a)]
        for opt, flat in ((fa, flat_a), (fb, flat_b)):
            opt.set_hyper("lr", np.array([1e-2 * (1 + i), 2e-2]))  # discriminative rates, as fit_one_cycle sets
            opt.set_hyper("mom", 0.95 - 0.01 * i)
            for k, (p, g) in enumerate(zip(flat, grads)):
                p.grad = None if (i in (1, 2) and k == 3) else g.clone()  # a tensor skipping steps: its own count
            if i == 4:
                opt.freeze_to(1)
                flat[0].grad = flat[1].grad = None  # frozen: no gradients
            opt.step()
            opt.zero_grad()
    assert all(torch.equal(a, b) for a, b in zip(flat_a, flat_b))
    sa, sb = fa.state_dict(), fb.state_dict()
    assert [s.get("step") for s in sb["state"]] == [6, 6, 7, 5]
    for a, b in zip(sa["state"], sb["state"]):
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]
                                        for k in a)
    assert all(p.grad is None or not p.grad.any() for p in flat_b)  # zero_grad zeroes what had gradients


def test_other_optimizers_keep_fastais_path():
    l2 = lean_adam(two_groups(), lr=1e-2, decouple_wd=False)  # L2 regularisation: fastai's Adam, untouched
    assert type(l2) is Optimizer and not is_fastai_adam(l2.cbs)
    odd = lean_adam(two_groups(), lr=1e-2)
    ref = Adam(two_groups(), lr=1e-2)
    for opt in (odd, ref):
        p = opt.param_lists[0][0]
        opt.state[p]["extra"] = 1  # state fastai's Adam does not keep: the whole step takes fastai's path
        for q in (q for g in opt.param_lists for q in g):
            q.grad = torch.ones_like(q)
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip([q for g in odd.param_lists for q in g],
                                                 [q for g in ref.param_lists for q in g]))


# ------------------------------------------------------------------------------------------ the loader

@pytest.mark.parametrize("kind", ["aug_transforms", "nadir", "windows"])
def test_fast_iteration_yields_fastais_batches_and_draws(sample_kaggle, kind):
    """Against fastai's own ``DataLoader.__iter__`` (through ``CachedDL.create_batches``, the per-batch path)."""
    extra = {"aug_transforms": {}, "nadir": {"batch_tfms": nadir_transforms(NadirAugment(max_rotate=30))},
             "windows": {"work_size": (48, 64)}}[kind]
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, valid_pct=0.2, seed=0, progress=False, **extra)
    for dl in (dls.train, dls.valid):
        states = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        fast = list(dl)
        after_fast = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        dl.rng.setstate(states[0])
        torch.set_rng_state(states[1])
        random.setstate(states[2])
        stock = list(TfmdDL.__iter__(dl))
        after_stock = dl.rng.getstate(), torch.get_rng_state(), random.getstate()
        assert len(fast) == len(stock) == len(dl) > 0
        for (xf, yf), (xs, ys) in zip(fast, stock):
            assert type(xf) is type(xs) and type(yf) is type(ys) and xf.dtype == xs.dtype and yf.dtype == ys.dtype
            assert torch.equal(xf, xs) and torch.equal(yf, ys)
        assert after_fast[0] == after_stock[0] and torch.equal(after_fast[1], after_stock[1])
        assert after_fast[2] == after_stock[2]
