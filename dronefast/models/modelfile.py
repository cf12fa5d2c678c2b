"""A safe model format beside fastai's pickle export.

``save_model(learn, "out/model")`` writes ``out/model.safetensors`` (the weights, no code) and
``out/model.json`` (everything needed to rebuild the network: encoder, U-Net options, classes and colours,
input size, normalisation, and the SHA-256 of the weights file). :func:`load_model` rebuilds the network and
loads the weights without unpickling anything, so a model file from someone else cannot run code, and refuses
weights whose SHA-256 is not the recorded one (changed in place, even to the same size). fastai's ``export.pkl``
is a pickle: it can run arbitrary code when loaded, so dronefast loads it only when asked (``allow_pickle=True`` /
``--pickle``).
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..data.classes import ClassTable
from ..errors import ModelFileError
from ..outputs import write_bytes, write_json
from .archs import arch_names
from .description import (
    DIGEST_FIELD,
    MODEL_FORMAT,
    check_description,
    file_sha256,
    model_paths,
    read_description,
)
from .encoders import Encoder

__all__ = ["ModelInfo", "save_model", "load_model", "model_paths", "build_model", "FORMAT_VERSION",
           "output_channels", "check_weights_digest", "UncheckedWeightsWarning"]

PathLike = Union[str, Path]
#: 2 added ``work_size`` and ``temperature``; files of version 1 still load.
FORMAT_VERSION = 2


@dataclass
class ModelInfo:
    """What a saved model needs to be rebuilt and used.

    Attributes:
        arch: encoder name (one of :func:`dronefast.models.archs.arch_names`).
        classes: class table (names and colours); ``n_out = len(classes)``.
        size: training input ``(height, width)`` in pixels.
        mean, std: per-channel normalisation of 0..1 RGB input.
        void_code: class id excluded from the void-aware accuracy (or None).
        unet: keyword arguments of fastai's ``DynamicUnet`` (e.g. ``self_attention``, ``bottle``).
        work_size: ``(height, width)`` whole photos were brought to before training windows of `size` were cut
            from them (object-scale training; prediction then brings photos to this scale and tiles them), or None
            for a model trained on whole photos squished to `size`.
        temperature: calibration: logits are divided by it before the softmax when probabilities are asked for
            (fitted on the validation photos after training; 1: none). The predicted classes do not depend on it.
        extra: anything else worth keeping (metrics, training arguments).
    """

    arch: str
    classes: ClassTable
    size: Tuple[int, int]
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Tuple[float, float, float] = (0.229, 0.224, 0.225)
    void_code: Optional[int] = 0
    unet: Dict[str, Any] = field(default_factory=dict)
    work_size: Optional[Tuple[int, int]] = None
    temperature: float = 1.0
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """JSON-friendly dict (with the format name and version)."""
        d = asdict(self)
        d["classes"] = self.classes.to_dict()
        return {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_json(cls, d: Dict[str, Any], source: str = "json") -> "ModelInfo":
        """Inverse of :meth:`to_json`, after checking every field of `d`
        (:func:`~dronefast.models.description.check_description`); one :class:`ModelFileError` naming `source` and the
        field otherwise."""
        check_description(d, source)
        return cls(arch=d["arch"], classes=ClassTable.from_dict(d["classes"], source), size=tuple(d["size"]),
                   mean=tuple(d["mean"]), std=tuple(d["std"]), void_code=d.get("void_code"),
                   unet=dict(d.get("unet", {})),
                   work_size=None if d.get("work_size") is None else tuple(d["work_size"]),
                   temperature=float(d.get("temperature", 1.0)), extra=dict(d.get("extra", {})))


def build_model(info: ModelInfo) -> nn.Module:
    """A freshly initialised U-Net with the architecture `info` describes (no weights loaded, no download)."""
    from fastai.vision.learner import create_unet_model

    if info.arch not in arch_names():
        raise ModelFileError(f"unknown encoder {info.arch!r} in model description; known: {', '.join(arch_names())}")
    return create_unet_model(Encoder(info.arch, pretrained=False), len(info.classes), tuple(info.size),
                             pretrained=False, **info.unet)


class UncheckedWeightsWarning(UserWarning):
    """A model is loaded whose description records no SHA-256 of its weights (saved before dronefast recorded it):
    its weights cannot be checked."""


def save_model(model: nn.Module, path: PathLike, info: ModelInfo) -> Tuple[Path, Path]:
    """Write `model`'s weights (safetensors) and `info` (JSON, with the weights file's SHA-256 as
    ``weights_sha256``) atomically; returns both paths.

    `model` may be a fastai ``Learner`` (its ``.model`` is saved). The weights are serialised in memory and written
    through :func:`~dronefast.outputs.write_bytes`, so a full disk is one OutputError naming the file.
    """
    from safetensors.torch import save as st_bytes

    model = getattr(model, "model", model)
    wpath, jpath = model_paths(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    data = st_bytes(state, metadata={"format": MODEL_FORMAT})
    write_bytes(wpath, data)
    write_json(jpath, {**info.to_json(), DIGEST_FIELD: hashlib.sha256(data).hexdigest()})
    return wpath, jpath


def check_weights_digest(weights: PathLike, description: Dict[str, Any], source: PathLike) -> None:
    """Check `weights` against the SHA-256 its `description` (read from `source`) records: ModelFileError naming
    the weights file when they differ (a file changed in place, even to the same size); an
    :class:`UncheckedWeightsWarning` when the description records none (a model saved by an older dronefast),
    which then loads as before."""
    expected = description.get(DIGEST_FIELD)
    if expected is None:
        warnings.warn(f"{source}: records no SHA-256 of {Path(weights).name} (saved by an older dronefast): its "
                      f"weights are used unchecked",
                      UncheckedWeightsWarning, stacklevel=3)
        return
    if file_sha256(weights) != expected:
        raise ModelFileError(f"{weights}: its SHA-256 differs from the one {Path(source).name} records: the weights "
                             f"were changed or damaged since they were saved; refusing to use them")


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu", allow_pickle: bool = False
               ) -> Tuple[nn.Module, ModelInfo]:
    """Load a model saved by :func:`save_model` as ``(network in eval mode, ModelInfo)``.

    Args:
        path: a training run folder, ``model.json``, ``model.safetensors`` or the common stem; a fastai ``.pkl``
            export only with `allow_pickle`.
        device: where to put the network.
        allow_pickle: accept a fastai ``export.pkl`` (runs pickled code: only for files you trust).

    Raises:
        ModelFileError: missing/malformed files, weights that do not fit, or a pickle without `allow_pickle`.
    """
    path = Path(path)
    if path.suffix == ".pkl":
        if not allow_pickle:
            raise ModelFileError(f"{path}: a fastai pickle can run arbitrary code when loaded; load the safe "
                                 f"model.json instead, or allow pickles explicitly (allow_pickle=True / --pickle) "
                                 f"for files you trust")
        return _load_pickle(path, device)
    if path.is_dir() and not model_paths(path)[1].is_file():
        raise ModelFileError(f"{path}: no model.json in this folder; pass a training run folder or a model.json")
    wpath, jpath = model_paths(path)
    for p in (wpath, jpath):
        if not p.is_file():
            raise ModelFileError(f"{p}: model file not found")
    desc = read_description(jpath)
    info = ModelInfo.from_json(desc, str(jpath))
    n_out = output_channels(wpath)
    if n_out != len(info.classes):
        raise ModelFileError(f"{jpath}: classes: {len(info.classes)} classes, but the weights in {wpath.name} "
                             f"predict {n_out}; the description and the weights do not belong together")
    model = build_model(info)
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load

    try:
        st_load(model, str(wpath), strict=True)
    except (SafetensorError, RuntimeError, OSError, ValueError) as e:
        raise ModelFileError(f"{wpath}: weights cannot be loaded safely into {info.arch} U-Net "
                             f"({type(e).__name__}: {str(e)[:300]})") from None
    bad = next((k for k, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()),
               None)
    if bad is not None:
        raise ModelFileError(f"{wpath}: weight {bad} holds NaN or infinite values; the model cannot predict")
    check_weights_digest(wpath, desc, jpath)  # last: a damaged file's own fault (truncated, NaN) is named first
    return model.to(device).eval(), info


def output_channels(weights: PathLike) -> int:
    """Classes a U-Net's saved weights predict (output channels of its last layer, ``layers.N.0.weight``), read from
    the safetensors header without loading the weights; ModelFileError naming the file when it is damaged
    (truncated, a header that does not fit the file) or not a dronefast U-Net's weights."""
    from safetensors import SafetensorError, safe_open

    weights = Path(weights)
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{weights}: not a complete safetensors file: truncated, damaged or another format "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
    indices = [int(k.split(".")[1]) for k in shapes if k.startswith("layers.") and k.split(".")[1].isdigit()]
    last = shapes.get(f"layers.{max(indices, default=-1)}.0.weight")  # the last layer with weights: the 1x1 conv
    if last is None or len(last) != 4:
        raise ModelFileError(f"{weights}: not the weights of a dronefast U-Net (no final layers.N.0.weight)")
    return int(last[0])


def _load_pickle(path: Path, device) -> Tuple[nn.Module, ModelInfo]:
    from fastai.learner import load_learner

    try:
        learn = load_learner(path, cpu=str(device) == "cpu")
    except Exception as e:
        raise ModelFileError(f"{path}: cannot load fastai export ({type(e).__name__}: {e})") from None
    info = getattr(learn, "dronefast_info", None)
    if not isinstance(info, ModelInfo):
        raise ModelFileError(f"{path}: this export has no dronefast model description")
    return learn.model.to(device).eval(), info
