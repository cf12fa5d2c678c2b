import shutil

import pytest

from dronefast.data.layout import MaskPathFor, find_layout
from dronefast.errors import DatasetNotFoundError, EmptyDatasetError


def test_kaggle_layout(sample_kaggle, classes):
    lay = find_layout(sample_kaggle)
    assert lay.kind == "kaggle" and lay.mask_format == "id"
    assert lay.image_dir == sample_kaggle / "original_images"
    assert lay.mask_dir == sample_kaggle / "label_images_semantic"
    assert lay.classes == classes and lay.classes.source.endswith("class_dict_seg.csv")
    assert [p.name for p in lay.image_files()][:2] == ["000.jpg", "001.jpg"]
    assert "kaggle layout" in lay.describe() and "(10 files)" in lay.describe()


def test_tugraz_layout(sample_both, classes):
    lay = find_layout(sample_both, kind="tugraz")
    assert lay.kind == "tugraz" and lay.mask_format == "colour"
    assert lay.image_dir == sample_both / "training_set" / "images"
    assert lay.mask_dir == sample_both / "training_set" / "gt" / "semantic" / "label_images"
    assert lay.classes.source.endswith("training_set/gt/semantic/class_dict.csv")
    assert len(lay.image_files()) == 4


def test_kaggle_preferred_when_both(sample_both):
    assert find_layout(sample_both).kind == "kaggle"


def test_nested_kaggle_copy(sample_kaggle, tmp_path, classes):
    # the Kaggle archive: class_dict_seg.csv at the top, data in dataset/semantic_drone_dataset/
    root = tmp_path / "archive"
    inner = root / "dataset" / "semantic_drone_dataset"
    inner.mkdir(parents=True)
    for d in ("original_images", "label_images_semantic"):
        shutil.copytree(sample_kaggle / d, inner / d)
    shutil.copy(sample_kaggle / "class_dict_seg.csv", root / "class_dict_seg.csv")
    lay = find_layout(root)
    assert lay.kind == "kaggle" and lay.image_dir == inner / "original_images"
    assert lay.classes == classes and lay.classes.source == str(root / "class_dict_seg.csv")


def test_builtin_classes_when_no_table(sample_kaggle, tmp_path, classes):
    for d in ("original_images", "label_images_semantic"):
        shutil.copytree(sample_kaggle / d, tmp_path / d)
    assert find_layout(tmp_path).classes.source == "built-in"


def test_label_function_by_stem(sample_kaggle):
    lay = find_layout(sample_kaggle)
    f = lay.label_func
    assert isinstance(f, MaskPathFor)
    assert f(lay.image_dir / "007.jpg") == sample_kaggle / "label_images_semantic" / "007.png"
    assert lay.label_path_for("elsewhere/007.jpg") == sample_kaggle / "label_images_semantic" / "007.png"


def test_missing_folder_and_nothing_usable(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="folder does not exist"):
        find_layout(tmp_path / "nope")
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no Semantic Drone Dataset layout found"):
        find_layout(tmp_path)


def test_empty_image_folder(tmp_path):
    (tmp_path / "original_images").mkdir()
    (tmp_path / "label_images_semantic").mkdir()
    with pytest.raises(EmptyDatasetError) as e:
        find_layout(tmp_path)
    assert str(tmp_path / "original_images") in str(e.value) and "no images" in str(e.value)
