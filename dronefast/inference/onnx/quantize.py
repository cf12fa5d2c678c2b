"""Static int8 quantisation of an exported fp32 graph with ONNX Runtime: :func:`prepare_int8` (ONNX Runtime's
pre-processing), then :func:`quantize_int8`: QDQ format, per-channel int8 weights and uint8 activations calibrated
by min/max on normalised windows (fed by a calibration-data reader), with the nodes :func:`float_nodes` names
left in float. Which photos and windows calibrate, and the agreement gate, are the export's
(:mod:`dronefast.workflows.export_onnx`).
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ...outputs import output_error
from .runtime import INPUT_NAME, require_onnx, require_onnxruntime

__all__ = ["prepare_int8", "quantize_int8", "float_nodes", "CalibrationReader", "INT8_FLOAT_PARTS",
           "CALIBRATION_BATCH"]

PathLike = Union[str, Path]
#: What int8 leaves in float, tried in turn until the agreement is reached (:func:`float_nodes`): the logits'
#: convolution only (fastest), then the whole full-resolution tail (measured on a resnet34 trained 8 epochs on the
#: sample: 98.95 % -> 99.55 % agreement, 44 -> 63 ms per 144x96 tile on 1 thread, fp32 107 ms).
INT8_FLOAT_PARTS = ("logits", "tail")
#: Windows per ONNX Runtime run while calibrating (and while the export checks int8 against fp32).
CALIBRATION_BATCH = 4


class CalibrationReader:
    """Batches of :data:`CALIBRATION_BATCH` normalised windows ``(N, 3, h, w)`` float32 for ONNX Runtime's
    quantiser: a ``CalibrationDataReader`` by duck typing (its ``__subclasshook__`` checks ``get_next``)."""

    def __init__(self, windows: np.ndarray, batch: int = CALIBRATION_BATCH):
        self.it = iter([np.ascontiguousarray(windows[i:i + batch]) for i in range(0, len(windows), batch)])

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        """The next ``{input name: batch}``, None after the last."""
        b = next(self.it, None)
        return None if b is None else {INPUT_NAME: b}


@contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's quantiser logs warnings (and its pre-processing prints through the root logger)."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(old)


def prepare_int8(fp32: PathLike, pre: PathLike) -> Path:
    """Write `pre`, the fp32 graph `fp32` prepared for quantisation (ONNX Runtime's ``quant_pre_process``: shape
    inference and basic graph optimisations; symbolic shape inference cannot follow the Resize sizes read from tensors
    at run time, so it is skipped)."""
    require_onnxruntime("int8 quantisation")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    return Path(pre)


def float_nodes(nodes: Sequence[Any], part: str) -> List[str]:
    """Names of the graph `nodes` left in float for :data:`INT8_FLOAT_PARTS` `part`: ``"logits"``, the last
    convolution; ``"tail"``, everything after the last upsampling (``DepthToSpace``): the resize to the photo's
    size, the concatenation with the photo, the full-resolution ResBlock and the logits (the logits alone when the
    graph has no such upsampling)."""
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    ups = [i for i, n in enumerate(nodes) if n.op_type == "DepthToSpace"]
    if part == "tail" and ups:
        return [n.name for n in nodes[ups[-1] + 1:]]
    if part not in INT8_FLOAT_PARTS:
        raise ValueError(f"part must be one of {', '.join(INT8_FLOAT_PARTS)}, got {part!r}")
    return convs[-1:]


def quantize_int8(pre: PathLike, int8: PathLike, windows: np.ndarray, part: str = "logits") -> Dict[str, Any]:
    """Write `int8`, the static int8 quantisation of the prepared graph `pre` (:func:`prepare_int8`) calibrated on
    `windows` (normalised ``(N, 3, h, w)`` float32): QDQ, per-channel int8 weights, uint8 activations, min/max
    calibration, the nodes of :func:`float_nodes` `part` left in float. Returns the settings, for the record."""
    onnx = require_onnx("int8 quantisation")
    require_onnxruntime("int8 quantisation")
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    keep = float_nodes(onnx.load(str(pre), load_external_data=False).graph.node, part)
    with _quiet():
        try:
            quantize_static(str(pre), str(int8), CalibrationReader(windows), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep)
        except OSError as e:
            raise output_error(e, int8) from None
    return {"format": "QDQ", "weights": "int8 per channel", "activations": "uint8", "calibration": "MinMax",
            "float_part": part, "float_nodes": keep, "windows": int(len(windows))}
