"""Tests of dronefast.models.normalise: the one input normalisation gives, bit for bit, what the Predictor, the
ONNX export's calibration windows and the prediction benchmark each computed with their own expression before."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dronefast.models.modelfile import ModelInfo
from dronefast.models.normalise import normalise_photos

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # ModelInfo's defaults (ImageNet)


def _photos(b=2, h=5, w=7, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (b, h, w, 3), dtype=np.uint8))


def test_hand_computed_values():
    x = torch.tensor([[[[0, 255, 51]]]], dtype=torch.uint8)            # one pixel (1, 1, 1, 3)
    y = normalise_photos(x, (0.0, 0.5, 0.2), (1.0, 0.25, 0.1))
    assert y.shape == (1, 3, 1, 1) and y.dtype == torch.float32
    assert y.flatten().tolist() == pytest.approx([0.0, 2.0, 0.0], abs=1e-6)   # (1 - .5) / .25; (.2 - .2) / .1


def test_same_as_the_predictors_former_expression():
    photos, info = _photos(), ModelInfo(arch="resnet18", classes=None, size=(32, 48))
    mean = torch.tensor(info.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32).view(1, 3, 1, 1)
    old = (photos.permute(0, 3, 1, 2).float().div(255) - mean) / std
    assert torch.equal(normalise_photos(photos, info.mean, info.std, "cpu"), old)


def test_same_as_the_benchmarks_former_expression():
    photos = _photos(seed=1)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    old = ((photos.permute(0, 3, 1, 2).float() / 255) - mean) / std
    assert torch.equal(normalise_photos(photos, MEAN, STD), old)


def test_same_as_the_calibration_windows_former_numpy_expression():
    arr = _photos(b=1, seed=2)[0].numpy()
    old = ((np.asarray(arr, np.float32) / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
           ).transpose(2, 0, 1)
    np.testing.assert_array_equal(normalise_photos(torch.from_numpy(arr)[None], MEAN, STD)[0].numpy(), old)


def test_device_and_contiguous_input_kept():
    photos = _photos()
    y = normalise_photos(photos, MEAN, STD, torch.device("cpu"))
    assert y.device.type == "cpu" and y.shape == (2, 3, 5, 7) and photos.dtype == torch.uint8   # input unchanged
