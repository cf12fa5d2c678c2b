"""Engines: what turns a batch of normalised photos into logits. The Predictor does the rest (decoding, tiling,
blending, test-time augmentation, upsampling) the same way whatever the engine.

:class:`TorchEngine` runs a PyTorch network; ONNX Runtime on an exported model is in
:mod:`dronefast.inference.onnx` (optional extra ``[onnx]``).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

__all__ = ["TorchEngine"]


class TorchEngine:
    """A PyTorch segmentation network in eval mode, called on ``(B, 3, h, w)`` float32 batches on `device`.

    Args:
        model: the network (moved to `device`, put in eval mode and, on CPU or with bf16, in channels-last).
        device: where it runs.
        bf16: bfloat16 autocast on CUDA or CPU (ignored elsewhere).
    """

    def __init__(self, model: nn.Module, device: torch.device, bf16: bool = False):
        self.device = torch.device(device)
        self.bf16 = bool(bf16) and self.device.type in ("cuda", "cpu")
        # channels-last weights match the input (a permuted NHWC batch): no weight reorder per call on CPU, and
        # tensor-core kernels with bf16 on GPUs
        self.memory_format = torch.channels_last if (self.device.type == "cpu" or self.bf16) \
            else torch.contiguous_format
        self.model = model.to(self.device).eval().to(memory_format=self.memory_format)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C, h, w)`` float32 of a normalised ``(B, 3, h, w)`` float32 batch on the device."""
        x = x.contiguous(memory_format=self.memory_format)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        with torch.inference_mode(), amp:
            # fastai's layers return TensorBase subclasses; plain float32 tensors keep the blending cheap
            return self.model(x).as_subclass(torch.Tensor).float()
