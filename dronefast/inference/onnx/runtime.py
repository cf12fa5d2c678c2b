"""ONNX Runtime as a prediction engine: :class:`OnnxEngine` runs a model exported by ``python -m dronefast.export``
(:mod:`dronefast.workflows.export_onnx`) on a batch of normalised photos, like
:class:`~dronefast.inference.engines.TorchEngine` runs the PyTorch network; decoding, tiling, blending, test-time
augmentation and upsampling stay the :class:`~dronefast.inference.predictor.Predictor`'s, the same for both.

An export folder holds ``model.onnx`` (fp32), optionally ``model.int8.onnx`` (static int8), a copy of the model's
``model.json`` (classes and colours, input size, normalisation, scale) and ``export.json`` (what the export
measured). :meth:`OnnxEngine.from_path` takes the folder (its ``model.onnx``) or either ``.onnx`` file, reads the
``model.json`` beside it, and checks before the first photo that the graph is the one exported (its size and
SHA-256 as ``export.json`` records them; no ``export.json``, no use) and fits the description (one float input of
3 channels, one output per class); ONNX Runtime's own errors (a damaged file, an input it cannot take, a failure
inside the graph) are raised as one :class:`~dronefast.errors.ModelFileError` naming the file and the problem.

ONNX Runtime is an optional extra (``pip install 'dronefast[onnx]'``); without it :func:`require_onnxruntime` says
so in one line. Importing this module needs neither ``onnx`` nor ``onnxruntime``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from ...errors import DronefastError, ModelFileError
from ...models.description import MODEL_STEM, file_sha256, model_paths, read_description
from ...models.modelfile import ModelInfo

__all__ = ["OnnxEngine", "require_onnxruntime", "require_onnx", "onnx_files", "onnx_session", "check_signature",
           "check_graph_digest", "ort_error", "is_onnx_export", "engine_for", "onnx_versions", "ONNX_NAME", "INT8_NAME",
           "EXPORT_NAME", "INPUT_NAME", "OUTPUT_NAME", "INSTALL"]

PathLike = Union[str, Path]
#: Files of an export folder: the fp32 graph, the int8 graph, what the export measured.
ONNX_NAME, INT8_NAME, EXPORT_NAME = f"{MODEL_STEM}.onnx", f"{MODEL_STEM}.int8.onnx", "export.json"
#: Names of the graph's input (normalised photos) and output (logits).
INPUT_NAME, OUTPUT_NAME = "input", "logits"
#: How to install the optional extra.
INSTALL = "pip install 'dronefast[onnx]' (or: pip install onnx onnxruntime)"


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] == module:
            raise DronefastError(f"{what} needs the optional package {module}: {INSTALL}") from None
        raise DronefastError(f"{what}: {module} is installed but cannot be imported ({e}); reinstall it: "
                             f"{INSTALL}") from None


def require_onnxruntime(what: str = "the onnxruntime engine") -> Any:
    """The ``onnxruntime`` module; one-line :class:`~dronefast.errors.DronefastError` saying how to install it when
    it is missing."""
    return _require("onnxruntime", what)


def require_onnx(what: str = "ONNX export") -> Any:
    """The ``onnx`` module; one-line DronefastError saying how to install it when it is missing."""
    return _require("onnx", what)


def onnx_versions() -> Dict[str, str]:
    """``{"onnx": version, "onnxruntime": version}`` of the installed packages (both must be installed)."""
    return {"onnx": require_onnx().__version__, "onnxruntime": require_onnxruntime().__version__}


def _not_onnx(path: Path) -> ModelFileError:
    saved = path.suffix in (".json", ".safetensors", ".pkl") or (path / f"{MODEL_STEM}.safetensors").is_file()
    hint = (f"; it is a saved PyTorch model: export it first (python -m dronefast.export {path} --out DIR) or "
            f"predict with --engine torch") if saved else ""
    return ModelFileError(f"{path}: not an exported ONNX model (a folder with {ONNX_NAME}, or an .onnx file "
                          f"written by python -m dronefast.export){hint}")


def is_onnx_export(path: PathLike) -> bool:
    """Whether `path` names an exported ONNX model and no saved PyTorch one: an ``.onnx`` file, or a folder (or its
    ``model.json``) holding ``model.onnx`` and no ``model.safetensors``."""
    path = Path(path)
    if path.suffix == ".onnx":
        return True
    if not (path.is_dir() or (path.suffix == ".json" and path.is_file())):
        return False
    weights, desc = model_paths(path)
    return (desc.parent / ONNX_NAME).is_file() and not weights.is_file()


def engine_for(model: Any, engine: str) -> Tuple[str, Optional[str]]:
    """``(engine, why)``: the engine that runs `model`. The default ``"torch"`` given the path of an ONNX export
    (:func:`is_onnx_export`) becomes ``"onnxruntime"``, and `why` says so in one line (else None); any other choice
    stays. ModelFileError for a folder holding neither a saved model nor an export."""
    if engine != "torch" or not isinstance(model, (str, Path)):
        return engine, None
    path = Path(model)
    if path.is_dir() and not (path / f"{MODEL_STEM}.safetensors").is_file() and not (path / ONNX_NAME).is_file():
        raise ModelFileError(f"{path}: neither a saved model ({MODEL_STEM}.json + {MODEL_STEM}.safetensors) nor an "
                             f"ONNX export ({ONNX_NAME} + {MODEL_STEM}.json) in this folder; pass a training run "
                             f"folder, its model.json, or a folder written by python -m dronefast.export")
    if not is_onnx_export(path):
        return engine, None
    return "onnxruntime", (f"{path}: an ONNX export (no {MODEL_STEM}.safetensors): running it with ONNX Runtime "
                           f"(engine onnxruntime)")


def onnx_files(path: PathLike) -> Tuple[Path, Path]:
    """``(the .onnx graph, the model.json beside it)`` of an export folder (its ``model.onnx``), an ``.onnx`` file,
    or the export's ``model.json``; ModelFileError naming what is missing otherwise."""
    path = Path(path)
    if path.is_dir():
        graph = path / ONNX_NAME
        if not graph.is_file():
            if (path / f"{MODEL_STEM}.safetensors").is_file():
                raise _not_onnx(path)
            raise ModelFileError(f"{path}: no {ONNX_NAME} in this folder; export a model with python -m "
                                 f"dronefast.export")
    elif path.suffix == ".onnx":
        graph = path
    elif path.suffix == ".json" and (path.parent / ONNX_NAME).is_file():
        graph = path.parent / ONNX_NAME
    elif not path.exists() and path.suffix in ("", ".json", ".safetensors"):
        raise ModelFileError(f"{path}: model file not found")
    else:
        raise _not_onnx(path)
    if not graph.is_file():
        raise ModelFileError(f"{graph}: model file not found")
    desc = graph.parent / f"{MODEL_STEM}.json"
    if not desc.is_file():
        raise ModelFileError(f"{desc}: model file not found; an exported {graph.name} needs the {desc.name} written "
                             f"beside it (classes, colours, normalisation)")
    return graph, desc


def ort_error(e: BaseException) -> str:
    """ONNX Runtime's exception as ``what it means (Type: first line of its message)`` on one line (ORT's errors
    subclass only ``Exception``: they are told apart by their type's name)."""
    kind = type(e).__name__
    meaning = {"InvalidProtobuf": "not a complete ONNX model: truncated, damaged or another format",
               "NoSuchFile": "model file not found", "InvalidGraph": "not a valid ONNX graph",
               "InvalidArgument": "ONNX Runtime refused the input", "NotImplemented": "an operator this ONNX Runtime "
               "does not implement", "Fail": "ONNX Runtime failed"}.get(kind, "ONNX Runtime failed")
    detail = " ".join(str(e).split())
    return f"{meaning} ({kind}: {detail[:240]}{'...' if len(detail) > 240 else ''})"


def _providers(ort: Any, device: Optional[torch.device]) -> List[Any]:
    if device is not None and device.type == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        warnings.warn(f"device {device} asked for, but this onnxruntime has no CUDA provider (pip install "
                      f"onnxruntime-gpu): running on the CPU", RuntimeWarning, stacklevel=3)
    return ["CPUExecutionProvider"]


def onnx_session(path: PathLike, threads: Optional[int] = None, device: Any = None, spin: bool = False) -> Any:
    """An ONNX Runtime ``InferenceSession`` of `path` with every graph optimisation (``ORT_ENABLE_ALL``: constant
    folding, Conv+BatchNorm+ReLU fusion, the NCHWc layout on x86) and no memory arena, on the CPU, or on CUDA when
    `device` is a CUDA device and this onnxruntime has the CUDA provider.

    Args:
        threads: intra-op threads (None: ONNX Runtime's default, one per physical core).
        spin: let idle worker threads spin between runs (ONNX Runtime's default; faster back-to-back runs, but they
            take CPU from the Predictor's blending and from other processes).

    Raises:
        ModelFileError: naming `path`, when ONNX Runtime cannot load it.
    """
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads or 0)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: they are raised as exceptions anyway
    # no arena: memory goes back after each run (measured: -90 MB peak on a 6000x4000 photo, no slower)
    opts.enable_cpu_mem_arena = False
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    dev = torch.device(device) if device is not None else None
    try:
        return ort.InferenceSession(str(path), opts, providers=_providers(ort, dev))
    except Exception as e:  # noqa: BLE001 - ORT's errors (InvalidProtobuf, NoSuchFile, Fail...) subclass only Exception
        raise ModelFileError(f"{path}: {ort_error(e)}") from None


def _dims(arg: Any) -> str:
    return "(" + ", ".join(str(d) for d in arg.shape) + ")"


def check_signature(session: Any, info: ModelInfo, path: PathLike) -> Tuple[str, str]:
    """``(input name, output name)`` of a session after checking that its graph fits `info`: one float input
    ``(batch, 3, height, width)``, an output ``(batch, C, height, width)`` with C the number of classes of the model
    description; ModelFileError naming `path` otherwise."""
    ins, outs = session.get_inputs(), session.get_outputs()
    if len(ins) != 1 or not outs:
        raise ModelFileError(f"{path}: expected a graph with one input and one output, found {len(ins)} input(s) "
                             f"and {len(outs)} output(s)")
    i, o = ins[0], outs[0]
    if i.type != "tensor(float)" or len(i.shape) != 4 or i.shape[1] != 3:
        raise ModelFileError(f"{path}: input {i.name!r} is {i.type} {_dims(i)}; expected float "
                             f"(batch, 3, height, width) RGB photos")
    n = len(info.classes)
    if len(o.shape) != 4 or (isinstance(o.shape[1], int) and o.shape[1] != n):
        raise ModelFileError(f"{path}: output {o.name!r} is {_dims(o)}, but {MODEL_STEM}.json lists {n} classes "
                             f"(expected (batch, {n}, height, width)); the graph and the description do not belong "
                             f"together")
    return i.name, o.name


def check_graph_digest(graph: PathLike) -> None:
    """Check an exported graph against the size and SHA-256 that the ``export.json`` beside it records;
    ModelFileError naming the graph when they differ (truncated, or changed in place even to the same size) or when
    there is no record to check it by (an export is used only checked: the record is written last by the export,
    so without it the export is incomplete or was altered)."""
    graph = Path(graph)
    record = graph.parent / EXPORT_NAME
    try:
        entry = json.loads(record.read_text(encoding="utf-8"))["files"][graph.name]
        size, digest = int(entry["bytes"]), str(entry["sha256"])
    except FileNotFoundError:
        raise ModelFileError(f"{graph}: no {EXPORT_NAME} beside it, which records the graph's SHA-256 (an export is "
                             f"never used unchecked); copy {EXPORT_NAME} with the graph, or export the model again"
                             ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{record}: cannot read the size and SHA-256 of {graph.name} from it ({type(e).__name__}: "
                             f"{str(e)[:100]}); export the model again") from None
    actual = graph.stat().st_size
    if actual != size:
        raise ModelFileError(f"{graph}: {actual:,} bytes, but {EXPORT_NAME} records {size:,}: truncated or "
                             f"changed since the export")
    if file_sha256(graph) != digest:
        raise ModelFileError(f"{graph}: its SHA-256 differs from the one {EXPORT_NAME} records: changed or damaged "
                             f"since the export; refusing to use it")


class OnnxEngine:
    """An ONNX Runtime session called on ``(B, 3, h, w)`` float32 batches, returning float32 logits
    ``(B, C, h, w)`` on `device` (see the module docstring); build it with :meth:`from_path`.

    Args:
        session: an ``onnxruntime.InferenceSession`` (:func:`onnx_session`).
        info: the model description the graph was checked against.
        path: the ``.onnx`` file (named in errors).
        device: where the logits go (the Predictor's device).
        max_batch: windows per ONNX Runtime run (a larger batch is run in slices; None: whole batches). On the CPU
            ONNX Runtime takes the same time per window at any batch size (measured, 1 to 8 windows of 144x96:
            within the noise), so :meth:`from_path` runs CPU sessions one window at a time: the activations of one
            window are held instead of eight, and without an arena they are not mapped afresh every run (batch 8:
            32,000 page faults and +10-15 % time per call).
    """

    #: What the Predictor and the benchmarks read of an engine: inputs are plain contiguous NCHW, no autocast.
    memory_format = torch.contiguous_format
    bf16 = False

    def __init__(self, session: Any, info: ModelInfo, path: PathLike, device: Any = "cpu",
                 max_batch: Optional[int] = None):
        self.session, self.info, self.path = session, info, Path(path)
        self.device = torch.device(device)
        self.max_batch = max_batch
        self.input_name, self.output_name = check_signature(session, info, self.path)

    @classmethod
    def from_path(cls, path: Any, threads: Optional[int] = None, device: Any = None, spin: bool = False
                  ) -> Tuple["OnnxEngine", ModelInfo]:
        """``(engine, ModelInfo)`` of an export folder, its ``model.onnx`` / ``model.int8.onnx`` or its
        ``model.json`` (:func:`onnx_files`); `threads`, `device`, `spin` as :func:`onnx_session`. An
        ``(OnnxEngine, ModelInfo)`` pair is returned as it is (to share one session between Predictors).

        Raises:
            DronefastError: onnxruntime is not installed (the message says how to install it).
            ModelFileError: naming the file: missing, truncated, changed or damaged (its size or SHA-256 differs
                from the one ``export.json`` records, there is no ``export.json``, or ONNX Runtime cannot load it),
                or a graph that does not fit ``model.json``.
        """
        if isinstance(path, tuple):
            if len(path) == 2 and isinstance(path[0], cls):
                return path
            raise TypeError("the onnxruntime engine runs an exported model (a folder with model.onnx, or the .onnx "
                            "file), not an in-memory PyTorch network; export it with dronefast.workflows.export_onnx")
        require_onnxruntime()
        graph, desc = onnx_files(path)
        info = ModelInfo.from_json(read_description(desc), str(desc))
        check_graph_digest(graph)
        device = torch.device(device) if device is not None else torch.device("cpu")
        session = onnx_session(graph, threads, device, spin)
        on_cpu = session.get_providers()[0] == "CPUExecutionProvider"
        return cls(session, info, graph, device, max_batch=1 if on_cpu else None), info

    @property
    def providers(self) -> List[str]:
        """ONNX Runtime execution providers of the session, preferred first."""
        return list(self.session.get_providers())

    @property
    def model(self):
        """No PyTorch network here: AttributeError (the session is :attr:`session`)."""
        raise AttributeError("the onnxruntime engine has no PyTorch network (see .session)")

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits of a float32 numpy batch ``(B, 3, h, w)`` as a numpy array, `max_batch` windows at a time
        (ModelFileError naming the file when ONNX Runtime fails)."""
        n = self.max_batch
        if n is not None and len(x) > n:
            return np.concatenate([self.run(x[i:i + n]) for i in range(0, len(x), n)])
        try:
            return self.session.run([self.output_name], {self.input_name: x})[0]
        except Exception as e:  # noqa: BLE001 - ORT's errors subclass only Exception
            raise ModelFileError(f"{self.path}: on a batch of shape {tuple(x.shape)}: {ort_error(e)}") from None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C, h, w)`` float32 on the engine's device of a normalised ``(B, 3, h, w)`` float32 batch."""
        if x.ndim != 4 or x.shape[1] != 3 or x.dtype != torch.float32:
            raise ModelFileError(f"{self.path}: expects float32 (batch, 3, height, width) photos, got "
                                 f"{x.dtype} {tuple(x.shape)}")
        y = self.run(x.detach().to("cpu").contiguous().numpy())
        return torch.from_numpy(y).to(self.device)

    def __repr__(self) -> str:
        return f"OnnxEngine({self.path}, providers={self.providers})"
