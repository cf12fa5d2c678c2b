"""Tests of dronefast.data.split: the test, validation and training photos, with the counts fastai's
RandomSplitter gives, at least one photo held out for a share above 0, and a refusal when nothing is left."""
from pathlib import Path

import pytest

from dronefast.data.block import drone_datablock, drone_dataloaders, recorded_split
from dronefast.data.layout import find_layout
from dronefast.data.split import Split, SplitRecord, model_split
from dronefast.errors import DatasetError, DronefastError, UsageError


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


# ------------------------------------------------------------------------------------------ the recorded split

def _record(train, valid, test, settings=Split(0.2, seed=0, test_pct=0.2)):
    return SplitRecord.of(train, valid, test, settings).as_dict()


def test_the_record_holds_the_photos_the_dataloaders_serve(sample_kaggle):
    """--test-stems: the recorded test stems are the listed ones; training and validation those of the items."""
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=3, split=Split(0.2, seed=0, test_stems=("007", "002")),
                            augment=False, progress=False)
    rec = recorded_split(dls)
    assert rec.test == ("002", "007") and rec.settings.test_stems == ("007", "002")
    assert rec.train == tuple(sorted(p.stem for p in dls.train_ds.items)) and len(rec.train) == 7
    assert rec.valid == tuple(sorted(p.stem for p in dls.valid_ds.items)) and len(rec.valid) == 1
    d = rec.as_dict()
    assert (d["format"], d["version"], d["test"]) == ("dronefast-split", 1, ["002", "007"])
    assert SplitRecord.from_dict(d) == rec
    for bad, why in (({**d, "version": 2}, "not a dronefast-split record"), ({**d, "train": "000"}, "lists of file"),
                     ({**d, "valid": ["002"]}, "recorded twice")):
        with pytest.raises(ValueError, match=why):
            SplitRecord.from_dict(bad)


def test_a_recorded_split_is_read_not_re_derived(kaggle_copy):
    """Photos 000-009: the record names 000-005 training, 006-007 validation, 008 test (009 came later). A training
    photo removed changes nothing else; a test photo removed is refused by name; 009 is left out and named."""
    extra = {"split": _record([f"{i:03d}" for i in range(6)], ["006", "007"], ["008"]),
             "train_args": {"valid_pct": 0.2, "seed": 0, "test_pct": 0.2}}
    lay = find_layout(kaggle_copy)
    (kaggle_copy / "original_images" / "003.jpg").unlink()
    chosen = model_split(lay, extra)
    names = {k: [p.stem for p in v] for k, v in chosen.parts.items()}
    assert names["test"] == ["008"] and names["validation"] == ["006", "007"]
    assert names["train"] == ["000", "001", "002", "004", "005"] and chosen.source == "record"
    assert chosen.photos("test") == [kaggle_copy / "original_images" / "008.jpg"]
    assert chosen.added == ("009",) and chosen.note == "1 photo added since training is left out: 009"
    with pytest.raises(DatasetError) as e:
        chosen.photos("train")
    assert str(e.value) == (f"{lay.image_dir}: photo(s) of the model's recorded split missing: train 003 (restore "
                            f"them; the split is not re-derived)")
    (kaggle_copy / "original_images" / "008.jpg").unlink()
    with pytest.raises(DatasetError, match="missing: test 008"):
        model_split(lay, extra).require("validation", "test")
    with pytest.raises(UsageError, match="records the photos of its split"):
        model_split(lay, extra, seed=1)


def test_without_a_record_the_split_is_re_derived_with_a_note(sample_kaggle):
    chosen = model_split(find_layout(sample_kaggle), {"train_args": {"valid_pct": 0.2, "seed": 0, "test_pct": 0.2}})
    train, valid, test = Split(0.2, seed=0, test_pct=0.2).divide(find_layout(sample_kaggle).image_files())
    assert (chosen.parts["train"], chosen.parts["validation"], chosen.parts["test"]) == (train, valid, test)
    assert chosen.source == "model" and chosen.added == () and chosen.note == (
        "the model records no split (an older run): its photos are re-derived from its settings (valid_pct 0.2, "
        "seed 0, test_pct 0.2; from model) and the folder listing")
