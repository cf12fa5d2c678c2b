import pickle

import numpy as np
import pytest
import torch
from fastai.vision.data import imagenet_stats
from PIL import Image

from dronefast.data.block import drone_datablock, drone_dataloaders
from dronefast.data.cache import ImageGetter, MaskGetter, load_items
from dronefast.data.layout import find_layout
from dronefast.errors import DatasetCheckError


def test_batch_shapes_dtypes_and_ids(tiny_dls):
    x, y = tiny_dls.one_batch()
    assert x.shape == (3, 3, 32, 48) and x.dtype == torch.float32
    assert y.shape == (3, 32, 48) and y.dtype == torch.int64
    assert 0 <= int(y.min()) and int(y.max()) <= 22
    assert tiny_dls.classes.codes == tiny_dls.train.after_item.vocab
    # ImageNet-normalised floats; decoding gives back the cached photo and mask exactly (valid set: no shuffle)
    assert abs(float(x.mean())) < 1.5 and float(x.std()) > 0.3
    xv, yv = tiny_dls.valid.one_batch()
    img, mask = tiny_dls.valid.decode_batch((xv, yv), max_n=1)[0]
    item = tiny_dls.valid_ds.items[0]
    np.testing.assert_allclose(img.permute(1, 2, 0).numpy(), tiny_dls.store.images[item], atol=1)
    np.testing.assert_array_equal(mask.numpy(), tiny_dls.store.masks[item])


def test_split_is_ten_percent_and_seeded(sample_kaggle, tmp_path):
    lay = find_layout(sample_kaggle)
    dblock = drone_datablock(lay, size=(32, 48), valid_pct=0.1, seed=7)
    a = dblock.datasets(lay.image_dir)
    b = drone_datablock(lay, size=(32, 48), valid_pct=0.1, seed=7).datasets(lay.image_dir)
    c = drone_datablock(lay, size=(32, 48), valid_pct=0.3, seed=8).datasets(lay.image_dir)
    assert len(a.valid) == 1 and len(a.train) == 9
    assert a.valid.items == b.valid.items
    assert len(c.valid) == 3
    dls = drone_dataloaders(lay, size=(32, 48), valid_pct=0.1, seed=7, progress=False)
    assert dls.valid_ds.items == a.valid.items  # the cached pipeline splits the same images


def test_items_cached_once_and_match_disk(sample_kaggle, classes):
    lay = find_layout(sample_kaggle)
    store = load_items(lay, (32, 48), workers=1, progress=False)
    assert len(store) == 10 and store.nbytes == 10 * (32 * 48 * 3 + 32 * 48)
    img0 = lay.image_files()[0]
    expected = np.asarray(Image.open(lay.label_path_for(img0)).resize((48, 32), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(store.masks[img0], expected)
    assert ImageGetter((32, 48), store)(img0) is store.images[img0]
    # without the store the getters read from disk and give the same pixels
    np.testing.assert_array_equal(MaskGetter(lay, (32, 48))(img0), expected)
    np.testing.assert_array_equal(ImageGetter((32, 48))(img0), store.images[img0])


def test_getters_pickle_without_pixels(tiny_dls):
    """learn.export pickles the transforms: the cached pixels must not travel with them."""
    store = tiny_dls.store
    get_x, get_y = ImageGetter((32, 48), store), MaskGetter(tiny_dls.layout, (32, 48), store)
    for g in (get_x, get_y):
        assert len(pickle.dumps(g)) < 2000 < store.nbytes
        assert pickle.loads(pickle.dumps(g)).store is None
    import cloudpickle  # what learn.export uses

    assert len(cloudpickle.dumps(tiny_dls.train_ds.tls[0].tfms)) < 20000


def test_tugraz_colour_masks_equal_kaggle_ids(sample_both):
    kag = load_items(find_layout(sample_both, "kaggle"), (32, 48), workers=1, progress=False)
    tug = load_items(find_layout(sample_both, "tugraz"), (32, 48), workers=1, progress=False)
    for (pk, mk), (pt, mt) in zip(sorted(kag.masks.items()), sorted(tug.masks.items())):
        assert pk.stem == pt.stem
        np.testing.assert_array_equal(mk, mt)


def test_augmentation_moves_mask_with_image(tmp_path, classes):
    """Photos painted in the mask's palette colours: after flips, rotation, zoom and warp each pixel's colour
    must still name its mask id (masks transformed together with images, nearest interpolation)."""
    (tmp_path / "original_images").mkdir()
    (tmp_path / "label_images_semantic").mkdir()
    rng = np.random.default_rng(0)
    ids_used = [1, 3, 9, 17]
    for i in range(7):  # one validation photo (at least one is held out), six to train on
        ids = np.full((64, 96), ids_used[0], np.uint8)
        for k in ids_used[1:]:
            y, x = rng.integers(0, 40), rng.integers(0, 70)
            ids[y:y + 24, x:x + 26] = k
        Image.fromarray(classes.palette[ids]).save(tmp_path / "original_images" / f"{i:03d}.png")
        Image.fromarray(ids).save(tmp_path / "label_images_semantic" / f"{i:03d}.png")
    torch.manual_seed(0)
    dls = drone_dataloaders(tmp_path, size=(64, 96), bs=6, valid_pct=0.01, progress=False)
    x, y = dls.one_batch()
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in imagenet_stats)
    rgb = ((x.cpu() * std + mean) * 255).permute(0, 2, 3, 1)  # B,H,W,3
    pal = torch.tensor(classes.palette[ids_used], dtype=torch.float32)
    nearest = torch.tensor(ids_used)[((rgb[..., None, :] - pal) ** 2).sum(-1).argmin(-1)]
    assert set(y.unique().tolist()) <= set(ids_used)  # nearest interpolation: no new ids
    assert (nearest == y.cpu()).float().mean() > 0.93  # colours and ids still line up (edges blur a little)
    assert not torch.equal(y, torch.stack([torch.tensor(dls.store.masks[p], dtype=torch.long)
                                           for p in dls.train_ds.items[:6]]))  # really augmented


def test_bad_mask_stops_loading_with_clear_error(kaggle_copy):
    f = kaggle_copy / "label_images_semantic" / "002.png"
    m = np.asarray(Image.open(f)).copy()
    m[0, 0] = 99
    Image.fromarray(m).save(f)
    with pytest.raises(DatasetCheckError) as e:
        drone_dataloaders(kaggle_copy, size=(32, 48), progress=False)
    assert f"{f}: class id(s) outside 0..23: 99 x 1 px" in str(e.value)
