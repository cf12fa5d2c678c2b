"""Benchmarks, side by side in one run: ``python -m dronefast.bench {train,prepare,predict,levers,recipes}``.

Every sub-command times its variants *interleaved* (round after round, the order rotated each round) and
reports medians, so that a load change on a shared machine hits all variants alike; it prints the ratios
the project's targets are written in and, with ``--json PATH``, writes everything (each sample, the machine,
the load average before and after) to a JSON file.

* ``train``: one epoch (train + validation) of the same U-Net, data, size and batch size on
  (a) ``stock``: the fastai segmentation tutorial's pipeline (``SegmentationDataLoaders.from_label_func``
  over the photo files, ``item_tfms=Resize``, ``batch_tfms=[*aug_transforms(), Normalize]``, fastai's default
  worker count, ``unet_learner``, fp32), which decodes and resizes every full-size photo on every epoch;
  (b) ``dronefast``: :func:`~dronefast.data.drone_dataloaders` + :func:`~dronefast.learner.drone_learner`
  with the levers asked for (``--precision``, ``--no-channels-last``, ``--no-malloc``, ``--workers``);
  (c) ``floor``: forward, backward and optimizer step (torch AdamW) over batches already in memory on the
  device, plus the validation forwards, with the same levers as (b). It prints seconds per epoch and per
  training image, b/c (overhead over the floor), a/b (speed-up over stock) and the pixel accuracy (a) and
  (b) reach. Photos are synthetic (:func:`~dronefast.sample.render_scene`) at ``--photo-size`` and cached.
* ``prepare``: a naive loop (full decode, Lanczos resize, save; one process) versus
  :func:`~dronefast.prepare.prepare_dataset` (JPEG draft decoding, all cores) on generated 6000x4000 photos,
  plus full versus draft decoding of one photo.
* ``predict``: :meth:`~dronefast.predict.Predictor.predict` of one photo, tiled (decode, tiling, blending,
  full-resolution upsampling and argmax), versus the bare model forward over the same windows.
* ``levers``: the floor step of (c) under each model-side lever (channels-last, bf16 autocast, thread
  count, torch.compile), interleaved step by step.
* ``recipes``: accuracy, not speed: the training recipes trained side by side from scratch on one generated
  sample and scored at full resolution (:mod:`dronefast.recipe_bench`).

On CUDA the results also hold images per second and the peak GPU memory of each variant.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .cli import format_size, run_main, size_arg
from .errors import UsageError
from .tuning import glibc_default_malloc, tune_malloc

__all__ = ["bench_train", "bench_prepare", "bench_predict", "bench_levers", "machine_info",
           "torch_adamw_opt_func", "report_lines", "build_parser",
           "photo_dataset", "interleave", "summarise", "default_work_dir", "TRAIN_VARIANTS", "LEVERS",
           "TARGETS", "main"]

PathLike = Union[str, Path]
Size = Tuple[int, int]

#: The three pipelines of ``bench train``, in the order they are labelled (a), (b), (c).
TRAIN_VARIANTS = ("stock", "dronefast", "floor")
#: Model-side levers ``bench levers`` knows (each a floor-step variant).
LEVERS = ("fp32", "channels_last", "bf16", "bf16_channels_last", "threads1", "compile")
#: The issue's targets for the printed ratios (``*_max``: at most, ``*_min``: at least).
TARGETS = {"train_overhead_max_cpu": 1.10, "train_overhead_max_cuda": 1.05, "train_speedup_min_cpu": 1.5,
           "prepare_speedup_min": 5.0, "predict_overhead_max": 1.15, "gpu_epoch_s_max": 1.5}
_LABELS = {"stock": "(a) stock fastai", "dronefast": "(b) dronefast", "floor": "(c) floor"}


# ------------------------------------------------------------------------------------------ helpers

def default_work_dir() -> Path:
    """Cache folder of generated benchmark data: ``$DRONEFAST_CACHE`` (or ``~/.cache/dronefast``) ``/bench``."""
    root = os.environ.get("DRONEFAST_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "dronefast") / "bench"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _load() -> Optional[List[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info(device: Optional[str] = None) -> Dict[str, Any]:
    """Where the figures come from: CPU model, usable cores, load average, torch/fastai versions, threads,
    glibc malloc settings from the environment, and the GPU when `device` is CUDA."""
    import torch

    info: Dict[str, Any] = {"cpu": _cpu_name(), "cores": _cores(), "platform": platform.platform(),
                            "python": platform.python_version(), "torch": torch.__version__,
                            "torch_threads": torch.get_num_threads(), "load_avg": _load(),
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


@contextlib.contextmanager
def _threads(n: Optional[int]) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block (nothing when None), restored after it."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _resolve_device(device: Optional[str]):
    import torch

    from .predict import parse_device

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = parse_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"the benchmark runs on cpu or cuda, not {dev.type}")
    return dev


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(fns: Dict[str, Callable[[], float]], repeats: int) -> Dict[str, List[float]]:
    """Call each of `fns` (name -> timed function returning seconds) once per round for `repeats` rounds,
    starting each round one name further (a, b, c / b, c, a / ...), so slow phases of a shared machine hit
    every variant; returns name -> the seconds of each round, in round order."""
    names = list(fns)
    out: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            out[name].append(float(fns[name]()))
    return out


def summarise(samples: Sequence[float]) -> Dict[str, Any]:
    """``{"samples", "median", "min", "max", "spread"}`` of timings in seconds; spread = (max - min) / median."""
    xs = [float(x) for x in samples]
    med = statistics.median(xs)
    return {"samples": xs, "median": med, "min": min(xs), "max": max(xs),
            "spread": (max(xs) - min(xs)) / med if med > 0 else float("nan")}


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def _usage() -> Tuple[float, int]:
    """(CPU seconds, minor page faults) of this process and its finished children so far."""
    try:
        import resource
    except ImportError:  # pragma: no cover (Windows)
        return time.process_time(), 0
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, s.ru_minflt + c.ru_minflt


@contextlib.contextmanager
def _timer(device, out: List[float], usage: Optional[List[Tuple[float, int]]] = None) -> Iterator[None]:
    """Append the wall seconds of the block to `out` (CUDA synchronised) and, with `usage`, its
    (CPU seconds, minor page faults)."""
    _sync(device)
    u0 = _usage()
    t0 = time.perf_counter()
    yield
    _sync(device)
    out.append(time.perf_counter() - t0)
    if usage is not None:
        u1 = _usage()
        usage.append((u1[0] - u0[0], u1[1] - u0[1]))


def _autocast(device, precision: str):
    import torch

    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


def _resolve_precision(precision: str, device) -> str:
    from .fitting import resolve_precision

    chosen = resolve_precision(precision, device)
    if chosen == "fp16" and device.type != "cuda":
        raise UsageError("fp16 mixed precision needs a GPU; use bf16 on CPU")
    return chosen


# ------------------------------------------------------------------------------------------ generated data

def _render_photo(size: Size, seed: int, index: int, max_render_px: int = 1_500_000) -> Tuple[np.ndarray, np.ndarray]:
    """A synthetic photo ``(H, W, 3)`` uint8 and its id mask ``(H, W)`` uint8 at ``size = (H, W)``.

    Scenes larger than `max_render_px` are drawn smaller, upscaled (bicubic photo, NEAREST mask) and given
    sensor-like noise so that their JPEGs cost about what real photos of that size cost to decode.
    """
    from PIL import Image

    from .sample import render_scene

    h, w = size
    if h * w <= max_render_px:
        return render_scene((h, w), seed, index)
    f = math.sqrt(max_render_px / (h * w))
    img, mask = render_scene((max(8, round(h * f)), max(8, round(w * f))), seed, index)
    big = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC))
    noise = np.random.default_rng([seed, index, 1]).integers(-4, 5, size=(h, w, 1), dtype=np.int16)
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return big, np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))


def _write_photo(args) -> None:
    from .outputs import save_image

    root, stem, size, seed, index = args
    img, mask = _render_photo(size, seed, index)
    save_image(img, root / "original_images" / f"{stem}.jpg", quality=92)
    save_image(mask, root / "label_images_semantic" / f"{stem}.png")


def photo_dataset(root: PathLike, n: int, size: Size, seed: int = 0, workers: Optional[int] = None) -> Path:
    """A Kaggle-layout dataset of `n` synthetic photos of ``size = (H, W)`` (JPEG quality 92) with id masks,
    in `root`; generated on all cores on first use and reused while ``bench.json`` says it matches."""
    import json

    from .check import default_workers
    from .classes import standard_classes
    from .outputs import write_json, write_text

    root = Path(root)
    settings = {"generator": "dronefast.bench", "n": int(n), "size": list(size), "seed": int(seed)}
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


# ------------------------------------------------------------------------------------------ train

def _n_total(n_train: int, valid_pct: float) -> int:
    """Largest image count whose random split (fastai holds out ``int(valid_pct * n)``) leaves exactly
    `n_train` for training (320 at 0.2 -> 400, as the real dataset)."""
    total = n_train
    while total - int(valid_pct * total) < n_train:
        total += 1
    while (total + 1) - int(valid_pct * (total + 1)) == n_train:
        total += 1
    return total


def _quiet(learn, progress: bool = False) -> None:
    """No printed epoch lines and, unless `progress`, no progress bar (fastai's formats the smoothed loss
    after every batch, which waits for the GPU each time)."""
    from fastai.callback.progress import ProgressCallback
    from fastcore.basics import noop

    if not progress:
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    learn.logger = noop


def _plain(t):
    import torch

    return t.as_subclass(torch.Tensor) if isinstance(t, torch.Tensor) else t


def _adamw_kwargs(lr: float) -> Dict[str, Any]:
    """torch AdamW with fastai ``Adam``'s hyper-parameters (betas 0.9/0.99, eps 1e-5, decoupled wd 1e-2)."""
    return {"lr": lr, "betas": (0.9, 0.99), "eps": 1e-5, "weight_decay": 1e-2}


def torch_adamw_opt_func(fused: bool = False):
    """A fastai ``opt_func``: torch's AdamW (one multi-tensor kernel per update; ``fused`` on CUDA: one kernel)
    behind fastai's ``OptimWrapper``, with fastai ``Adam``'s hyper-parameters, so schedules, freezing and
    discriminative learning rates keep working. Replaces fastai's per-parameter Python loop (about 150
    parameter tensors x 6 kernels per step for a ResNet-34 U-Net)."""
    from functools import partial

    import torch
    from fastai.optimizer import OptimWrapper

    kw = {k: v for k, v in _adamw_kwargs(0.0).items() if k != "lr"}
    kw["fused" if fused else "foreach"] = True
    return partial(OptimWrapper, opt=partial(torch.optim.AdamW, **kw))


class _Floor:
    """The bare floor: a fresh U-Net like (b)'s, torch AdamW, cross-entropy, over batches held on the device."""

    def __init__(self, arch: str, n_out: int, size: Size, device, precision: str, channels_last: bool,
                 lr: float, seed: int, compile_model: bool = False):
        import torch
        from fastai.vision.learner import create_unet_model

        from .encoders import Encoder

        torch.manual_seed(seed)
        model = create_unet_model(Encoder(arch, pretrained=False), n_out, tuple(size), pretrained=False)
        model = model.to(device)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=self.fmt)
        self.model = torch.compile(model) if compile_model else model
        self.opt = torch.optim.AdamW(model.parameters(), **_adamw_kwargs(lr))
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.device, self.precision = device, precision

    def prepare(self, batches) -> List[Tuple[Any, Any]]:
        """Plain tensors on the device in the model's memory format."""
        return [(_plain(x).to(self.device).contiguous(memory_format=self.fmt), _plain(y).to(self.device).long())
                for x, y in batches]

    def step(self, x, y) -> None:
        """One forward, backward and optimizer step."""
        import torch.nn.functional as F

        with _autocast(self.device, self.precision):
            out = self.model(x)
        loss = F.cross_entropy(out.float(), y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def evaluate(self, x) -> None:
        """One validation forward."""
        import torch

        self.model.eval()
        with torch.inference_mode(), _autocast(self.device, self.precision):
            self.model(x).argmax(1)
        self.model.train()

    def epoch(self, train, valid) -> float:
        """Seconds of one epoch: every training step, then every validation forward."""
        t: List[float] = []
        with _timer(self.device, t):
            for x, y in train:
                self.step(x, y)
            for x, _ in valid:
                self.evaluate(x)
        return t[0]


def _stock_learner(layout, size: Size, bs: int, valid_pct: float, seed: int, device, workers: Optional[int],
                   arch: str, n_out: int):
    """The fastai tutorial's pipeline over the full-size photos (see the module docstring)."""
    import torch
    from fastai.data.transforms import Normalize
    from fastai.vision.augment import Resize, aug_transforms
    from fastai.vision.data import SegmentationDataLoaders, imagenet_stats
    from fastai.vision.learner import unet_learner
    from torchvision import models

    from .metrics import segmentation_metrics

    pairs, _, _ = layout.pairs()
    fnames = [img for img, _ in pairs]  # same order as dronefast's, so RandomSplitter gives the same split
    dls = SegmentationDataLoaders.from_label_func(
        layout.image_dir, fnames=fnames, label_func=layout.label_func, codes=layout.classes.codes,
        valid_pct=valid_pct, seed=seed, bs=bs, num_workers=workers, device=device,
        item_tfms=Resize(size, method="squish"),
        batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    torch.manual_seed(seed)
    learn = unet_learner(dls, getattr(models, arch), pretrained=False, n_out=n_out,
                         metrics=segmentation_metrics(n_out, 0, layout.classes.codes))
    return learn


def _pixel_accuracy(learn) -> float:
    from .metrics import find_confusion_metric

    learn.validate()
    return float(find_confusion_metric(learn).scores()["pixel_accuracy"])


def bench_train(data: Optional[PathLike] = None, n: int = 16, photo_size: Size = (1000, 1500),
                size: Size = (200, 300), bs: int = 4, arch: str = "resnet34", epochs: int = 2,
                device: Optional[str] = None, precision: str = "auto", channels_last: bool = True,
                workers: int = 0, stock_workers: Optional[int] = None, lr: float = 1e-3, valid_pct: float = 0.2,
                seed: int = 0, variants: Sequence[str] = TRAIN_VARIANTS, work: Optional[PathLike] = None,
                acc_tol: float = 0.05, malloc: bool = True, opt: str = "fastai", cudnn_benchmark: bool = False,
                progress: bool = False, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time one epoch of (a) stock fastai, (b) dronefast and (c) the bare floor, interleaved.

    Args:
        data: a dataset folder to use instead of generated photos (its images are all used; `n` is ignored).
        n: training images (the generated set holds enough more for `valid_pct` to leave exactly `n`).
        photo_size: ``(H, W)`` of the generated photos (the real ones are 4000x6000).
        size: training ``(H, W)``.
        bs: batch size.
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``), random initialisation.
        epochs: timed epochs of each variant (rounds); the medians are reported.
        device: ``cpu``, ``cuda`` or None/``auto``.
        precision: ``auto`` (as ``dronefast.train``: bf16/fp16 on GPU, fp32 on CPU), ``fp32``, ``bf16`` or
            ``fp16`` for (b) and (c); (a) stays fp32 as the tutorial.
        channels_last: channels-last memory format for (b) (fastai's ``ChannelsLast``, as ``dronefast.train``
            does by default) and (c).
        workers: DataLoader workers of (b).
        stock_workers: DataLoader workers of (a); None = fastai's default (all cores up to 16).
        lr: constant learning rate of every epoch.
        valid_pct, seed: the random split (the same for (a) and (b)) and the model initialisation seed.
        variants: which of :data:`TRAIN_VARIANTS` to run.
        work: cache folder of generated photos (default :func:`default_work_dir`).
        acc_tol: largest pixel-accuracy difference between (a) and (b) still called "the same".
        malloc: call :func:`~dronefast.tuning.tune_malloc` first, as ``dronefast.train`` does; (a) then runs
            each epoch under glibc's untuned steady state (:func:`~dronefast.tuning.glibc_default_malloc`).
        opt: optimizer of (b): ``fastai`` (its ``Adam``, as ``drone_learner`` builds it) or ``torch``
            (:func:`torch_adamw_opt_func`, fused on CUDA); (c) always uses torch's AdamW (foreach).
        cudnn_benchmark: ``torch.backends.cudnn.benchmark = True`` (CUDA; every variant).
        progress: keep fastai's progress bar in (b) (to measure its cost; (a) never has one).
        log: where progress lines go.

    Returns:
        A JSON-ready dict: ``settings``, ``machine``, ``variants`` (per variant: ``epoch_s`` summary,
        ``s_per_image``, ``images_per_s``, ``accuracy``, ``peak_gpu_bytes``), ``ratios`` and ``checks``.
    """
    import torch
    from fastai.callback.channelslast import ChannelsLast

    from .data import drone_dataloaders
    from .fitting import set_precision
    from .layout import find_layout
    from .learner import drone_learner

    bad = [v for v in variants if v not in TRAIN_VARIANTS]
    if bad or not variants:
        raise UsageError(f"unknown variant(s) {bad}; choose from {', '.join(TRAIN_VARIANTS)}")
    if opt not in ("fastai", "torch"):
        raise UsageError(f"opt must be fastai or torch, got {opt!r}")
    if epochs < 1 or n < 1 or bs < 1:
        raise UsageError("--epochs, --n and --bs must be at least 1")
    dev = _resolve_device(device)
    chosen = _resolve_precision(precision, dev)
    malloc_ok = tune_malloc() if malloc else None
    if cudnn_benchmark and dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    generated = data is None
    if generated:
        total = _n_total(n, valid_pct)
        work = Path(work) if work else default_work_dir()
        root = work / f"train-{total}-{format_size(photo_size)}-s{seed}"
        log(f"photos: {total} synthetic {format_size(photo_size)} JPEGs in {root}")
        data = photo_dataset(root, total, photo_size, seed)
    layout = find_layout(data)
    gen_s = time.perf_counter() - t0
    n_out = len(layout.classes)

    # (b) first: its batches also feed the floor
    t0 = time.perf_counter()
    dls = drone_dataloaders(layout, size=size, bs=bs, valid_pct=valid_pct, seed=seed, num_workers=workers,
                            device=dev, progress=False)
    cache_s = time.perf_counter() - t0
    n_train, n_valid = len(dls.train_ds), len(dls.valid_ds)
    steps = len(dls.train)
    if steps == 0:
        raise UsageError(f"{n_train} training images make no full batch of {bs}")
    if n_valid == 0:
        raise UsageError(f"no validation image: {n_train + n_valid} images at --valid-pct {valid_pct}; "
                         f"raise --n or --valid-pct")
    log(f"train/valid: {n_train}/{n_valid} images at {format_size(size)} (WxH), batch {bs}, {steps} steps per "
        f"epoch, {arch} (random init), device {dev}, precision {chosen}"
        f"{', channels-last' if channels_last else ''}")
    runners: Dict[str, Callable[[], float]] = {}
    learners: Dict[str, Any] = {}
    peaks: Dict[str, int] = {}
    usage: Dict[str, List[Tuple[float, int]]] = {k: [] for k in TRAIN_VARIANTS}

    def timed_fit(name: str, learn) -> Callable[[], float]:
        untuned = name == "stock" and malloc_ok

        def run() -> float:
            t: List[float] = []
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            with glibc_default_malloc() if untuned else contextlib.nullcontext(), _timer(dev, t, usage[name]):
                learn.fit(1, lr)
            if dev.type == "cuda":
                peaks[name] = max(peaks.get(name, 0), torch.cuda.max_memory_allocated(dev))
            return t[0]
        return run

    if "dronefast" in variants:
        torch.manual_seed(seed)
        learn_b = drone_learner(dls, arch, pretrained=False)
        if opt == "torch":
            learn_b.opt_func, learn_b.opt = torch_adamw_opt_func(fused=dev.type == "cuda"), None
        _quiet(learn_b, progress)
        set_precision(learn_b, chosen)
        if channels_last:
            learn_b.add_cb(ChannelsLast())  # as dronefast.train does
        learners["dronefast"] = learn_b
        runners["dronefast"] = timed_fit("dronefast", learn_b)
    if "stock" in variants:
        learn_a = _stock_learner(layout, size, bs, valid_pct, seed, dev, stock_workers, arch, n_out)
        _quiet(learn_a)
        learners["stock"] = learn_a
        runners["stock"] = timed_fit("stock", learn_a)
    floor = None
    if "floor" in variants:
        floor = _Floor(arch, n_out, size, dev, chosen, channels_last, lr, seed)
        train_b = floor.prepare(list(dls.train))
        valid_b = floor.prepare(list(dls.valid))

        def run_floor() -> float:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            t: List[float] = []
            with _timer(dev, t, usage["floor"]):
                floor.epoch(train_b, valid_b)
            if dev.type == "cuda":
                peaks["floor"] = max(peaks.get("floor", 0), torch.cuda.max_memory_allocated(dev))
            return t[0]

        runners["floor"] = run_floor

    # warm-up outside the timings: kernels chosen and primitives cached for these shapes
    t0 = time.perf_counter()
    warm = _Floor(arch, n_out, size, dev, chosen, channels_last, lr, seed)
    xb, yb = warm.prepare([dls.one_batch()])[0]
    warm.step(xb, yb)
    warm.evaluate(xb)
    _sync(dev)
    del warm, xb, yb
    warmup_s = time.perf_counter() - t0

    load_before = _load()
    times = interleave({k: runners[k] for k in TRAIN_VARIANTS if k in runners}, epochs)
    load_after = _load()

    results: Dict[str, Any] = {}
    for name, samples in times.items():
        s = summarise(samples)
        r: Dict[str, Any] = {"label": _LABELS[name], "epoch_s": s, "s_per_image": s["median"] / n_train,
                             "images_per_s": n_train / s["median"],
                             "cpu_s": statistics.median(c for c, _ in usage[name]),
                             "page_faults": int(statistics.median(f for _, f in usage[name]))}
        if name in peaks:
            r["peak_gpu_bytes"] = int(peaks[name])
        results[name] = r
    for name, learn in learners.items():
        results[name]["accuracy"] = _pixel_accuracy(learn)
    med = {k: v["epoch_s"]["median"] for k, v in results.items()}
    low = {k: v["epoch_s"]["min"] for k, v in results.items()}
    cpu = {k: v["cpu_s"] for k, v in results.items()}
    ratios: Dict[str, float] = {}
    ratios_min: Dict[str, float] = {}
    ratios_cpu: Dict[str, float] = {}
    checks: Dict[str, Any] = {}
    if "dronefast" in med and "floor" in med:
        ratios["dronefast_over_floor"] = _ratio(med["dronefast"], med["floor"])
        ratios_min["dronefast_over_floor"] = _ratio(low["dronefast"], low["floor"])
        ratios_cpu["dronefast_over_floor"] = _ratio(cpu["dronefast"], cpu["floor"])
        checks["overhead_target"] = TARGETS["train_overhead_max_cuda" if dev.type == "cuda"
                                            else "train_overhead_max_cpu"]
        checks["overhead_met"] = ratios["dronefast_over_floor"] <= checks["overhead_target"]
    if "stock" in med and "dronefast" in med:
        ratios["stock_over_dronefast"] = _ratio(med["stock"], med["dronefast"])
        ratios_min["stock_over_dronefast"] = _ratio(low["stock"], low["dronefast"])
        ratios_cpu["stock_over_dronefast"] = _ratio(cpu["stock"], cpu["dronefast"])
        checks["speedup_target"] = TARGETS["train_speedup_min_cpu"]
        checks["speedup_met"] = ratios["stock_over_dronefast"] >= checks["speedup_target"]
        diff = abs(results["stock"]["accuracy"] - results["dronefast"]["accuracy"])
        checks.update(accuracy_diff=diff, accuracy_tol=acc_tol, same_accuracy=diff <= acc_tol)
    return {"command": "train", "machine": {**machine_info(str(dev)), "load_avg_before": load_before,
                                            "load_avg_after": load_after},
            "settings": {"data": str(data), "generated": generated,
                         "photo_size": format_size(photo_size), "size": format_size(size), "bs": bs, "arch": arch,
                         "epochs": epochs, "device": str(dev), "precision": chosen, "channels_last": channels_last,
                         "workers": workers, "stock_workers": stock_workers if stock_workers is not None else
                         "fastai default", "lr": lr, "valid_pct": valid_pct, "seed": seed, "n_train": n_train,
                         "n_valid": n_valid, "steps_per_epoch": steps, "malloc_tuned": malloc_ok, "opt": opt,
                         "cudnn_benchmark": bool(dev.type == "cuda" and torch.backends.cudnn.benchmark),
                         "progress_bar": progress,
                         "threads": torch.get_num_threads()},
            "setup_s": {"photos": gen_s, "dronefast_cache": cache_s, "warmup": warmup_s},
            "variants": results, "ratios": ratios, "ratios_of_min": ratios_min, "ratios_of_cpu": ratios_cpu,
            "checks": checks}


# ------------------------------------------------------------------------------------------ prepare

def _naive_prepare(layout, dst: Path, size: Size) -> None:
    """What a first script does: decode each photo fully, resize it (Lanczos), resize its mask (NEAREST),
    save both; one process."""
    from PIL import Image

    h, w = size
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    pairs, _, _ = layout.pairs()
    for img, msk in pairs:
        with Image.open(img) as im:
            im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(
                dst / "images" / f"{img.stem}.jpg", quality=95, subsampling=0)
        with Image.open(msk) as m:
            m.resize((w, h), Image.Resampling.NEAREST).save(dst / "masks" / f"{img.stem}.png")


def _decode_times(path: Path, size: Size, repeats: int) -> Dict[str, Any]:
    from PIL import Image

    from .images import read_image

    def full() -> float:
        t = time.perf_counter()
        with Image.open(path) as im:
            im.convert("RGB")
        return time.perf_counter() - t

    def draft() -> float:
        t = time.perf_counter()
        read_image(path, size)
        return time.perf_counter() - t

    times = interleave({"full": full, "draft": draft}, repeats)
    f, d = summarise(times["full"]), summarise(times["draft"])
    return {"full_decode_s": f, "draft_decode_resize_s": d, "ratio": _ratio(f["median"], d["median"])}


def bench_prepare(n: int = 4, photo_size: Size = (4000, 6000), size: Size = (200, 300), repeats: int = 2,
                  workers: Optional[int] = None, work: Optional[PathLike] = None, seed: int = 0,
                  log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time the naive loop versus :func:`~dronefast.prepare.prepare_dataset` on `n` generated photos of
    ``photo_size = (H, W)`` prepared at ``size = (H, W)``, interleaved `repeats` times.

    Returns:
        A JSON-ready dict with ``variants`` (``naive``/``dronefast``: ``total_s`` summary, ``s_per_image``),
        ``ratios`` (``naive_over_dronefast``), ``decode`` (full versus draft decoding of one photo).
    """
    import shutil
    import tempfile

    from .check import default_workers
    from .layout import find_layout
    from .prepare import prepare_dataset

    if n < 1 or repeats < 1:
        raise UsageError("--n and --repeats must be at least 1")
    work = Path(work) if work else default_work_dir()
    root = work / f"prepare-{n}-{format_size(photo_size)}-s{seed}"
    t0 = time.perf_counter()
    log(f"photos: {n} synthetic {format_size(photo_size)} JPEGs in {root}")
    photo_dataset(root, n, photo_size, seed)
    gen_s = time.perf_counter() - t0
    layout = find_layout(root)
    workers = default_workers() if workers is None else workers
    out = Path(tempfile.mkdtemp(prefix="dronefast-bench-prepare-"))
    try:
        def naive() -> float:
            shutil.rmtree(out / "naive", ignore_errors=True)
            t = time.perf_counter()
            _naive_prepare(layout, out / "naive", size)
            return time.perf_counter() - t

        def fast() -> float:
            t = time.perf_counter()
            prepare_dataset(root, out / "fast", size=size, workers=workers, overwrite=True, progress=False)
            return time.perf_counter() - t

        load_before = _load()
        times = interleave({"naive": naive, "dronefast": fast}, repeats)
        load_after = _load()
        decode = _decode_times(layout.image_files()[0], size, max(3, repeats))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    results = {}
    for name, samples in times.items():
        s = summarise(samples)
        results[name] = {"total_s": s, "s_per_image": s["median"] / n, "images_per_s": n / s["median"]}
    ratio = _ratio(results["naive"]["total_s"]["median"], results["dronefast"]["total_s"]["median"])
    ratio_min = _ratio(results["naive"]["total_s"]["min"], results["dronefast"]["total_s"]["min"])
    return {"command": "prepare", "machine": {**machine_info(), "load_avg_before": load_before,
                                              "load_avg_after": load_after},
            "settings": {"n": n, "photo_size": format_size(photo_size), "size": format_size(size),
                         "repeats": repeats, "workers": workers, "seed": seed},
            "setup_s": {"photos": gen_s}, "variants": results, "ratios": {"naive_over_dronefast": ratio},
            "ratios_of_min": {"naive_over_dronefast": ratio_min},
            "decode": decode,
            "checks": {"speedup_target": TARGETS["prepare_speedup_min"],
                       "speedup_met": ratio >= TARGETS["prepare_speedup_min"]}}


# ------------------------------------------------------------------------------------------ predict

def bench_predict(photo_size: Size = (2000, 3000), size: Size = (200, 300), scale: float = 0.25,
                  arch: str = "resnet34", batch_size: int = 8, overlap: float = 0.25, repeats: int = 3,
                  device: Optional[str] = None, bf16: bool = False, work: Optional[PathLike] = None, seed: int = 0,
                  log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time tiled full-resolution prediction of one JPEG of ``photo_size = (H, W)`` against the bare model
    forward over the same windows of ``size = (H, W)``, interleaved `repeats` times (after one warm-up each).

    Returns:
        A JSON-ready dict with ``variants`` (``tiled``, ``forward``: ``s`` summary, ``peak_gpu_bytes`` on CUDA),
        ``ratios`` (``tiled_over_forward``) and the tiling plan.
    """
    import torch

    from .classes import standard_classes
    from .modelfile import ModelInfo, build_model
    from .predict import Predictor, _pad_to, tile_positions

    if repeats < 1 or batch_size < 1:
        raise UsageError("--repeats and --batch-size must be at least 1")
    dev = _resolve_device(device)
    work = Path(work) if work else default_work_dir()
    root = work / f"predict-1-{format_size(photo_size)}-s{seed}"
    photo = photo_dataset(root, 1, photo_size, seed) / "original_images" / "0000.jpg"
    info = ModelInfo(arch=arch, classes=standard_classes(), size=tuple(size))
    torch.manual_seed(seed)
    pred = Predictor((build_model(info), info), device=dev, tile=True, scale=scale, overlap=overlap,
                     batch_size=batch_size, bf16=bf16)
    tiled, work_hw = pred.plan(tuple(photo_size))
    # the same windows, already cut, normalised and on the device
    arr, _, _ = pred._load(photo)
    th, tw = size
    arr = _pad_to(arr, th, tw)
    boxes = [(y, x) for y in tile_positions(arr.shape[0], th, overlap)
             for x in tile_positions(arr.shape[1], tw, overlap)]
    src = torch.from_numpy(np.ascontiguousarray(arr))
    chunks = []
    for i in range(0, len(boxes), batch_size):
        b = torch.stack([src[y:y + th, x:x + tw] for y, x in boxes[i:i + batch_size]]).to(dev)
        x = ((b.permute(0, 3, 1, 2).float() / 255) - pred._mean) / pred._std
        chunks.append(x.contiguous(memory_format=pred._fmt))
    amp = torch.autocast(dev.type, dtype=torch.bfloat16) if pred.bf16 else contextlib.nullcontext()
    peaks: Dict[str, int] = {}

    def measured(name: str, fn: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            t: List[float] = []
            with _timer(dev, t):
                fn()
            if dev.type == "cuda":
                peaks[name] = max(peaks.get(name, 0), torch.cuda.max_memory_allocated(dev))
            return t[0]
        return run

    def forward() -> None:
        with torch.inference_mode(), amp:
            for x in chunks:
                pred.model(x)

    fns = {"tiled": measured("tiled", lambda: pred.predict(photo)), "forward": measured("forward", forward)}
    for f in fns.values():  # warm-up
        f()
    load_before = _load()
    times = interleave(fns, repeats)
    load_after = _load()
    results = {}
    for name, samples in times.items():
        results[name] = {"s": summarise(samples)}
        if name in peaks:
            results[name]["peak_gpu_bytes"] = int(peaks[name])
    ratio = _ratio(results["tiled"]["s"]["median"], results["forward"]["s"]["median"])
    ratio_min = _ratio(results["tiled"]["s"]["min"], results["forward"]["s"]["min"])
    log(f"photo {format_size(photo_size)}, scale {scale:g} -> {format_size(work_hw)}: {len(boxes)} windows of "
        f"{format_size(size)}, batch {batch_size}, {arch}, device {dev}")
    return {"command": "predict", "machine": {**machine_info(str(dev)), "load_avg_before": load_before,
                                              "load_avg_after": load_after},
            "settings": {"photo_size": format_size(photo_size), "size": format_size(size), "scale": scale,
                         "working_size": format_size(work_hw), "windows": len(boxes), "batch_size": batch_size,
                         "overlap": overlap, "arch": arch, "device": str(dev), "bf16": pred.bf16,
                         "repeats": repeats, "threads": torch.get_num_threads()},
            "variants": results, "ratios": {"tiled_over_forward": ratio},
            "ratios_of_min": {"tiled_over_forward": ratio_min},
            "checks": {"overhead_target": TARGETS["predict_overhead_max"],
                       "overhead_met": ratio <= TARGETS["predict_overhead_max"]}}


# ------------------------------------------------------------------------------------------ levers

def bench_levers(levers: Sequence[str] = ("fp32", "channels_last", "bf16", "bf16_channels_last"),
                 size: Size = (200, 300), bs: int = 4, arch: str = "resnet34", steps: int = 4,
                 device: Optional[str] = None, seed: int = 0, malloc: bool = False,
                 log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time the floor training step (random batch) under each model-side lever, interleaved step by step
    (`steps` rounds after one warm-up step each); ratios are relative to ``fp32``.

    Levers: ``fp32`` (plain), ``channels_last``, ``bf16`` (autocast), ``bf16_channels_last``, ``threads1``
    (one intra-op thread), ``compile`` (``torch.compile``, compile time reported separately). Allocator settings
    act on the whole process: compare two runs with and without ``--malloc`` (or ``MALLOC_*`` variables).
    """
    import torch

    bad = [v for v in levers if v not in LEVERS]
    if bad or not levers:
        raise UsageError(f"unknown lever(s) {bad}; choose from {', '.join(LEVERS)}")
    if steps < 1:
        raise UsageError("--steps must be at least 1")
    dev = _resolve_device(device)
    malloc_ok = tune_malloc() if malloc else None
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(bs, 3, *size, generator=g)
    y = torch.randint(0, 24, (bs, *size), generator=g)
    floors, compile_s = {}, None
    for lever in levers:
        prec = "bf16" if lever.startswith("bf16") else "fp32"
        if prec == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UsageError("this GPU does not support bf16")
        cl = "channels_last" in lever
        floors[lever] = _Floor(arch, 24, size, dev, prec, cl, 1e-3, seed, compile_model=lever == "compile")
    batches = {k: f.prepare([(x, y)])[0] for k, f in floors.items()}

    usage: Dict[str, List[Tuple[float, int]]] = {k: [] for k in levers}

    def step_fn(lever: str) -> Callable[[], float]:
        def run() -> float:
            t: List[float] = []
            old = torch.get_num_threads()
            if lever == "threads1":
                torch.set_num_threads(1)
            try:
                with _timer(dev, t, usage[lever]):
                    floors[lever].step(*batches[lever])
            finally:
                torch.set_num_threads(old)
            return t[0]
        return run

    fns = {k: step_fn(k) for k in levers}
    warm = {k: fns[k]() for k in levers}
    if "compile" in warm:
        compile_s = warm["compile"]
    for u in usage.values():
        u.clear()
    load_before = _load()
    times = interleave(fns, steps)
    load_after = _load()
    results = {k: {"step_s": summarise(v), "cpu_s": statistics.median(c for c, _ in usage[k]),
                   "page_faults": int(statistics.median(f for _, f in usage[k]))} for k, v in times.items()}
    base = results.get("fp32", {}).get("step_s", {}).get("median")
    ratios = {f"fp32_over_{k}": _ratio(base, v["step_s"]["median"]) for k, v in results.items()
              if base and k != "fp32"}
    log(f"floor step: {arch} U-Net, batch {bs} at {format_size(size)}, device {dev}, {threads} threads")
    return {"command": "levers", "machine": {**machine_info(str(dev)), "load_avg_before": load_before,
                                             "load_avg_after": load_after},
            "settings": {"size": format_size(size), "bs": bs, "arch": arch, "steps": steps, "device": str(dev),
                         "malloc_tuned": malloc_ok, "threads": threads, "levers": list(levers)},
            "compile_warmup_s": compile_s, "variants": results, "ratios": ratios}


# ------------------------------------------------------------------------------------------ reporting

def _fmt_s(s: Dict[str, Any]) -> str:
    n = len(s["samples"])
    return f"{s['median']:8.3f} s  (min {s['min']:.3f}, max {s['max']:.3f}, n={n})"


def _gib(b: int) -> str:
    return f"{b / 2 ** 30:.2f} GiB"


def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a result of one of the ``bench_*`` functions."""
    cmd, out = result["command"], []
    m = result["machine"]
    out.append(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)"
               + (f", GPU {m['gpu']}" if "gpu" in m else "")
               + f"; load average {m.get('load_avg_before')} -> {m.get('load_avg_after')}")
    v, r = result["variants"], result["ratios"]
    if cmd == "train":
        for name in TRAIN_VARIANTS:
            if name not in v:
                continue
            x = v[name]
            line = (f"  {x['label']:<18} epoch {_fmt_s(x['epoch_s'])}  {x['s_per_image']:.3f} s/image, "
                    f"{x['images_per_s']:.1f} images/s, CPU {x['cpu_s']:.1f} s")
            if "accuracy" in x:
                line += f", pixel accuracy {x['accuracy']:.4f}"
            if "peak_gpu_bytes" in x:
                line += f", peak GPU memory {_gib(x['peak_gpu_bytes'])}"
            out.append(line)
        c = result["checks"]
        rm, rc = result.get("ratios_of_min", {}), result.get("ratios_of_cpu", {})
        if "dronefast_over_floor" in r:
            out.append(f"  b/c overhead over the floor: {r['dronefast_over_floor']:.3f} "
                       f"(target <= {c['overhead_target']:.2f}; fastest epochs: {rm['dronefast_over_floor']:.3f}, "
                       f"CPU time: {rc['dronefast_over_floor']:.3f})")
        if "stock_over_dronefast" in r:
            out.append(f"  a/b speed-up over stock fastai: {r['stock_over_dronefast']:.3f} "
                       f"(target >= {c['speedup_target']:.2f}; fastest epochs: {rm['stock_over_dronefast']:.3f}, "
                       f"CPU time incl. workers: {rc['stock_over_dronefast']:.3f})")
            out.append(f"  accuracy a vs b: |{v['stock']['accuracy']:.4f} - {v['dronefast']['accuracy']:.4f}| = "
                       f"{c['accuracy_diff']:.4f} {'<=' if c['same_accuracy'] else '>'} {c['accuracy_tol']} "
                       f"({'same within noise' if c['same_accuracy'] else 'DIFFERENT'})")
    elif cmd == "prepare":
        for name, x in v.items():
            out.append(f"  {name:<10} all {_fmt_s(x['total_s'])}  {x['s_per_image']:.3f} s/image")
        d = result["decode"]
        out.append(f"  one photo: full decode {d['full_decode_s']['median']:.3f} s, draft decode + resize "
                   f"{d['draft_decode_resize_s']['median']:.3f} s ({d['ratio']:.1f}x)")
        out.append(f"  naive/dronefast: {r['naive_over_dronefast']:.2f}x (target >= "
                   f"{result['checks']['speedup_target']:.0f}x; fastest runs: "
                   f"{result['ratios_of_min']['naive_over_dronefast']:.2f}x)")
    elif cmd == "predict":
        for name, x in v.items():
            extra = f", peak GPU memory {_gib(x['peak_gpu_bytes'])}" if "peak_gpu_bytes" in x else ""
            out.append(f"  {name:<8} {_fmt_s(x['s'])}{extra}")
        out.append(f"  tiled/forward overhead: {r['tiled_over_forward']:.3f} (target <= "
                   f"{result['checks']['overhead_target']:.2f}; fastest runs: "
                   f"{result['ratios_of_min']['tiled_over_forward']:.3f})")
    elif cmd == "levers":
        for name, x in v.items():
            rel = f"  fp32/this {r[f'fp32_over_{name}']:.2f}x" if f"fp32_over_{name}" in r else ""
            out.append(f"  {name:<20} step {_fmt_s(x['step_s'])}{rel}; CPU {x['cpu_s']:.2f} s, "
                       f"{x['page_faults']} page faults")
        if result.get("compile_warmup_s") is not None:
            out.append(f"  compile: first step (compilation) {result['compile_warmup_s']:.1f} s")
    elif cmd == "recipes":
        from .recipe_bench import recipe_report_lines

        out += recipe_report_lines(result)
    return out


# ------------------------------------------------------------------------------------------ command line

def _common(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the full results as JSON")
    p.add_argument("--work", type=Path, metavar="DIR", help="cache of generated photos; None: "
                   "$DRONEFAST_CACHE/bench or ~/.cache/dronefast/bench")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of the photos, split and initialisation")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run; None: torch's default")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.bench``."""
    p = argparse.ArgumentParser(prog="python -m dronefast.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    t = sub.add_parser("train", help="stock fastai vs dronefast vs the bare floor, per epoch",
                       formatter_class=fmt)
    t.add_argument("--data", type=Path, help="use this dataset instead of generated photos (all its images)")
    t.add_argument("--n", type=int, default=16, help="training images (generated: plus the validation share)")
    t.add_argument("--photo-size", type=size_arg, default="1500x1000", metavar="WxH",
                   help="size of the generated photos (the real ones are 6000x4000)")
    t.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="training size")
    t.add_argument("--bs", type=int, default=4, help="batch size")
    t.add_argument("--arch", default="resnet34", choices=("resnet18", "resnet34", "resnet50"), help="encoder")
    t.add_argument("--epochs", type=int, default=2, help="timed epochs per variant (interleaved rounds)")
    t.add_argument("--device", default="auto", help="cpu, cuda or auto")
    t.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="precision of (b) and (c), auto as dronefast.train; (a) stays fp32 like the tutorial")
    t.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="contiguous (NCHW) tensors in (b) and (c); by default channels-last, as dronefast.train")
    t.add_argument("--workers", type=int, default=0, help="DataLoader workers of (b)")
    t.add_argument("--stock-workers", type=int, default=None, help="DataLoader workers of (a); None: fastai's default (all cores up to 16)")
    t.add_argument("--no-malloc", dest="malloc", action="store_false",
                   help="leave glibc malloc untuned in (b) and (c); by default they run tuned as dronefast.train "
                        "does (dronefast.tuning), and (a) untuned")
    t.add_argument("--opt", default="fastai", choices=("fastai", "torch"),
                   help="optimizer of (b): fastai's Adam or torch's AdamW (fused on CUDA) in OptimWrapper")
    t.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark (CUDA)")
    t.add_argument("--progress", action="store_true", help="keep fastai's progress bar in (b) (to measure it)")
    t.add_argument("--lr", type=float, default=1e-3, help="constant learning rate")
    t.add_argument("--valid-pct", type=float, default=0.2, help="validation share of the images")
    t.add_argument("--variants", default=",".join(TRAIN_VARIANTS), help="comma-separated subset to run")
    t.add_argument("--acc-tol", type=float, default=0.05, help="pixel-accuracy difference still 'the same'")
    _common(t)

    q = sub.add_parser("prepare", help="naive full decode + resize vs dronefast.prepare", formatter_class=fmt)
    q.add_argument("--n", type=int, default=4, help="photos")
    q.add_argument("--photo-size", type=size_arg, default="6000x4000", metavar="WxH", help="photo size")
    q.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="prepared size")
    q.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    q.add_argument("--workers", type=int, default=None, help="processes of dronefast.prepare; None: all cores")
    _common(q)

    r = sub.add_parser("predict", help="tiled prediction vs the bare forward", formatter_class=fmt)
    r.add_argument("--photo-size", type=size_arg, default="3000x2000", metavar="WxH", help="photo size")
    r.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="model (window) size")
    r.add_argument("--scale", type=float, default=0.25, help="resize factor before tiling")
    r.add_argument("--arch", default="resnet34", choices=("resnet18", "resnet34", "resnet50"), help="encoder")
    r.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    r.add_argument("--overlap", type=float, default=0.25, help="window overlap")
    r.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    r.add_argument("--device", default="auto", help="cpu, cuda or auto")
    r.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA, or CPU with native bf16)")
    _common(r)

    lv = sub.add_parser("levers", help="the floor step under each model-side lever", formatter_class=fmt)
    lv.add_argument("--levers", default="fp32,channels_last,bf16,bf16_channels_last",
                    help=f"comma-separated, from {','.join(LEVERS)}")
    lv.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="input size")
    lv.add_argument("--bs", type=int, default=4, help="batch size")
    lv.add_argument("--arch", default="resnet34", choices=("resnet18", "resnet34", "resnet50"), help="encoder")
    lv.add_argument("--steps", type=int, default=4, help="timed steps per lever (interleaved)")
    lv.add_argument("--device", default="auto", help="cpu, cuda or auto")
    lv.add_argument("--malloc", action="store_true", help="tune glibc malloc first (see tune_malloc)")
    _common(lv)

    rc = sub.add_parser("recipes", help="accuracy of the training recipes side by side (from scratch)",
                        formatter_class=fmt)
    rc.add_argument("--runs", default="reference:12,nadir:12,nadir",
                    help="comma-separated RECIPE or RECIPE:EPOCHS; the first is the one compared against")
    rc.add_argument("--seeds", default="1,2", help="comma-separated seeds (split, initialisation, augmentations)")
    rc.add_argument("--n", type=int, default=120, help="photos in the generated sample")
    rc.add_argument("--photo-size", type=size_arg, default="480x320", metavar="WxH", help="size of those photos")
    rc.add_argument("--sample-seed", type=int, default=7, help="seed of the generated sample")
    rc.add_argument("--size", type=size_arg, default="144x96", metavar="WxH", help="training size")
    rc.add_argument("--bs", type=int, default=8, help="batch size of every run")
    rc.add_argument("--arch", default="resnet18", choices=("resnet18", "resnet34", "resnet50"), help="encoder")
    rc.add_argument("--valid-pct", type=float, default=0.2, help="validation share of the photos")
    rc.add_argument("--lr-find-iters", type=int, default=100, help="lr_find steps of recipes that run it")
    rc.add_argument("--tta", action="store_true", help="also score with flip test-time augmentation")
    rc.add_argument("--progress", action="store_true", help="show fastai's progress bars")
    _common(rc, seed=False)
    return p


def _split(text: str) -> List[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _run(a: argparse.Namespace) -> int:
    import warnings

    from .outputs import write_json

    if a.threads is not None and a.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {a.threads}")
    with warnings.catch_warnings(), _threads(a.threads):
        warnings.filterwarnings("ignore", category=UserWarning)
        res = _dispatch(a)
    res["argv"] = ["python", "-m", "dronefast.bench"] + list(sys.argv[1:] if a.argv is None else a.argv)
    print("\n".join(report_lines(res)))
    if a.json:
        write_json(a.json, res)
        print(f"results written to {a.json}")
    return 0


def _dispatch(a: argparse.Namespace) -> Dict[str, Any]:
    if a.command == "train":
        if not 0 < a.valid_pct < 1:
            raise UsageError(f"--valid-pct must be between 0 and 1, got {a.valid_pct}")
        if a.data is not None and not a.data.exists():
            raise UsageError(f"--data {a.data} does not exist")
        res = bench_train(a.data, a.n, a.photo_size, a.size, a.bs, a.arch, a.epochs, a.device, a.precision,
                          a.channels_last, a.workers, a.stock_workers, a.lr, a.valid_pct, a.seed, _split(a.variants),
                          a.work, a.acc_tol, a.malloc, a.opt, a.cudnn_benchmark, a.progress)
    elif a.command == "prepare":
        res = bench_prepare(a.n, a.photo_size, a.size, a.repeats, a.workers, a.work, a.seed)
    elif a.command == "predict":
        if not 0 <= a.overlap < 1 or not a.scale > 0:
            raise UsageError("--overlap must be in [0, 1) and --scale positive")
        res = bench_predict(a.photo_size, a.size, a.scale, a.arch, a.batch_size, a.overlap, a.repeats, a.device,
                            a.bf16, a.work, a.seed)
    elif a.command == "recipes":
        from .recipe_bench import bench_recipes

        if not 0 < a.valid_pct < 1:
            raise UsageError(f"--valid-pct must be between 0 and 1, got {a.valid_pct}")
        try:
            seeds = [int(x) for x in _split(a.seeds)]
        except ValueError:
            raise UsageError(f"--seeds must be comma-separated integers, got {a.seeds!r}") from None
        res = bench_recipes(_split(a.runs), seeds, a.n, a.photo_size, a.sample_seed, a.size, a.bs, a.arch,
                            a.valid_pct, a.lr_find_iters, a.tta, a.work, a.progress)
    else:
        res = bench_levers(_split(a.levers), a.size, a.bs, a.arch, a.steps, a.device, a.seed, a.malloc)
    return res


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = build_parser()
    parser.set_defaults(argv=argv)
    return run_main(_run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
