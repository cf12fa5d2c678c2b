"""Process-wide speed settings: glibc malloc thresholds for PyTorch's CPU tensors.

PyTorch's CPU tensors come straight from ``malloc``. glibc maps every block above its mmap threshold (which
adapts to at most 32 MiB on 64-bit) with its own ``mmap`` and unmaps it when freed, so the large activations of a
U-Net are mapped, zero-filled page by page and unmapped again on every training step (about 850k page faults a
step for a ResNet-34 U-Net at 300x200, batch 4). Raising the mmap and trim thresholds keeps those blocks in the
heap for the next step: -17% per step in fp32 and -31% in bf16 on the 2-core benchmark machine
(``python -m benchmarks levers``). :func:`tune_malloc` is what ``python -m dronefast.train`` does first
(``--no-tune-malloc`` to leave glibc alone); the cost is that up to the trim threshold of freed memory stays with
the process instead of going back to the system.
"""
from __future__ import annotations

import contextlib
import ctypes
import sys
from typing import Iterator

__all__ = ["tune_malloc", "set_malloc_thresholds", "glibc_default_malloc", "TUNED_THRESHOLDS",
           "GLIBC_STEADY_THRESHOLDS"]

#: (mmap threshold, trim threshold) in bytes set by :func:`tune_malloc`.
TUNED_THRESHOLDS = (1 << 30, (1 << 31) - 1)
#: The most glibc's dynamic thresholds reach by themselves on 64-bit (mmap 32 MiB, trim twice that): the
#: untuned steady state, the most favourable one for an untuned process.
GLIBC_STEADY_THRESHOLDS = (32 << 20, 64 << 20)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>


def set_malloc_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` (bytes) for this process, as the
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment variables would at start-up. Affects
    allocations made afterwards; returns False where it cannot apply (not Linux with glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False


def tune_malloc(mmap_threshold: int = TUNED_THRESHOLDS[0], trim_threshold: int = TUNED_THRESHOLDS[1]) -> bool:
    """Keep large blocks in the heap instead of returning them to the system after each use (see the module
    docstring); returns False where it cannot apply (not glibc).

    Args:
        mmap_threshold: bytes from which blocks are mapped individually (glibc caps its own adaptive threshold
            at 32 MiB on 64-bit; an explicit value is not capped).
        trim_threshold: free bytes at the top of the heap above which glibc gives memory back.
    """
    return set_malloc_thresholds(mmap_threshold, trim_threshold)


@contextlib.contextmanager
def glibc_default_malloc() -> Iterator[None]:
    """Inside the block, glibc's untuned steady state (:data:`GLIBC_STEADY_THRESHOLDS`); tuned again after it.
    Used by the benchmark to time stock fastai untuned in a process that dronefast has tuned."""
    set_malloc_thresholds(*GLIBC_STEADY_THRESHOLDS)
    try:
        yield
    finally:
        tune_malloc()
