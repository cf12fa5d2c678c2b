"""Sizes as people write them (``WxH``, width first) and as fastai and PyTorch hold them (``(height, width)``)."""
from __future__ import annotations

import re
from typing import Sequence, Tuple

__all__ = ["parse_size", "format_size"]


def parse_size(text: str) -> Tuple[int, int]:
    """Parse a size written ``WxH`` (width first, e.g. ``300x200``) or ``N`` (square) into fastai's
    ``(height, width)`` order. Raises ValueError on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*", str(text))
    if not m:
        raise ValueError(f"size must be WxH (width first, e.g. 300x200) or a single number, got {text!r}")
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) else w
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return h, w


def format_size(hw: Sequence[int]) -> str:
    """``(height, width)`` -> ``'WxH'``."""
    h, w = hw
    return f"{w}x{h}"
