"""A safe model format beside fastai's pickle export.

``save_model(learn, "out/model")`` writes ``out/model.safetensors`` (the weights, no code) and
``out/model.json`` (everything needed to rebuild the network: encoder, U-Net options, classes and colours,
input size, normalisation). :func:`load_model` rebuilds the network and loads the weights without unpickling
anything, so a model file from someone else cannot run code. fastai's ``export.pkl`` is a pickle: it can run
arbitrary code when loaded, so dronefast loads it only when asked (``allow_pickle=True`` / ``--pickle``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..data.classes import ClassTable
from ..errors import ModelFileError
from ..outputs import atomic_path, write_json
from .encoders import ARCHS, Encoder
from .files import model_paths

__all__ = ["ModelInfo", "save_model", "load_model", "model_paths", "build_model", "MODEL_FORMAT"]

PathLike = Union[str, Path]
MODEL_FORMAT = "dronefast-unet"
#: 2 added ``work_size``; files of version 1 still load.
FORMAT_VERSION = 2


@dataclass
class ModelInfo:
    """What a saved model needs to be rebuilt and used.

    Attributes:
        arch: encoder name (one of ``dronefast.encoders.ARCHS``).
        classes: class table (names and colours); ``n_out = len(classes)``.
        size: training input ``(height, width)`` in pixels.
        mean, std: per-channel normalisation of 0..1 RGB input.
        void_code: class id excluded from the void-aware accuracy (or None).
        unet: keyword arguments of fastai's ``DynamicUnet`` (e.g. ``self_attention``, ``bottle``).
        work_size: ``(height, width)`` whole photos were brought to before training windows of `size` were cut
            from them (object-scale training; prediction then brings photos to this scale and tiles them), or None
            for a model trained on whole photos squished to `size`.
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
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """JSON-friendly dict (with the format name and version)."""
        d = asdict(self)
        d["classes"] = self.classes.to_dict()
        return {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_json(cls, d: Dict[str, Any], source: str = "json") -> "ModelInfo":
        """Inverse of :meth:`to_json`; raises :class:`ModelFileError` on a malformed dict."""
        if d.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{source}: not a dronefast model description (format={d.get('format')!r})")
        try:
            return cls(arch=d["arch"], classes=ClassTable.from_dict(d["classes"], source), size=tuple(d["size"]),
                       mean=tuple(d["mean"]), std=tuple(d["std"]), void_code=d.get("void_code"),
                       unet=dict(d.get("unet", {})),
                       work_size=None if d.get("work_size") is None else tuple(d["work_size"]),
                       extra=dict(d.get("extra", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{source}: malformed model description ({type(e).__name__}: {e})") from None


def build_model(info: ModelInfo) -> nn.Module:
    """A freshly initialised U-Net with the architecture `info` describes (no weights loaded, no download)."""
    from fastai.vision.learner import create_unet_model

    if info.arch not in ARCHS:
        raise ModelFileError(f"unknown encoder {info.arch!r} in model description; known: {', '.join(ARCHS)}")
    return create_unet_model(Encoder(info.arch, pretrained=False), len(info.classes), tuple(info.size),
                             pretrained=False, **info.unet)


def save_model(model: nn.Module, path: PathLike, info: ModelInfo) -> Tuple[Path, Path]:
    """Write `model`'s weights (safetensors) and `info` (JSON) atomically; returns both paths.

    `model` may be a fastai ``Learner`` (its ``.model`` is saved).
    """
    from safetensors.torch import save_model as st_save

    model = getattr(model, "model", model)
    wpath, jpath = model_paths(path)
    with atomic_path(wpath) as tmp:
        st_save(model, str(tmp), metadata={"format": MODEL_FORMAT})
    write_json(jpath, info.to_json())
    return wpath, jpath


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
    try:
        info = ModelInfo.from_json(json.loads(jpath.read_text(encoding="utf-8")), str(jpath))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{jpath}: not valid JSON ({e})") from None
    model = build_model(info)
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load

    try:
        st_load(model, str(wpath), strict=True)
    except (SafetensorError, RuntimeError, OSError, ValueError) as e:
        raise ModelFileError(f"{wpath}: weights cannot be loaded safely into {info.arch} U-Net "
                             f"({type(e).__name__}: {str(e)[:300]})") from None
    return model.to(device).eval(), info


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
