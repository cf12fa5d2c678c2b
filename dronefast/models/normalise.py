"""The model's input normalisation, one function for every caller: the Predictor, the ONNX export's int8
calibration windows and the prediction benchmark all turn photos into network input with :func:`normalise_photos`
(training normalises with fastai's ``Normalize`` on the same ``ModelInfo`` statistics)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

__all__ = ["normalise_photos"]


def normalise_photos(photos: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                     device: Optional[Any] = None) -> torch.Tensor:
    """``(B, h, w, 3)`` uint8 RGB photos -> ``(B, 3, h, w)`` float32 ``(photos / 255 - mean) / std`` per channel,
    on `device` (default: where `photos` are); `mean`, `std` are a model's ``ModelInfo.mean`` / ``.std`` (3 values
    each, of 0..1 RGB)."""
    x = (photos if device is None else photos.to(device)).permute(0, 3, 1, 2).float().div(255)
    mean_t = torch.tensor(tuple(mean), dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(tuple(std), dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean_t) / std_t
