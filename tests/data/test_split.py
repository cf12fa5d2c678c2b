"""Tests of dronefast.data.split: the test, validation and training photos, with the counts fastai's
RandomSplitter gives, at least one photo held out for a share above 0, and a refusal when nothing is left."""
from pathlib import Path

import pytest

from dronefast.data.block import drone_datablock
from dronefast.data.layout import find_layout
from dronefast.data.split import Split
from dronefast.errors import DronefastError


def photos(n):
    return [Path(f"{i:03d}.jpg") for i in range(n)]


@pytest.mark.parametrize("n, valid_pct, test_pct, counts", [
    (40, 0.1, 0.1, (33, 3, 4)),      # the built-in sample: int(0.1 * 40) test, int(0.1 * 36) validation
    (120, 0.15, 0.2, (82, 14, 24)),  # the recipe benchmark's sample
    (400, 0.1, 0.1, (324, 36, 40)),  # the real dataset
    (10, 0.1, 0.0, (9, 1, 0)),
    (10, 0.1, 0.1, (8, 1, 1)),       # fastai's cut would hold out no validation photo of 9
    (5, 0.1, 0.1, (3, 1, 1)),
    (3, 0.1, 0.1, (1, 1, 1)),
])
def test_counts(n, valid_pct, test_pct, counts):
    train, valid, test = Split(valid_pct, seed=3, test_pct=test_pct).divide(photos(n))
    assert (len(train), len(valid), len(test)) == counts
    assert sorted(train + valid + test) == photos(n)


@pytest.mark.parametrize("n, test_pct", [(2, 0.1), (1, 0.0)])
def test_too_few_photos_are_refused(n, test_pct):
    with pytest.raises(DronefastError, match=f"{n} photos are too few to split"):
        Split(0.1, seed=3, test_pct=test_pct).divide(photos(n))


def test_same_seed_same_split_and_test_photos_by_stem():
    a = Split(0.2, seed=5, test_pct=0.2).divide(photos(20))
    assert a == Split(0.2, seed=5, test_pct=0.2).divide(photos(20))
    assert a != Split(0.2, seed=6, test_pct=0.2).divide(photos(20))
    train, valid, test = Split(0.2, seed=5, test_stems=("004", "011")).divide(photos(20))
    assert test == [Path("004.jpg"), Path("011.jpg")] and Path("004.jpg") not in train + valid
    with pytest.raises(DronefastError, match="not in the dataset: 999"):
        Split(0.2, seed=5, test_stems=("999",)).divide(photos(20))


def test_the_datablock_validates_on_the_same_photos_when_the_share_is_raised(sample_kaggle):
    """10 photos, 10% test, 10% validation: the raised share gives the DataBlock the same one validation photo."""
    lay = find_layout(sample_kaggle)
    split = Split(0.1, seed=7, test_pct=0.1)
    train, valid, test = split.divide(lay.image_files())
    dsets = drone_datablock(lay, size=(32, 48), split=split).datasets(lay.image_dir)
    assert len(valid) == 1 and list(dsets.valid.items) == valid and sorted(dsets.train.items) == sorted(train)
