"""Tests of dronefast.training.calibrate: no temperature is fitted on too few validation photos or pixels (T stays 1,
one warning line), the errors returned are labelled as measured on the fit photos, and a best epoch chosen on too
few photos is warned about. Tiny: a U-Net on the tests' tiny encoder at 32x48, random."""
import math
import re

import pytest
import torch
from fastai.callback.progress import ProgressCallback

from dronefast.data.block import drone_dataloaders
from dronefast.metrics.calibration import (
    MIN_FIT_PIXELS,
    CalibrationTally,
    fit_temperature,
    nll,
    too_few_to_choose_on,
)
from dronefast.models.learner import drone_learner
from dronefast.training.calibrate import calibrate, validation_logits
from dronefast.training.fit import fit_reference
from tests.conftest import TINY_ARCH

SIZE = (32, 48)


@pytest.fixture(scope="module")
def one_valid(sample_kaggle):
    """DataLoaders of the 10-photo sample with 1 validation photo."""
    dls = drone_dataloaders(sample_kaggle, size=SIZE, bs=3, valid_pct=0.1, seed=0, augment=False, progress=False)
    assert len(dls.valid_ds) == 1
    return dls


def new_learner(dls, path):
    torch.manual_seed(0)
    learn = drone_learner(dls, TINY_ARCH, pretrained=False, path=path)
    learn.remove_cb(ProgressCallback)
    return learn


def labelled_pixels(dls):
    """Non-void (id 0) pixels of the validation masks, counted directly."""
    return sum(int((y != 0).sum()) for _, y in dls.valid)


def test_too_few_in_words():
    assert too_few_to_choose_on(1) == "1 validation photo (fewer than 3)"
    assert too_few_to_choose_on(2, 10**6) == "2 validation photos (fewer than 3)"
    assert too_few_to_choose_on(3, 29_999) == "29,999 labelled validation pixels (fewer than 30,000)"
    assert too_few_to_choose_on(3, 30_000) is None and too_few_to_choose_on(3) is None


def test_one_validation_photo_keeps_temperature_1_and_warns(one_valid, tmp_path):
    learn = new_learner(one_valid, tmp_path)
    learn.dronefast_info.temperature = 0.7   # whatever was there, the model gets no fitted temperature
    with pytest.warns(RuntimeWarning) as caught:
        out = calibrate(learn)
    lines = [str(w.message) for w in caught if "calibration" in str(w.message)]
    assert lines == ["calibration: no temperature fitted (kept at 1) on 1 validation photo (fewer than 3); more "
                     "validation photos (valid_pct / --valid-pct) make it possible"]
    assert out["temperature"] == 1.0 and learn.dronefast_info.temperature == 1.0
    assert (out["fitted"], out["not_fitted_because"], out["fit_photos"]) == (False, "1 validation photo (fewer than 3)",
                                                                              1)
    assert out["fit_pixels"] == out["sampled_pixels"] == labelled_pixels(one_valid) > 0
    assert out["ece_fit_photos"]["before"] == out["ece_fit_photos"]["after"]   # T = 1: nothing changed
    assert 0 < out["ece_fit_photos"]["before"] <= 1 and out["ece_test"] is None


def test_enough_photos_fit_and_the_errors_are_those_of_the_fit_photos(tiny_dls, tmp_path):
    """Two validation photos of 32x48 hold too few pixels for the default minimum; with minimums they meet, the
    temperature is the NLL fit of the sampled pixels and the errors are measured on them."""
    learn = new_learner(tiny_dls, tmp_path)
    n = labelled_pixels(tiny_dls)
    with pytest.warns(RuntimeWarning, match=re.escape(f"on {n:,} labelled validation pixels (fewer than 30,000)")):
        assert calibrate(learn, min_photos=2)["temperature"] == 1.0
    out = calibrate(learn, min_photos=2, min_pixels=n)
    logits, targets = validation_logits(learn)
    t = fit_temperature(logits, targets)
    assert out["fitted"] and out["not_fitted_because"] is None and out["temperature"] == t != 1.0
    assert learn.dronefast_info.temperature == t
    assert (out["fit_photos"], out["fit_pixels"], out["min_photos"], out["min_pixels"]) == (2, n, 2, n)
    for key, temp in (("before", 1.0), ("after", t)):
        p = torch.softmax(logits / temp, 1)
        tally = CalibrationTally()
        tally.add(p.max(1).values, p.argmax(1) == targets)
        assert out["ece_fit_photos"][key] == pytest.approx(tally.ece(), abs=1e-12)
        assert out["nll_fit_photos"][key] == pytest.approx(nll(logits, targets, temp))
    assert out["nll_fit_photos"]["after"] <= out["nll_fit_photos"]["before"]   # the fit lowers the NLL it minimises
    assert MIN_FIT_PIXELS > n and math.isfinite(out["ece_fit_photos"]["after"])


def test_best_epoch_on_one_validation_photo_is_warned_about(one_valid, tmp_path):
    learn = new_learner(one_valid, tmp_path)
    with pytest.warns(RuntimeWarning, match=re.escape("the best epoch is chosen on 1 validation photo (fewer than "
                                                      "3): the choice and the validation scores may say little")):
        fit_reference(learn, epochs=1, lr=1e-3, monitor="valid_loss")
