"""``overhead``: what dronefast's training loop costs per step beyond the model, measured with a network so small
that its compute is negligible (a 2-layer conv net, 32x32 inputs, batch 4, one output per class like a
segmentation head), so that on any machine the difference is Python, callback and data-path work that a fast GPU
cannot hide.

* (a) ``floor``: the bare loop: forward, the recipe's loss (class-weighted cross-entropy, void ignored), backward
  and torch AdamW over batches already in memory (one epoch of dronefast's own batches, augmented and normalised
  beforehand), plus the validation forwards;
* (b) ``dronefast``: the same network driven as training drives the U-Net: fastai's ``Learner`` with the recipe
  loss (:class:`~dronefast.training.losses.SegLoss`), the confusion-matrix metrics
  (:class:`~dronefast.metrics.callback.ConfusionCallback`), fastai's Recorder and (unless ``--no-progress``) its
  progress bar, ``ChannelsLast``, the precision of ``dronefast.train``, the cached data path
  (:func:`~dronefast.data.block.drone_dataloaders`: ``CachedDL``, ``aug_transforms`` + ``Normalize``) and one epoch of
  :func:`~dronefast.training.fit.fit_reference` (``fit_one_cycle`` with ``BestModel``, ``Checkpoint`` and
  ``AtomicCSVLogger``) with dronefast's optimizer (:func:`dronefast.models.optim.adamw`, as ``dronefast.train``);
* (c) ``fastai``: (b) with fastai's own ``Adam`` (the data path is dronefast's in both).

It reports milliseconds per training step (an epoch's seconds over its steps; validation and the per-epoch work of
the callbacks included, as in the reference epoch of the issue) and the overhead (b) - (a) and (c) - (a).

Levers, as variants timed in the same rounds: a variant name may carry ``+nodecay`` (dronefast's optimizer, which
(b) uses anyway), ``+adamw`` or ``+fused`` (torch's ``AdamW``, foreach or fused, behind fastai's ``OptimWrapper``
instead of fastai's ``Adam``) and ``+compile`` (``torch.compile`` of the tiny network), e.g. ``--variants
floor,dronefast,dronefast+fused,floor+compile,dronefast+compile``; a compiled variant's overhead is taken over
``floor+compile`` when that runs. ``--opt`` and ``--compile`` set the levers of every variant; ``--opt-tensors 154``
also times each optimizer's step alone over the ResNet-34 U-Net's count of parameter tensors (the tiny network has
4). ``--profile N`` adds the N functions taking most time per step of one extra (b) epoch (else the first
variant's) under ``cProfile``.

Host-device synchronisations: on a CUDA device, one more epoch of each variant runs under
``torch.cuda.set_sync_debug_mode("warn")`` and the warnings torch raises for each synchronising operation are
counted (:func:`count_syncs`), per epoch and per training step (``syncs``); off CUDA they are not measured
(``syncs`` is None).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from benchmarks.harness import (
    LOOP_VARIANTS,
    Clock,
    PathLike,
    Size,
    Timer,
    Timings,
    add_common_arguments,
    default_work_dir,
    format_seconds,
    interleave,
    machine_record,
    ratio,
    resolve_device,
    split_csv,
)
from benchmarks.train import Floor, checked_precision, n_total, torch_adamw_opt_func
from dronefast.errors import UsageError
from dronefast.sizes import format_size
from dronefast.training.config import PRECISION_CHOICES

__all__ = ["OverheadBench", "bench_overhead", "tiny_net", "TinyFloor", "tiny_learner", "opt_func", "parse_variant",
           "label", "optimizer_steps", "bench_optimizers", "profile_epoch", "count_syncs", "sync_counts",
           "variant_results", "compare",
           "report_lines", "add_arguments", "from_args", "OVERHEAD_VARIANTS", "LABELS", "LEVERS", "TARGETS", "OPTS",
           "SYNC_WARNING", "HELP"]

HELP = "the training loop's per-step overhead over the bare loop, with a tiny network"
#: The variants, in the order they are labelled (a), (b), (c); each may carry levers (:data:`LEVERS`).
OVERHEAD_VARIANTS = ("floor", "dronefast", "fastai")
LABELS = {"floor": "(a) bare loop", "dronefast": "(b) dronefast", "fastai": "(c) fastai's loop"}
#: Levers a variant name may carry after ``+``: an optimizer of :data:`OPTS` (not ``fastai``) or ``compile``.
LEVERS = ("nodecay", "adamw", "fused", "compile")
#: The issue's target: (b) - (a) at most this many milliseconds per step.
TARGETS = {"overhead_ms_max": 3.0}
#: Optimizers of (b) and (c): fastai's ``Adam``, dronefast's (:func:`dronefast.models.optim.adamw`: torch AdamW with
#: BatchNorm and biases not decayed, (b)'s unless a lever names another), torch's ``AdamW`` (foreach) or
#: ``AdamW(fused=True)`` behind fastai's ``OptimWrapper``.
OPTS = ("fastai", "nodecay", "adamw", "fused")
#: What the warning ``torch.cuda.set_sync_debug_mode("warn")`` raises at each host-device synchronisation says.
SYNC_WARNING = "called a synchronizing CUDA operation"


@dataclass(frozen=True, kw_only=True)
class OverheadBench:
    """Settings of :func:`bench_overhead` (checked on creation: UsageError).

    Args:
        n: training images (the generated sample holds enough more for `valid_pct` to leave exactly `n`).
        size: ``(H, W)`` of the generated photos and of training; bs: batch size.
        width: channels of the tiny network's hidden layer.
        epochs: timed epochs of each variant (interleaved rounds, after one untimed warm-up epoch each).
        device: ``cpu``, ``cuda`` or None/``auto``; precision: as ``dronefast.train`` (``auto``: bf16/fp16 on GPU,
            fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``; channels_last: as ``dronefast.train`` (default on).
        progress: keep fastai's progress bar in (b) and (c) (``dronefast.train``'s default; printed to a sink).
        opt: optimizer of (c), one of :data:`OPTS` ((b) runs ``nodecay`` unless a lever names another; (a) always
            uses torch's AdamW, foreach).
        compile_model: ``torch.compile`` the tiny network of every variant.
        lr: peak learning rate (one-cycle in (b) and (c), constant in (a)); valid_pct, seed: split and seeds.
        variants: which of :data:`OVERHEAD_VARIANTS` to run, each optionally with levers (:func:`parse_variant`).
        profile: profile one extra (b) epoch with cProfile and keep its `profile` costliest functions (0: none).
        opt_tensors: also time one step of each optimizer over this many small tensors (:func:`bench_optimizers`;
            0: not).
        work: cache folder of the generated sample and the runs' files.
    """

    n: int = 320
    size: Size = (32, 32)
    bs: int = 4
    width: int = 16
    epochs: int = 5
    device: Optional[str] = None
    precision: str = "auto"
    channels_last: bool = True
    progress: bool = True
    opt: str = "fastai"
    compile_model: bool = False
    lr: float = 2e-3
    valid_pct: float = 0.2
    seed: int = 0
    variants: Tuple[str, ...] = OVERHEAD_VARIANTS
    profile: int = 0
    opt_tensors: int = 0
    work: Optional[PathLike] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(dict.fromkeys(self.variants)))
        if not self.variants:
            raise UsageError(f"no variant; choose from {', '.join(OVERHEAD_VARIANTS)}")
        for v in self.variants:
            parse_variant(v, self)
        if self.opt not in OPTS:
            raise UsageError(f"opt must be one of {', '.join(OPTS)}, got {self.opt!r}")
        if min(self.n, self.bs, self.epochs, self.width) < 1 or min(self.profile, self.opt_tensors) < 0:
            raise UsageError("--n, --bs, --epochs and --width must be at least 1, --profile and --opt-tensors at "
                             "least 0")
        if not 0 < self.valid_pct < 1:
            raise UsageError(f"--valid-pct must be between 0 and 1, got {self.valid_pct}")


def parse_variant(name: str, s: OverheadBench) -> Tuple[str, str, bool]:
    """``(base, optimizer, compiled)`` of a variant name such as ``dronefast+fused+compile`` (levers not named
    are `s`'s); UsageError for an unknown base or lever."""
    base, *levers = name.split("+")
    bad = [x for x in levers if x not in LEVERS]
    if base not in OVERHEAD_VARIANTS or bad:
        raise UsageError(f"unknown variant {name!r}: choose from {', '.join(OVERHEAD_VARIANTS)}, each optionally "
                         f"followed by +{', +'.join(LEVERS)}")
    opts = [x for x in levers if x in OPTS]
    if len(opts) > 1:
        raise UsageError(f"variant {name!r} names two optimizers")
    default = "nodecay" if base == "dronefast" else s.opt
    return base, opts[0] if opts else default, "compile" in levers or s.compile_model


def label(name: str) -> str:
    """The report label of a variant name (its base's, with its levers)."""
    base, *levers = name.split("+")
    return LABELS[base] + "".join(f" +{x}" for x in levers)


# ------------------------------------------------------------------------------------------ the network, (a)

def tiny_net(n_out: int, width: int = 16) -> Any:
    """Conv 3x3 (3 -> `width`), ReLU, conv 1x1 (`width` -> `n_out`): per-pixel class logits at the input size."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, n_out, 1))


class TinyFloor(Floor):
    """(a): a fresh :func:`tiny_net` (seeded), torch AdamW (foreach, or `fused`; fastai ``Adam``'s
    hyper-parameters), the recipe's weighted cross-entropy (void ignored), over plain tensors held on the device.

    Args:
        n_out, width: the network; weight: class weights of the loss (``(C,)``, None: unweighted).
        device, precision, channels_last, compile_model: where and how it runs.
    """

    def __init__(self, n_out: int, width: int, weight: Any, device: Any, precision: str, channels_last: bool,
                 lr: float, seed: int, compile_model: bool = False, fused: bool = False):
        import torch

        torch.manual_seed(seed)
        self.setup(tiny_net(n_out, width), device, precision, channels_last, lr, compile_model,
                   {"fused": True} if fused else {"foreach": True}, weight, ignore_index=0)

    def epoch(self, train: Sequence[Tuple[Any, Any]], valid: Sequence[Tuple[Any, Any]]) -> None:
        """Every training step, then every validation forward."""
        import torch

        from benchmarks.harness import autocast

        for x, y in train:
            self.step(x, y)
        self.model.eval()
        with torch.inference_mode(), autocast(self.device, self.precision):
            for x, _ in valid:
                self.model(x).argmax(1)
        self.model.train()


# ------------------------------------------------------------------------------------------ (b) and (c)

def opt_func(opt: str) -> Any:
    """The fastai ``opt_func`` of `opt` (:data:`OPTS`): fastai's ``Adam``, dronefast's ``adamw``, or torch's
    AdamW (``foreach`` or ``fused``) behind fastai's ``OptimWrapper`` with ``Adam``'s hyper-parameters."""
    from fastai.optimizer import Adam

    if opt == "fastai":
        return Adam
    if opt == "nodecay":
        from dronefast.models.optim import adamw

        return adamw
    return torch_adamw_opt_func(fused=opt == "fused")


def tiny_learner(dls: Any, s: OverheadBench, precision: str, path: Path) -> Any:
    """(b) or (c) (by `s.opt`): fastai's ``Learner`` on a fresh :func:`tiny_net` wired as ``dronefast.train`` wires the
    U-Net (module docstring), its files in `path`."""
    import torch
    from fastai.callback.channelslast import ChannelsLast
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner

    from dronefast.metrics.callback import all_reduce_sum, segmentation_metrics
    from dronefast.models.learner import REFERENCE_WD
    from dronefast.training.losses import recipe_loss
    from dronefast.training.precision import set_precision
    from dronefast.training.recipes import get_recipe

    classes = dls.classes
    torch.manual_seed(s.seed)
    conf, metrics = segmentation_metrics(len(classes), 0, classes.codes, reduce_fn=all_reduce_sum)
    model = tiny_net(len(classes), s.width)
    if s.compile_model:
        model = torch.compile(model)
    learn = Learner(dls, model, loss_func=recipe_loss(get_recipe("nadir"), dls, 0), opt_func=opt_func(s.opt),
                    metrics=metrics, cbs=[conf], wd=REFERENCE_WD, path=path)
    if not s.progress:
        learn.remove_cb(ProgressCallback)
    set_precision(learn, precision)
    if s.channels_last:
        learn.add_cb(ChannelsLast())
    return learn


class _Sink(io.TextIOBase):
    """A stdout that drops what is written (the progress bar and epoch lines of the timed fits)."""

    def write(self, s: str) -> int:
        return len(s)


def _fit_epoch(learn: Any, lr: float) -> Callable[[], Any]:
    """One epoch of :func:`~dronefast.training.fit.fit_reference` (the nadir recipe's schedule), printing to a
    sink."""
    from dronefast.training.fit import fit_reference

    def run() -> None:
        with contextlib.redirect_stdout(_Sink()):
            fit_reference(learn, epochs=1, lr=lr, pct_start=0.3, monitor="miou")

    return run


def optimizer_steps(opt: str, n_tensors: int, device: Any, steps: int = 20, seed: int = 0) -> Callable[[], Any]:
    """`steps` optimizer steps as ``fit_one_cycle`` drives them (``lr`` and ``mom`` set, ``step``, ``zero_grad``)
    over `n_tensors` small parameter tensors in 3 groups (the ResNet-34 U-Net has 154 tensors in 3 groups): the
    per-tensor cost of an optimizer, which the tiny network (4 tensors) cannot show. `opt`: one of :data:`OPTS`,
    or ``none`` (the gradients only, the cost every variant shares)."""
    import torch

    torch.manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(64, device=device)) for _ in range(n_tensors)]
    grads = [torch.randn(64, device=device) for _ in params]
    thirds = [params[i * n_tensors // 3:(i + 1) * n_tensors // 3] for i in range(3)]
    optimizer = None if opt == "none" else opt_func(opt)([g for g in thirds if g], lr=1e-3)

    def run() -> None:
        for i in range(steps):
            for p, g in zip(params, grads):
                p.grad = g
            if optimizer is not None:
                optimizer.set_hyper("lr", 1e-3 * (1 + i / steps))
                optimizer.set_hyper("mom", 0.95 - 0.1 * i / steps)
                optimizer.step()
                optimizer.zero_grad()

    return run


def bench_optimizers(n_tensors: int, device: Any, repeats: int, timer: Timer, steps: int = 20) -> Dict[str, Any]:
    """Milliseconds per step of each optimizer of :data:`OPTS` over `n_tensors` tensors (:func:`optimizer_steps`),
    less the gradient assignment every one does (``none``), interleaved `repeats` times after a warm-up."""
    fns = {name: optimizer_steps(name, n_tensors, device, steps) for name in ("none", *OPTS)}
    for f in fns.values():
        f()
    t = interleave(fns, repeats, timer)
    base = 1000 * t.summary("none")["median"] / steps
    return {"n_tensors": n_tensors, "steps": steps, "grads_ms": base,
            "ms_per_step": {k: 1000 * t.summary(k)["median"] / steps - base for k in OPTS}}


def profile_epoch(fn: Callable[[], Any], steps: int, top: int) -> List[Dict[str, Any]]:
    """The `top` functions by own time of one call of `fn` under cProfile: ``function``, ``calls``, ``own_ms`` and
    ``cum_ms``, per training step (`steps`)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.runcall(fn)
    stats = pstats.Stats(prof).stats  # {(file, line, name): (prim calls, calls, own s, cum s, callers)}
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [{"function": f"{Path(f).name}:{line}({name})", "calls": round(nc / steps, 2),
             "own_ms": 1000 * tt / steps, "cum_ms": 1000 * ct / steps}
            for (f, line, name), (_, nc, tt, ct, _) in rows]


def count_syncs(fn: Callable[[], Any], set_mode: Optional[Callable[[str], None]] = None) -> int:
    """Host-device synchronisations during one call of `fn`: the :data:`SYNC_WARNING` warnings raised while
    `set_mode` (default ``torch.cuda.set_sync_debug_mode``, which needs CUDA) is ``"warn"``; the mode is
    ``"default"`` again afterwards, also when `fn` raises."""
    import warnings

    if set_mode is None:
        import torch

        set_mode = torch.cuda.set_sync_debug_mode
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_mode("warn")
        try:
            fn()
        finally:
            set_mode("default")
    return sum(SYNC_WARNING in str(w.message) for w in caught)


def sync_counts(fns: Dict[str, Callable[[], Any]], steps: int,
                set_mode: Optional[Callable[[str], None]] = None) -> Dict[str, Dict[str, float]]:
    """Per variant, the synchronisations of one more epoch (:func:`count_syncs`): ``per_epoch`` and
    ``per_step`` (over its `steps` training steps; validation and once-an-epoch work included)."""
    out = {}
    for name, fn in fns.items():
        n = count_syncs(fn, set_mode)
        out[name] = {"per_epoch": n, "per_step": n / steps}
    return out


# ------------------------------------------------------------------------------------------ the run

def _dataloaders(s: OverheadBench, device: Any, work: Path) -> Any:
    """The cached DataLoaders of a generated sample of ``n_total(n)`` photos at `s.size`; UsageError when the
    split leaves no full batch."""
    from dronefast.data.block import drone_dataloaders
    from dronefast.synthetic.generator import generate_sample

    total = n_total(s.n, s.valid_pct)
    data = generate_sample(work / f"overhead-{total}-{format_size(s.size)}-s{s.seed}", n=total, size=tuple(s.size))
    dls = drone_dataloaders(data, size=tuple(s.size), bs=s.bs, valid_pct=s.valid_pct, seed=s.seed, num_workers=0,
                            device=device, progress=False)
    if len(dls.train) == 0:
        raise UsageError(f"{len(dls.train_ds)} training images make no full batch of {s.bs}; raise --n")
    return dls


def _variants(s: OverheadBench, dls: Any, device: Any, precision: str, work: Path) -> Dict[str, Callable[[], Any]]:
    """name -> one timed epoch, for the variants asked for, in the order asked."""
    from dronefast.training.losses import recipe_loss
    from dronefast.training.recipes import get_recipe

    fns: Dict[str, Callable[[], Any]] = {}
    for name in s.variants:
        base, opt, compiled = parse_variant(name, s)
        if base == "floor":
            weight = getattr(recipe_loss(get_recipe("nadir"), dls, 0), "weight", None)
            floor = TinyFloor(len(dls.classes), s.width, weight, device, precision, s.channels_last, s.lr, s.seed,
                              compiled, fused=opt == "fused")
            train_b, valid_b = floor.prepare(list(dls.train)), floor.prepare(list(dls.valid))
            fns[name] = lambda floor=floor, t=train_b, v=valid_b: floor.epoch(t, v)
        else:
            learn = tiny_learner(dls, replace(s, opt=opt, compile_model=compiled), precision,
                                 work / f"run-{name.replace('+', '-')}")
            fns[name] = _fit_epoch(learn, s.lr)
    return fns


def variant_results(timings: Timings, steps: int) -> Dict[str, Dict[str, Any]]:
    """Per variant: its label, ``epoch_s`` summary, ``ms_per_step`` (median epoch), ``ms_per_step_min`` (fastest
    epoch) and median CPU seconds."""
    out: Dict[str, Dict[str, Any]] = {}
    for name in timings.samples:
        s = timings.summary(name)
        out[name] = {"label": label(name), "epoch_s": s, "ms_per_step": 1000 * s["median"] / steps,
                     "ms_per_step_min": 1000 * s["min"] / steps, "cpu_s": timings.cpu_s(name)}
    return out


def _floor_of(name: str, results: Dict[str, Dict[str, Any]]) -> Optional[str]:
    """The floor a variant's overhead is taken over: ``floor+compile`` for a compiled one when it ran, else
    ``floor``; None when neither ran."""
    if "compile" in name.split("+")[1:] and "floor+compile" in results:
        return "floor+compile"
    return "floor" if "floor" in results else None


def compare(results: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """``overhead_ms`` (per step, over the variant's floor, of median and of fastest epochs), ``ratios`` (to the
    floor) and ``checks`` ((b) against :data:`TARGETS`)."""
    out: Dict[str, Any] = {"overhead_ms": {}, "overhead_ms_of_min": {}, "ratios": {}, "checks": {}}
    for name, r in results.items():
        floor = _floor_of(name, results)
        if name.split("+")[0] == "floor" or floor is None:
            continue
        f = results[floor]
        out["overhead_ms"][name] = r["ms_per_step"] - f["ms_per_step"]
        out["overhead_ms_of_min"][name] = r["ms_per_step_min"] - f["ms_per_step_min"]
        out["ratios"][f"{name}_over_{floor}"] = ratio(r["ms_per_step"], f["ms_per_step"])
    if "dronefast" in out["overhead_ms"]:
        out["checks"] = {"overhead_target_ms": TARGETS["overhead_ms_max"],
                         "overhead_met": out["overhead_ms"]["dronefast"] <= TARGETS["overhead_ms_max"]}
    return out


def bench_overhead(settings: Optional[OverheadBench] = None, *, log: Callable[[str], None] = print,
                   clock: Clock = time.perf_counter, **changes: Any) -> Dict[str, Any]:
    """Time one epoch of (a) the bare loop, (b) dronefast's loop and (c) fastai's loop (its Adam) on the tiny
    network, interleaved after one untimed warm-up epoch each (module docstring).

    Returns:
        A JSON-ready dict: ``command``, ``machine``, ``settings``, ``variants`` (per variant: ``epoch_s`` summary,
        ``ms_per_step``, ``ms_per_step_min``, ``cpu_s``), ``overhead_ms`` and ``overhead_ms_of_min`` (per step,
        over the floor), ``ratios``, ``checks``, ``syncs`` (:func:`sync_counts` on CUDA, else None); with
        ``profile``, ``profile`` (per step, of (b), else of the first variant) and ``profile_variant``; with
        ``opt_tensors``, ``optimizers`` (:func:`bench_optimizers`).
    """
    import torch

    s = replace(settings or OverheadBench(), **changes)
    dev = resolve_device(s.device)
    precision = checked_precision(s.precision, dev)
    work = Path(s.work or default_work_dir())
    dls = _dataloaders(s, dev, work)
    steps = len(dls.train)
    log(f"tiny network ({s.width} hidden channels, {len(dls.classes)} classes) at {format_size(s.size)} (WxH), "
        f"batch {s.bs}: {len(dls.train_ds)}/{len(dls.valid_ds)} images, {steps} steps an epoch, device {dev}, "
        f"precision {precision}, optimizer {s.opt}{', compiled' if s.compile_model else ''}")
    fns = _variants(s, dls, dev, precision, work / "overhead-runs")
    for f in fns.values():  # warm-up, untimed (compilation, first allocations, files created)
        f()
    timings = interleave(fns, s.epochs, Timer(clock, device=dev))
    results = variant_results(timings, steps)
    out = {"command": "overhead", "machine": machine_record(dev, timings),
           "settings": {"n_train": len(dls.train_ds), "n_valid": len(dls.valid_ds), "steps_per_epoch": steps,
                        "size": format_size(s.size), "bs": s.bs, "width": s.width, "n_classes": len(dls.classes),
                        "epochs": s.epochs, "device": str(dev), "precision": precision,
                        "channels_last": s.channels_last, "progress_bar": s.progress, "opt": s.opt,
                        "compile": s.compile_model, "lr": s.lr, "seed": s.seed, "threads": torch.get_num_threads()},
           "variants": results, **compare(results),
           "syncs": sync_counts(fns, steps) if dev.type == "cuda" else None}
    if s.opt_tensors:
        out["optimizers"] = bench_optimizers(s.opt_tensors, dev, s.epochs, Timer(clock, device=dev))
    profiled = "dronefast" if "dronefast" in fns else next(iter(fns))
    if s.profile:
        out["profile_variant"], out["profile"] = profiled, profile_epoch(fns[profiled], steps, s.profile)
    return out


# ------------------------------------------------------------------------------------------ report, command line

def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_overhead` result (after the machine line)."""
    if result.get("mode") == "loop":
        from benchmarks.loop import loop_lines  # imports fastai: not for --help

        return loop_lines(result)
    v, o = result["variants"], result["overhead_ms"]
    out = []
    for name, x in v.items():
        line = (f"  {x['label']:<28} {x['ms_per_step']:7.2f} ms/step (fastest {x['ms_per_step_min']:.2f}); epoch "
                f"{format_seconds(x['epoch_s'])}")
        if name in o:
            line += f"; overhead {o[name]:+.2f} ms/step (fastest epochs {result['overhead_ms_of_min'][name]:+.2f})"
        out.append(line)
    if result["checks"]:
        c = result["checks"]
        out.append(f"  (b) - (a): {o['dronefast']:.2f} ms per step (target <= {c['overhead_target_ms']:g}: "
                   f"{'met' if c['overhead_met'] else 'NOT met'})")
    if result.get("syncs") is None:
        out.append("  host-device synchronisations: not measured (they need a CUDA device)")
    else:
        out.append("  host-device synchronisations per training step (per epoch): " + ", ".join(
            f"{k} {x['per_step']:.2f} ({x['per_epoch']})" for k, x in result["syncs"].items()))
    if "optimizers" in result:
        o = result["optimizers"]
        out.append(f"  optimizer step over {o['n_tensors']} tensors: "
                   + ", ".join(f"{k} {v:.3f} ms" for k, v in o["ms_per_step"].items())
                   + f" (gradients set: {o['grads_ms']:.3f} ms, not included)")
    for p in result.get("profile", []):
        out.append(f"    {p['own_ms']:7.3f} ms own {p['cum_ms']:7.3f} ms cum {p['calls']:7.2f} calls  "
                   f"{p['function']}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks overhead``."""
    from dronefast.cli.common import fraction, positive_float, positive_int, size_arg

    p.add_argument("--n", type=positive_int, default=320, help="training images (plus the validation share)")
    p.add_argument("--size", type=size_arg, default="32x32", metavar="WxH", help="photo and training size")
    p.add_argument("--bs", type=positive_int, default=4, help="batch size")
    p.add_argument("--width", type=positive_int, default=16, help="hidden channels of the tiny network")
    p.add_argument("--epochs", type=positive_int, default=5, help="timed epochs per variant (interleaved rounds)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                   help="as dronefast.train: auto is bf16/fp16 on GPU, fp32 on CPU")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="contiguous (NCHW) tensors; by default channels-last, as dronefast.train")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="drop fastai's progress bar from (b) and (c) (dronefast.train shows it by default)")
    p.add_argument("--opt", default="fastai", choices=OPTS,
                   help="optimizer of (c) ((b) runs nodecay; a variant's +nodecay, +adamw or +fused wins): fastai's "
                        "Adam, dronefast's AdamW with BatchNorm and biases not decayed, torch AdamW (foreach) or "
                        "AdamW(fused=True)")
    p.add_argument("--compile", dest="compile_model", action="store_true",
                   help="torch.compile the tiny network of every variant (as a variant's +compile)")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate")
    p.add_argument("--valid-pct", type=fraction, default=0.2, help="validation share of the images")
    p.add_argument("--variants", default=",".join(OVERHEAD_VARIANTS),
                   help="comma-separated, each floor, dronefast or fastai, optionally with +nodecay, +adamw, +fused, "
                        "+compile")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="profile one more (b) epoch (else the first variant's) with cProfile; report its N "
                        "costliest functions per step")
    p.add_argument("--opt-tensors", type=int, default=0, metavar="N",
                   help="also time each optimizer's step over N small tensors (154: the ResNet-34 U-Net's count)")
    p.add_argument("--loop", action="store_true",
                   help="instead: the loop variants at the real configuration (ResNet-34 U-Net, the nadir recipe's "
                        "batch size, CPU), alternated round by round (benchmarks/loop.py)")
    p.add_argument("--loop-sizes", default="150x100,300x200", help="with --loop: comma-separated WxH sizes")
    p.add_argument("--loop-steps", type=positive_int, default=6, help="with --loop: timed steps per round")
    p.add_argument("--loop-rounds", type=positive_int, default=6, help="with --loop: rounds (A B, A B, ...)")
    p.add_argument("--loop-variants", default="fastai,adam", help="with --loop: comma-separated, of "
                   + ", ".join(LOOP_VARIANTS) + " (ratios are over the first)")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_overhead` (or, with ``--loop``, :func:`~benchmarks.loop.bench_loop`) with the parsed options
    of :func:`add_arguments`."""
    if a.loop:
        from benchmarks.loop import LoopBench, bench_loop
        from dronefast.cli.common import size_arg
        from dronefast.training.recipes import get_recipe

        return bench_loop(LoopBench(sizes=tuple(size_arg(x) for x in split_csv(a.loop_sizes)),
                                    bs=get_recipe("nadir").bs, steps=a.loop_steps, rounds=a.loop_rounds,
                                    variants=tuple(split_csv(a.loop_variants)), seed=a.seed, work=a.work))
    names = {f.name for f in fields(OverheadBench)} - {"variants"}
    settings = OverheadBench(variants=tuple(split_csv(a.variants)), **{k: getattr(a, k) for k in names})
    return bench_overhead(settings, clock=clock)
