"""Training windows with context (dronefast/data/windows.py): the extent drawn, photo and mask kept together,
validation left alone, and the DataLoaders that use it."""
from __future__ import annotations

import pytest
import torch
from fastai.torch_core import TensorImage, TensorMask

from dronefast.data import windows
from dronefast.data.block import drone_dataloaders
from dronefast.data.windows import ContextZoom, context_crop


def blocks(n: int = 2, h: int = 64, w: int = 96):
    """A photo whose grey level is its class (8x8-pixel blocks of ids 0..23, ``(n, 3, h, w)`` float) and its mask."""
    ids = (torch.arange(h)[:, None] // 8 * 5 + torch.arange(w)[None] // 8) % 24
    mask = ids[None].repeat(n, 1, 1)
    photo = (mask.float() / 23)[:, None].repeat(1, 3, 1, 1)
    return TensorImage(photo), TensorMask(mask)


def draws(monkeypatch, value: float):
    """Make every draw of ContextZoom `value` (0: the smallest part at the top left; 1: the whole window)."""
    monkeypatch.setattr(windows.torch, "rand", lambda *shape, **kw: torch.full(shape, value))


@pytest.mark.parametrize("size, context, work, want", [
    ((96, 144), 2.0, (192, 288), (192, 288)),   # the whole working photo
    ((96, 144), 3.0, (192, 288), (192, 288)),   # at most the whole photo
    ((96, 144), 1.5, (400, 600), (144, 216)),
    ((100, 150), 1.0, (400, 600), (100, 150)),  # plain windows
    ((33, 50), 1.5, (400, 600), (50, 75)),      # rounded up
])
def test_context_crop(size, context, work, want):
    assert context_crop(size, context, work) == want


def test_smallest_draw_is_a_window_at_the_working_scale(monkeypatch):
    """Draws of 0: extent 1x at the top-left corner, i.e. exactly the first (h, w) pixels, photo and mask."""
    x, y = blocks()
    draws(monkeypatch, 0.0)
    px, py = ContextZoom((32, 48))((x, y), split_idx=0)
    assert torch.allclose(px, x[..., :32, :48], atol=1e-6)
    assert torch.equal(py, y[..., :32, :48])


def test_largest_draw_is_the_whole_window_shrunk(monkeypatch):
    """Draws of 1: the whole 64x96 window at 32x48, i.e. every other pixel for the nearest-sampled mask."""
    x, y = blocks()
    draws(monkeypatch, 1.0)
    px, py = ContextZoom((32, 48))((x, y), split_idx=0)
    assert px.shape == (2, 3, 32, 48) and py.shape == (2, 32, 48)
    assert torch.equal(py, y[..., ::2, ::2]) or torch.equal(py, y[..., 1::2, 1::2])
    assert torch.allclose(px.mean(), x.mean(), atol=0.02)


def test_photo_and_mask_stay_together():
    """Random draws: wherever the resampled photo is a pure class level (inside a block), the mask has that class."""
    torch.manual_seed(0)
    x, y = blocks(n=8)
    px, py = ContextZoom((32, 48))((x, y), split_idx=0)
    level, py = (px[:, 0] * 23).as_subclass(torch.Tensor), py.as_subclass(torch.Tensor)
    inside = (level - level.round()).abs() < 1e-4
    assert inside.float().mean() > 0.5
    assert torch.equal(level.round().long()[inside], py[inside])
    assert set(py.unique().tolist()) <= set(y.unique().tolist())  # nearest: no invented ids


def test_validation_batches_are_left_whole():
    x, y = blocks()
    vx, vy = ContextZoom((32, 48))((x, y), split_idx=1)
    assert vx is x and vy is y


def test_dataloaders_cut_context_windows_and_serve_the_window_size(sample_kaggle):
    """With context 2 the loader cuts 64x96 (the whole 96x64 working photo) and trains on 32x48 windows of it;
    validation photos stay whole at the working scale."""
    dls = drone_dataloaders(sample_kaggle, size=(32, 48), bs=2, work_size=(64, 96), context=2.0, progress=False,
                            augment=False)
    assert dls.train.crop == (64, 96)
    x, y = dls.one_batch()
    assert x.shape[-2:] == (32, 48) and y.shape[-2:] == (32, 48)
    vx, vy = dls.valid.one_batch()
    assert vx.shape[-2:] == (64, 96) and vy.shape[-2:] == (64, 96)
