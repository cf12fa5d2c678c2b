"""What every benchmark shares: timing variants interleaved, summaries, the machine, threads and devices,
the generated photo dataset, and the report and command-line plumbing. Nothing here knows what is measured.

Timing: :func:`interleave` calls each variant once per round, rotating the order every round (a b c / b c a /
c a b ...), and times each call with a :class:`Timer`, which reads its `clock` right before and right after the
call (after waiting for a CUDA device to finish) and records the CPU seconds, the minor page faults and, on CUDA,
the peak memory of the call. The clock is a parameter so that tests can drive the harness with readings they
choose.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ContextManager,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from dronefast.errors import UsageError
from dronefast.synthetic.generator import cache_root

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LOOP_VARIANTS", "PathLike", "Size", "Clock", "default_work_dir", "cpu_name", "usable_cores", "load_average",
           "machine_info", "machine_record", "torch_threads", "resolve_device", "synchronize", "autocast",
           "process_usage", "Sample", "Timer", "Timings", "interleave", "summarise", "ratio", "render_photo",
           "photo_dataset", "format_seconds", "gib", "machine_line", "split_csv", "add_common_arguments",
           "PHOTO_GENERATOR", "ARCH_CHOICES"]

#: ``fastai``: fastai's Learner, Recorder and ``OptimWrapper`` around torch AdamW (:func:`dronefast.models.optim.adamw`,
#: dronefast's default); ``adam``: fastai's Learner, Recorder and its own ``Adam`` (fastai's default optimizer).
LOOP_VARIANTS = ("fastai", "adam")

#: Encoders the benchmarks offer.
ARCH_CHOICES = ("resnet18", "resnet34", "resnet50")

PathLike = Union[str, Path]
#: ``(height, width)``.
Size = Tuple[int, int]
#: A function returning seconds from an arbitrary origin (``time.perf_counter`` or a test's fake clock).
Clock = Callable[[], float]
#: The marker a generated photo dataset is recognised by; unchanged since the benchmarks lived in
#: ``dronefast.bench``, so that photo caches made then are still reused (the photos are the same).
PHOTO_GENERATOR = "dronefast.bench"


# ------------------------------------------------------------------------------------------ the machine

def default_work_dir() -> Path:
    """Cache folder of generated benchmark data: ``$DRONEFAST_CACHE`` (or ``~/.cache/dronefast``) ``/bench``."""
    return cache_root() / "bench"


def cpu_name() -> str:
    """The CPU model as ``/proc/cpuinfo`` names it (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info(device: Optional[str] = None) -> Dict[str, Any]:
    """Where the figures come from: CPU model, usable cores, load average, torch/fastai versions, threads,
    glibc malloc and OpenMP settings from the environment, and the GPU when `device` is CUDA."""
    import torch

    info: Dict[str, Any] = {"cpu": cpu_name(), "cores": usable_cores(), "platform": platform.platform(),
                            "python": platform.python_version(), "torch": torch.__version__,
                            "torch_threads": torch.get_num_threads(), "load_avg": load_average(),
                            "env": {k: v for k, v in os.environ.items()
                                    if k.startswith(("MALLOC_", "OMP_", "GOMP_", "KMP_", "MKL_", "LD_PRELOAD"))}}
    try:
        import fastai

        info["fastai"] = fastai.__version__
    except ImportError:  # pragma: no cover
        pass
    if device is not None and torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2 ** 30, 1)
        info["cuda"] = torch.version.cuda
    return info


def machine_record(device: Optional[Any], timings: "Timings") -> Dict[str, Any]:
    """:func:`machine_info` plus the load averages read before and after the timed rounds of `timings`."""
    return {**machine_info(None if device is None else str(device)), "load_avg_before": timings.load_before,
            "load_avg_after": timings.load_after}


# ------------------------------------------------------------------------------------------ threads, devices

@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block, restored after it; nothing (no torch import) when None."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def resolve_device(device: Optional[str]) -> Any:
    """The ``torch.device`` to run on: CUDA when available for None or ``"auto"``; UsageError unless CPU or CUDA."""
    import torch

    from dronefast.cli.predict import parse_device

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(parse_device(device))
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"the benchmark runs on cpu or cuda, not {dev.type}")
    return dev


def synchronize(device: Optional[Any]) -> None:
    """Wait for the work queued on a CUDA `device` (nothing on the CPU or for None)."""
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch

        torch.cuda.synchronize(device)


def autocast(device: Any, precision: str) -> ContextManager:
    """``torch.autocast`` for ``bf16`` / ``fp16`` on `device`; a null context for ``fp32``."""
    import torch

    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------ timing

def process_usage() -> Tuple[float, int]:
    """(CPU seconds, minor page faults) of this process and its finished children so far."""
    try:
        import resource
    except ImportError:  # pragma: no cover (Windows)
        return time.process_time(), 0
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, s.ru_minflt + c.ru_minflt


class Sample(NamedTuple):
    """One timed call: wall seconds, CPU seconds, minor page faults, peak CUDA memory (None off CUDA)."""

    seconds: float
    cpu_s: float
    page_faults: int
    peak_bytes: Optional[int] = None


class Timer:
    """Times single calls (see the module docstring).

    Args:
        clock: read once right before and once right after each call; its difference is the call's seconds.
        usage: ``() -> (CPU seconds, minor page faults)``, read around each call (:func:`process_usage`).
        device: a CUDA ``torch.device`` to synchronise before each clock reading and whose peak memory is
            recorded; None or a CPU device: neither.
    """

    def __init__(self, clock: Clock = time.perf_counter, usage: Callable[[], Tuple[float, int]] = process_usage,
                 device: Optional[Any] = None):
        self.clock, self.usage = clock, usage
        self.cuda = device if device is not None and getattr(device, "type", None) == "cuda" else None

    def call(self, fn: Callable[[], Any]) -> Tuple[Any, Sample]:
        """``(fn(), its Sample)``."""
        if self.cuda is not None:
            import torch

            torch.cuda.reset_peak_memory_stats(self.cuda)
        synchronize(self.cuda)
        u0 = self.usage()
        t0 = self.clock()
        value = fn()
        synchronize(self.cuda)
        t1 = self.clock()
        u1 = self.usage()
        peak = None
        if self.cuda is not None:
            import torch

            peak = int(torch.cuda.max_memory_allocated(self.cuda))
        return value, Sample(t1 - t0, u1[0] - u0[0], int(u1[1] - u0[1]), peak)

    def measure(self, fn: Callable[[], Any]) -> Sample:
        """The :class:`Sample` of one call of `fn`."""
        return self.call(fn)[1]


@dataclass
class Timings:
    """What :func:`interleave` measured: the names in the order they ran, each name's samples in round order,
    and the load averages before and after the rounds."""

    order: List[str] = field(default_factory=list)
    samples: Dict[str, List[Sample]] = field(default_factory=dict)
    load_before: Optional[List[float]] = None
    load_after: Optional[List[float]] = None

    def seconds(self, name: str) -> List[float]:
        """Wall seconds of each round of `name`."""
        return [s.seconds for s in self.samples[name]]

    def summary(self, name: str) -> Dict[str, Any]:
        """:func:`summarise` of the seconds of `name`."""
        return summarise(self.seconds(name))

    def cpu_s(self, name: str) -> float:
        """Median CPU seconds of a round of `name`."""
        return statistics.median(s.cpu_s for s in self.samples[name])

    def page_faults(self, name: str) -> int:
        """Median minor page faults of a round of `name`."""
        return int(statistics.median(s.page_faults for s in self.samples[name]))

    def peak_bytes(self, name: str) -> Optional[int]:
        """Largest peak CUDA memory of the rounds of `name` (None off CUDA)."""
        peaks = [s.peak_bytes for s in self.samples[name] if s.peak_bytes is not None]
        return max(peaks) if peaks else None


def interleave(fns: Mapping[str, Callable[[], Any]], repeats: int, timer: Optional[Timer] = None,
               contexts: Optional[Mapping[str, Callable[[], ContextManager]]] = None) -> Timings:
    """Call each of `fns` (name -> function) once per round for `repeats` rounds, starting each round one name
    further (a, b, c / b, c, a / c, a, b ...), so that slow phases of a shared machine hit every variant.

    Args:
        fns: the variants; their return values are ignored.
        repeats: rounds.
        timer: times each call (default: a :class:`Timer` on ``time.perf_counter``).
        contexts: name -> a context manager factory entered around that name's calls, outside the timing
            (e.g. a thread count or allocator setting of one variant).
    """
    timer = timer or Timer()
    contexts = contexts or {}
    names = list(fns)
    out = Timings(samples={n: [] for n in names}, load_before=load_average())
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            with contexts[name]() if name in contexts else contextlib.nullcontext():
                out.samples[name].append(timer.measure(fns[name]))
            out.order.append(name)
    out.load_after = load_average()
    return out


def summarise(samples: Sequence[float]) -> Dict[str, Any]:
    """``{"samples", "median", "min", "max", "spread"}`` of timings in seconds; spread = (max - min) / median."""
    xs = [float(x) for x in samples]
    med = statistics.median(xs)
    return {"samples": xs, "median": med, "min": min(xs), "max": max(xs),
            "spread": (max(xs) - min(xs)) / med if med > 0 else float("nan")}


def ratio(a: float, b: float) -> float:
    """``a / b``; NaN when `b` is not positive."""
    return a / b if b > 0 else float("nan")


# ------------------------------------------------------------------------------------------ generated photos

def render_photo(size: Size, seed: int, index: int, max_render_px: int = 1_500_000) -> Tuple[np.ndarray, np.ndarray]:
    """A synthetic photo ``(H, W, 3)`` uint8 and its id mask ``(H, W)`` uint8 at ``size = (H, W)``.

    Scenes larger than `max_render_px` are drawn smaller, upscaled (bicubic photo, NEAREST mask) and given
    sensor-like noise so that their JPEGs cost about what real photos of that size cost to decode.
    """
    import numpy as np
    from PIL import Image

    from dronefast.synthetic.generator import render_scene

    h, w = size
    if h * w <= max_render_px:
        return render_scene((h, w), seed, index)
    f = math.sqrt(max_render_px / (h * w))
    img, mask = render_scene((max(8, round(h * f)), max(8, round(w * f))), seed, index)
    big = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC))
    noise = np.random.default_rng([seed, index, 1]).integers(-4, 5, size=(h, w, 1), dtype=np.int16)
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return big, np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))


def _write_photo(job: Tuple[Path, str, Size, int, int]) -> None:
    from dronefast.outputs import save_image

    root, stem, size, seed, index = job
    img, mask = render_photo(size, seed, index)
    save_image(img, root / "original_images" / f"{stem}.jpg", quality=92)
    save_image(mask, root / "label_images_semantic" / f"{stem}.png")


def photo_dataset(root: PathLike, n: int, size: Size, seed: int = 0, workers: Optional[int] = None) -> Path:
    """A Kaggle-layout dataset of `n` synthetic photos of ``size = (H, W)`` (JPEG quality 92) with id masks,
    in `root`; generated on all cores on first use and reused while ``bench.json`` says it matches."""
    from dronefast.data.classes import standard_classes
    from dronefast.data.validation import default_workers
    from dronefast.outputs import write_json, write_text

    root = Path(root)
    settings = {"generator": PHOTO_GENERATOR, "n": int(n), "size": list(size), "seed": int(seed)}
    marker = root / "bench.json"
    try:
        if json.loads(marker.read_text()) == settings:
            return root
    except (OSError, ValueError):
        pass
    marker.unlink(missing_ok=True)
    write_text(root / "class_dict_seg.csv", standard_classes().to_csv())
    jobs = [(root, f"{i:04d}", tuple(size), seed, i) for i in range(n)]
    workers = min(default_workers() if workers is None else workers, n)
    if workers <= 1:
        for j in jobs:
            _write_photo(j)
    else:
        ctx = get_context("fork") if sys.platform.startswith("linux") else None
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            list(pool.map(_write_photo, jobs))
    for sub in ("original_images", "label_images_semantic"):  # files of an earlier, larger dataset
        for f in (root / sub).iterdir():
            if f.stem.isdigit() and int(f.stem) >= n:
                f.unlink()
    write_json(marker, settings)
    return root


# ------------------------------------------------------------------------------------------ reports, options

def format_seconds(s: Dict[str, Any]) -> str:
    """A :func:`summarise` dict as ``median s (min, max, n)``."""
    return f"{s['median']:8.3f} s  (min {s['min']:.3f}, max {s['max']:.3f}, n={len(s['samples'])})"


def gib(n_bytes: int) -> str:
    """Bytes as ``1.23 GiB``."""
    return f"{n_bytes / 2 ** 30:.2f} GiB"


def machine_line(m: Dict[str, Any]) -> str:
    """The first report line of every benchmark: the machine of a result's ``machine`` record and its load."""
    return (f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)"
            + (f", GPU {m['gpu']}" if "gpu" in m else "")
            + f"; load average {m.get('load_avg_before')} -> {m.get('load_avg_after')}")


def split_csv(text: str) -> List[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [s.strip() for s in text.split(",") if s.strip()]


def add_common_arguments(p: argparse.ArgumentParser, seed: bool = True) -> None:
    """The options every sub-command has: ``--json``, ``--work``, ``--threads`` and (with `seed`) ``--seed``."""
    from dronefast.cli.common import positive_int

    p.add_argument("--json", type=Path, metavar="PATH", help="also write the full results as JSON")
    p.add_argument("--work", type=Path, metavar="DIR", help="cache of generated photos; None: "
                   "$DRONEFAST_CACHE/bench or ~/.cache/dronefast/bench")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of the photos, split and initialisation")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch.set_num_threads for the run; None: torch's default")
