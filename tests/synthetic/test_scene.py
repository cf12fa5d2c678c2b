"""Tests of dronefast.synthetic.scene: one scene, its determinism, its colours and what survives a downscale."""
import numpy as np
import pytest
from PIL import Image

from dronefast.data.classes import standard_classes
from dronefast.synthetic import generator as sample
from dronefast.synthetic.scene import DEFAULT_SIZE, check_size, render_scene

TABLE = standard_classes()


def test_image_and_mask_shapes_and_types():
    img, mask = render_scene((64, 96), seed=1, index=0)
    assert img.shape == (64, 96, 3) and img.dtype == np.uint8
    assert mask.shape == (64, 96) and mask.dtype == np.uint8 and int(mask.max()) <= 22
    assert DEFAULT_SIZE == (640, 960) and sample.render_scene is render_scene  # public API stays in .sample


def test_same_arguments_same_bytes():
    for size in ((64, 96), (320, 480)):
        a, b = render_scene(size, 7, 3), render_scene(size, 7, 3)
        assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    other_seed, other_index = render_scene((64, 96), 8, 3), render_scene((64, 96), 7, 4)
    assert other_seed[1].tobytes() != render_scene((64, 96), 7, 3)[1].tobytes()
    assert other_index[0].tobytes() != render_scene((64, 96), 7, 3)[0].tobytes()


@pytest.mark.parametrize("size", [(8, 8), (200, 640), (480, 320), (33, 47)])
def test_any_frame_size_and_aspect(size):
    img, mask = render_scene(size, 0, 2)
    assert img.shape[:2] == size and mask.shape == size and int(mask.max()) <= 22


@pytest.mark.parametrize("size", [(4, 96), (96, 7), ("a", 9), (5,), None])
def test_bad_sizes(size):
    with pytest.raises(ValueError):
        check_size(size)
    with pytest.raises(ValueError):
        render_scene(size)


def test_image_colours_differ_by_class():
    sums, counts = np.zeros((24, 3)), np.zeros(24)
    for i in range(10):
        rgb, ids = render_scene((160, 240), 0, i)
        np.add.at(sums, ids.ravel(), rgb.reshape(-1, 3).astype(float))
        counts += np.bincount(ids.ravel(), minlength=24)
    mean = sums / np.maximum(counts, 1)[:, None]
    grass, paved, pool = mean[TABLE.id_of("grass")], mean[TABLE.id_of("paved-area")], mean[TABLE.id_of("pool")]
    assert grass[1] > grass[0] + 20 and grass[1] > grass[2] + 40  # green
    assert abs(paved[0] - paved[1]) < 20 and abs(paved[1] - paved[2]) < 20  # grey
    assert np.linalg.norm(grass - paved) > 40
    if counts[TABLE.id_of("pool")]:
        assert pool[2] > pool[0] + 60  # blue


def test_people_and_cars_survive_downscaling_to_150x100():
    # a whole 480x320 scene resized like fastai resizes masks (nearest neighbour) keeps its people and cars
    seen = {"person": [0, 0], "car": [0, 0]}
    for i in range(10):
        _, mask = render_scene((320, 480), seed=0, index=i)
        small = np.array(Image.fromarray(mask).resize((150, 100), Image.Resampling.NEAREST))
        for name, k in seen.items():
            cid = TABLE.id_of(name)
            k[0] += bool((mask == cid).any())
            k[1] += bool((small == cid).any())
    assert seen["person"][0] >= 8 and seen["car"][0] >= 3
    assert all(small == full for full, small in seen.values()), seen
