"""Export a saved model to ONNX for deployment: ``export_onnx("runs/train", "deploy")`` writes ``deploy/model.onnx``
beside a copy of ``model.json`` (classes and colours, input size, normalisation, scale: what a runtime needs to
turn photos into class maps) and ``export.json`` (what was checked and measured); with ``int8=True`` also
``deploy/model.int8.onnx``, a statically quantised graph for CPUs. Command line: ``python -m dronefast.export``.

This module is the workflow; every call into the ONNX libraries is in :mod:`dronefast.inference.onnx` (how the
graph is traced and checked: :mod:`~dronefast.inference.onnx.graph`; int8: :mod:`~dronefast.inference.onnx.quantize`).
The fp32 graph is traced, checked with ``onnx.checker``, then run in ONNX Runtime on random inputs at the model
size and at an odd size and compared with PyTorch (:data:`FP32_MIN_AGREEMENT` of pixels must agree).

int8: ONNX Runtime static quantisation calibrated on windows of training photos cut and normalised as the Predictor
cuts and normalises them (:func:`photo_windows`), the final 1x1 convolution (the logits) left in float. Its pixel
agreement with fp32 is measured on held-out photos; below :data:`INT8_MIN_AGREEMENT` the graph is quantised again
with the whole full-resolution tail in float (:data:`~dronefast.inference.onnx.quantize.INT8_FLOAT_PARTS`), and the
export refused when that is not enough either, unless forced. Calibration photos are training photos of the model's
own split (the photos its run recorded, :func:`~dronefast.data.split.model_split`; re-derived from its settings for
an older model), never its test photos; held-out photos are its validation photos (then training photos not used
for calibration). The export's ``model.json`` is the model's, so the recorded split (``extra["split"]``) travels
with the exported graph.

Nothing is written unless the fp32 graph passed: files are made in a temporary folder inside the output folder and
moved into place one by one (``export.json`` last), each atomically. An int8 graph below the agreement gate is not
written, while the fp32 files that passed are (``export.json``'s ``int8`` records the attempt, ``"written": false``);
then the refusal is raised, with the agreement measured.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import DronefastError, ModelFileError, OutputError
from ..inference.onnx import (
    CALIBRATION_BATCH,
    EXPORT_NAME,
    INPUT_NAME,
    INT8_FLOAT_PARTS,
    INT8_NAME,
    ONNX_NAME,
    OPSET,
    OUTPUT_NAME,
    TRACE_SIZE,
    OnnxEngine,
    check_onnx,
    onnx_session,
    onnx_versions,
    prepare_int8,
    quantize_int8,
    require_onnx,
    require_onnxruntime,
    trace_onnx,
)
from ..models.description import MODEL_STEM, file_sha256, model_paths
from ..models.grid import DEFAULT_OVERLAP, window_boxes
from ..models.modelfile import ModelInfo, load_model
from ..models.normalise import normalise_photos
from ..models.tiling import pad_to
from ..outputs import atomic_path, make_folder, output_error, remove_file, write_json

__all__ = ["export_onnx", "ExportResult", "verify_onnx", "calibration_photos", "photo_windows", "pixel_agreement",
           "logits_of", "FP32_MIN_AGREEMENT", "INT8_MIN_AGREEMENT", "CALIBRATION_PHOTOS", "CHECK_PHOTOS",
           "WINDOWS_PER_PHOTO", "EXPORT_FORMAT"]

PathLike = Union[str, Path]
#: Share of pixels whose class must agree between ONNX Runtime fp32 and PyTorch on the export's random inputs.
FP32_MIN_AGREEMENT = 0.999
#: Share of pixels whose class must agree between int8 and fp32 on held-out photos (unless forced).
INT8_MIN_AGREEMENT = 0.99
#: Training photos calibrating int8, held-out photos checking it, and windows cut from each photo at most.
CALIBRATION_PHOTOS, CHECK_PHOTOS, WINDOWS_PER_PHOTO = 16, 8, 4
#: ``format`` of ``export.json``.
EXPORT_FORMAT = "dronefast-onnx-export"


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote: the folder, the files, and the record written to ``export.json``."""

    out: Path
    onnx: Path
    int8: Optional[Path]
    description: Path
    report: Path
    record: Dict[str, Any] = field(default_factory=dict)


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def logits_of(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """PyTorch fp32 logits ``(B, C, h, w)`` of a normalised float32 batch (the reference of the checks)."""
    with torch.inference_mode():
        y = net(torch.from_numpy(x).to(_device(net))).as_subclass(torch.Tensor)
    return y.float().cpu().numpy()


def pixel_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels whose class (argmax over axis 1 of ``(B, C, h, w)`` logits) is the same in `a` and `b`."""
    return float((a.argmax(1) == b.argmax(1)).mean())


def verify_onnx(net: nn.Module, engine: OnnxEngine, info: ModelInfo, seed: int = 0) -> Dict[str, Any]:
    """Compare ONNX Runtime with PyTorch on random inputs: a batch of 2 at the model size and one input at an odd
    size (the dynamic axes and the recorded Resizes); ModelFileError naming the graph unless the outputs have the
    same shapes and at least :data:`FP32_MIN_AGREEMENT` of the pixels the same class. Returns ``{"sizes",
    "agreement", "max_abs_diff"}``."""
    h, w = info.size
    g = np.random.default_rng(seed)
    sizes, agree, diff = [], [], 0.0
    for b, hh, ww in ((2, h, w), (1, h + 7, w + 13)):
        x = g.standard_normal((b, 3, hh, ww), dtype=np.float32)
        ref, y = logits_of(net, x), engine.run(x)
        if y.shape != ref.shape:
            raise ModelFileError(f"{engine.path}: ONNX Runtime gave logits of shape {y.shape} for an input "
                                 f"{x.shape}, PyTorch {ref.shape}; the export is not valid at every size")
        sizes.append(f"{b}x3x{hh}x{ww}")
        agree.append(pixel_agreement(y, ref))
        diff = max(diff, float(np.abs(y - ref).max()))
    if min(agree) < FP32_MIN_AGREEMENT:
        raise ModelFileError(f"{engine.path}: ONNX Runtime and PyTorch agree on only {min(agree):.4%} of pixels "
                             f"(at least {FP32_MIN_AGREEMENT:.1%} expected; max |logit difference| {diff:.3g})")
    return {"sizes": sizes, "agreement": min(agree), "max_abs_diff": diff}


def calibration_photos(info: ModelInfo, data: Optional[PathLike] = None, n_calibration: int = CALIBRATION_PHOTOS,
                       n_check: int = CHECK_PHOTOS, log: Optional[Callable[[str], None]] = None
                       ) -> Tuple[Path, List[Path], List[Path]]:
    """``(dataset folder, calibration photos, held-out photos)``: `n_calibration` training photos of the model's
    split of `data` (default: the dataset the model was trained on, ``info.extra["train_args"]["data"]``), spread
    over them, never its test photos; held-out photos are its validation photos, then training photos not
    calibrating. The split is the model's recorded one (:func:`~dronefast.data.split.model_split`; else re-derived
    from its settings); `log` gets its one-line note (photos added since training, or a re-derived split).

    Raises:
        DronefastError: no dataset recorded nor given, or too few photos for both; DatasetError: a recorded
            training or validation photo is missing from `data`.
    """
    from ..data.layout import find_layout
    from ..data.split import model_split

    if data is None:
        data = (info.extra.get("train_args") or {}).get("data")
        if not data:
            raise DronefastError("int8 calibration needs training photos, and the model description does not record "
                                 "its training data; give a dataset folder (calibration=DATA / --calibration DATA)")
    chosen = model_split(find_layout(data), info.extra)
    chosen.require("train", "validation")
    if chosen.note and log is not None:
        log(f"int8: {chosen.note}")
    train, valid = chosen.parts["train"], chosen.parts["validation"]
    n_cal = min(n_calibration, len(train) if valid else len(train) - 1)
    calib = [train[i * len(train) // n_cal] for i in range(n_cal)] if n_cal > 0 else []
    held = (valid + [p for p in train if p not in calib])[:n_check]
    if n_cal < 1 or not held:
        raise DronefastError(f"{data}: {len(train)} training and {len(valid)} validation photo(s): too few to "
                             f"calibrate int8 and check it on other photos")
    return Path(data), calib, held


def photo_windows(photos: Sequence[PathLike], info: ModelInfo, per_photo: int = WINDOWS_PER_PHOTO) -> np.ndarray:
    """Normalised float32 windows ``(N, 3, h, w)`` of the model's input size cut from `photos` at the model's input
    scale, as the Predictor sees them: each photo decoded at ``info.work_size`` (object-scale models) or
    ``info.size`` (whole-photo models), padded to a window by reflection when smaller, normalised
    (:func:`~dronefast.models.normalise.normalise_photos`), then up to `per_photo` of the Predictor's windows
    (:func:`~dronefast.models.grid.window_boxes` at the default overlap), spread evenly over the grid."""
    from ..data.images import read_image

    th, tw = info.size
    load = tuple(info.work_size or info.size)
    out = []
    for p in photos:
        arr = pad_to(np.array(read_image(p, load)), th, tw)
        x = normalise_photos(torch.from_numpy(np.ascontiguousarray(arr))[None], info.mean, info.std)[0]
        boxes = window_boxes(arr.shape[:2], (th, tw), DEFAULT_OVERLAP)
        out += [x[:, y:y + th, xx:xx + tw] for y, xx in boxes[::max(1, len(boxes) // per_photo)][:per_photo]]
    return np.ascontiguousarray(torch.stack(out).numpy(), dtype=np.float32)


# ------------------------------------------------------------------------------------------ the export

def _load_source(model: Any, allow_pickle: bool) -> Tuple[nn.Module, ModelInfo, Optional[Path], str]:
    """``(network in eval mode, description, its model.json or None, a name for the record)`` of what
    :func:`export_onnx` is given; ModelFileError naming the path when it is not a saved model."""
    if not isinstance(model, (str, Path)):
        net, info = model
        return net.eval(), info, None, type(net).__name__
    path = Path(model)
    if path.suffix == ".onnx" or (path.is_dir() and (path / ONNX_NAME).is_file()
                                  and not model_paths(path)[0].is_file()):
        raise ModelFileError(f"{path}: already an ONNX export; export from the training run folder or its "
                             f"model.json / model.safetensors")
    if path.is_file() and path.suffix not in (".json", ".safetensors", ".pkl"):
        raise ModelFileError(f"{path}: not a model (a training run folder, model.json, model.safetensors, or a fastai "
                             f".pkl with allow_pickle=True / --pickle)")
    if not path.exists() and not model_paths(path)[1].is_file():
        raise ModelFileError(f"{path}: not found")
    net, info = load_model(path, "cpu", allow_pickle=allow_pickle)
    return net, info, None if path.suffix == ".pkl" else model_paths(path)[1], str(path)


def _same_file(a: Path, b: Optional[Path]) -> bool:
    try:
        return b is not None and a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_existing(out: Path, source_json: Optional[Path], overwrite: bool) -> None:
    """DronefastError naming the first file of an earlier export in `out` (or another model.json), unless
    `overwrite`; the source's own model.json (exporting into the run folder) is not in the way."""
    names = [ONNX_NAME, INT8_NAME, EXPORT_NAME, f"{MODEL_STEM}.json"]
    existing = [out / n for n in names if (out / n).exists() and not _same_file(out / n, source_json)]
    if existing and not overwrite:
        more = f" (and {', '.join(p.name for p in existing[1:])})" if len(existing) > 1 else ""
        raise DronefastError(f"{existing[0]}: exists already{more}; refusing to overwrite an export (use "
                             f"overwrite=True / --overwrite)")


def _file_record(path: Path) -> Dict[str, Any]:
    """What ``export.json`` records of a graph (checked before it is used: :func:`check_graph_digest`)."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def _versions() -> Dict[str, str]:
    from ..version import __version__

    return {"dronefast": __version__, "torch": torch.__version__, **onnx_versions()}


def _int8(net: nn.Module, info: ModelInfo, stage: Path, *, data: Optional[PathLike], n_calibration: int,
          n_check: int, min_agreement: float, force: bool, log: Callable[[str], None]) -> Dict[str, Any]:
    """Quantise ``stage/model.onnx`` into ``stage/model.int8.onnx``, each of :data:`INT8_FLOAT_PARTS` in turn until
    one agrees with fp32 on `min_agreement` of the pixels of held-out photos; the record, whose ``written`` is False
    when none does and not `force` (with `force`, the last one is kept)."""
    folder, calib, held = calibration_photos(info, data, n_calibration, n_check, log)
    log(f"int8: calibrating on {len(calib)} training photo(s) of {folder}, checking on {len(held)} held-out "
        f"photo(s)")
    pre = prepare_int8(stage / ONNX_NAME, stage / f".{MODEL_STEM}.pre.onnx")
    xc, x = photo_windows(calib, info), photo_windows(held, info)
    fp32 = OnnxEngine(onnx_session(stage / ONNX_NAME), info, stage / ONNX_NAME, max_batch=CALIBRATION_BATCH).run(x)
    tried: List[Dict[str, Any]] = []
    for part in INT8_FLOAT_PARTS:
        settings = quantize_int8(pre, stage / INT8_NAME, xc, part)
        check_onnx(stage / INT8_NAME)
        q = OnnxEngine(onnx_session(stage / INT8_NAME), info, stage / INT8_NAME, max_batch=CALIBRATION_BATCH).run(x)
        tried.append({"float_part": part, "agreement_with_fp32": pixel_agreement(q, fp32)})
        log(f"int8 with the {part} in float: agrees with fp32 on {tried[-1]['agreement_with_fp32']:.2%} of pixels")
        if tried[-1]["agreement_with_fp32"] >= min_agreement:
            break
    pre.unlink()
    agree = tried[-1]["agreement_with_fp32"]
    ref = np.concatenate([logits_of(net, x[i:i + CALIBRATION_BATCH]) for i in range(0, len(x), CALIBRATION_BATCH)])
    record = {**settings, "tried": tried, "data": str(folder), "calibration_photos": [p.name for p in calib],
              "held_out_photos": [p.name for p in held], "held_out_windows": int(len(x)),
              "agreement_with_fp32": agree, "agreement_with_torch": pixel_agreement(q, ref),
              "fp32_agreement_with_torch": pixel_agreement(fp32, ref), "min_agreement": min_agreement,
              "forced": bool(force and agree < min_agreement), "written": bool(force or agree >= min_agreement)}
    return record


def _int8_refusal(q: Dict[str, Any], out: Path) -> DronefastError:
    """The one-line error of an int8 graph below the gate (record `q` of :func:`_int8`), once the fp32 files that
    passed are in `out`."""
    best = max(t["agreement_with_fp32"] for t in q["tried"])
    parts = " then the ".join(t["float_part"] for t in q["tried"])
    return DronefastError(f"int8 agrees with fp32 on only {best:.2%} of the pixels of {len(q['held_out_photos'])} "
                          f"held-out photo(s) (at least {q['min_agreement']:.0%} required; tried the {parts} in "
                          f"float): {INT8_NAME} not written (use force=True / --force to write it anyway); the fp32 "
                          f"{out / ONNX_NAME} that passed is written")


def _named_in_out(e: BaseException, stage: Path, out: Path) -> BaseException:
    """`e`; an error writing a file of the staging folder (a full disk) as one OutputError naming the file it was
    for in `out`."""
    if isinstance(e, OutputError) and e.path is not None and stage in e.path.parents:
        return OutputError(e.problem, out / e.path.relative_to(stage)).with_traceback(None)
    if isinstance(e, OSError):
        where = Path(e.filename) if e.filename else None
        return output_error(e, out / where.name if where and stage in where.parents else out)
    return e


def _publish(stage: Path, out: Path, names: Sequence[str]) -> None:
    """Move the staged files `names` into `out`, each atomically, in order."""
    for name in names:
        with atomic_path(out / name) as tmp:
            os.replace(stage / name, tmp)


def _record(info: ModelInfo, name: str, opset: int, files: Dict[str, Any], fp32: Dict[str, Any],
            q: Optional[Dict[str, Any]], seconds: float) -> Dict[str, Any]:
    """What ``export.json`` holds."""
    return {"format": EXPORT_FORMAT, "format_version": 1, "source": name, "opset": opset,
            "trace_size": list(TRACE_SIZE), "dynamic_axes": ["batch", "height", "width"],
            "input": {"name": INPUT_NAME, "shape": ["batch", 3, "height", "width"], "dtype": "float32",
                      "mean": list(info.mean), "std": list(info.std)},
            "output": {"name": OUTPUT_NAME, "shape": ["batch", len(info.classes), "height", "width"],
                       "dtype": "float32"},
            "arch": info.arch, "size": list(info.size),
            "work_size": None if info.work_size is None else list(info.work_size), "classes": len(info.classes),
            "files": files, "fp32": fp32, "int8": q, "seconds": round(seconds, 1), "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _build(net: nn.Module, info: ModelInfo, stage: Path, opset: int, int8: Optional[Dict[str, Any]],
           log: Callable[[str], None]) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """Trace, check and verify ``stage/model.onnx``; with `int8` (:func:`_int8`'s keyword arguments) quantise and
    measure ``stage/model.int8.onnx``. ``(fp32 record, int8 record or None)``."""
    trace_onnx(net, stage / ONNX_NAME, opset)
    check_onnx(stage / ONNX_NAME)
    fp32 = verify_onnx(net, OnnxEngine(onnx_session(stage / ONNX_NAME), info, stage / ONNX_NAME), info)
    log(f"{ONNX_NAME}: traced at {TRACE_SIZE[0]}x{TRACE_SIZE[1]} (HxW), opset {opset}, onnx.checker passed; ONNX "
        f"Runtime agrees with PyTorch on {fp32['agreement']:.2%} of pixels (random inputs {', '.join(fp32['sizes'])})")
    q = _int8(net, info, stage, log=log, **int8) if int8 is not None else None
    return fp32, q


def export_onnx(model: Any, out: PathLike, *, int8: bool = False, calibration: Optional[PathLike] = None,
                n_calibration: int = CALIBRATION_PHOTOS, n_check: int = CHECK_PHOTOS, overwrite: bool = False,
                allow_pickle: bool = False, force: bool = False, opset: int = OPSET,
                min_int8_agreement: float = INT8_MIN_AGREEMENT, log: Optional[Callable[[str], None]] = None
                ) -> ExportResult:
    """Export a saved model to ``out/model.onnx`` (+ ``model.json``, ``export.json``; ``model.int8.onnx`` with
    `int8`); see the module docstring.

    Args:
        model: a training run folder, ``model.json`` / ``model.safetensors`` / their stem, a fastai ``.pkl`` (only
            with `allow_pickle`), or a ``(network, ModelInfo)`` pair.
        out: the export folder (created).
        int8: also write the int8 graph, calibrated on `n_calibration` training photos of `calibration` (default:
            the model's recorded training data) and checked on `n_check` held-out photos.
        overwrite: replace an earlier export in `out` (its ``model.int8.onnx`` is removed when `int8` is not
            asked for again, as it would not match the new graph).
        force: write the int8 graph even when it agrees with fp32 on less than `min_int8_agreement` of the pixels.
        log: called with one line per step (None: silent).

    Raises:
        DronefastError: the optional extra is missing (the message says how to install it) or an earlier export is
            in the way; ModelFileError: `model` is not a saved model, or the graph fails a check. Nothing is written
            then. DronefastError also when int8 is not accurate enough: then the fp32 files are written, not int8.
    """
    require_onnx()
    require_onnxruntime("ONNX export")
    log = log or (lambda line: None)
    if n_calibration < 1 or n_check < 1:
        raise ValueError(f"n_calibration and n_check must be at least 1, got {n_calibration}, {n_check}")
    out = Path(out)
    net, info, source_json, name = _load_source(model, allow_pickle)
    _refuse_existing(out, source_json, overwrite)
    q_args = dict(data=calibration, n_calibration=n_calibration, n_check=n_check, min_agreement=min_int8_agreement,
                  force=force) if int8 else None
    created = not out.exists()
    make_folder(out)
    stage = Path(tempfile.mkdtemp(prefix=".export.", suffix=".tmp", dir=out))
    try:
        t0 = time.perf_counter()
        fp32, q = _build(net, info, stage, opset, q_args, log)
        int8 = int8 and q["written"]   # below the gate: the fp32 graph that passed is written all the same
        names = ([INT8_NAME] if int8 else []) + [ONNX_NAME]
        record = _record(info, name, opset, {n: _file_record(stage / n) for n in names}, fp32, q,
                         time.perf_counter() - t0)
        if not _same_file(out / f"{MODEL_STEM}.json", source_json):  # not when exporting into the run folder
            write_json(stage / f"{MODEL_STEM}.json", info.to_json())
            names.append(f"{MODEL_STEM}.json")
        write_json(stage / EXPORT_NAME, record)
        if overwrite and not int8:
            remove_file(out / INT8_NAME)  # from an earlier export: it would not match the new graph
        _publish(stage, out, names + [EXPORT_NAME])
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with suppress(OSError):
                out.rmdir()
        raise _named_in_out(e, stage, out)
    shutil.rmtree(stage, ignore_errors=True)
    if q is not None and not q["written"]:
        raise _int8_refusal(q, out)
    return ExportResult(out, out / ONNX_NAME, out / INT8_NAME if int8 else None, out / f"{MODEL_STEM}.json",
                        out / EXPORT_NAME, record)
