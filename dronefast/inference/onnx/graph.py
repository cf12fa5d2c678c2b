"""The ONNX graph of a U-Net: :func:`trace_onnx` writes it, :func:`check_onnx` checks it with ``onnx.checker``.

How the graph is made (measured on this project's U-Nets, every encoder):

* PyTorch's TorchScript exporter (``torch.onnx.export(dynamo=False)``), opset :data:`OPSET` (17: read by ONNX
  Runtime, TensorRT 8.6+ and OpenVINO 2023+), with dynamic batch, height and width.
* Traced at :data:`TRACE_SIZE` (161x241), odd at every stride-2 stage: fastai's U-Net resizes a decoder output to
  its skip connection only when their shapes differ, so only a size where they all differ records every ``Resize``
  (with sizes read from the tensors at run time) and gives a graph valid for any input size; traced at the model
  size, a graph fails on other sizes.
* The network is wrapped so that the output is a plain tensor, and ``.eval()`` is called on the wrapper (the
  exporter restores the wrapper's mode into the network afterwards: a wrapper left in training mode would leave
  BatchNorm on batch statistics).
* Checked with ``onnx.checker.check_model(full_check=True)`` (with shape inference).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Union

import torch
from torch import nn

from ...errors import ModelFileError
from ...outputs import output_error
from .runtime import INPUT_NAME, OUTPUT_NAME, require_onnx

__all__ = ["trace_onnx", "check_onnx", "OPSET", "TRACE_SIZE"]

PathLike = Union[str, Path]
#: ONNX opset of the export.
OPSET = 17
#: ``(height, width)`` the graph is traced at: odd at every stride-2 stage (161 -> 81 -> 41 -> 21 -> 11).
TRACE_SIZE = (161, 241)


class _Plain(nn.Module):
    """The U-Net returning a plain ``torch.Tensor`` (fastai's last layer returns a TensorBase subclass)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).as_subclass(torch.Tensor)


def trace_onnx(net: nn.Module, path: PathLike, opset: int = OPSET) -> Path:
    """Write `net` as an ONNX graph with dynamic batch, height and width to `path` (see the module docstring).
    `net` is left in eval mode. A file that cannot be written is one OutputError naming `path`."""
    wrapper = _Plain(net).eval()  # on the wrapper: the exporter restores the wrapper's mode into `net` afterwards
    dummy = torch.randn(1, 3, *TRACE_SIZE, device=next(net.parameters()).device)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        # the TracerWarnings are the shape comparisons tracing at TRACE_SIZE records; the exporter is deprecated
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(wrapper, (dummy,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True,
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes})
        except OSError as e:  # the exporter writes with a plain open(): a full disk names no file
            raise output_error(e, path) from None
    net.eval()
    return Path(path)


def check_onnx(path: PathLike) -> None:
    """``onnx.checker.check_model(full_check=True)`` of `path` (with shape inference); ModelFileError naming the file
    when it fails."""
    onnx = require_onnx()
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - onnx raises ValidationError, InferenceError, protobuf errors
        raise ModelFileError(f"{path}: the exported graph fails onnx.checker ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:300]})") from None
