"""Tests of dronefast.training.augment: the nadir batch transforms move photo and mask together, draw all eight
flips/quarter turns on square inputs (the four that keep the frame on others), invent no class id, change
colours of photos only and leave the validation set alone. Tiny tensors (a few 16x16 images), a few seconds."""
import random

import pytest
import torch
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import AffineCoordTfm, Dihedral, Hue, LightingTfm
from fasttransform import Pipeline

from dronefast.training.augment import FrameDihedralDraw, nadir_transforms
from dronefast.training.recipes import NadirAugment

NO_COLOUR = dict(max_lighting=0, max_saturation=0, max_hue=0)


def seed(s=0):
    random.seed(s)
    torch.manual_seed(s)


def blocks(n=6, size=16, cell=4, n_classes=5):
    """`n` random masks made of `cell` x `cell` blocks of one class, and photos whose red channel encodes the
    class (id / 10) while green and blue hold a gradient."""
    g = torch.Generator().manual_seed(1)
    small = torch.randint(0, n_classes, (n, size // cell, size // cell), generator=g)
    mask = small.repeat_interleave(cell, 1).repeat_interleave(cell, 2)
    ramp = torch.linspace(0, 1, size)
    img = torch.stack([mask.float() / 10, ramp.expand(n, size, size), ramp[:, None].expand(n, size, size)], 1)
    return TensorImage(img), TensorMask(mask)


def apply(tfms, batch, split_idx=0):
    return Pipeline(tfms, split_idx=split_idx)(batch)


def dihedral_variants(t):
    """The 8 images of `t` (..., H, W) under the dihedral group of the square."""
    out = []
    for k in range(4):
        r = torch.rot90(t, k, dims=(-2, -1))
        out += [r, r.flip(-1)]
    return out


def test_structure_one_resampling_then_colours():
    tfms = nadir_transforms(max_rotate=180)
    assert isinstance(tfms[0], AffineCoordTfm)  # dihedral, rotation and zoom composed: one interpolation
    assert len(tfms[0].aff_fs) == 3
    assert tfms[0].mode == "bilinear" and tfms[0].mode_mask == "nearest"
    assert any(isinstance(t, LightingTfm) for t in tfms) and any(isinstance(t, Hue) for t in tfms)
    assert len(nadir_transforms(dihedral=False, max_rotate=0, min_zoom=1, max_zoom=1, **NO_COLOUR)) == 0
    only = nadir_transforms(max_rotate=0, min_zoom=1, max_zoom=1, **NO_COLOUR)
    assert len(only) == 1 and isinstance(only[0], Dihedral)


def test_all_eight_dihedral_views_photo_and_mask_alike():
    seed(0)
    img, mask = blocks(n=64)
    out_img, out_mask = apply(nadir_transforms(max_rotate=0, min_zoom=1, max_zoom=1, **NO_COLOUR), (img, mask))
    seen = set()
    for i in range(len(img)):
        views_i, views_m = dihedral_variants(img[i]), dihedral_variants(mask[i])
        hits = [k for k in range(8)
                if torch.allclose(out_img[i], views_i[k], atol=1e-5) and torch.equal(out_mask[i], views_m[k])]
        assert hits, f"item {i} is not a dihedral view of its input (photo and mask moved alike)"
        seen.add(hits[0])
    assert seen == set(range(8))  # 64 draws: all eight views occur (each has probability 1/8)


def test_non_square_batches_keep_their_frame():
    # on a 3:2 picture a quarter turn would crop a third of it: only identity, the two flips and the half turn
    seed(4)
    img, mask = blocks(n=48)
    img, mask = TensorImage(img[..., :12]), TensorMask(mask[..., :12])  # 16 x 12 (H x W)
    out_img, out_mask = apply(nadir_transforms(max_rotate=0, min_zoom=1, max_zoom=1, **NO_COLOUR), (img, mask))
    seen = set()
    for i in range(len(img)):
        views = {"id": lambda t: t, "h": lambda t: t.flip(-1), "v": lambda t: t.flip(-2),
                 "180": lambda t: t.flip(-1).flip(-2)}
        hits = [k for k, f in views.items()
                if torch.allclose(out_img[i], f(img[i]), atol=1e-5) and torch.equal(out_mask[i], f(mask[i]))]
        assert hits, f"item {i} is not a frame-keeping view of its input"
        seen.add(hits[0])
    assert seen == {"id", "h", "v", "180"}
    draw = FrameDihedralDraw()
    assert set(draw(torch.zeros(200, 3, 4, 6)).tolist()) == {0, 1, 2, 4}
    assert set(draw(torch.zeros(200, 3, 5, 5)).tolist()) == set(range(8))


def test_rotation_and_zoom_keep_mask_on_photo_and_invent_no_ids():
    seed(1)
    img, mask = blocks(n=8, size=32, cell=8)
    tfms = nadir_transforms(max_rotate=180, p_rotate=1.0, min_zoom=0.75, max_zoom=1.5, p_zoom=1.0, **NO_COLOUR)
    out_img, out_mask = apply(tfms, (img, mask))
    assert out_mask.dtype == mask.dtype and out_mask.shape == mask.shape
    assert set(out_mask.unique().tolist()) <= set(mask.unique().tolist())  # nearest: no blended ids
    assert not torch.equal(out_mask, mask)
    # the red channel still says the class wherever it is not a blend of two blocks (bilinear at block edges)
    red = out_img[:, 0] * 10
    clean = (red - red.round()).abs() < 1e-3
    assert clean.float().mean() > 0.5
    agree = (red.round().long() == out_mask)[clean].float().mean()
    assert agree > 0.97


def test_colour_changes_touch_the_photo_only():
    seed(2)
    img, mask = blocks(n=8)
    tfms = nadir_transforms(dihedral=False, max_rotate=0, min_zoom=1, max_zoom=1, p_lighting=1.0)
    out_img, out_mask = apply(tfms, (img.clone(), mask.clone()))
    assert torch.equal(out_mask, mask)
    assert not torch.allclose(out_img, img, atol=1e-3)
    assert out_img.min() >= 0 and out_img.max() <= 1 + 1e-5


def test_validation_batches_are_left_alone():
    seed(3)
    img, mask = blocks(n=4)
    tfms = nadir_transforms(max_rotate=180, p_rotate=1.0, p_zoom=1.0, p_lighting=1.0)
    out_img, out_mask = apply(tfms, (img.clone(), mask.clone()), split_idx=1)
    assert torch.allclose(out_img, img, atol=1e-6) and torch.equal(out_mask, mask)


def test_settings_and_bad_values():
    s = NadirAugment()
    assert (s.dihedral, s.max_rotate, s.min_zoom, s.max_zoom) == (True, 0.0, 0.9, 1.2)
    assert s.as_dict()["max_hue"] == 0.05
    with pytest.raises(ValueError, match="0 < min_zoom <= max_zoom"):
        nadir_transforms(min_zoom=1.2, max_zoom=1.1)
    with pytest.raises(ValueError, match=r"p_rotate must lie in \[0, 1\]"):
        nadir_transforms(p_rotate=2)
    with pytest.raises(TypeError):
        nadir_transforms(max_warp=0.2)  # no perspective warp for nadir views
