"""How much memory predicting a photo takes, estimated before it is decoded, and the refusal of what would not fit.

A prediction holds, besides the network (:class:`~dronefast.inference.predictor.Predictor`'s module docstring):

* at the working resolution ``h x w`` (the photo times ``scale``, padded to at least one window): the normalised
  photo (float32, with the temporaries of normalising it), the blending weights and the blended logits, ``C``
  float32 maps (``2C`` with the class probabilities, for the confidence maps), copied once more while the class map
  is upsampled: :data:`WORK_BYTES` + ``8 C`` bytes a pixel (``16 C`` with the probabilities);
* the network's activations for one batch of windows: :data:`ACTIVATION_BYTES` a pixel of input (measured on CPU
  in inference mode: 1.8 KB for a ResNet-18 U-Net, 4.8 KB for a ResNet-50 one);
* at the photo's size ``H x W``: the decoded photo, the class map, its colour picture and the overlay
  (:data:`FULL_BYTES` a pixel; :data:`CONFIDENCE_BYTES` more with the confidence maps).

On a CPU all of it comes from the machine's memory; on a GPU the first two come from the GPU's. The estimate is
compared with what is available (``MemAvailable`` of ``/proc/meminfo``, lowered to a cgroup's limit; the free memory
``torch.cuda.mem_get_info`` reports) before anything is decoded, so ``predict --scale 1000`` is refused at once,
naming the photo, the estimate and the memory available, instead of swapping for minutes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from ..errors import DatasetError
from ..sizes import format_size

__all__ = ["MemoryLimitError", "prediction_bytes", "available_memory", "check_prediction_memory", "WORK_BYTES",
           "ACTIVATION_BYTES", "FULL_BYTES", "CONFIDENCE_BYTES"]

#: Bytes a working pixel takes besides the logits: the uint8 photo, three float32 RGB temporaries, the weights.
WORK_BYTES = 3 + 3 * 12 + 4
#: Peak activation bytes per input pixel of a window, by encoder (larger for an unknown one).
ACTIVATION_BYTES = {"resnet18": 2048, "resnet34": 2048, "resnet50": 5120, "pm-resnet50": 5120}
_UNKNOWN_ACTIVATION = 5120
#: Bytes a full-size pixel takes: the photo (3), the class map (1), its colours (2 x 3) and the overlay (3).
FULL_BYTES = 13
#: More bytes a full-size pixel takes with the confidence maps (two float32 maps and their 8-bit images, the
#: float64 rounding of one).
CONFIDENCE_BYTES = 18


class MemoryLimitError(DatasetError):
    """Predicting a photo would need more memory than is available (the message names the photo, the estimate,
    what is available, and what to change)."""


def prediction_bytes(full: Tuple[int, int], work: Tuple[int, int], window: Tuple[int, int], n_classes: int,
                     batch_size: int, arch: Optional[str] = None, confidence: bool = False, tta: bool = False
                     ) -> Tuple[int, int]:
    """``(bytes at the photo's size, bytes at the working resolution and in the network)`` a prediction needs
    (module docstring).

    Args:
        full: the photo's ``(H, W)``; work: the working ``(h, w)`` (the window when predicted whole).
        window: the model's input ``(h, w)``; n_classes: its classes.
        batch_size: windows per forward pass; arch: the encoder (None: unknown).
        confidence: the class probabilities are kept too; tta: three views per window.
    """
    H, W = full
    h, w = max(work[0], window[0]), max(work[1], window[1])
    windows = max(1, min(batch_size, _count(h, window[0]) * _count(w, window[1])))
    logits = (16 if confidence else 8) * n_classes
    activations = ACTIVATION_BYTES.get(arch or "", _UNKNOWN_ACTIVATION) * windows * window[0] * window[1]
    views = 3 if tta else 1
    working = h * w * (WORK_BYTES + logits) + activations + views * windows * window[0] * window[1] * 4 * n_classes
    return H * W * (FULL_BYTES + (CONFIDENCE_BYTES if confidence else 0)), working


def _count(length: int, tile: int) -> int:
    return -(-length // tile)


def available_memory(device: str = "cpu") -> Optional[int]:
    """Bytes that can still be allocated on `device` (``"cpu"``: the machine, within this process's cgroup; a CUDA
    device: its free memory); None when unknown."""
    if str(device).startswith("cuda"):
        try:
            import torch

            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError, ValueError):
            return None
    free = _meminfo_available()
    limit = _cgroup_room()
    return free if limit is None else (limit if free is None else min(free, limit))


def _meminfo_available() -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> Optional[int]:
    """What a cgroup (v2) memory limit leaves this process, or None when there is no limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def check_prediction_memory(name: object, full: Tuple[int, int], work: Tuple[int, int], window: Tuple[int, int],
                            n_classes: int, batch_size: int, device: str = "cpu", *, arch: Optional[str] = None,
                            confidence: bool = False, tta: bool = False, available=None) -> None:
    """Refuse (:class:`MemoryLimitError` naming `name`, the photo) a prediction whose estimate
    (:func:`prediction_bytes`) exceeds the memory `available` (default :func:`available_memory`) reports for a
    device; nothing is checked where it knows none."""
    available = available or available_memory
    host, working = prediction_bytes(full, work, window, n_classes, batch_size, arch, confidence, tta)
    on_gpu = str(device).startswith("cuda")
    needs = [("memory", host + (0 if on_gpu else working), available("cpu"))]
    if on_gpu:
        needs.append((f"{device} memory", working, available(str(device))))
    for what, need, room in needs:
        if room is not None and need > room:
            raise MemoryLimitError(
                f"predicting it at {format_size(work)} (photo {format_size(full)}) needs about {_gib(need)} of "
                f"{what}, but {_gib(room)} is available; lower the scale (--scale) or the batch size, or "
                f"predict a smaller photo", name)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):,.1f} GiB" if n >= (1 << 28) else f"{n / (1 << 20):,.0f} MiB"
