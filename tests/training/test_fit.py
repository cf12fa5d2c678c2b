"""Tests of dronefast.training.fit: fit_reference (one-cycle, best epoch kept, checkpoints, resume), the frozen and
unfrozen stages, and mixed precision on CPU. Tiny: a U-Net on the tests' tiny encoder at 32x48, 8 training images
in batches of 3 (2 steps an epoch), random encoder unless said otherwise."""
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.callback.core import Callback, CancelTrainException, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import combined_cos
from fastai.learner import Learner, Metric, Recorder

from dronefast.errors import RunFolderError
from dronefast.models.learner import drone_learner
from dronefast.models.optim import NoDecayWrapper
from dronefast.training.callbacks import BEST_NAME, CHECKPOINT_NAME, CPUAutocast
from dronefast.training.fit import fit_reference, is_frozen
from dronefast.training.precision import resolve_precision, set_precision
from tests.conftest import TINY_ARCH, tiny_encoder

LR = 1e-3  # at 1e-2 a random-encoder U-Net with batches of 3 often blows up (train loss 15..300)
COLUMNS = ["stage", "epoch", "train_loss", "valid_loss", "accuracy_mask", "miou", "time"]


def expected_lrs(n_steps, lr=LR, pct_start=0.8):
    """Learning rates of the last parameter group over an uninterrupted fit_one_cycle of `n_steps` steps."""
    sched = combined_cos(pct_start, lr / 25.0, lr, lr / 1e5)
    return [float(sched(i / n_steps)) for i in range(n_steps)]


def adam_step(opt, p):
    """AdamW's step count of parameter `p` (torch's state, behind fastai's OptimWrapper)."""
    return int(opt.opt.state[p].get("step", 0))


def new_learner(dls, path, seed=0, **kwargs):
    torch.manual_seed(seed)
    learn = drone_learner(dls, TINY_ARCH, pretrained=kwargs.pop("pretrained", False), path=path, **kwargs)
    learn.remove_cb(ProgressCallback)
    return learn


class Interrupt(Callback):
    """Ctrl-C before the training batch that follows `steps` optimizer steps (counted over all fits); records
    the decoder's final conv weight and Adam's step count at the end of each epoch, as the checkpoint holds them."""

    order = 100

    def __init__(self, steps):
        self.steps, self.done, self.epoch_ends = steps, 0, []

    def before_batch(self):
        if self.training and self.done == self.steps:
            raise KeyboardInterrupt

    def after_step(self):
        self.done += 1

    def after_epoch(self):
        p = self.opt.param_lists[-1][0]
        self.epoch_ends.append((self.model.state_dict()["layers.12.0.weight"].clone(), adam_step(self.opt, p)))


class Probe(Callback):
    """Records, for each fit: the weights at its start, the Adam step count and per-group lrs before its first
    step, and the encoder / decoder weights after each training phase."""

    order = 100

    def __init__(self):
        self.fits = []

    def before_fit(self):
        if getattr(self, "lr_finder", None) is None:
            self.fits.append({"start": self.model.state_dict()["layers.12.0.weight"].clone(), "step": None,
                              "lrs": None, "after_train": []})

    def before_step(self):
        fit = self.fits[-1]
        if fit["step"] is None:
            p = self.opt.param_lists[-1][0]
            fit["step"] = adam_step(self.opt, p)
            fit["lrs"] = [h["lr"] for h in self.opt.hypers]

    def after_train(self):
        self.fits[-1]["after_train"].append((self.model[0][0].weight.detach().clone(),
                                             self.model[12][0].weight.detach().clone()))


@pytest.fixture(scope="module")
def run(tiny_dls, tmp_path_factory):
    """fit_reference for 3 epochs at lr 1e-3 keeping the best valid_loss, interrupted (Ctrl-C) after epoch 0
    and resumed by a fresh learner: 6 steps in all."""
    path = tmp_path_factory.mktemp("fit")
    for dl in tiny_dls.loaders:  # the batch order: fastai seeds it from Python's unseeded `random` (a flaky test)
        dl.rng.seed(0)
    learn = new_learner(tiny_dls, path)
    before = learn.validate()
    interrupt = Interrupt(steps=2)
    learn.add_cb(interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit_reference(learn, epochs=3, lr=LR, monitor="valid_loss", comp=np.less)
    state = json.loads((path / "models" / "checkpoint.json").read_text())

    resumed = new_learner(tiny_dls, path, seed=1)
    probe = Probe()
    resumed.add_cb(probe)
    history = fit_reference(resumed, epochs=3, lr=LR, monitor="valid_loss", comp=np.less, resume=True)
    resumed.remove_cb(probe)
    lrs = list(resumed.recorder.lrs)
    after = resumed.validate()
    return SimpleNamespace(learn=resumed, path=path, before=before, interrupted=interrupt, state=state,
                           probe=probe, history=history, lrs=lrs, after=after)


def test_training_lowers_the_loss(run):
    h = run.history
    assert run.before[0] > 2.5  # untrained: about ln(24) = 3.2
    assert h.train_loss.iloc[-1] < h.train_loss.iloc[0]
    assert h.valid_loss.min() < run.before[0]
    assert run.after[0] < run.before[0]


def test_history(run):
    h = run.history
    assert list(h.columns) == COLUMNS
    assert h.stage.tolist() == [0, 0, 0] and h.epoch.tolist() == [0, 1, 2]
    assert np.isfinite(h[["train_loss", "valid_loss", "accuracy_mask", "miou"]].to_numpy()).all()
    assert h.accuracy_mask.between(0, 1).all() and h.miou.between(0, 1).all()
    on_disk = pd.read_csv(run.path / "history.csv")
    assert list(on_disk.columns) == COLUMNS
    np.testing.assert_allclose(on_disk.valid_loss, h.valid_loss)


def test_best_epoch_is_kept(run):
    h = run.history
    best = int(h.valid_loss.idxmin())
    valid_loss, accuracy_mask, miou = run.after
    assert valid_loss == pytest.approx(h.valid_loss[best], rel=1e-5)
    assert accuracy_mask == pytest.approx(h.accuracy_mask[best], rel=1e-5)
    assert miou == pytest.approx(h.miou[best], rel=1e-5)
    models_dir = run.path / "models"
    assert (models_dir / f"{BEST_NAME}.pth").is_file() and (models_dir / f"{CHECKPOINT_NAME}.pth").is_file()
    state = json.loads((models_dir / "checkpoint.json").read_text())
    assert state["stage"] == 0 and state["epochs_done"] == 3 and state["monitor"] == "valid_loss"
    assert state["best"] == pytest.approx(h.valid_loss[best], rel=1e-6)
    assert not list(models_dir.glob(".*tmp"))


def test_interruption_left_a_checkpoint(run):
    assert run.state == {"stage": 0, "epochs_done": 1, "best": pytest.approx(run.history.valid_loss[0], rel=1e-6),
                         "monitor": "valid_loss"}
    assert len(run.interrupted.epoch_ends) == 1  # Ctrl-C came after epoch 0 (before epoch 1's first step)
    lines = (run.path / "history.stage0.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["epoch", "0", "1", "2"]  # continued on resume, one header


def test_resume_restores_weights_and_optimizer(run):
    [fit] = run.probe.fits
    weights, steps = run.interrupted.epoch_ends[0]
    assert steps == 2
    assert torch.equal(fit["start"], weights)  # the fresh learner started from the checkpoint's weights
    assert fit["step"] == 2  # and from Adam's state: 2 steps before the first resumed one, not 0
    p = run.learn.opt.param_lists[-1][0]
    assert adam_step(run.learn.opt, p) == 6


def uninterrupted_pcts(n_epoch, n_iter):
    """``pct_train`` before each step of an uninterrupted fit, computed as fastai's TrainEvalCallback does."""
    pcts = []
    for epoch in range(n_epoch):
        pct = epoch / n_epoch
        for _ in range(n_iter):
            pcts.append(pct)
            pct += 1. / (n_iter * n_epoch)
    return pcts


def test_resume_continues_the_schedule(run):
    # only epochs 1 and 2 ran: steps 2..5 of the 6-step cycle, at the rates an uninterrupted run has there
    assert run.lrs == pytest.approx(expected_lrs(6)[2:], rel=1e-9)
    # ... exactly: the resumed fit computes pct_train from the same numbers in the same order
    sched = combined_cos(0.8, np.array([LR / 10, LR / 10, LR]) / 25.0, np.array([LR / 10, LR / 10, LR]),
                         np.array([LR / 10, LR / 10, LR]) / 1e5)
    assert [float(lr) for lr in run.lrs] == [float(sched(p)[-1]) for p in uninterrupted_pcts(3, 2)[2:]]
    lr2 = expected_lrs(6)[2]
    assert run.probe.fits[0]["lrs"] == pytest.approx([lr2 / 10, lr2 / 10, lr2], rel=1e-9)
    assert expected_lrs(6)[0] == pytest.approx(LR / 25) and max(expected_lrs(6)) <= LR


def test_fit_reference_runs_fastais_own_loop(run):
    # fastai's Learner and Recorder as they are, torch's AdamW behind fastai's OptimWrapper (models/optim.py); the
    # tests above are its behaviour (history, best epoch, checkpoints, an exact resume)
    assert (type(run.learn), type(run.learn.recorder), type(run.learn.opt)) == (Learner, Recorder, NoDecayWrapper)
    assert isinstance(run.learn.opt.opt, torch.optim.AdamW) and len(run.learn.opt.opt.param_groups) == 6
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in run.learn.recorder.losses)


def test_is_frozen_sees_through_torch_compile(tiny_dls, tmp_path):
    learn = new_learner(tiny_dls, tmp_path)
    model = learn.model
    learn.model = torch.compile(model)  # wrapped (compiled on first call only)
    assert not is_frozen(learn)
    model[0].requires_grad_(False)
    assert is_frozen(learn)
    learn.model = model


def test_frozen_then_unfrozen_stage(tiny_dls, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save(tiny_encoder().state_dict(), weights)
    learn = new_learner(tiny_dls, tmp_path / "run", weights=weights)  # pretrained: frozen encoder
    conv1 = learn.model[0][0].weight.detach().clone()
    probe = Probe()
    learn.add_cb(probe)
    learn.add_cb(Interrupt(steps=3))  # stage 0 (2 steps), then one step of stage 1
    with pytest.raises(KeyboardInterrupt):
        fit_reference(learn, epochs=1, lr=LR, unfrozen_epochs=1, monitor="valid_loss")
    frozen, unfrozen = probe.fits
    (enc0, dec0), = frozen["after_train"]
    assert torch.equal(enc0, conv1)  # stage 0: encoder weights frozen (only its BatchNorm layers train)
    assert not torch.equal(dec0, frozen["start"])  # ... while the decoder trains
    assert not torch.equal(learn.model[0][0].weight, enc0)  # stage 1: the whole network trains
    # discriminative rates: slice(lr) gives lr/10 to the encoder groups; stage 1 slice(lr/400, lr/4)
    g0, g1, g2 = frozen["lrs"]
    assert g2 == pytest.approx(LR / 25) and (g0, g1) == pytest.approx((g2 / 10, g2 / 10))
    g0, g1, g2 = unfrozen["lrs"]
    assert g2 == pytest.approx(LR / 4 / 25) and (g0, g1) == pytest.approx((g2 / 100, g2 / 10))
    assert pd.read_csv(tmp_path / "run" / "history.stage0.csv").epoch.tolist() == [0]


def test_resolve_precision():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    if not torch.cuda.is_available():
        assert resolve_precision("auto") == "fp32"
    for p in ("fp32", "bf16", "fp16"):
        assert resolve_precision(p, "cpu") == p
    with pytest.raises(ValueError, match="precision must be auto, fp32, bf16 or fp16, got 'half'"):
        resolve_precision("half")


class PredProbe(Callback):
    """Records, for each batch, whether it trains, the dtype of the raw model output and whether CPU autocast
    is on."""

    order = 5  # before CPUAutocast (10), which casts the output back to float32

    def __init__(self):
        self.seen = []

    def after_pred(self):
        self.seen.append((self.training, self.pred.dtype, torch.is_autocast_enabled("cpu")))


class SingleBatch(Callback):
    """Stop after one training batch and one validation batch."""

    order = 90  # after the Recorder (50) has logged the batch

    def after_batch(self):
        raise CancelTrainException if self.training else CancelValidException


def test_bf16_on_cpu(run):
    learn = run.learn  # the tests from here on change the module's learner
    if learn.dls.device.type != "cpu":
        pytest.skip("the CPU autocast path (the data are on a GPU here)")
    try:
        assert set_precision(learn, "auto") == "fp32"
        assert not any(isinstance(cb, CPUAutocast) for cb in learn.cbs)
        assert set_precision(learn, "bf16") == "bf16"
        assert set_precision(learn, "bf16") == "bf16"
        assert sum(isinstance(cb, CPUAutocast) for cb in learn.cbs) == 1
        probe = PredProbe()
        learn.fit(1, lr=1e-4, cbs=[probe, SingleBatch()])
        assert probe.seen == [(True, torch.bfloat16, True), (False, torch.bfloat16, True)]
        assert not torch.is_autocast_enabled("cpu")
        assert len(learn.recorder.losses) == 1 and torch.isfinite(learn.recorder.losses[0])
        assert all(p.dtype == torch.float32 for p in learn.model.parameters())
        with pytest.raises(ValueError, match="fp16 mixed precision needs a GPU"):
            set_precision(learn, "fp16")
    finally:
        assert set_precision(learn, "fp32") == "fp32"
    assert not any(isinstance(cb, CPUAutocast) for cb in learn.cbs)


class StopAtStart(Callback):
    """Ctrl-C before the first training batch."""

    def before_train(self):
        raise KeyboardInterrupt


def test_resume_of_a_finished_run_trains_nothing(run, tmp_path):
    learn = run.learn
    probe = Probe()
    with learn.added_cbs(probe):
        again = fit_reference(learn, epochs=3, lr=LR, monitor="valid_loss", comp=np.less, resume=True)
    assert probe.fits == [] and again.epoch.tolist() == [0, 1, 2]
    assert learn.validate()[0] == pytest.approx(run.history.valid_loss.min(), rel=1e-5)  # best weights, not last
    old = learn.path
    try:
        learn.path = tmp_path / "empty"
        with pytest.raises(RunFolderError, match="nothing to resume"):
            fit_reference(learn, epochs=3, lr=LR, resume=True)
        learn.path = tmp_path / "new" / "run"  # fit_reference creates its output folder
        with learn.added_cbs(StopAtStart()), pytest.raises(KeyboardInterrupt):
            fit_reference(learn, epochs=1, lr=LR)
        assert (tmp_path / "new" / "run" / "history.stage0.csv").is_file()
    finally:
        learn.path = old


class Never(Metric):
    """A metric that is never a number (as mIoU over validation photos holding only void pixels)."""

    name = "never"

    def reset(self):
        pass

    def accumulate(self, learn):
        pass

    @property
    def value(self):
        return float("nan")


def test_a_monitor_that_is_never_a_number_keeps_the_last_weights(tiny_dls, tmp_path):
    """fastai saves no best model then and fails at the end loading it; the run ends with the last weights."""
    learn = new_learner(tiny_dls, tmp_path)
    learn.metrics = [*learn.metrics, Never()]
    with pytest.warns(RuntimeWarning, match="never was not a number at any epoch.*last epoch's weights are kept"):
        history = fit_reference(learn, epochs=2, lr=LR, monitor="never")
    assert history.epoch.tolist() == [0, 1] and history.never.isna().all()
    saved = torch.load(tmp_path / "models" / f"{BEST_NAME}.pth", weights_only=False)
    saved = saved.get("model", saved)
    final = learn.model.state_dict()
    assert all(torch.equal(saved[k], final[k]) for k in final)


def test_a_damaged_checkpoint_with_braces_in_its_error_is_named(run, tmp_path):
    """load_checkpoint's message quotes torch's error, which may hold braces, cut at 300 characters."""
    learn = run.learn
    old = learn.path
    try:
        learn.path = tmp_path / "{run}"
        (learn.path / "models").mkdir(parents=True)
        (learn.path / "models" / f"{CHECKPOINT_NAME}.pth").write_bytes(b"{" * 500)
        with pytest.raises(RunFolderError, match=r"\{run\}/models/last\.pth: cannot resume from this checkpoint"):
            fit_reference(learn, epochs=1, lr=LR, resume=True)
    finally:
        learn.path = old
