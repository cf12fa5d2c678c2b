"""``levers``: the floor training step of ``train`` (c) (:class:`~benchmarks.train.Floor`, one random batch)
under each model-side lever, interleaved step by step after one warm-up step each; ratios relative to ``fp32``.

Levers: ``fp32`` (plain), ``channels_last``, ``bf16`` (autocast), ``bf16_channels_last``, ``threads1`` (one
intra-op thread), ``compile`` (``torch.compile``; its first step, the compilation, is reported separately).
Allocator settings act on the whole process: compare two runs with and without ``--malloc`` (or ``MALLOC_*``
variables).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

from benchmarks.harness import (
    ARCH_CHOICES,
    Clock,
    Size,
    Timer,
    add_common_arguments,
    format_seconds,
    interleave,
    machine_record,
    ratio,
    resolve_device,
    split_csv,
    torch_threads,
)
from benchmarks.train import Floor
from dronefast.errors import UsageError
from dronefast.sizes import format_size

__all__ = ["bench_levers", "lever_settings", "lever_floor", "lever_ratios", "report_lines", "add_arguments",
           "from_args", "LEVERS", "DEFAULT_LEVERS", "HELP"]

HELP = "the floor step under each model-side lever"
#: Model-side levers (each a floor-step variant).
LEVERS = ("fp32", "channels_last", "bf16", "bf16_channels_last", "threads1", "compile")
DEFAULT_LEVERS = ("fp32", "channels_last", "bf16", "bf16_channels_last")
#: Classes of the random targets (the standard table's).
N_CLASSES = 24


def lever_settings(lever: str) -> Tuple[str, bool, bool]:
    """``(precision, channels_last, compiled)`` of the floor step under `lever` (one of :data:`LEVERS`;
    ``threads1`` is the plain step, run with one thread)."""
    return "bf16" if lever.startswith("bf16") else "fp32", "channels_last" in lever, lever == "compile"


def lever_floor(lever: str, arch: str, size: Size, device: Any, seed: int) -> Floor:
    """The :class:`~benchmarks.train.Floor` of one lever (UsageError for bf16 on a GPU without it)."""
    import torch

    precision, channels_last, compiled = lever_settings(lever)
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("this GPU does not support bf16")
    return Floor(arch, N_CLASSES, size, device, precision, channels_last, 1e-3, seed, compile_model=compiled)


def lever_ratios(results: Dict[str, Dict[str, Any]]) -> Dict[str, float]:
    """``fp32_over_<lever>``: the median ``step_s`` of ``fp32`` over each other lever's (empty without fp32)."""
    base = results["fp32"]["step_s"]["median"] if "fp32" in results else None
    return {f"fp32_over_{k}": ratio(base, v["step_s"]["median"]) for k, v in results.items()
            if base and k != "fp32"}


def bench_levers(levers: Sequence[str] = DEFAULT_LEVERS, *, size: Size = (200, 300), bs: int = 4,
                 arch: str = "resnet34", steps: int = 4, device: Any = None, seed: int = 0, malloc: bool = False,
                 log: Callable[[str], None] = print, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Time the floor training step on one random batch under each of `levers` (see the module docstring),
    `steps` interleaved rounds after one warm-up step each; `clock` times them.

    Returns:
        A JSON-ready dict with ``variants`` (per lever: ``step_s`` summary, median ``cpu_s`` and
        ``page_faults``), ``ratios`` (``fp32_over_<lever>``) and ``compile_warmup_s`` (None without ``compile``).
    """
    import torch

    from dronefast.training.tuning import tune_malloc

    bad = [v for v in levers if v not in LEVERS]
    if bad or not levers:
        raise UsageError(f"unknown lever(s) {bad}; choose from {', '.join(LEVERS)}")
    if steps < 1:
        raise UsageError("--steps must be at least 1")
    dev = resolve_device(device)
    malloc_ok = tune_malloc() if malloc else None
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(seed)
    batch = (torch.randn(bs, 3, *size, generator=g), torch.randint(0, N_CLASSES, (bs, *size), generator=g))
    floors = {k: lever_floor(k, arch, size, dev, seed) for k in levers}
    batches = {k: f.prepare([batch])[0] for k, f in floors.items()}
    fns = {k: (lambda k=k: floors[k].step(*batches[k])) for k in levers}
    contexts = {"threads1": lambda: torch_threads(1)} if "threads1" in fns else {}
    timer = Timer(clock, device=dev)
    warm = interleave(fns, 1, timer, contexts)
    times = interleave(fns, steps, timer, contexts)
    results = {k: {"step_s": times.summary(k), "cpu_s": times.cpu_s(k), "page_faults": times.page_faults(k)}
               for k in times.samples}
    ratios = lever_ratios(results)
    log(f"floor step: {arch} U-Net, batch {bs} at {format_size(size)}, device {dev}, {threads} threads")
    return {"command": "levers", "machine": machine_record(dev, times),
            "settings": {"size": format_size(size), "bs": bs, "arch": arch, "steps": steps, "device": str(dev),
                         "malloc_tuned": malloc_ok, "threads": threads, "levers": list(levers)},
            "compile_warmup_s": warm.seconds("compile")[0] if "compile" in fns else None,
            "variants": results, "ratios": ratios}


def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_levers` result (after the machine line)."""
    r, out = result["ratios"], []
    for name, x in result["variants"].items():
        rel = f"  fp32/this {r[f'fp32_over_{name}']:.2f}x" if f"fp32_over_{name}" in r else ""
        out.append(f"  {name:<20} step {format_seconds(x['step_s'])}{rel}; CPU {x['cpu_s']:.2f} s, "
                   f"{x['page_faults']} page faults")
    if result.get("compile_warmup_s") is not None:
        out.append(f"  compile: first step (compilation) {result['compile_warmup_s']:.1f} s")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks levers``."""
    from dronefast.cli.common import positive_int, size_arg

    p.add_argument("--levers", default=",".join(DEFAULT_LEVERS), help=f"comma-separated, from {','.join(LEVERS)}")
    p.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="input size")
    p.add_argument("--bs", type=positive_int, default=4, help="batch size")
    p.add_argument("--arch", default="resnet34", choices=ARCH_CHOICES, help="encoder")
    p.add_argument("--steps", type=positive_int, default=4, help="timed steps per lever (interleaved)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--malloc", action="store_true", help="tune glibc malloc first (see dronefast.training.tuning)")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_levers` with the parsed options of :func:`add_arguments`."""
    return bench_levers(split_csv(a.levers), size=a.size, bs=a.bs, arch=a.arch, steps=a.steps, device=a.device,
                        seed=a.seed, malloc=a.malloc, clock=clock)
