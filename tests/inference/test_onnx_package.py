"""Tests of dronefast.inference.onnx as a package: every call into the ONNX libraries (``torch.onnx``, ``onnx``,
``onnxruntime``) is made in it, its modules' names are importable from it, and the parts of int8 quantisation that
need no ONNX library (which nodes stay in float, the calibration batches) give hand-computed results."""
from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import dronefast.inference.onnx as onnx_pkg
from dronefast.inference.onnx import graph, quantize, runtime
from dronefast.inference.onnx.quantize import CalibrationReader, float_nodes

PACKAGE = Path(onnx_pkg.__file__).resolve().parent.parent.parent   # dronefast/
ONNX_LIBRARIES = ("onnx", "onnxruntime", "torch.onnx")


def _onnx_uses(path: Path):
    """Lines of `path` importing an ONNX library or reaching ``torch.onnx`` as an attribute."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Attribute) and node.attr == "onnx" and getattr(node.value, "id", None) == "torch":
            names = ["torch.onnx"]
        if any(n == lib or n.startswith(lib + ".") for n in names for lib in ONNX_LIBRARIES):
            yield node.lineno


def test_every_onnx_library_call_is_in_the_onnx_package():
    outside = [f"{p.relative_to(PACKAGE.parent)}:{line}" for p in sorted(PACKAGE.rglob("*.py"))
               if (PACKAGE / "inference" / "onnx") not in p.parents for line in _onnx_uses(p)]
    assert outside == []
    inside = {p.name for p in (PACKAGE / "inference" / "onnx").glob("*.py") if list(_onnx_uses(p))}
    assert inside == {"graph.py", "quantize.py"}   # runtime imports onnxruntime by name (require_onnxruntime)


def test_the_check_sees_each_kind_of_use(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import onnx\nfrom onnxruntime.quantization import quantize_static\nimport torch\n"
                 "torch.onnx.export(1)\nimport onnxscript\n")
    assert list(_onnx_uses(f)) == [1, 2, 4]


def test_the_modules_names_are_the_packages():
    for module in (runtime, graph, quantize):
        for name in module.__all__:
            assert getattr(onnx_pkg, name) is getattr(module, name), name
    assert set(onnx_pkg.__all__) == set(runtime.__all__) | set(graph.__all__) | set(quantize.__all__)


def _nodes(*ops):
    return [SimpleNamespace(name=f"n{i}_{op}", op_type=op) for i, op in enumerate(ops)]


def test_float_nodes_logits_and_tail():
    nodes = _nodes("Conv", "Relu", "DepthToSpace", "Conv", "Resize", "Concat", "Conv", "Add", "Conv")
    assert float_nodes(nodes, "logits") == ["n8_Conv"]
    assert float_nodes(nodes, "tail") == ["n3_Conv", "n4_Resize", "n5_Concat", "n6_Conv", "n7_Add", "n8_Conv"]
    assert float_nodes(_nodes("Conv", "Relu", "Conv"), "tail") == ["n2_Conv"]   # no upsampling: the logits alone
    with pytest.raises(ValueError, match="part must be one of logits, tail"):
        float_nodes(nodes, "head")


def test_calibration_reader_gives_batches_of_four_then_none():
    windows = np.arange(10 * 3 * 2 * 2, dtype=np.float32).reshape(10, 3, 2, 2)
    reader = CalibrationReader(windows)
    got = []
    while (b := reader.get_next()) is not None:
        assert list(b) == ["input"] and b["input"].flags["C_CONTIGUOUS"]
        got.append(b["input"])
    assert [len(b) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(got), windows)
    assert reader.get_next() is None
