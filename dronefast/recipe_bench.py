"""Recipes side by side: ``python -m dronefast.bench recipes`` trains the same U-Net from scratch with each
recipe of :mod:`dronefast.recipes` on the same generated sample, split and seeds, scores every model at full
resolution with :func:`~dronefast.evaluate.evaluate_model`, and prints pixel accuracy, mIoU, the IoU of person
and car, and the minutes each run took (means over the seeds, and the difference to the first run).

A run is written ``RECIPE`` (the recipe's own epochs) or ``RECIPE:EPOCHS``. The defaults reproduce the README's
recipe table: the reference recipe for 12 epochs (the issue's stock fastai budget, lr_find included), the nadir
recipe for the same 12 epochs (same training compute), and the nadir recipe's default (20 epochs from scratch,
fewer minutes than the reference's lr_find + 12 epochs), all at batch size 8 (the issue's stock configuration) on
a 120-photo sample.
"""
from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import UsageError
from .recipes import RECIPES

__all__ = ["bench_recipes", "parse_run", "recipe_report_lines", "DEFAULT_RUNS", "REPORTED_CLASSES"]

#: The runs of the README table.
DEFAULT_RUNS = ("reference:12", "nadir:12", "nadir")
#: Classes whose IoU is reported (what a landing drone must see).
REPORTED_CLASSES = ("person", "car")

Size = Tuple[int, int]


def parse_run(text: str) -> Tuple[str, Optional[int]]:
    """``"nadir:12"`` -> ``("nadir", 12)``; ``"nadir"`` -> ``("nadir", None)`` (the recipe's epochs)."""
    name, _, epochs = text.partition(":")
    if name not in RECIPES:
        raise UsageError(f"run {text!r}: recipe must be one of {', '.join(RECIPES)}")
    if not epochs:
        return name, None
    if not epochs.isdigit() or int(epochs) < 1:
        raise UsageError(f"run {text!r}: epochs must be a positive integer")
    return name, int(epochs)


def _mean(xs: Sequence[Optional[float]]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def bench_recipes(runs: Sequence[str] = DEFAULT_RUNS, seeds: Sequence[int] = (1, 2), n: int = 120,
                  photo_size: Size = (320, 480), sample_seed: int = 7, size: Size = (96, 144), bs: int = 8,
                  arch: str = "resnet18", valid_pct: float = 0.2, lr_find_iters: int = 100, tta: bool = False,
                  work: Optional[Path] = None, progress: bool = False) -> Dict[str, Any]:
    """Train and score each run for each seed, from scratch, on one generated sample.

    Args:
        runs: ``RECIPE`` or ``RECIPE:EPOCHS`` (see :func:`parse_run`); the first is the one compared against.
        seeds: seeds of the validation split, the weight initialisation and the augmentations (one run each).
        n, photo_size, sample_seed: the generated sample (:func:`~dronefast.sample.ensure_sample`), photos
            ``(height, width)``.
        size: training ``(height, width)``; bs: batch size; arch: encoder (no ImageNet weights).
        valid_pct: validation share of the photos.
        lr_find_iters: lr_find steps of recipes that run it (``reference``).
        tta: also score with flip test-time augmentation.
        work: folder for the sample and the runs (default: :func:`~dronefast.bench.default_work_dir`).
        progress: show fastai's progress bars.

    Returns:
        ``{"command": "recipes", "machine", "settings", "variants": {run: {"per_seed": [...], "mean": {...}}},
        "ratios": {run: {"miou_diff", "pixel_accuracy_diff", "minutes_ratio"}}}``; each score dict holds
        ``pixel_accuracy``, ``miou``, ``iou_person``, ``iou_car`` (full resolution) and ``minutes`` (training
        wall time, data loading and lr_find included).
    """
    import torch

    from .bench import _load, default_work_dir, machine_info
    from .evaluate import evaluate_model
    from .sample import ensure_sample
    from .train import train

    parsed = [parse_run(r) for r in runs]
    if len(set(runs)) != len(runs):
        raise UsageError(f"runs must differ, got {', '.join(runs)}")
    if not seeds:
        raise UsageError("give at least one seed")
    work = Path(work) if work else default_work_dir()
    data = ensure_sample(work / f"recipes-sample-n{n}-{photo_size[1]}x{photo_size[0]}-s{sample_seed}",
                         n=n, size=photo_size, seed=sample_seed)
    machine = machine_info("cuda" if torch.cuda.is_available() else "cpu")
    machine["load_avg_before"] = _load()
    variants: Dict[str, Dict[str, Any]] = {r: {"recipe": name, "epochs": ep, "per_seed": []}
                                           for r, (name, ep) in zip(runs, parsed)}
    for seed in seeds:
        for run, (name, epochs) in zip(runs, parsed):
            out = work / "recipes-runs" / f"{run.replace(':', '-')}-s{seed}"
            shutil.rmtree(out, ignore_errors=True)  # a previous run of this benchmark, in its own work folder
            t0 = time.perf_counter()
            r = train(str(data), str(out), arch, size, bs, epochs, 0, None, lr_find_iters, valid_pct, seed,
                      pretrained=False, progress=progress, recipe=name)
            minutes = (time.perf_counter() - t0) / 60
            row: Dict[str, Any] = {"seed": seed, "minutes": minutes, "epochs": r.metrics["epochs"],
                                   "lr": r.metrics["lr"]}
            for key, use_tta in (("", False), ("tta_", True)) if tta else (("", False),):
                full = evaluate_model(out / "model.json", data, tta=use_tta,
                                      progress=False)["full_res"]
                row[f"{key}pixel_accuracy"], row[f"{key}miou"] = full["pixel_accuracy"], full["miou"]
                for c in REPORTED_CLASSES:
                    row[f"{key}iou_{c}"] = full["iou"][c]
            variants[run]["per_seed"].append(row)
    machine["load_avg_after"] = _load()
    for v in variants.values():
        keys = [k for k in v["per_seed"][0] if k != "seed"]
        v["mean"] = {k: _mean([row[k] for row in v["per_seed"]]) for k in keys}
    base = variants[runs[0]]["mean"]
    ratios = {run: {"miou_diff": v["mean"]["miou"] - base["miou"],
                    "pixel_accuracy_diff": v["mean"]["pixel_accuracy"] - base["pixel_accuracy"],
                    "minutes_ratio": v["mean"]["minutes"] / base["minutes"]}
              for run, v in variants.items()}
    settings = {"runs": list(runs), "seeds": list(seeds), "n": n, "photo_size": list(photo_size),
                "sample_seed": sample_seed, "size": list(size), "bs": bs, "arch": arch, "valid_pct": valid_pct,
                "lr_find_iters": lr_find_iters, "tta": tta, "pretrained": False, "data": str(data)}
    return {"command": "recipes", "machine": machine, "settings": settings, "variants": variants,
            "ratios": ratios}


def _f(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def recipe_report_lines(result: Dict[str, Any]) -> List[str]:
    """The result of :func:`bench_recipes` as a Markdown table (means over the seeds) and the differences."""
    s = result["settings"]
    out = [f"  {s['arch']} from scratch, {s['size'][1]}x{s['size'][0]}, batch size {s['bs']}, sample of {s['n']} "
           f"photos {s['photo_size'][1]}x{s['photo_size'][0]}, seeds {', '.join(map(str, s['seeds']))}; "
           "scores at full resolution, means over the seeds", "",
           "| run | epochs | pixel accuracy | mIoU | IoU person | IoU car | minutes |",
           "|---|---|---|---|---|---|---|"]
    for run, v in result["variants"].items():
        m = v["mean"]
        out.append(f"| {run} | {_f(m['epochs'], 0)} | {_f(m['pixel_accuracy'])} | {_f(m['miou'])} | "
                   f"{_f(m['iou_person'])} | {_f(m['iou_car'])} | {_f(m['minutes'], 1)} |")
    out.append("")
    first = next(iter(result["variants"]))
    for run, r in result["ratios"].items():
        if run != first:
            out.append(f"  {run} vs {first}: mIoU {r['miou_diff']:+.3f}, pixel accuracy "
                       f"{r['pixel_accuracy_diff']:+.3f}, minutes x{r['minutes_ratio']:.2f}")
    if s["tta"]:
        for run, v in result["variants"].items():
            m = v["mean"]
            out.append(f"  {run} with TTA: pixel accuracy {_f(m['tta_pixel_accuracy'])}, mIoU {_f(m['tta_miou'])}")
    return out
