"""Tests of dronefast.training.recipes: the named recipes, their schedule by starting point, and the augmentations and
loss they give (tiny cached DataLoaders, no training)."""
from dataclasses import replace

import pytest
import torch
from fastai.vision.augment import Dihedral

from dronefast.training.augment import recipe_batch_tfms
from dronefast.training.losses import (
    SegLoss,
    class_weights,
    recipe_loss,
    train_class_counts,
)
from dronefast.training.recipes import DEFAULT_RECIPE, RECIPES, get_recipe
from tests.conftest import TINY_ARCH


def test_names_and_default():
    assert RECIPES == ("nadir", "reference") and DEFAULT_RECIPE == "nadir"
    with pytest.raises(ValueError, match="recipe must be one of nadir, reference"):
        get_recipe("fast")


def test_reference_is_the_notebook():
    r = get_recipe("reference", pretrained=False)
    assert r is get_recipe("reference", pretrained=True)
    assert (r.augment, r.plain_loss, r.lr, r.pct_start, r.epochs, r.unfrozen_epochs, r.bs) == \
        ("fastai", True, "auto", 0.8, 10, 0, 4)
    assert (r.size, r.sample_size, r.monitor) == ((200, 300), (96, 144), "accuracy_mask")
    assert recipe_batch_tfms(r) is None  # drone_dataloaders then adds fastai's aug_transforms()


def test_nadir_schedule_depends_on_the_start():
    scratch, tuned = get_recipe("nadir", pretrained=False), get_recipe("nadir", pretrained=True)
    assert (scratch.augment, scratch.weights, scratch.plain_loss, scratch.dice) == ("fastai", "inv_sqrt", False, 0)
    assert (scratch.lr, scratch.pct_start, scratch.epochs, scratch.sample_epochs) == (2e-3, 0.3, 20, None)
    assert (scratch.bs, scratch.size, scratch.sample_size) == (8, (100, 150), (96, 144))
    # whole photos: object-scale training did not beat them on the sample (README, Training recipes)
    for r in (scratch, tuned, get_recipe("reference")):
        assert (r.work_size, r.repeats, r.context) == (None, 1, 1.0)
    assert isinstance(scratch.lr, float) and scratch.unfrozen_epochs == 0
    assert (tuned.epochs, tuned.unfrozen_epochs, tuned.sample_epochs) == (2, 12, None)  # fastai's fine_tune pattern
    assert (tuned.size, tuned.sample_size) == ((200, 300), (96, 144))
    assert scratch.monitor == "miou"
    d = scratch.as_dict()
    assert d["name"] == "nadir" and d["nadir_augment"]["dihedral"] is True and isinstance(d["size"], list)


def test_batch_tfms():
    nadir = get_recipe("nadir")
    assert recipe_batch_tfms(nadir) is None  # measured: fastai's aug_transforms() did as well (see README)
    tfms = recipe_batch_tfms(replace(nadir, augment="nadir"))
    assert isinstance(tfms[0], Dihedral) and len(tfms[0].aff_fs) == 2  # flips + zoom, composed: one resampling
    assert recipe_batch_tfms(replace(nadir, augment="none")) == []
    assert recipe_batch_tfms(nadir, augment=False) == []
    assert recipe_batch_tfms(get_recipe("reference"), augment=False) == []
    with pytest.raises(ValueError, match="unknown augmentation"):
        recipe_batch_tfms(replace(nadir, augment="strong"))


def test_losses(tiny_dls):
    assert recipe_loss(get_recipe("reference"), tiny_dls) is None  # fastai's CrossEntropyLossFlat
    loss = recipe_loss(get_recipe("nadir"), tiny_dls, void_code=0)
    assert isinstance(loss, SegLoss) and loss.void_code == 0 and loss.dice == get_recipe("nadir").dice
    expected = class_weights(train_class_counts(tiny_dls), "inv_sqrt", cap=10, void_code=0)
    assert torch.equal(loss.weight, expected)
    assert float(loss.weight[0]) == 0 and float(loss.weight.max()) <= 10
    assert recipe_loss(get_recipe("nadir"), tiny_dls, void_code=-1).void_code is None


# ------------------------------------------------------------------------------------------ how a run resolves them

def test_a_run_takes_the_recipe_of_its_starting_point():
    """The built-in sample trains from scratch at its own size; real data starts from ImageNet weights with the
    frozen-then-unfrozen schedule at the recipe's size."""
    from dronefast.training.config import TrainConfig

    sample, real = TrainConfig().resolve(), TrainConfig(data="photos").resolve()
    scratch, tuned = get_recipe("nadir", pretrained=False), get_recipe("nadir", pretrained=True)
    assert (sample.pretrained, sample.recipe, sample.size, sample.epochs) == (False, scratch, scratch.sample_size,
                                                                             scratch.epochs)
    assert (real.pretrained, real.recipe, real.size) == (True, tuned, tuned.size)
    assert (real.epochs, real.unfrozen_epochs) == (tuned.epochs, tuned.unfrozen_epochs)
    assert (sample.lr, sample.bs, sample.monitor, sample.pct_start) == (scratch.lr, scratch.bs, "miou", 0.3)
    ref = TrainConfig(recipe="reference").resolve()
    assert (ref.lr, ref.monitor, ref.bs) == ("auto", "accuracy_mask", 4)


def test_what_is_given_wins_over_the_recipe():
    from dronefast.training.config import TrainConfig

    plan = TrainConfig(epochs=3, bs=2, lr=1e-4, pct_start=0.5, monitor="valid_loss", size=(32, 48),
                       class_weights="none", augment="nadir").resolve()
    assert (plan.epochs, plan.bs, plan.lr, plan.pct_start, plan.monitor, plan.size) == \
        (3, 2, 1e-4, 0.5, "valid_loss", (32, 48))
    assert (plan.recipe.weights, plan.recipe.plain_loss, plan.recipe.augment) == ("none", False, "nadir")


@pytest.mark.parametrize("given, want", [
    ({}, (None, 1, 1.0)),                                                  # whole photos
    ({"work_size": (200, 300)}, ((200, 300), 1, 1.0)),                      # plain windows
    ({"work_size": (200, 300), "repeats": 3, "context": 2.0}, ((200, 300), 3, 2.0)),
    ({"repeats": 3, "context": 2.0}, (None, 1, 1.0)),                      # window settings need a working scale
    ({"work_size": (200, 300), "whole_photos": True}, (None, 1, 1.0)),
])
def test_object_scale_settings_apply_only_with_a_working_scale(given, want):
    from dronefast.training.config import TrainConfig

    plan = TrainConfig(data="photos", **given).resolve()
    assert (plan.work_size, plan.repeats, plan.context) == want
    # windows keep the real photos' size on the sample too (its photos have the real ones' frame)
    assert TrainConfig(work_size=(200, 300)).resolve().size == get_recipe("nadir").size


@pytest.mark.parametrize("given, message", [
    ({"context": 0.5}, "context must be at least 1"),
    ({"repeats": 0}, "repeats must be at least 1"),
    ({"test_pct": 0.1, "test_stems": ("a",)}, "test_pct and test_stems exclude each other"),
])
def test_bad_settings_are_refused_by_name(given, message):
    from dronefast.training.config import TrainConfig

    with pytest.raises(ValueError, match=message):
        TrainConfig(**given)


def test_monitor_names_are_the_history_s_columns(tiny_dls):
    """``--monitor`` is checked at parse time against MONITORS: they must be what a run's history records."""
    from dronefast.models.learner import drone_learner
    from dronefast.training.config import MONITORS, TrainConfig

    learn = drone_learner(tiny_dls, TINY_ARCH, pretrained=False)
    assert set(MONITORS) == {"train_loss", "valid_loss", *(m.name for m in learn.metrics)}  # fastai's recorder
    with pytest.raises(ValueError, match="monitor must be one of miou, accuracy_mask, valid_loss, train_loss, got 'f'"):
        TrainConfig(monitor="f")
