"""Training windows with context: each object-scale training item shows between 1x and `context` times the extent
of a window, shrunk to the window's size.

Plain random windows of a photo at the working scale (``context=1``) keep people and cars at the size they have
there, but each item then shows a small part of the scene, and a window cut through a car or a roof teaches little
about it. Segmentation tools for large photos draw the scale too (mmsegmentation's ``RandomResize`` with a ratio
range before ``RandomCrop``): here the loader cuts a window of ``context x`` the training size
(:class:`~dronefast.data.loaders.CachedDL`'s crop), and :class:`ContextZoom` picks, per item, a random part of it
between the training size and all of it and resamples it to the training size (bilinear for the photo, nearest
for the mask, one sampling grid for both). At one end an item is a window at the working scale (what prediction
sees), at the other the whole context shrunk, as in whole-photo training; the step costs what a window costs.
Validation photos are left whole (training set only).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from fastai.torch_core import TensorImage, TensorMask
from fastai.vision.augment import RandTransform

__all__ = ["ContextZoom", "context_crop"]


def context_crop(size: Tuple[int, int], context: float, work_size: Tuple[int, int]) -> Tuple[int, int]:
    """``(h, w)`` of the windows the loader cuts for `context` around training windows of ``size = (h, w)``, at
    most the working size (the whole photo)."""
    return (min(work_size[0], math.ceil(size[0] * context)), min(work_size[1], math.ceil(size[1] * context)))


class ContextZoom(RandTransform):
    """Resample a random part of each training window to ``size = (h, w)``: its extent is drawn log-uniformly
    between `size` and the whole window (a batch ``(B, 3, H, W)`` float photo and ``(B, H, W)`` mask in, ``(B, 3,
    h, w)`` and ``(B, h, w)`` out), at a uniform random place. Training set only (``split_idx = 0``)."""

    split_idx, order = 0, 20  # after IntToFloatTensor (10), before fastai's affine augmentations (30)

    def __init__(self, size: Tuple[int, int]):
        super().__init__(p=1.0)
        self.size = tuple(int(v) for v in size)

    def before_call(self, b, split_idx: int) -> None:
        super().before_call(b, split_idx)
        x = b[0] if isinstance(b, tuple) else b
        n, (H, W), (h, w) = x.shape[0], x.shape[-2:], self.size
        most = min(H / h, W / w)  # the largest zoom-out the window allows
        g = torch.rand(n, 3, device=x.device)
        s = torch.exp(g[:, 0] * math.log(most)) if most > 1 else torch.ones(n, device=x.device)
        fy, fx = s * h / H, s * w / W  # share of the window's height and width the part covers (<= 1)
        ty, tx = (2 * g[:, 1] - 1) * (1 - fy), (2 * g[:, 2] - 1) * (1 - fx)
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = fx, tx, fy, ty
        self.grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)

    def encodes(self, x: TensorImage) -> TensorImage:
        if tuple(x.shape[-2:]) == self.size:
            return x
        out = F.grid_sample(x.float(), self.grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        return TensorImage(out.to(x.dtype))

    def encodes(self, y: TensorMask) -> TensorMask:  # noqa: F811 (fastai dispatches on the annotated type)
        if tuple(y.shape[-2:]) == self.size:
            return y
        out = F.grid_sample(y[:, None].float(), self.grid, mode="nearest", padding_mode="reflection",
                            align_corners=False)
        return TensorMask(out[:, 0].long())
