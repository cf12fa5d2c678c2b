"""dronefast.check: every kind of bad input gives exit 1 and a message naming the file and the problem."""
import numpy as np
import pytest
from PIL import Image

from dronefast.cli.check import main
from dronefast.data.validation import check_dataset


def test_good_dataset_counts(sample_kaggle, capsys):
    rep = check_dataset(sample_kaggle, workers=1)
    assert rep.ok and rep.n_pairs == 10
    expected = np.zeros(24, np.int64)
    for m in sorted((sample_kaggle / "label_images_semantic").glob("*.png")):
        expected += np.bincount(np.asarray(Image.open(m)).ravel(), minlength=24)
    np.testing.assert_array_equal(rep.counts, expected)
    assert rep.shares.sum() == pytest.approx(1.0)
    assert main([str(sample_kaggle), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "pairs: 10 (10 images, 10 masks)" in out and "OK: no problems found" in out
    assert " 15  person" in out


def test_parallel_equals_serial(sample_kaggle):
    assert (check_dataset(sample_kaggle, workers=2).counts == check_dataset(sample_kaggle, workers=1).counts).all()


def test_tugraz_colour_masks_are_checked(sample_both):
    rep = check_dataset(sample_both, kind="tugraz", workers=1)
    assert rep.ok and rep.counts.sum() == 4 * 64 * 96


def _run(path, capsys):
    code = main([str(path), "--workers", "1"])
    return code, capsys.readouterr()


def test_missing_mask(kaggle_copy, capsys):
    (kaggle_copy / "label_images_semantic" / "003.png").unlink()
    code, out = _run(kaggle_copy, capsys)
    assert code == 1
    assert f"{kaggle_copy / 'original_images' / '003.jpg'}: no mask 003.png in" in out.out


def test_orphan_mask(kaggle_copy, capsys):
    (kaggle_copy / "original_images" / "004.jpg").unlink()
    code, out = _run(kaggle_copy, capsys)
    assert code == 1
    assert f"{kaggle_copy / 'label_images_semantic' / '004.png'}: no image with stem '004'" in out.out


def test_id_out_of_range(kaggle_copy, capsys):
    f = kaggle_copy / "label_images_semantic" / "002.png"
    m = np.asarray(Image.open(f)).copy()
    m[:2, :3] = 30
    Image.fromarray(m).save(f)
    code, out = _run(kaggle_copy, capsys)
    assert code == 1 and f"{f}: class id(s) outside 0..23: 30 x 6 px" in out.out


def test_unknown_colour(sample_both, tmp_path, capsys):
    import shutil

    root = tmp_path / "tg"
    shutil.copytree(sample_both / "training_set", root / "training_set")
    f = root / "training_set" / "gt" / "semantic" / "label_images" / "001.png"
    m = np.asarray(Image.open(f)).copy()
    m[0, :5] = (10, 20, 30)
    Image.fromarray(m).save(f)
    code, out = _run(root, capsys)
    assert code == 1 and f"{f}: 1 colour(s) not in the class table: (10, 20, 30) x 5 px" in out.out


def test_size_mismatch(kaggle_copy, capsys):
    f = kaggle_copy / "label_images_semantic" / "005.png"
    Image.open(f).resize((50, 30), Image.Resampling.NEAREST).save(f)
    code, out = _run(kaggle_copy, capsys)
    assert code == 1 and f"{f}: mask is 50x30 but its image 005.jpg is 96x64 (WxH)" in out.out


def test_corrupt_jpeg(kaggle_copy, capsys):
    f = kaggle_copy / "original_images" / "006.jpg"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut off
    code, out = _run(kaggle_copy, capsys)
    assert code == 1 and f"{f}: cannot decode image" in out.out
    assert "1 problem(s):" in out.out


def test_empty_and_missing_folder(tmp_path, capsys):
    (tmp_path / "original_images").mkdir()
    (tmp_path / "label_images_semantic").mkdir()
    code, out = _run(tmp_path, capsys)
    assert code == 1 and out.err.startswith("error: ") and "no images" in out.err
    assert "Traceback" not in out.err
    code, out = _run(tmp_path / "missing", capsys)
    assert code == 1 and f"error: {tmp_path / 'missing'}: folder does not exist" in out.err


def test_several_problems_listed_together(kaggle_copy, capsys):
    (kaggle_copy / "label_images_semantic" / "000.png").unlink()
    (kaggle_copy / "original_images" / "001.jpg").write_bytes(b"garbage")
    code, out = _run(kaggle_copy, capsys)
    assert code == 1 and "2 problem(s):" in out.out
    assert "000.jpg: no mask" in out.out and "001.jpg: cannot" in out.out


# ------------------------------------------------------------------ the photo count training needs (issue 25)

@pytest.mark.parametrize("valid_pct, test_pct", [(0.1, 0.1), (0.2, 0.0), (0.5, 0.3), (0.9, 0.0)])
def test_split_counts_are_the_split_s(valid_pct, test_pct):
    from pathlib import Path

    from dronefast.data.split import Split
    from dronefast.data.validation import split_counts

    split = Split(valid_pct, 42, test_pct)
    for n in range(3, 40):
        try:
            train, valid, test = split.divide([Path(f"{i:03d}.jpg") for i in range(n)])
        except Exception:
            assert 0 in split_counts(n, split)[:2]   # divide refuses exactly when a part would be empty
            continue
        assert split_counts(n, split) == (len(train), len(valid), len(test)), n


@pytest.mark.parametrize("valid_pct, test_pct, stems, bs, repeats, fewest", [
    (0.1, 0.1, None, 8, 1, 10),   # 1 test, 1 validation, 8 training photos
    (0.1, 0.0, None, 8, 1, 9),
    (0.1, 0.0, None, 1, 1, 2),
    (0.1, 0.0, None, 8, 4, 3),    # 2 training photos x 4 windows
    (0.5, 0.0, None, 4, 1, 7),    # 3 validation photos of 7 (fastai cuts int(0.5 x 7)), 4 training
    (0.1, 0.0, ("a", "b", "c"), 2, 1, 6),
])
def test_min_photos(valid_pct, test_pct, stems, bs, repeats, fewest):
    from dronefast.data.split import Split
    from dronefast.data.validation import TooFewPhotosError, check_photo_count, min_photos

    split = Split(valid_pct, 42, test_pct, stems)
    assert min_photos(split, bs, repeats) == fewest
    check_photo_count(fewest, split, bs, repeats)
    with pytest.raises(TooFewPhotosError, match=rf"^data: {fewest - 1} photo\(s\) are too few to train on: at least "
                                                rf"{fewest} are needed for one batch of {bs} "):
        check_photo_count(fewest - 1, split, bs, repeats, "data")
