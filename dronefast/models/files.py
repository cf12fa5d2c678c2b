"""Where a saved model's files are, from whatever the user points at (light: no PyTorch import).

A model is given as a training run folder (``runs/train``), its ``model.json`` or ``model.safetensors``, or their
common stem (``runs/train/model``); an exported folder holds ``model.onnx`` beside a copy of ``model.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

__all__ = ["model_paths", "model_json_path", "MODEL_STEM"]

PathLike = Union[str, Path]
#: File stem of a saved model inside a run folder.
MODEL_STEM = "model"


def model_paths(path: PathLike) -> Tuple[Path, Path]:
    """``(weights .safetensors, description .json)`` for a run folder, a model path with either suffix, or
    the common stem."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_STEM
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json", ".onnx") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def model_json_path(path: PathLike) -> Path:
    """The ``model.json`` of a run folder or model path (see :func:`model_paths`)."""
    return model_paths(path)[1]
