"""``overhead --loop``: the training loop at the real configuration, side by side: seconds per training step of a
ResNet-34 U-Net (random initialisation) on dronefast's cached data path with the nadir recipe's loss, augmentation,
batch size and ``fit_one_cycle``, driven by each loop variant (:data:`LOOP_VARIANTS`), at each size.

Each round runs one short fit per variant (``A B A B ...``, so that load on a shared machine hits both alike) that
stops after ``steps`` training steps (:class:`StepClock`; no validation; the first step is timed from the start of
the training phase, so it includes the epoch's start). One untimed step per variant warms up first. Wall seconds
(``time.perf_counter``) and CPU seconds of the process (``time.process_time``) are recorded per step; with
``OMP_NUM_THREADS=1`` the CPU seconds are what the step costs whatever else the machine runs.

``benchmarks/results/overhead-loop-2026-12-07-cpu.json`` is this benchmark's run against the former ``lean`` loop
(fastai's Learner, Recorder and Adam replaced at run time; removed since, as the run found no gain worth keeping).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastai.callback.core import Callback, CancelFitException

from dronefast.errors import UsageError
from dronefast.sizes import format_size

from .harness import LOOP_VARIANTS, Size, load_average, machine_info, ratio

__all__ = ["LoopBench", "LOOP_VARIANTS", "StepClock", "loop_learner", "bench_loop", "loop_summary", "loop_lines"]



@dataclass(frozen=True, kw_only=True)
class LoopBench:
    """Settings of :func:`bench_loop`: `sizes` ``(H, W)``, batch `bs`, timed `steps` per round, `rounds`, the
    `variants` alternated, the encoder `arch`, the peak `lr`, `seed`, and the `work` folder of generated photos."""

    sizes: Tuple[Size, ...] = ((100, 150), (200, 300))
    bs: int = 8
    steps: int = 6
    rounds: int = 6
    variants: Tuple[str, ...] = LOOP_VARIANTS
    arch: str = "resnet34"
    lr: float = 2e-3
    seed: int = 0
    work: Optional[Path] = None

    def __post_init__(self) -> None:
        bad = [v for v in self.variants if v not in LOOP_VARIANTS]
        if bad or not self.variants:
            raise UsageError(f"unknown loop variant(s) {bad}: choose from {', '.join(LOOP_VARIANTS)}")
        if min(self.bs, self.steps, self.rounds) < 1:
            raise UsageError("--bs, --steps and --rounds must be at least 1")


class StepClock(Callback):
    """Reads ``(perf_counter, process_time)`` as the training phase starts and after every training step, and
    stops the fit after `steps` steps; ``marks`` holds the readings of the last fit."""

    order, run_valid = 1000, False  # after every other callback's after_batch

    def __init__(self, steps: int, clock: Callable[[], Tuple[float, float]] = None):
        self.steps, self.marks = steps, []
        self.clock = clock or (lambda: (time.perf_counter(), time.process_time()))

    def before_train(self) -> None:
        self.marks = [self.clock()]

    def after_batch(self) -> None:
        self.marks.append(self.clock())
        if len(self.marks) > self.steps:
            raise CancelFitException()

    def step_times(self) -> List[Tuple[float, float]]:
        """``(wall_s, cpu_s)`` of each step (the first from the start of the training phase)."""
        m = self.marks
        return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(m, m[1:])]


def loop_learner(dls: Any, variant: str, s: LoopBench, path: Path) -> Any:
    """A U-Net learner as ``dronefast.train`` builds it (recipe loss, no progress bar), with `variant`'s
    optimizer (:data:`LOOP_VARIANTS`) and a :class:`StepClock`."""
    import torch
    from fastai.callback.progress import ProgressCallback
    from fastai.optimizer import Adam

    from dronefast.models.encoders import Encoder
    from dronefast.models.learner import drone_learner
    from dronefast.models.optim import adamw
    from dronefast.training.losses import recipe_loss
    from dronefast.training.recipes import get_recipe

    torch.manual_seed(s.seed)
    loss = recipe_loss(get_recipe("nadir"), dls, 0)
    learn = drone_learner(dls, Encoder(s.arch, pretrained=False), path=path,
                          **({} if loss is None else {"loss_func": loss}))
    learn.remove_cb(ProgressCallback)
    learn.opt_func = {"adam": Adam, "fastai": adamw}[variant]
    learn.add_cb(StepClock(s.steps))
    return learn


def _dataloaders(s: LoopBench, size: Size, work: Path) -> Any:
    """Cached DataLoaders of enough generated photos at `size` for one round's ``steps`` batches."""
    from dronefast.data.block import drone_dataloaders
    from dronefast.synthetic.generator import generate_sample
    from dronefast.training.augment import recipe_batch_tfms
    from dronefast.training.recipes import get_recipe

    n = s.steps * s.bs + 2
    data = generate_sample(work / f"loop-{n}-{format_size(size)}-s{s.seed}", n=n + 4, size=tuple(size))
    return drone_dataloaders(data, size=tuple(size), bs=s.bs, valid_pct=0.1, seed=s.seed, num_workers=0,
                             device="cpu", progress=False, batch_tfms=recipe_batch_tfms(get_recipe("nadir")))


def _quiet_fit(learn: Any, lr: float) -> List[Tuple[float, float]]:
    """One cancelled ``fit_one_cycle`` epoch; the step times of its clock."""
    learn.fit_one_cycle(1, lr)
    return learn.step_clock.step_times()


def bench_loop(s: LoopBench, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time each variant at each size (module docstring); a JSON-ready dict: ``command``, ``mode``, ``machine``
    (with the load averages before and after), ``settings`` and ``sizes`` (per size, :func:`loop_summary`)."""
    import torch

    work = Path(s.work) if s.work else Path.home() / ".cache" / "dronefast" / "bench"
    load_before, out = load_average(), {}
    for size in s.sizes:
        dls = _dataloaders(s, size, work)
        learners = {v: loop_learner(dls, v, s, work / "loop-runs" / v) for v in s.variants}
        for learn in learners.values():  # warm-up round: one step each
            learn.step_clock.steps = 1
            _quiet_fit(learn, s.lr)
            learn.step_clock.steps = s.steps
        samples: Dict[str, List[Tuple[float, float]]] = {v: [] for v in s.variants}
        for r in range(s.rounds):
            for v in s.variants:
                samples[v] += _quiet_fit(learners[v], s.lr)
            log(f"  {format_size(size)} round {r + 1}/{s.rounds}: " + ", ".join(
                f"{v} {statistics.median(w for w, _ in x):.3f} s/step ({statistics.median(c for _, c in x):.3f} s CPU)"
                for v, x in samples.items()))
        out[format_size(size)] = loop_summary(samples)
    machine = {**machine_info("cpu"), "load_avg_before": load_before, "load_avg_after": load_average()}
    return {"command": "overhead", "mode": "loop", "machine": machine,
            "settings": {"arch": s.arch, "pretrained": False, "bs": s.bs, "steps_per_round": s.steps,
                         "rounds": s.rounds, "variants": list(s.variants), "lr": s.lr, "seed": s.seed,
                         "threads": torch.get_num_threads(), "recipe": "nadir"},
            "sizes": out}


def loop_summary(samples: Dict[str, List[Tuple[float, float]]]) -> Dict[str, Any]:
    """Per variant ``steps``, ``samples`` (its ``[wall, cpu]`` steps), ``wall_s_per_step`` / ``cpu_s_per_step``
    (median and mean of the steps); ``ratios``: each variant's median over the first's (wall and CPU)."""
    def stats(xs: List[float]) -> Dict[str, float]:
        return {"median": statistics.median(xs), "mean": statistics.fmean(xs)}

    per = {v: {"steps": len(x), "samples": [list(t) for t in x], "wall_s_per_step": stats([w for w, _ in x]),
               "cpu_s_per_step": stats([c for _, c in x])} for v, x in samples.items()}
    first = next(iter(per))
    ratios = {f"{v}_over_{first}": {k: ratio(per[v][k]["median"], per[first][k]["median"])
                                    for k in ("wall_s_per_step", "cpu_s_per_step")} for v in list(per)[1:]}
    return {"variants": per, "ratios": ratios}


def loop_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_loop` result."""
    out = []
    for size, r in result["sizes"].items():
        for v, x in r["variants"].items():
            out.append(f"  {size} {v:<8} {x['wall_s_per_step']['median']:.3f} s/step wall, "
                       f"{x['cpu_s_per_step']['median']:.3f} s CPU (median of {x['steps']} steps)")
        for name, q in r["ratios"].items():
            out.append(f"  {size} {name}: {q['wall_s_per_step']:.3f} wall, {q['cpu_s_per_step']:.3f} CPU")
    return out
