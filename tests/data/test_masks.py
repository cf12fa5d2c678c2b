import numpy as np
import pytest
from PIL import Image

from dronefast.data.masks import (
    colour_to_ids,
    count_ids,
    ids_to_colour,
    read_mask,
    resize_mask,
)
from dronefast.errors import ClassIdError, CorruptImageError, UnknownColourError


def test_colour_to_ids_known_pixels(classes):
    rgb = np.array([[[0, 0, 0], [128, 64, 128], [0, 102, 0]],
                    [[255, 22, 96], [9, 143, 150], [2, 135, 115]]], dtype=np.uint8)
    np.testing.assert_array_equal(colour_to_ids(rgb, classes), [[0, 1, 3], [15, 17, 22]])


def test_round_trip_every_class(classes):
    ids = np.arange(24, dtype=np.uint8).reshape(4, 6)
    np.testing.assert_array_equal(colour_to_ids(ids_to_colour(ids, classes), classes), ids)
    np.testing.assert_array_equal(ids_to_colour(ids, classes)[3, 5], [255, 0, 0])


def test_unknown_colour_names_file_colour_and_count(classes):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, :3] = (1, 2, 3)
    rgb[1, 0] = (200, 200, 201)
    with pytest.raises(UnknownColourError) as e:
        colour_to_ids(rgb, classes, path="x/017.png")
    msg = str(e.value)
    assert msg.startswith("x/017.png: 2 colour(s) not in the class table")
    assert "(1, 2, 3) x 3 px" in msg and "(200, 200, 201) x 1 px" in msg


def test_read_mask_id_and_colour(tmp_path, classes):
    ids = np.array([[0, 3, 3], [17, 15, 22]], np.uint8)
    Image.fromarray(ids).save(tmp_path / "id.png")
    Image.fromarray(classes.palette[ids]).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "id.png", classes), ids)
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png", classes), ids)


def test_read_mask_rejects_out_of_range_ids(tmp_path, classes):
    ids = np.full((3, 3), 3, np.uint8)
    ids[0, 0] = 24
    ids[1, 1] = 200
    Image.fromarray(ids).save(tmp_path / "m.png")
    with pytest.raises(ClassIdError) as e:
        read_mask(tmp_path / "m.png", classes)
    assert str(e.value) == f"{tmp_path / 'm.png'}: class id(s) outside 0..23: 24 x 1 px, 200 x 1 px"


def test_read_mask_corrupt_and_missing(tmp_path, classes):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(CorruptImageError, match="bad.png: cannot decode mask"):
        read_mask(tmp_path / "bad.png", classes)
    with pytest.raises(CorruptImageError, match="none.png: file not found"):
        read_mask(tmp_path / "none.png", classes)


def test_resize_mask_never_invents_ids():
    rng = np.random.default_rng(0)
    ids = rng.choice([1, 9, 22], size=(40, 60)).astype(np.uint8)
    small = resize_mask(ids, (13, 17))
    assert small.shape == (13, 17)
    assert set(np.unique(small)) <= {1, 9, 22}
    expected = np.asarray(Image.fromarray(ids).resize((17, 13), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(small, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_count_ids(dtype):
    ids = np.array([[0, 3, 3, 23], [3, 1, 0, 0], [24, 200, 3, 1]]).astype(dtype)  # 24 and 200: beyond 24 classes
    expected = np.zeros(24, np.int64)
    expected[[0, 1, 3, 23]] = [3, 2, 4, 1]
    got = count_ids(ids, 24)
    assert got.dtype == np.int64 and got.shape == (24,)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(count_ids(ids[:, ::2], 2), [2, 0])     # not contiguous: 0, 3, 3, 0, 24, 3
    np.testing.assert_array_equal(count_ids(np.zeros((0, 0), dtype), 3), [0, 0, 0])
