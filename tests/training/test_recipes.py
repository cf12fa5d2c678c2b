"""Tests of dronefast.recipes: the named recipes, their schedule by starting point, and the augmentations and
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
    assert (scratch.lr, scratch.pct_start, scratch.epochs, scratch.sample_epochs, scratch.bs) == (2e-3, 0.3, 20, None, 8)
    assert (scratch.size, scratch.sample_size) == ((100, 150), (96, 144))
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
