"""How a photo is run through the network: the options of :class:`~dronefast.inference.predictor.Predictor`,
shared by ``predict``, ``evaluate`` and the web app, in one checked object (light: no PyTorch import)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Optional, Union

from ..models.grid import DEFAULT_OVERLAP

__all__ = ["PredictOptions", "AUTO_TILE_FACTOR", "DEFAULT_OVERLAP", "ENGINES"]

#: ``tile="auto"`` tiles photos more than this many times the model size in height or width.
AUTO_TILE_FACTOR = 2.0
#: Ways to run the network: PyTorch, or ONNX Runtime on an exported model.
ENGINES = ("torch", "onnxruntime")


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """Options of a prediction (see :mod:`dronefast.inference.predictor` for the two modes).

    Args:
        device: torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); None picks fastai's default
            (CUDA, then MPS, then CPU).
        tile: True (always tile), False (always whole-image) or ``"auto"`` (tile photos more than
            :data:`AUTO_TILE_FACTOR` times the model size).
        scale: factor applied to the photo before tiling (None: the training object scale for a photo that covers
            the ground of a training photo; give it for a crop or a mosaic). Ignored in whole-image mode.
        overlap: share (0..1) of a window shared by neighbouring windows.
        batch_size: windows per forward pass.
        tta: also predict the horizontally and the vertically flipped photo and average the three views'
            probabilities.
        bf16: bfloat16 autocast on CUDA or CPU (ignored elsewhere); on CPUs with native bf16 (AMX) the forward
            is about 2.4x faster, with class maps that differ from fp32 only at near-ties.
        allow_pickle: accept a fastai ``.pkl`` export (runs pickled code: only for files you trust).
        strip_mb: memory budget (MiB) of one strip of full-size logits during upsampling.
        engine: ``"torch"`` or ``"onnxruntime"`` (an exported ``model.onnx``).
        threads: CPU threads of the engine (None: the library's default).
    """

    device: Optional[str] = None
    tile: Union[bool, str] = "auto"
    scale: Optional[float] = None
    overlap: float = DEFAULT_OVERLAP
    batch_size: int = 8
    tta: bool = False
    bf16: bool = False
    allow_pickle: bool = False
    strip_mb: float = 64
    engine: str = "torch"
    threads: Optional[int] = None

    def __post_init__(self) -> None:
        if self.tile not in (True, False, "auto"):
            raise ValueError(f"tile must be True, False or 'auto', got {self.tile!r}")
        if self.scale is not None and not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale)
                                           and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        if not (isinstance(self.overlap, (int, float)) and 0 <= self.overlap < 1):
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size!r}")
        if not (isinstance(self.strip_mb, (int, float)) and self.strip_mb > 0):
            raise ValueError(f"strip_mb must be a positive number, got {self.strip_mb!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.bf16 and self.engine != "torch":
            raise ValueError("bf16 is a PyTorch autocast: it does not go with engine onnxruntime (export an int8 "
                             "model for a faster ONNX Runtime)")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            raise ValueError(f"threads must be at least 1, got {self.threads!r}")

    def replace(self, **changes: Any) -> "PredictOptions":
        """A copy with `changes` (checked again)."""
        return replace(self, **changes)
