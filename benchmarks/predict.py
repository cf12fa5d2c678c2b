"""``predict``: :meth:`~dronefast.inference.predictor.Predictor.predict` of one photo, tiled (decode, tiling,
blending, full-resolution upsampling and argmax), versus the bare model forward over the same windows, already
cut, normalised and on the device; interleaved after one untimed warm-up of each."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.harness import (
    ARCH_CHOICES,
    Clock,
    PathLike,
    Size,
    Timer,
    add_common_arguments,
    autocast,
    default_work_dir,
    format_seconds,
    gib,
    interleave,
    machine_record,
    photo_dataset,
    ratio,
    resolve_device,
)
from dronefast.errors import UsageError
from dronefast.sizes import format_size

__all__ = ["bench_predict", "window_batches", "compare", "report_lines", "add_arguments", "from_args", "TARGETS",
           "HELP"]

HELP = "tiled prediction vs the bare forward"
#: The issue's target: tiled prediction at most this many times the bare forward.
TARGETS = {"predict_overhead_max": 1.15}


def window_batches(pred: Any, photo: Path, work_hw: Size) -> Tuple[List[Any], int]:
    """``(batches, windows)``: the windows :class:`~dronefast.inference.predictor.Predictor` `pred` cuts from
    `photo` at the working size `work_hw`, stacked `pred.batch_size` at a time, normalised, on its device and
    in its engine's memory format."""
    import numpy as np
    import torch

    from dronefast.data.images import read_image
    from dronefast.models.grid import window_boxes
    from dronefast.models.normalise import normalise_photos
    from dronefast.models.tiling import pad_to

    th, tw = pred.tile_size
    arr = pad_to(np.asarray(read_image(photo, work_hw)), th, tw)  # as the Predictor decodes a JPEG path
    boxes = window_boxes(arr.shape[:2], (th, tw), pred.overlap)
    src = torch.from_numpy(np.ascontiguousarray(arr))
    batches = []
    for i in range(0, len(boxes), pred.batch_size):
        b = torch.stack([src[y:y + th, x:x + tw] for y, x in boxes[i:i + pred.batch_size]])
        x = normalise_photos(b, pred.info.mean, pred.info.std, pred.device)
        batches.append(x.contiguous(memory_format=pred.engine.memory_format))
    return batches, len(boxes)


def _options(device: Any = None, **options: Any) -> Any:
    """The tiled :class:`~dronefast.inference.predict_options.PredictOptions` asked for; UsageError when out of
    range."""
    from dronefast.inference.predict_options import PredictOptions

    try:
        return PredictOptions(device=None if device is None else str(device), tile=True, **options)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _predictor(arch: str, size: Size, seed: int, options: Any) -> Any:
    """A Predictor of a freshly initialised U-Net (seeded) for the standard classes."""
    import torch

    from dronefast.data.classes import standard_classes
    from dronefast.inference.predictor import Predictor
    from dronefast.models.modelfile import ModelInfo, build_model

    info = ModelInfo(arch=arch, classes=standard_classes(), size=tuple(size))
    torch.manual_seed(seed)
    return Predictor((build_model(info), info), options)


def bench_predict(*, photo_size: Size = (2000, 3000), size: Size = (200, 300), scale: float = 0.25,
                  arch: str = "resnet34", batch_size: int = 8, overlap: float = 0.25, repeats: int = 3,
                  device: Optional[str] = None, bf16: bool = False, work: Optional[PathLike] = None, seed: int = 0,
                  log: Callable[[str], None] = print, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Time tiled full-resolution prediction of one JPEG of ``photo_size = (H, W)`` against the bare model
    forward over the same windows of ``size = (H, W)``, interleaved `repeats` times (after one warm-up each);
    `clock` times them.

    Returns:
        A JSON-ready dict with ``variants`` (``tiled``, ``forward``: ``s`` summary, ``peak_gpu_bytes`` on CUDA),
        ``ratios`` and ``ratios_of_min`` (``tiled_over_forward``), ``checks`` and the tiling plan in
        ``settings``.
    """
    import torch

    if repeats < 1:
        raise UsageError("--repeats must be at least 1")
    _options(scale=scale, overlap=overlap, batch_size=batch_size, bf16=bf16)  # checked before any work
    dev = resolve_device(device)
    root = Path(work or default_work_dir()) / f"predict-1-{format_size(photo_size)}-s{seed}"
    photo = photo_dataset(root, 1, photo_size, seed) / "original_images" / "0000.jpg"
    pred = _predictor(arch, size, seed, _options(dev, scale=scale, overlap=overlap, batch_size=batch_size,
                                                 bf16=bf16))
    _, work_hw = pred.plan(tuple(photo_size))
    batches, windows = window_batches(pred, photo, work_hw)
    amp = autocast(dev, "bf16" if pred.engine.bf16 else "fp32")

    def forward() -> None:
        with torch.inference_mode(), amp:
            for x in batches:
                pred.model(x)

    fns = {"tiled": lambda: pred.predict(photo), "forward": forward}
    for f in fns.values():  # warm-up, untimed
        f()
    times = interleave(fns, repeats, Timer(clock, device=dev))
    results: Dict[str, Dict[str, Any]] = {}
    for name in times.samples:
        results[name] = {"s": times.summary(name)}
        if times.peak_bytes(name) is not None:
            results[name]["peak_gpu_bytes"] = times.peak_bytes(name)
    log(f"photo {format_size(photo_size)}, scale {scale:g} -> {format_size(work_hw)}: {windows} windows of "
        f"{format_size(size)}, batch {batch_size}, {arch}, device {dev}")
    return {"command": "predict", "machine": machine_record(dev, times),
            "settings": {"photo_size": format_size(photo_size), "size": format_size(size), "scale": scale,
                         "working_size": format_size(work_hw), "windows": windows, "batch_size": batch_size,
                         "overlap": overlap, "arch": arch, "device": str(dev), "bf16": pred.engine.bf16,
                         "repeats": repeats, "threads": torch.get_num_threads()},
            "variants": results, **compare(results)}


def compare(results: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """``ratios`` and ``ratios_of_min`` (``tiled_over_forward``, of the ``s`` summaries of `results`) and
    ``checks`` (the median ratio against :data:`TARGETS`)."""
    med = ratio(results["tiled"]["s"]["median"], results["forward"]["s"]["median"])
    low = ratio(results["tiled"]["s"]["min"], results["forward"]["s"]["min"])
    return {"ratios": {"tiled_over_forward": med}, "ratios_of_min": {"tiled_over_forward": low},
            "checks": {"overhead_target": TARGETS["predict_overhead_max"],
                       "overhead_met": med <= TARGETS["predict_overhead_max"]}}


def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_predict` result (after the machine line)."""
    out = []
    for name, x in result["variants"].items():
        extra = f", peak GPU memory {gib(x['peak_gpu_bytes'])}" if "peak_gpu_bytes" in x else ""
        out.append(f"  {name:<8} {format_seconds(x['s'])}{extra}")
    out.append(f"  tiled/forward overhead: {result['ratios']['tiled_over_forward']:.3f} (target <= "
               f"{result['checks']['overhead_target']:.2f}; fastest runs: "
               f"{result['ratios_of_min']['tiled_over_forward']:.3f})")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks predict``."""
    from dronefast.cli.common import positive_float, positive_int, size_arg

    p.add_argument("--photo-size", type=size_arg, default="3000x2000", metavar="WxH", help="photo size")
    p.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="model (window) size")
    p.add_argument("--scale", type=positive_float, default=0.25, help="resize factor before tiling")
    p.add_argument("--arch", default="resnet34", choices=ARCH_CHOICES, help="encoder")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--overlap", type=float, default=0.25, help="window overlap, in [0, 1)")
    p.add_argument("--repeats", type=positive_int, default=3, help="interleaved rounds")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA, or CPU with native bf16)")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_predict` with the parsed options of :func:`add_arguments`."""
    return bench_predict(photo_size=a.photo_size, size=a.size, scale=a.scale, arch=a.arch,
                         batch_size=a.batch_size, overlap=a.overlap, repeats=a.repeats, device=a.device,
                         bf16=a.bf16, work=a.work, seed=a.seed, clock=clock)
