"""``recipes``: accuracy, not speed. Trains the same U-Net from scratch with each variant of the training recipes
(:mod:`dronefast.training.recipes`) on the same generated sample, split and seeds, and scores every model on the
sample's **test** photos, which no run trained on or chose its best epoch by (each run keeps its best epoch by its
validation photos, as training does), at full resolution with :func:`~dronefast.workflows.evaluation.evaluate_model`.
It reports pixel accuracy, mIoU, the IoU of person and car, the CPU seconds and minutes each run took (CPU time is
what is compared: the machine is shared, wall time is not), means over the seeds, and the differences to the first
run.

A run is written ``RECIPE[:EPOCHS][/KEY=VALUE...]``: the recipe's settings, with the epochs and any of ``size``,
``work`` (the working scale, ``WxH`` or ``none`` for whole photos), ``repeats``, ``bs``, ``lr`` and ``weights``
replaced, e.g. ``nadir:12/work=none/size=144x96`` (whole photos) against ``nadir:12`` (object scale). Runs go
round by round: every run of the first seed, then every run of the next.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.harness import (
    ARCH_CHOICES,
    Clock,
    Size,
    Timer,
    add_common_arguments,
    default_work_dir,
    load_average,
    machine_info,
    split_csv,
)
from dronefast.errors import UsageError
from dronefast.sizes import format_size
from dronefast.training.recipes import RECIPES

__all__ = ["bench_recipes", "parse_run", "run_config", "score_model", "mean_scores", "compare_runs",
           "report_lines", "add_arguments", "from_args", "DEFAULT_RUNS", "REPORTED_CLASSES", "HELP"]

HELP = "accuracy of the training recipes side by side (from scratch)"
#: The runs of the README table.
DEFAULT_RUNS = ("reference:12", "nadir:12", "nadir")
#: Classes whose IoU is reported (what a landing drone must see).
REPORTED_CLASSES = ("person", "car")


#: Settings a run may replace, and how each is read.
RUN_KEYS = ("size", "work", "repeats", "context", "bs", "lr", "weights")


def parse_run(text: str) -> Tuple[str, Optional[int], Dict[str, Any]]:
    """``"nadir:12/work=none/size=144x96"`` -> ``("nadir", 12, {"whole_photos": True, "size": (96, 144)})``;
    ``"nadir"`` -> ``("nadir", None, {})`` (the recipe's own settings). Keys: :data:`RUN_KEYS`."""
    head, *pairs = [t.strip() for t in text.split("/")]
    name, _, epochs = head.partition(":")
    if name not in RECIPES:
        raise UsageError(f"run {text!r}: recipe must be one of {', '.join(RECIPES)}")
    if epochs and (not epochs.isdigit() or int(epochs) < 1):
        raise UsageError(f"run {text!r}: epochs must be a positive integer")
    changes: Dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            changes.update(_run_setting(key.strip(), value.strip()))
        except ValueError as e:
            raise UsageError(f"run {text!r}: {e}") from None
    return name, int(epochs) if epochs else None, changes


def _run_setting(key: str, value: str) -> Dict[str, Any]:
    """One ``KEY=VALUE`` of a run as :class:`~dronefast.training.config.TrainConfig` fields."""
    from dronefast.sizes import parse_size

    if key == "size":
        return {"size": parse_size(value)}
    if key == "work":
        return {"whole_photos": True} if value == "none" else {"work_size": parse_size(value)}
    if key in ("repeats", "bs"):
        return {key: int(value)}
    if key == "context":
        return {"context": float(value)}
    if key == "lr":
        return {"lr": value if value == "auto" else float(value)}
    if key == "weights":
        return {"class_weights": value}
    raise ValueError(f"unknown setting {key!r}; known: {', '.join(RUN_KEYS)}")


def run_config(run: str, seed: int, data: Path, out: Path, *, arch: str, valid_pct: float, test_pct: float,
               lr_find_iters: int, progress: bool) -> Any:
    """The :class:`~dronefast.training.config.TrainConfig` of one run and seed: from scratch, the recipe's
    settings but those the run replaces (:func:`parse_run`), no unfrozen stage, `out` replaced, the test photos
    scored by the benchmark (at full resolution) rather than inside the timed training."""
    from dronefast.training.config import TrainConfig

    recipe, epochs, changes = parse_run(run)
    try:
        return TrainConfig(data=data, out=out, recipe=recipe, arch=arch, epochs=epochs, unfrozen_epochs=0,
                           lr_find_iters=lr_find_iters, valid_pct=valid_pct, test_pct=test_pct, seed=seed,
                           pretrained=False, progress=progress, overwrite=True, score_test=False, **changes)
    except ValueError as e:
        raise UsageError(str(e)) from None


def score_model(model: Path, data: Path, tta: bool = False) -> Dict[str, Any]:
    """Full-resolution ``pixel_accuracy``, ``miou`` and ``iou_<class>`` of :data:`REPORTED_CLASSES` of the saved
    model at `model` on the test split of `data` (keys prefixed ``tta_`` with `tta`)."""
    from dronefast.inference.predict_options import PredictOptions
    from dronefast.workflows.evaluation import evaluate_model

    full = evaluate_model(model, data, options=PredictOptions(tta=tta), subset="test", progress=False)["full_res"]
    key = "tta_" if tta else ""
    row = {f"{key}pixel_accuracy": full["pixel_accuracy"], f"{key}miou": full["miou"]}
    row.update({f"{key}iou_{c}": full["iou"][c] for c in REPORTED_CLASSES})
    return row


def _train_and_score(config: Any, data: Path, tta: bool, timer: Timer) -> Dict[str, Any]:
    """One row: the seed, the training minutes (by `timer`), epochs and lr trained, and the scores."""
    from dronefast.workflows.training_run import train

    result, sample = timer.call(lambda: train(config))
    m = result.metrics
    row: Dict[str, Any] = {"seed": config.seed, "minutes": sample.seconds / 60, "cpu_s": sample.cpu_s,
                           "epochs": m["epochs"], "lr": m["lr"], "valid_miou": m["miou"],
                           "size": format_size(m["size"]),
                           "work_size": None if m["work_size"] is None else format_size(m["work_size"]),
                           "repeats": m["repeats"], "bs": m["bs"]}
    model = Path(config.out) / "model.json"
    row.update(score_model(model, data))
    if tta:
        row.update(score_model(model, data, tta=True))
    return row


def mean_scores(rows: Sequence[Dict[str, Any]]) -> Dict[str, Optional[float]]:
    """Mean over the rows (seeds) of every key but ``seed``; None where no row has a value."""
    def mean(xs: List[Any]) -> Any:
        xs = [x for x in xs if x is not None]
        if xs and isinstance(xs[0], str):
            return xs[0]  # a setting (sizes): the same for every seed
        return statistics.fmean(xs) if xs else None

    return {k: mean([row[k] for row in rows]) for k in rows[0] if k != "seed"}


def compare_runs(variants: Dict[str, Dict[str, Any]], first: str) -> Dict[str, Dict[str, float]]:
    """Per run: ``miou_diff`` and ``pixel_accuracy_diff`` against run `first`, and ``minutes_ratio`` to it."""
    base = variants[first]["mean"]
    return {run: {"miou_diff": v["mean"]["miou"] - base["miou"],
                  "pixel_accuracy_diff": v["mean"]["pixel_accuracy"] - base["pixel_accuracy"],
                  "minutes_ratio": v["mean"]["minutes"] / base["minutes"],
                  "cpu_ratio": v["mean"]["cpu_s"] / base["cpu_s"]}
            for run, v in variants.items()}


def bench_recipes(runs: Sequence[str] = DEFAULT_RUNS, *, seeds: Sequence[int] = (1, 2), n: int = 120,
                  photo_size: Size = (640, 960), sample_seed: int = 7, arch: str = "resnet18",
                  valid_pct: float = 0.15, test_pct: float = 0.2, lr_find_iters: int = 100, tta: bool = False,
                  work: Optional[Path] = None, progress: bool = False,
                  clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Train each run for each seed, from scratch, on one generated sample, and score it on the test photos.

    Args:
        runs: ``RECIPE[:EPOCHS][/KEY=VALUE...]`` (see :func:`parse_run`); the first is the one compared against.
        seeds: seeds of the splits, the weight initialisation and the augmentations (one run each).
        n, photo_size, sample_seed: the generated sample (:func:`~dronefast.synthetic.generator.ensure_sample`),
            photos ``(height, width)``.
        arch: encoder (no ImageNet weights).
        valid_pct: validation share of the non-test photos (each run keeps its best epoch by them).
        test_pct: share of the photos set aside and scored.
        lr_find_iters: lr_find steps of runs that run it (``reference``).
        tta: also score with flip test-time augmentation.
        work: folder for the sample and the runs (default: :func:`~benchmarks.harness.default_work_dir`).
        progress: show fastai's progress bars.
        clock: the clock the training minutes are measured with (CPU seconds come from the process's own count).

    Returns:
        ``{"command": "recipes", "machine", "settings", "variants": {run: {"recipe", "epochs", "per_seed": [...],
        "mean": {...}}}, "ratios": {run: {"miou_diff", "pixel_accuracy_diff", "minutes_ratio", "cpu_ratio"}}}``;
        each score dict holds ``pixel_accuracy``, ``miou``, ``iou_person``, ``iou_car`` (test photos, full
        resolution), ``valid_miou`` (what the best epoch was chosen by), ``minutes`` and ``cpu_s`` (training, data
        loading and lr_find included) and the run's sizes.
    """
    import torch

    from dronefast.synthetic.generator import ensure_sample

    parsed = [parse_run(r) for r in runs]
    if len(set(runs)) != len(runs):
        raise UsageError(f"runs must differ, got {', '.join(runs)}")
    if not seeds:
        raise UsageError("give at least one seed")
    work = Path(work or default_work_dir())
    data = work / f"recipes-sample-n{n}-{format_size(photo_size)}-s{sample_seed}"
    opts = dict(arch=arch, valid_pct=valid_pct, test_pct=test_pct, lr_find_iters=lr_find_iters, progress=progress)
    configs = [[run_config(r, s, data, work / "recipes-runs" / f"{_folder(r)}-s{s}", **opts) for r in runs]
               for s in seeds]  # every setting checked before the first run
    ensure_sample(data, n=n, size=photo_size, seed=sample_seed)
    machine = {**machine_info("cuda" if torch.cuda.is_available() else "cpu"), "load_avg_before": load_average()}
    variants: Dict[str, Dict[str, Any]] = {r: {"recipe": name, "epochs": ep, "per_seed": []}
                                           for r, (name, ep, _) in zip(runs, parsed)}
    timer = Timer(clock)
    for round_configs in configs:
        for run, config in zip(runs, round_configs):
            variants[run]["per_seed"].append(_train_and_score(config, data, tta, timer))
    machine["load_avg_after"] = load_average()
    for v in variants.values():
        v["mean"] = mean_scores(v["per_seed"])
    settings = {"runs": list(runs), "seeds": list(seeds), "n": n, "photo_size": list(photo_size),
                "sample_seed": sample_seed, "arch": arch, "valid_pct": valid_pct, "test_pct": test_pct,
                "lr_find_iters": lr_find_iters, "tta": tta, "pretrained": False, "data": str(data)}
    return {"command": "recipes", "machine": machine, "settings": settings, "variants": variants,
            "ratios": compare_runs(variants, runs[0])}


def _folder(run: str) -> str:
    return "".join(c if c.isalnum() or c in "-x" else "-" for c in run)


def _f(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report_lines(result: Dict[str, Any]) -> List[str]:
    """A :func:`bench_recipes` result as a Markdown table (means over the seeds) and the differences."""
    s = result["settings"]
    out = [f"  {s['arch']} from scratch, sample of {s['n']} photos {format_size(s['photo_size'])}, test share "
           f"{s['test_pct']}, validation share {s['valid_pct']} of the rest, seeds {', '.join(map(str, s['seeds']))}; "
           "scores of the test photos at full resolution (best epoch chosen on validation), means over the seeds", "",
           "| run | size | working scale | epochs | pixel accuracy | mIoU | IoU person | IoU car | CPU s | minutes |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for run, v in result["variants"].items():
        m = v["mean"]
        out.append(f"| {run} | {m['size']} | {m['work_size'] or 'whole photo'} | {_f(m['epochs'], 0)} | "
                   f"{_f(m['pixel_accuracy'])} | {_f(m['miou'])} | {_f(m['iou_person'])} | {_f(m['iou_car'])} | "
                   f"{_f(m['cpu_s'], 0)} | {_f(m['minutes'], 1)} |")
    out.append("")
    first = next(iter(result["variants"]))
    for run, r in result["ratios"].items():
        if run != first:
            out.append(f"  {run} vs {first}: mIoU {r['miou_diff']:+.3f}, pixel accuracy "
                       f"{r['pixel_accuracy_diff']:+.3f}, CPU seconds x{r['cpu_ratio']:.2f}, "
                       f"minutes x{r['minutes_ratio']:.2f}")
    if s["tta"]:
        for run, v in result["variants"].items():
            m = v["mean"]
            out.append(f"  {run} with TTA: pixel accuracy {_f(m['tta_pixel_accuracy'])}, mIoU {_f(m['tta_miou'])}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks recipes``."""
    from dronefast.cli.common import fraction, positive_int, size_arg
    from dronefast.models.archs import ADDED_ARCHS

    p.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                   help="comma-separated RECIPE[:EPOCHS][/KEY=VALUE...] (keys: size, work, repeats, context, "
                        "bs, lr, weights); the first is the one compared against")
    p.add_argument("--seeds", default="1,2", help="comma-separated seeds (splits, initialisation, augmentations)")
    p.add_argument("--n", type=positive_int, default=120, help="photos in the generated sample")
    p.add_argument("--photo-size", type=size_arg, default="960x640", metavar="WxH", help="size of those photos")
    p.add_argument("--sample-seed", type=int, default=7, help="seed of the generated sample")
    p.add_argument("--arch", default="resnet18", choices=(*ARCH_CHOICES, *ADDED_ARCHS),
                   help="encoder (or one added by dronefast.models.encoders.register_encoder)")
    p.add_argument("--valid-pct", type=fraction, default=0.15, help="validation share of the non-test photos")
    p.add_argument("--test-pct", type=fraction, default=0.2, help="share of the photos scored (never trained on)")
    p.add_argument("--lr-find-iters", type=positive_int, default=100, help="lr_find steps of recipes that run it")
    p.add_argument("--tta", action="store_true", help="also score with flip test-time augmentation")
    p.add_argument("--progress", action="store_true", help="show fastai's progress bars")
    add_common_arguments(p, seed=False)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_recipes` with the parsed options of :func:`add_arguments`."""
    try:
        seeds = [int(x) for x in split_csv(a.seeds)]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {a.seeds!r}") from None
    return bench_recipes(split_csv(a.runs), seeds=seeds, n=a.n, photo_size=a.photo_size, sample_seed=a.sample_seed,
                         arch=a.arch, valid_pct=a.valid_pct, test_pct=a.test_pct, lr_find_iters=a.lr_find_iters,
                         tta=a.tta, work=a.work, progress=a.progress, clock=clock)
