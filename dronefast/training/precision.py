"""Numeric precision of training: fp32, or bf16 / fp16 mixed precision where the device runs it well."""
from __future__ import annotations

from typing import Optional

import torch
from fastai.learner import Learner

from .callbacks import CPUAutocast
from .config import PRECISION_CHOICES

__all__ = ["resolve_precision", "set_precision"]


def resolve_precision(precision: str, device: Optional[torch.device] = None) -> str:
    """``"auto"`` -> ``"bf16"`` on a GPU that supports it, ``"fp16"`` on other GPUs, ``"fp32"`` on CPU;
    other values (``fp32``, ``bf16``, ``fp16``) are returned as they are."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision != "auto":
        return precision
    dev = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    if dev.type == "cuda":
        # emulated bf16 (e.g. a T4, Colab's default GPU) is slow: fp16 there
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return "fp32"


def set_precision(learn: Learner, precision: str = "auto") -> str:
    """Switch `learn` to mixed precision as asked (see :func:`resolve_precision`); returns what was chosen."""
    dev = learn.dls.device if learn.dls.device is not None else next(learn.model.parameters()).device
    chosen = resolve_precision(precision, dev)
    learn.to_fp32()
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, CPUAutocast)])
    if chosen == "fp16":
        if torch.device(dev).type != "cuda":
            raise ValueError("fp16 mixed precision needs a GPU; use bf16 on CPU")
        learn.to_fp16()
    elif chosen == "bf16":
        learn.add_cb(CPUAutocast()) if torch.device(dev).type == "cpu" else learn.to_bf16()
    return chosen
