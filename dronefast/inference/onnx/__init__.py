"""Every use of the ONNX libraries (``torch.onnx``, ``onnx``, ``onnxruntime``) in the package, one job a module:

    runtime     ONNX Runtime sessions and the prediction engine (:class:`OnnxEngine`), the files of an export
                folder, their checks, and the one-line messages of ONNX Runtime's errors
    graph       the graph of a U-Net: traced with dynamic sizes (:func:`trace_onnx`), checked (:func:`check_onnx`)
    quantize    static int8: pre-processing, the calibration-data reader, quantisation (:func:`quantize_int8`)

The export itself (which photos calibrate, the agreement gates, the files written) is
:mod:`dronefast.workflows.export_onnx`. The names of the three modules are importable from here. Importing this
package needs neither ``onnx`` nor ``onnxruntime`` (the optional extra ``[onnx]``); the functions that need them
say how to install them.
"""
from .graph import OPSET, TRACE_SIZE, check_onnx, trace_onnx
from .quantize import CALIBRATION_BATCH, INT8_FLOAT_PARTS, CalibrationReader, float_nodes, prepare_int8, quantize_int8
from .runtime import (
    EXPORT_NAME,
    INPUT_NAME,
    INSTALL,
    INT8_NAME,
    ONNX_NAME,
    OUTPUT_NAME,
    OnnxEngine,
    check_graph_digest,
    check_signature,
    engine_for,
    is_onnx_export,
    onnx_files,
    onnx_session,
    onnx_versions,
    ort_error,
    require_onnx,
    require_onnxruntime,
)

__all__ = ["OnnxEngine", "require_onnxruntime", "require_onnx", "onnx_files", "onnx_session", "check_signature",
           "check_graph_digest", "ort_error", "is_onnx_export", "engine_for", "onnx_versions", "ONNX_NAME",
           "INT8_NAME", "EXPORT_NAME", "INPUT_NAME", "OUTPUT_NAME", "INSTALL", "trace_onnx", "check_onnx", "OPSET",
           "TRACE_SIZE", "prepare_int8", "quantize_int8", "float_nodes", "CalibrationReader", "INT8_FLOAT_PARTS",
           "CALIBRATION_BATCH"]
