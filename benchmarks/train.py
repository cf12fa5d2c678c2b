"""``train``: one epoch (train + validation) of the same U-Net, data, size and batch size on four pipelines.

* (a) ``stock``: the fastai segmentation tutorial's pipeline as written (``SegmentationDataLoaders.from_label_func``
  over the photo files, ``item_tfms=Resize``, ``batch_tfms=[*aug_transforms(), Normalize]``, fastai's default
  worker count, ``unet_learner``, fp32, contiguous NCHW tensors, glibc's untuned malloc), which decodes and resizes
  every full-size photo on every epoch;
* (a') ``fastai``: what a fastai user writes in a few more lines: the photos and masks resized once beforehand to
  the training size (fastai's ``resize_images``, masks with NEAREST; :func:`resize_photos`, its seconds reported
  apart), then (a)'s pipeline over those files with ``learn.to_channelslast()``, (b)'s precision (fastai's
  ``to_fp16``/``to_bf16`` on a GPU, fp32 on CPU) and (b)'s allocator: it runs in the same process under the
  ``mallopt`` thresholds dronefast sets (:func:`~dronefast.training.tuning.tune_malloc`, the equivalent of
  ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647``), which its forked DataLoader workers
  inherit;
* (b) ``dronefast``: :func:`~dronefast.data.block.drone_dataloaders` + :func:`~dronefast.models.learner.drone_learner`
  with the levers asked for (``--precision``, ``--no-channels-last``, ``--no-malloc``, ``--workers``);
* (c) ``floor``: forward, backward and optimizer step (torch AdamW) over batches already in memory on the
  device, plus the validation forwards, with the same levers as (b).

It reports seconds per epoch and per training image, b/c (overhead over the floor), a/b (speed-up over the
tutorial) and a'/b (speed-up over the tuned fastai pipeline), the pixel accuracy the learners reach and, per row,
what was checked after timing: how far its weights moved, its precision and whether its conv weights were
channels-last. Photos are synthetic (:func:`~benchmarks.harness.photo_dataset`) at
``--photo-size`` and cached. The epochs of the variants are interleaved (:func:`~benchmarks.harness.interleave`).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from benchmarks.harness import (
    ARCH_CHOICES,
    Clock,
    PathLike,
    Size,
    Timer,
    Timings,
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
    split_csv,
    synchronize,
)
from dronefast.errors import UsageError
from dronefast.sizes import format_size
from dronefast.training.config import PRECISION_CHOICES

__all__ = ["TrainBench", "bench_train", "n_total", "Floor", "adamw_kwargs", "torch_adamw_opt_func", "checked_precision",
           "stock_learner", "resize_photos", "fastai_learner", "dronefast_learner", "quiet", "pixel_accuracy",
           "learner_precision", "model_checks", "variant_results", "compare", "report_lines", "add_arguments",
           "from_args", "TRAIN_VARIANTS", "LABELS", "TARGETS", "HELP"]

HELP = "fastai (tutorial and tuned) vs dronefast vs the bare floor, per epoch"
#: The four pipelines, in the order they are labelled (a), (a'), (b), (c).
TRAIN_VARIANTS = ("stock", "fastai", "dronefast", "floor")
LABELS = {"stock": "(a) fastai tutorial", "fastai": "(a') fastai tuned", "dronefast": "(b) dronefast",
          "floor": "(c) floor"}
#: The issue's targets for the ratios (``*_max``: at most, ``*_min``: at least).
TARGETS = {"train_overhead_max_cpu": 1.10, "train_overhead_max_cuda": 1.05, "train_speedup_min_cpu": 1.5,
           "gpu_epoch_s_max": 1.5}


@dataclass(frozen=True, kw_only=True)
class TrainBench:
    """Settings of :func:`bench_train` (checked on creation: UsageError).

    Args:
        data: a dataset folder to use instead of generated photos (its images are all used; `n` is ignored).
        n: training images (the generated set holds enough more for `valid_pct` to leave exactly `n`).
        photo_size: ``(H, W)`` of the generated photos (the real ones are 4000x6000).
        size: training ``(H, W)``; bs: batch size.
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``), random initialisation.
        epochs: timed epochs of each variant (rounds); the medians are reported.
        device: ``cpu``, ``cuda`` or None/``auto``.
        precision: ``auto`` (as ``dronefast.train``: bf16/fp16 on GPU, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``
            for (a'), (b) and (c); (a) stays fp32 as the tutorial.
        channels_last: channels-last memory format for (a') (``learn.to_channelslast()``), (b) (fastai's
            ``ChannelsLast``) and (c).
        workers: DataLoader workers of (b); stock_workers: of (a) and (a') and of the resizing of (a') (None:
            fastai's default, all cores up to 16).
        lr: constant learning rate of every epoch.
        valid_pct, seed: the random split (the same for (a), (a') and (b)) and the initialisation seed.
        variants: which of :data:`TRAIN_VARIANTS` to run.
        work: cache folder of generated photos (default :func:`~benchmarks.harness.default_work_dir`).
        acc_tol: largest pixel-accuracy difference between (a) or (a') and (b) still called "the same".
        malloc: tune glibc malloc first, as ``dronefast.train`` does; (a) then runs each epoch under glibc's
            untuned steady state (:func:`~dronefast.training.tuning.glibc_default_malloc`), (a') tuned as (b).
        opt: optimizer of (b): ``fastai`` (its ``Adam``) or ``torch`` (:func:`torch_adamw_opt_func`, fused on
            CUDA); (c) always uses torch's AdamW (foreach).
        cudnn_benchmark: ``torch.backends.cudnn.benchmark = True`` (CUDA; every variant).
        progress: keep fastai's progress bar in (b) (to measure its cost; (a) and (a') never have one).
    """

    data: Optional[PathLike] = None
    n: int = 16
    photo_size: Size = (1000, 1500)
    size: Size = (200, 300)
    bs: int = 4
    arch: str = "resnet34"
    epochs: int = 2
    device: Optional[str] = None
    precision: str = "auto"
    channels_last: bool = True
    workers: int = 0
    stock_workers: Optional[int] = None
    lr: float = 1e-3
    valid_pct: float = 0.2
    seed: int = 0
    variants: Tuple[str, ...] = TRAIN_VARIANTS
    work: Optional[PathLike] = None
    acc_tol: float = 0.05
    malloc: bool = True
    opt: str = "fastai"
    cudnn_benchmark: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        bad = [v for v in self.variants if v not in TRAIN_VARIANTS]
        if bad or not self.variants:
            raise UsageError(f"unknown variant(s) {bad}; choose from {', '.join(TRAIN_VARIANTS)}")
        if self.opt not in ("fastai", "torch"):
            raise UsageError(f"opt must be fastai or torch, got {self.opt!r}")
        if self.epochs < 1 or self.n < 1 or self.bs < 1:
            raise UsageError("--epochs, --n and --bs must be at least 1")
        if not 0 < self.valid_pct < 1:
            raise UsageError(f"--valid-pct must be between 0 and 1, got {self.valid_pct}")
        if self.data is not None and not Path(self.data).exists():
            raise UsageError(f"--data {self.data} does not exist")


def n_total(n_train: int, valid_pct: float) -> int:
    """Largest image count whose random split (fastai holds out ``int(valid_pct * n)``) leaves exactly
    `n_train` for training (320 at 0.2 -> 400, as the real dataset)."""
    total = n_train
    while total - int(valid_pct * total) < n_train:
        total += 1
    while (total + 1) - int(valid_pct * (total + 1)) == n_train:
        total += 1
    return total


# ------------------------------------------------------------------------------------------ (c) the floor

def adamw_kwargs(lr: float) -> Dict[str, Any]:
    """torch AdamW with fastai ``Adam``'s hyper-parameters (betas 0.9/0.99, eps 1e-5, decoupled wd 1e-2)."""
    return {"lr": lr, "betas": (0.9, 0.99), "eps": 1e-5, "weight_decay": 1e-2}


def torch_adamw_opt_func(fused: bool = False) -> Callable[..., Any]:
    """A fastai ``opt_func``: torch's AdamW (one multi-tensor kernel per update; ``fused`` on CUDA: one kernel)
    behind fastai's ``OptimWrapper``, with fastai ``Adam``'s hyper-parameters, so schedules, freezing and
    discriminative learning rates keep working. Replaces fastai's per-parameter Python loop (about 150
    parameter tensors x 6 kernels per step for a ResNet-34 U-Net)."""
    from functools import partial

    import torch
    from fastai.optimizer import OptimWrapper

    kw = {k: v for k, v in adamw_kwargs(0.0).items() if k != "lr"}
    kw["fused" if fused else "foreach"] = True
    return partial(OptimWrapper, opt=partial(torch.optim.AdamW, **kw))


class Floor:
    """The bare floor: a fresh U-Net like (b)'s, torch AdamW, cross-entropy, over batches held on the device.

    Args:
        arch, n_out, size: the U-Net (random initialisation, seeded by `seed`).
        device, precision, channels_last: where and how it runs (``fp32``, ``bf16`` or ``fp16`` autocast).
        lr: AdamW's learning rate.
        compile_model: run it through ``torch.compile``.
    """

    def __init__(self, arch: str, n_out: int, size: Size, device: Any, precision: str, channels_last: bool,
                 lr: float, seed: int, compile_model: bool = False):
        import torch
        from fastai.vision.learner import create_unet_model

        from dronefast.models.encoders import Encoder

        torch.manual_seed(seed)
        model = create_unet_model(Encoder(arch, pretrained=False), n_out, tuple(size), pretrained=False)
        self.setup(model, device, precision, channels_last, lr, compile_model)

    def setup(self, model: Any, device: Any, precision: str, channels_last: bool, lr: float, compile_model: bool,
              opt_kwargs: Optional[Dict[str, Any]] = None, weight: Any = None, ignore_index: int = -100) -> None:
        """Put `model` on `device` in its memory format with its AdamW (`opt_kwargs` added to fastai Adam's
        hyper-parameters) and the cross-entropy's class `weight` and `ignore_index`."""
        import torch

        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(device).to(memory_format=self.fmt)
        self.model = torch.compile(model) if compile_model else model
        self.opt = torch.optim.AdamW(model.parameters(), **adamw_kwargs(lr), **(opt_kwargs or {}))
        self.weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32).to(device)
        self.ignore_index = ignore_index
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.device, self.precision = device, precision

    def prepare(self, batches: Sequence[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
        """Plain tensors on the device in the model's memory format."""
        from dronefast.metrics.functional import plain

        return [(plain(x).to(self.device).contiguous(memory_format=self.fmt), plain(y).to(self.device).long())
                for x, y in batches]

    def step(self, x: Any, y: Any) -> None:
        """One forward, backward and optimizer step."""
        import torch.nn.functional as F

        with autocast(self.device, self.precision):
            out = self.model(x)
        loss = F.cross_entropy(out.float(), y, weight=self.weight, ignore_index=self.ignore_index)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def evaluate(self, x: Any) -> None:
        """One validation forward."""
        import torch

        self.model.eval()
        with torch.inference_mode(), autocast(self.device, self.precision):
            self.model(x).argmax(1)
        self.model.train()

    def epoch(self, train: Sequence[Tuple[Any, Any]], valid: Sequence[Tuple[Any, Any]]) -> None:
        """One epoch: every training step, then every validation forward."""
        for x, y in train:
            self.step(x, y)
        for x, _ in valid:
            self.evaluate(x)


# ------------------------------------------------------------------------------------------ (a), (a') and (b)

def quiet(learn: Any, progress: bool = False) -> None:
    """No printed epoch lines and, unless `progress`, no progress bar (fastai's formats the smoothed loss
    after every batch, which waits for the GPU each time)."""
    from fastai.callback.progress import ProgressCallback
    from fastcore.basics import noop

    if not progress:
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    learn.logger = noop


def stock_learner(layout: Any, s: TrainBench, device: Any) -> Any:
    """(a): the fastai tutorial's pipeline over the full-size photos of `layout` (see the module docstring)."""
    import torch
    from fastai.data.transforms import Normalize
    from fastai.vision.augment import Resize, aug_transforms
    from fastai.vision.data import SegmentationDataLoaders, imagenet_stats
    from fastai.vision.learner import unet_learner
    from torchvision import models

    from dronefast.metrics.callback import segmentation_metrics

    pairs, _, _ = layout.pairs()
    fnames = [img for img, _ in pairs]  # same order as dronefast's, so RandomSplitter gives the same split
    dls = SegmentationDataLoaders.from_label_func(
        layout.image_dir, fnames=fnames, label_func=layout.label_func, codes=layout.classes.codes,
        valid_pct=s.valid_pct, seed=s.seed, bs=s.bs, num_workers=s.stock_workers, device=device,
        item_tfms=Resize(s.size, method="squish"),
        batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    torch.manual_seed(s.seed)
    conf, metrics = segmentation_metrics(len(layout.classes), 0, layout.classes.codes)
    learn = unet_learner(dls, getattr(models, s.arch), pretrained=False, n_out=len(layout.classes), cbs=[conf],
                         metrics=metrics)
    quiet(learn)
    return learn


def resize_photos(layout: Any, size: Size, dest: Path, workers: Optional[int] = None) -> Any:
    """The photos and masks of `layout` resized once, as a fastai user does before training: fastai's
    ``resize_images`` into a fresh `dest` so that the larger side is ``max(size)`` (``size = (H, W)``; photos
    bilinear as JPEG quality 92, masks NEAREST so that class ids stay ids). Returns the layout of the copies.
    `workers`: its processes (0: this one; None: fastai's default)."""
    import shutil
    from dataclasses import replace as with_dirs

    from fastai.vision.utils import resize_images
    from PIL import Image

    shutil.rmtree(dest, ignore_errors=True)
    images, masks = dest / "original_images", dest / "label_images_semantic"
    kw: Dict[str, Any] = {"max_size": max(size)} | ({} if workers is None else {"max_workers": workers})
    resize_images(layout.image_dir, dest=images, quality=92, **kw)
    resize_images(layout.mask_dir, dest=masks, n_channels=1 if layout.mask_format == "id" else 3,
                  resample=Image.Resampling.NEAREST, **kw)
    return with_dirs(layout, image_dir=images, mask_dir=masks)


def fastai_learner(resized: Any, s: TrainBench, device: Any, precision: str) -> Any:
    """(a'): (a)'s pipeline over the pre-resized layout `resized` (:func:`resize_photos`) with (b)'s precision
    (``to_fp16``/``to_bf16`` on a GPU) and, unless ``s.channels_last`` is off, ``learn.to_channelslast()``."""
    import fastai.callback.channelslast  # noqa: F401 (adds Learner.to_channelslast, as fastai.vision.all does)

    from dronefast.training.precision import set_precision

    learn = stock_learner(resized, s, device)
    set_precision(learn, precision)
    if s.channels_last:
        learn.to_channelslast(use_amp=False)  # its default would add fp16 autocast, the precision is set above
    return learn


def dronefast_learner(dls: Any, s: TrainBench, device: Any, precision: str) -> Any:
    """(b): :func:`~dronefast.models.learner.drone_learner` with the levers of `s`, as ``dronefast.train`` sets
    them up."""
    import torch
    from fastai.callback.channelslast import ChannelsLast

    from dronefast.models.learner import drone_learner
    from dronefast.training.precision import set_precision

    torch.manual_seed(s.seed)
    learn = drone_learner(dls, s.arch, pretrained=False)
    if s.opt == "torch":
        learn.opt_func, learn.opt = torch_adamw_opt_func(fused=device.type == "cuda"), None
    elif s.opt == "fastai":  # fastai's Adam, not dronefast's default (dronefast.models.optim.adamw)
        from fastai.optimizer import Adam

        learn.opt_func, learn.opt = Adam, None
    quiet(learn, s.progress)
    set_precision(learn, precision)
    if s.channels_last:
        learn.add_cb(ChannelsLast())  # as dronefast.train does
    return learn


def learner_precision(learn: Any) -> str:
    """The precision a fastai learner trains in, read from its callbacks: ``fp16``/``bf16`` (fastai's
    ``MixedPrecision``, dronefast's ``CPUAutocast``) or ``fp32``."""
    from fastai.callback.fp16 import MixedPrecision

    from dronefast.training.callbacks import CPUAutocast

    for cb in learn.cbs:
        if isinstance(cb, MixedPrecision):
            return str(cb.amp_mode.value)
        if isinstance(cb, CPUAutocast):
            return "bf16"
    return "fp32"


def _weight_norms(model: Any) -> Any:
    """The norm of each parameter tensor of `model` (float64, on the CPU)."""
    import torch

    with torch.no_grad():
        return torch.stack([p.detach().double().norm() for p in model.parameters()]).cpu()


def model_checks(model: Any, norms_before: Any) -> Dict[str, Any]:
    """What a row really did to its `model`: ``weight_change`` (relative change of its per-tensor weight norms
    since `norms_before`: 0 for a row that did not train) and ``channels_last_weights`` (every 3x3-or-larger
    conv weight in channels-last memory format)."""
    import torch

    after = _weight_norms(model)
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] * p.shape[-2] > 1]
    return {"weight_change": float((after - norms_before).norm() / norms_before.norm()),
            "channels_last_weights": bool(convs) and all(
                p.is_contiguous(memory_format=torch.channels_last) for p in convs)}


def pixel_accuracy(learn: Any) -> float:
    """Validation pixel accuracy (void included) of `learn` now."""
    from dronefast.metrics.callback import find_confusion

    learn.validate()
    return float(find_confusion(learn).pixel_accuracy())


# ------------------------------------------------------------------------------------------ the steps

def checked_precision(precision: str, device: Any) -> str:
    """The precision `precision` resolves to on `device`; UsageError for fp16 without a GPU."""
    from dronefast.training.precision import resolve_precision

    chosen = resolve_precision(precision, device)
    if chosen == "fp16" and device.type != "cuda":
        raise UsageError("fp16 mixed precision needs a GPU; use bf16 on CPU")
    return chosen


def _photos(s: TrainBench, log: Callable[[str], None]) -> Tuple[Path, bool]:
    """``(dataset folder, generated)``: `s.data`, else generated photos in the work folder."""
    if s.data is not None:
        return Path(s.data), False
    total = n_total(s.n, s.valid_pct)
    root = Path(s.work or default_work_dir()) / f"train-{total}-{format_size(s.photo_size)}-s{s.seed}"
    log(f"photos: {total} synthetic {format_size(s.photo_size)} JPEGs in {root}")
    return photo_dataset(root, total, s.photo_size, s.seed), True


def _dataloaders(layout: Any, s: TrainBench, device: Any) -> Any:
    """(b)'s cached DataLoaders; UsageError when the split leaves no full batch (a split without a validation
    photo is refused by dronefast's split itself)."""
    from dronefast.data.block import drone_dataloaders

    dls = drone_dataloaders(layout, size=s.size, bs=s.bs, valid_pct=s.valid_pct, seed=s.seed,
                            num_workers=s.workers, device=device, progress=False)
    if len(dls.train) == 0:
        raise UsageError(f"{len(dls.train_ds)} training images make no full batch of {s.bs}")
    return dls


def _variants(s: TrainBench, layouts: Dict[str, Any], dls: Any, device: Any, precision: str
              ) -> Tuple[Dict[str, Callable[[], Any]], Dict[str, Any], Dict[str, Any]]:
    """``(name -> one timed epoch, name -> learner, name -> model)`` of the variants asked for, in
    :data:`TRAIN_VARIANTS` order; `layouts`: ``"photos"`` and, for (a'), ``"resized"``."""
    learners: Dict[str, Any] = {}
    if "stock" in s.variants:
        learners["stock"] = stock_learner(layouts["photos"], s, device)
    if "fastai" in s.variants:
        learners["fastai"] = fastai_learner(layouts["resized"], s, device, precision)
    if "dronefast" in s.variants:
        learners["dronefast"] = dronefast_learner(dls, s, device, precision)
    fns: Dict[str, Callable[[], Any]] = {k: (lambda learn=learn: learn.fit(1, s.lr)) for k, learn in learners.items()}
    models = {k: learn.model for k, learn in learners.items()}
    if "floor" in s.variants:
        floor = Floor(s.arch, len(layouts["photos"].classes), s.size, device, precision, s.channels_last, s.lr,
                      s.seed)
        train_b, valid_b = floor.prepare(list(dls.train)), floor.prepare(list(dls.valid))
        fns["floor"], models["floor"] = (lambda: floor.epoch(train_b, valid_b)), floor.model
    return {k: fns[k] for k in TRAIN_VARIANTS if k in fns}, learners, models


def _warm_up(s: TrainBench, n_out: int, dls: Any, device: Any, precision: str) -> float:
    """Seconds of one step and one forward of a throw-away floor: kernels chosen and primitives cached for
    these shapes before anything is timed."""
    t0 = time.perf_counter()
    warm = Floor(s.arch, n_out, s.size, device, precision, s.channels_last, s.lr, s.seed)
    xb, yb = warm.prepare([dls.one_batch()])[0]
    warm.step(xb, yb)
    warm.evaluate(xb)
    synchronize(device)
    return time.perf_counter() - t0


def variant_results(timings: Timings, n_train: int) -> Dict[str, Dict[str, Any]]:
    """Per variant: its label, ``epoch_s`` summary, seconds per and images per second, median CPU seconds and
    page faults, and ``peak_gpu_bytes`` when measured."""
    results: Dict[str, Dict[str, Any]] = {}
    for name in timings.samples:
        s = timings.summary(name)
        r: Dict[str, Any] = {"label": LABELS[name], "epoch_s": s, "s_per_image": s["median"] / n_train,
                             "images_per_s": n_train / s["median"], "cpu_s": timings.cpu_s(name),
                             "page_faults": timings.page_faults(name)}
        if timings.peak_bytes(name) is not None:
            r["peak_gpu_bytes"] = timings.peak_bytes(name)
        results[name] = r
    return results


def compare(results: Dict[str, Dict[str, Any]], device_type: str, acc_tol: float) -> Dict[str, Any]:
    """``ratios`` (of medians), ``ratios_of_min``, ``ratios_of_cpu`` and ``checks`` of the variants present:
    ``dronefast_over_floor`` (b/c, against its target), ``stock_over_dronefast`` (a/b, against the speed-up
    target, which was written against the tutorial's pipeline) and ``fastai_over_dronefast`` (a'/b, no target),
    each speed-up with its accuracy difference (``accuracy_diff``/``same_accuracy`` for a,
    ``fastai_accuracy_diff``/``fastai_same_accuracy`` for a'; they need ``accuracy`` in both results)."""
    out: Dict[str, Any] = {"ratios": {}, "ratios_of_min": {}, "ratios_of_cpu": {}, "checks": {}}
    checks = out["checks"]
    for a, b in (("dronefast", "floor"), ("stock", "dronefast"), ("fastai", "dronefast")):
        if a not in results or b not in results:
            continue
        key = f"{a}_over_{b}"
        out["ratios"][key] = ratio(results[a]["epoch_s"]["median"], results[b]["epoch_s"]["median"])
        out["ratios_of_min"][key] = ratio(results[a]["epoch_s"]["min"], results[b]["epoch_s"]["min"])
        out["ratios_of_cpu"][key] = ratio(results[a]["cpu_s"], results[b]["cpu_s"])
    if "dronefast_over_floor" in out["ratios"]:
        checks["overhead_target"] = TARGETS[f"train_overhead_max_{'cuda' if device_type == 'cuda' else 'cpu'}"]
        checks["overhead_met"] = out["ratios"]["dronefast_over_floor"] <= checks["overhead_target"]
    if "stock_over_dronefast" in out["ratios"]:
        checks["speedup_target"] = TARGETS["train_speedup_min_cpu"]
        checks["speedup_met"] = out["ratios"]["stock_over_dronefast"] >= checks["speedup_target"]
    for name, prefix in (("stock", ""), ("fastai", "fastai_")):
        if f"{name}_over_dronefast" in out["ratios"]:
            diff = abs(results[name]["accuracy"] - results["dronefast"]["accuracy"])
            checks.update({f"{prefix}accuracy_diff": diff, "accuracy_tol": acc_tol,
                           f"{prefix}same_accuracy": diff <= acc_tol})
    return out


def _settings(s: TrainBench, data: Path, generated: bool, dls: Any, device: Any, precision: str,
              malloc_ok: Optional[bool], untuned: Sequence[str]) -> Dict[str, Any]:
    """The ``settings`` record of a result: what was asked for and what it came to."""
    import torch

    return {"data": str(data), "generated": generated, "photo_size": format_size(s.photo_size),
            "size": format_size(s.size), "bs": s.bs, "arch": s.arch, "epochs": s.epochs, "device": str(device),
            "precision": precision, "channels_last": s.channels_last, "workers": s.workers,
            "stock_workers": s.stock_workers if s.stock_workers is not None else "fastai default", "lr": s.lr,
            "valid_pct": s.valid_pct, "seed": s.seed, "n_train": len(dls.train_ds), "n_valid": len(dls.valid_ds),
            "steps_per_epoch": len(dls.train), "malloc_tuned": malloc_ok, "malloc_untuned_variants": list(untuned),
            "opt": s.opt,
            "cudnn_benchmark": bool(device.type == "cuda" and torch.backends.cudnn.benchmark),
            "progress_bar": s.progress, "threads": torch.get_num_threads()}


def bench_train(settings: Optional[TrainBench] = None, *, log: Callable[[str], None] = print,
                clock: Clock = time.perf_counter, **changes: Any) -> Dict[str, Any]:
    """Time one epoch of (a) the fastai tutorial, (a') tuned fastai, (b) dronefast and (c) the bare floor,
    interleaved.

    Args:
        settings: a :class:`TrainBench` (default: all defaults); `changes` set single fields by name.
        log: where progress lines go.
        clock: the clock the epochs are timed with.

    Returns:
        A JSON-ready dict: ``command``, ``machine``, ``settings``, ``setup_s``, ``variants`` (per variant:
        ``epoch_s`` summary, ``s_per_image``, ``images_per_s``, ``cpu_s``, ``page_faults``, ``weight_change``,
        ``channels_last_weights`` (:func:`model_checks`), ``accuracy`` and ``precision`` for the learners,
        ``peak_gpu_bytes`` on CUDA), ``ratios``, ``ratios_of_min``, ``ratios_of_cpu`` and ``checks``; with (a'),
        ``settings["resized"]`` (its files) and ``setup_s["fastai_resize"]``.
    """
    import torch

    from dronefast.data.layout import find_layout
    from dronefast.training.tuning import glibc_default_malloc, tune_malloc

    s = replace(settings or TrainBench(), **changes)
    dev = resolve_device(s.device)
    precision = checked_precision(s.precision, dev)
    malloc_ok = tune_malloc() if s.malloc else None
    if s.cudnn_benchmark and dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    data, generated = _photos(s, log)
    layout = find_layout(data)
    setup = {"photos": time.perf_counter() - t0}
    t0 = time.perf_counter()
    dls = _dataloaders(layout, s, dev)  # (b)'s batches also feed the floor
    setup["dronefast_cache"] = time.perf_counter() - t0
    log(f"train/valid: {len(dls.train_ds)}/{len(dls.valid_ds)} images at {format_size(s.size)} (WxH), batch "
        f"{s.bs}, {len(dls.train)} steps per epoch, {s.arch} (random init), device {dev}, precision {precision}"
        f"{', channels-last' if s.channels_last else ''}")
    layouts = {"photos": layout}
    if "fastai" in s.variants:
        t0 = time.perf_counter()
        layouts["resized"] = resize_photos(layout, s.size, _resized_dir(s, data), s.stock_workers)
        setup["fastai_resize"] = time.perf_counter() - t0
    fns, learners, models = _variants(s, layouts, dls, dev, precision)
    norms = {k: _weight_norms(m) for k, m in models.items()}
    setup["warmup"] = _warm_up(s, len(layout.classes), dls, dev, precision)
    untuned = {"stock": glibc_default_malloc} if malloc_ok and "stock" in fns else {}
    timings = interleave(fns, s.epochs, Timer(clock, device=dev), contexts=untuned)
    results = variant_results(timings, len(dls.train_ds))
    for name, model in models.items():
        results[name].update(model_checks(model, norms[name]))
    for name, learn in learners.items():
        results[name].update(accuracy=pixel_accuracy(learn), precision=learner_precision(learn))
    settings = _settings(s, data, generated, dls, dev, precision, malloc_ok, list(untuned))
    if "resized" in layouts:
        settings["resized"] = str(layouts["resized"].image_dir.parent)
    return {"command": "train", "machine": machine_record(dev, timings), "settings": settings, "setup_s": setup,
            "variants": results, **compare(results, dev.type, s.acc_tol)}


def _resized_dir(s: TrainBench, data: Path) -> Path:
    """Where (a') keeps its resized copy of `data`: in the work folder, named after the data and the size."""
    return Path(s.work or default_work_dir()) / f"resized-{data.name}-{format_size(s.size)}"


# ------------------------------------------------------------------------------------------ report, command line

def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_train` result (after the machine line)."""
    v, r, c = result["variants"], result["ratios"], result["checks"]
    out = []
    for name in (k for k in TRAIN_VARIANTS if k in v):
        x = v[name]
        line = (f"  {x['label']:<18} epoch {format_seconds(x['epoch_s'])}  {x['s_per_image']:.3f} s/image, "
                f"{x['images_per_s']:.1f} images/s, CPU {x['cpu_s']:.1f} s")
        if "accuracy" in x:
            line += f", pixel accuracy {x['accuracy']:.4f}, {x['precision']}"
        if "weight_change" in x:
            line += (f", weights moved {x['weight_change']:.2e}"
                     f"{', channels-last' if x['channels_last_weights'] else ', NCHW'}")
        if "peak_gpu_bytes" in x:
            line += f", peak GPU memory {gib(x['peak_gpu_bytes'])}"
        out.append(line)
    if "fastai_resize" in result.get("setup_s", {}):
        out.append(f"  (a') resized the photos once beforehand in {result['setup_s']['fastai_resize']:.1f} s "
                   "(not in its epochs)")
    rm, rc = result["ratios_of_min"], result["ratios_of_cpu"]
    if "dronefast_over_floor" in r:
        out.append(f"  b/c overhead over the floor: {r['dronefast_over_floor']:.3f} "
                   f"(target <= {c['overhead_target']:.2f}; fastest epochs: {rm['dronefast_over_floor']:.3f}, "
                   f"CPU time: {rc['dronefast_over_floor']:.3f})")
    if "stock_over_dronefast" in r:
        out.append(f"  a/b speed-up over the fastai tutorial: {r['stock_over_dronefast']:.3f} "
                   f"(target >= {c['speedup_target']:.2f}; fastest epochs: {rm['stock_over_dronefast']:.3f}, "
                   f"CPU time incl. workers: {rc['stock_over_dronefast']:.3f})")
    if "fastai_over_dronefast" in r:
        out.append(f"  a'/b speed-up over tuned fastai: {r['fastai_over_dronefast']:.3f} (no target; fastest "
                   f"epochs: {rm['fastai_over_dronefast']:.3f}, CPU time incl. workers: "
                   f"{rc['fastai_over_dronefast']:.3f})")
    for name, prefix, tag in (("stock", "", "a"), ("fastai", "fastai_", "a'")):
        if f"{prefix}accuracy_diff" in c:
            same = c[f"{prefix}same_accuracy"]
            out.append(f"  accuracy {tag} vs b: |{v[name]['accuracy']:.4f} - {v['dronefast']['accuracy']:.4f}| = "
                       f"{c[f'{prefix}accuracy_diff']:.4f} {'<=' if same else '>'} {c['accuracy_tol']} "
                       f"({'same within noise' if same else 'DIFFERENT'})")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks train``."""
    from dronefast.cli.common import (
        at_least,
        fraction,
        positive_float,
        positive_int,
        size_arg,
    )

    p.add_argument("--data", type=Path, help="use this dataset instead of generated photos (all its images)")
    p.add_argument("--n", type=positive_int, default=16, help="training images (generated: plus the validation share)")
    p.add_argument("--photo-size", type=size_arg, default="1500x1000", metavar="WxH",
                   help="size of the generated photos (the real ones are 6000x4000)")
    p.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="training size")
    p.add_argument("--bs", type=positive_int, default=4, help="batch size")
    p.add_argument("--arch", default="resnet34", choices=ARCH_CHOICES, help="encoder")
    p.add_argument("--epochs", type=positive_int, default=2, help="timed epochs per variant (interleaved rounds)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                   help="precision of (a'), (b) and (c), auto as dronefast.train; (a) stays fp32 like the tutorial")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="contiguous (NCHW) tensors in (a'), (b) and (c); by default channels-last, as "
                        "dronefast.train")
    p.add_argument("--workers", type=at_least(0), default=0, help="DataLoader workers of (b)")
    p.add_argument("--stock-workers", type=at_least(0), default=None,
                   help="DataLoader workers of (a) and (a') and processes of (a')'s resizing; None: fastai's "
                        "default (all cores up to 16)")
    p.add_argument("--no-malloc", dest="malloc", action="store_false",
                   help="leave glibc malloc untuned in (a'), (b) and (c); by default they run tuned as "
                        "dronefast.train does (dronefast.training.tuning), and (a) untuned")
    p.add_argument("--opt", default="fastai", choices=("fastai", "torch"),
                   help="optimizer of (b): fastai's Adam or torch's AdamW (fused on CUDA) in OptimWrapper")
    p.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark (CUDA)")
    p.add_argument("--progress", action="store_true", help="keep fastai's progress bar in (b) (to measure it)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="constant learning rate")
    p.add_argument("--valid-pct", type=fraction, default=0.2, help="validation share of the images")
    p.add_argument("--variants", default=",".join(TRAIN_VARIANTS), help="comma-separated subset to run")
    p.add_argument("--acc-tol", type=float, default=0.05, help="pixel-accuracy difference still 'the same'")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_train` with the parsed options of :func:`add_arguments`."""
    names = {f.name for f in fields(TrainBench)} - {"variants"}
    settings = TrainBench(variants=tuple(split_csv(a.variants)), **{k: getattr(a, k) for k in names})
    return bench_train(settings, clock=clock)

