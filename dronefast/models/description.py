"""Where a saved model's files are, from whatever the user points at, and its description read and checked
(light: no PyTorch import).

A model is given as a training run folder (``runs/train``), its ``model.json`` or ``model.safetensors``, or their
common stem (``runs/train/model``); an exported folder holds ``model.onnx`` beside a copy of ``model.json``.

:func:`read_description` reads a ``model.json`` and checks every field against the description's schema
(:func:`check_description`) before anything is built from it, so a malformed or tampered description is refused by
one ``ModelFileError`` naming the file and the field, instead of a traceback, a 100 GB allocation or a network that
runs but predicts nothing sensible (``std`` 0, an unknown format version).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from .archs import arch_names

__all__ = ["model_paths", "model_json_path", "MODEL_STEM", "DIGEST_FIELD", "file_sha256", "read_description",
           "check_description", "MODEL_FORMAT",
           "FORMAT_VERSIONS", "MAX_MODEL_SIDE", "MAX_MODEL_PIXELS", "MAX_WORK_SIDE", "MAX_WORK_PIXELS", "UNET_OPTIONS"]

PathLike = Union[str, Path]
#: File stem of a saved model inside a run folder.
MODEL_STEM = "model"


def model_paths(path: PathLike) -> Tuple[Path, Path]:
    """``(weights .safetensors, description .json)`` for a run folder, a model path with either suffix, or
    the common stem."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_STEM
    if path.suffix == ".onnx":  # an export: model.onnx or model.int8.onnx beside the export's model.json
        path = path.parent / MODEL_STEM
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read 16 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def model_json_path(path: PathLike) -> Path:
    """The ``model.json`` of a run folder or model path (see :func:`model_paths`)."""
    return model_paths(path)[1]


# --------------------------------------------------------------------------------------- the description, checked

#: ``format`` of a dronefast model description, and the ``format_version`` values this version reads.
MODEL_FORMAT = "dronefast-unet"
FORMAT_VERSIONS = (1, 2)
#: Largest model input: per side, and in pixels (fastai finds the U-Net's shapes by a forward pass at this size:
#: measured with resnet18 on CPU, 2048x2048 takes ~6 GB and 40 s, 4096x4096 ~19 GB and 2 min; 100000x100000 would
#: take ~120 GB before failing).
MAX_MODEL_SIDE, MAX_MODEL_PIXELS = 8192, 4096 * 4096
#: Largest working scale (``work_size``): logits are held at this resolution when predicting.
MAX_WORK_SIDE, MAX_WORK_PIXELS = 16384, 100_000_000
#: Largest ``extra.source_size`` side (a photo or mosaic the model was trained on).
MAX_SOURCE_SIDE = 1_000_000
#: Largest model.json read (the description is a few kB; ``extra`` may hold scores).
MAX_DESCRIPTION_BYTES = 16 << 20
#: U-Net options a description may hold (fastai ``DynamicUnet`` keywords dronefast records).
UNET_OPTIONS = {"blur": bool, "blur_final": bool, "self_attention": bool, "last_cross": bool, "y_range": None}
_REQUIRED = ("format", "format_version", "arch", "classes", "size", "mean", "std")
_OPTIONAL = ("void_code", "unet", "work_size", "temperature", "extra", "weights_sha256")
#: The field of ``model.json`` holding the SHA-256 (64 hex digits) of the ``.safetensors`` file saved with it.
DIGEST_FIELD = "weights_sha256"


class _Bad(Exception):
    """One field of a description is wrong: ``(field, what was expected, the value found)``."""


def _show(value: Any) -> str:
    text = json.dumps(value, allow_nan=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(field: str, expected: str, value: Any):
    raise _Bad(f"{field}: expected {expected}, got {_show(value)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pair(value: Any, field: str, max_side: int, max_pixels: Optional[int] = None) -> Tuple[int, int]:
    """A ``[height, width]`` of integers 1..`max_side` (and at most `max_pixels` pixels)."""
    expected = f"[height, width], two integers 1..{max_side}"
    if not isinstance(value, list) or len(value) != 2 or not all(_is_int(v) and 1 <= v <= max_side for v in value):
        _fail(field, expected, value)
    if max_pixels is not None and value[0] * value[1] > max_pixels:
        _fail(field, f"at most {max_pixels:,} pixels ({int(math.isqrt(max_pixels))}x{int(math.isqrt(max_pixels))})",
              value)
    return value[0], value[1]


def _triple(value: Any, field: str, lo: float, hi: float) -> Tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3 or not all(_is_number(v) and lo <= v <= hi for v in value):
        _fail(field, f"three finite numbers in {lo:g}..{hi:g} (one per RGB channel)", value)
    return value[0], value[1], value[2]


def _classes(value: Any) -> None:
    if not isinstance(value, dict) or set(value) != {"names", "colours"}:
        _fail("classes", 'an object {"names": [...], "colours": [[r, g, b], ...]}', value)
    names, colours = value["names"], value["colours"]
    if not isinstance(names, list) or not 1 <= len(names) <= 255:
        _fail("classes.names", "a list of 1..255 class names", names)
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n.strip():
            _fail(f"classes.names[{i}]", "a non-empty name", n)
        if n in names[:i]:
            _fail(f"classes.names[{i}]", "a name not already used", n)
    if not isinstance(colours, list) or len(colours) != len(names):
        _fail("classes.colours", f"a list of {len(names)} colours (one per name)", colours)
    for i, c in enumerate(colours):
        if not isinstance(c, list) or len(c) != 3 or not all(_is_int(v) and 0 <= v <= 255 for v in c):
            _fail(f"classes.colours[{i}]", "[r, g, b], three integers 0..255", c)
        if c in colours[:i]:
            _fail(f"classes.colours[{i}]", "a colour not already used", c)


def _unet(value: Any) -> None:
    if not isinstance(value, dict):
        _fail("unet", "an object of U-Net options", value)
    for k, v in value.items():
        if k not in UNET_OPTIONS:
            _fail(f"unet.{k}", f"a known U-Net option ({', '.join(UNET_OPTIONS)})", k)
        if k == "y_range":
            if v is not None and not (isinstance(v, list) and len(v) == 2 and all(map(_is_number, v)) and v[0] < v[1]):
                _fail("unet.y_range", "null or [low, high] with low < high", v)
        elif not isinstance(v, bool):
            _fail(f"unet.{k}", "true or false", v)


def _train_args(value: Any) -> None:
    if not isinstance(value, dict):
        _fail("extra.train_args", "an object", value)
    checks = {"valid_pct": (lambda v: _is_number(v) and 0 < v < 1, "null or a number between 0 and 1"),
              "test_pct": (lambda v: _is_number(v) and 0 <= v < 1, "null or a number in [0, 1)"),
              "seed": (_is_int, "null or an integer"), "data": (lambda v: isinstance(v, str), "null or a path"),
              "test_stems": (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
                             "null or a list of file stems")}
    for k, (ok, expected) in checks.items():
        if value.get(k) is not None and not ok(value[k]):
            _fail(f"extra.train_args.{k}", expected, value[k])


def _split(value: Any) -> None:
    """``extra.split``: the photos the run recorded (:class:`dronefast.data.split.SplitRecord`)."""
    if not isinstance(value, dict) or value.get("format") != "dronefast-split" or value.get("version") != 1:
        _fail("extra.split", 'a recorded split ({"format": "dronefast-split", "version": 1, ...})', value)
    for k in ("train", "valid", "test"):
        if not (isinstance(value.get(k), list) and all(isinstance(s, str) for s in value[k])):
            _fail(f"extra.split.{k}", "a list of file stems", value.get(k))


def _extra(value: Any) -> None:
    if not isinstance(value, dict):
        _fail("extra", "an object", value)
    if "train_args" in value:
        _train_args(value["train_args"])
    if value.get("split") is not None:
        _split(value["split"])
    if value.get("source_size") is not None:
        _pair(value["source_size"], "extra.source_size", MAX_SOURCE_SIDE)


def _fields(d: Dict[str, Any]) -> None:
    if d.get("format") != MODEL_FORMAT:
        raise _Bad(f"not a dronefast model description (format={d.get('format')!r}, expected {MODEL_FORMAT!r})")
    if not _is_int(d.get("format_version")) or d["format_version"] not in FORMAT_VERSIONS:
        _fail("format_version", f"one of {', '.join(map(str, FORMAT_VERSIONS))} (a newer dronefast may read it)",
              d.get("format_version"))
    missing = [k for k in _REQUIRED if k not in d]
    unknown = [k for k in d if k not in _REQUIRED + _OPTIONAL]
    if missing or unknown:
        raise _Bad("; ".join([f"missing field(s) {', '.join(missing)}"] * bool(missing)
                             + [f"unknown field(s) {', '.join(unknown)}"] * bool(unknown)))
    if not isinstance(d["arch"], str) or d["arch"] not in arch_names():
        _fail("arch", f"a known encoder ({', '.join(arch_names())})", d["arch"])
    _classes(d["classes"])
    size = _pair(d["size"], "size", MAX_MODEL_SIDE, MAX_MODEL_PIXELS)
    _triple(d["mean"], "mean", 0.0, 1.0)
    _triple(d["std"], "std", 1e-3, 1e3)
    if d.get("void_code") is not None and not (_is_int(d["void_code"]) and 0 <= d["void_code"] <= 254):
        _fail("void_code", "null or a class id 0..254 (one beyond the classes leaves nothing out)", d["void_code"])
    _unet(d.get("unet", {}))
    if "temperature" in d and not (_is_number(d["temperature"]) and 1e-6 <= d["temperature"] <= 1e6):
        _fail("temperature", "a finite number in 1e-06..1e+06 (1: not calibrated)", d["temperature"])
    if d.get("work_size") is not None:
        work = _pair(d["work_size"], "work_size", MAX_WORK_SIDE, MAX_WORK_PIXELS)
        if work[0] < size[0] or work[1] < size[1]:
            _fail("work_size", f"at least the model input size {size[0]}x{size[1]} (height x width)", d["work_size"])
    _extra(d.get("extra", {}))
    digest = d.get(DIGEST_FIELD)
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        _fail(DIGEST_FIELD, "the SHA-256 of the weights file (64 lowercase hex digits)", digest)


def check_description(d: Any, source: PathLike = "model description") -> Dict[str, Any]:
    """`d` (a parsed ``model.json``) checked against the description's schema, field by field, before anything is
    built from it: types, finite numbers, ranges (``std`` above 0, sizes within :data:`MAX_MODEL_SIDE` /
    :data:`MAX_MODEL_PIXELS`, class ids and colours), a known ``format``, ``format_version`` and encoder, and only
    known fields. Returns `d`; raises one ``ModelFileError`` ``"<source>: <field>: expected ..., got ..."``."""
    from ..errors import ModelFileError

    if not isinstance(d, dict):
        raise ModelFileError(f"{source}: not a model description (a JSON object), got a JSON {type(d).__name__}")
    try:
        _fields(d)
    except _Bad as e:
        raise ModelFileError(f"{source}: {e}") from None
    return d


def read_description(path: PathLike) -> Dict[str, Any]:
    """Read and check a ``model.json`` (:func:`check_description`); ``ModelFileError`` naming the file when it is
    missing, too large, not UTF-8, not JSON (or nested too deeply) or not a valid description. Light: no PyTorch."""
    from ..errors import ModelFileError

    path = Path(path)
    try:
        if path.stat().st_size > MAX_DESCRIPTION_BYTES:
            raise ModelFileError(f"{path}: larger than {MAX_DESCRIPTION_BYTES >> 20} MiB; not a model description")
        text = path.read_bytes().decode("utf-8")
        d = json.loads(text)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: not a model description (JSON nested too deeply)") from None
    return check_description(d, path)
