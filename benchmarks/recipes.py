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

With ``--data DIR --test-stems @FILE`` the runs train on real photos instead: the dataset (TU Graz or Kaggle
layout) is decoded once at ``--cache-size`` (photos as dronefast prepares them, masks as class ids, NEAREST) into
the work folder, every run trains on that copy without the listed test photos and is scored on them at that size,
and the run ``stock[:EPOCHS][/size=WxH]`` (:mod:`benchmarks.stock`) adds fastai's CamVid tutorial as a fastai user
writes it, scored by the same code.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

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

from .stock import STOCK, STOCK_BS, STOCK_EPOCHS, STOCK_LR, STOCK_SIZE, learner_stems, stock_model, train_stock

__all__ = ["bench_recipes", "parse_run", "run_config", "score_model", "mean_scores", "compare_runs",
           "report_lines", "add_arguments", "from_args", "check_test_stems", "decoded_dir", "decoded_copy", "StockRun",
           "DEFAULT_RUNS", "DEFAULT_CACHE_SIZE", "REPORTED_CLASSES", "HELP"]

HELP = "accuracy of the training recipes side by side (from scratch)"
#: The runs of the README table.
DEFAULT_RUNS = ("reference:12", "nadir:12", "nadir")
#: Validation share of the non-test photos: of the generated sample, and (training's default) of real photos.
SAMPLE_VALID_PCT, DEFAULT_VALID_PCT = 0.15, 0.1
#: ``(height, width)`` real photos are decoded to once (the largest working scale compared); scores are taken there.
DEFAULT_CACHE_SIZE = (400, 600)
#: Classes whose IoU is reported (what a landing drone must see).
REPORTED_CLASSES = ("person", "car")


#: Settings a run may replace, and how each is read.
RUN_KEYS = ("size", "work", "repeats", "context", "bs", "lr", "weights")


def parse_run(text: str) -> Tuple[str, Optional[int], Dict[str, Any]]:
    """``"nadir:12/work=none/size=144x96"`` -> ``("nadir", 12, {"whole_photos": True, "size": (96, 144)})``;
    ``"nadir"`` -> ``("nadir", None, {})`` (the recipe's own settings). Keys: :data:`RUN_KEYS`. ``stock[:EPOCHS]
    [/size=WxH]`` is fastai's tutorial (:mod:`benchmarks.stock`), on real photos only."""
    head, *pairs = [t.strip() for t in text.split("/")]
    name, _, epochs = head.partition(":")
    if name not in RECIPES and name != STOCK:
        raise UsageError(f"run {text!r}: recipe must be one of {', '.join(RECIPES)} (or {STOCK})")
    if epochs and (not epochs.isdigit() or int(epochs) < 1):
        raise UsageError(f"run {text!r}: epochs must be a positive integer")
    changes: Dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            if name == STOCK and key.strip() != "size":
                raise ValueError(f"{STOCK} takes only size (the tutorial's settings), got {key.strip()!r}")
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
               lr_find_iters: int, progress: bool, test_stems: Optional[Sequence[str]] = None) -> Any:
    """The :class:`~dronefast.training.config.TrainConfig` of one run and seed: from scratch, the recipe's
    settings but those the run replaces (:func:`parse_run`), no unfrozen stage, `out` replaced, the test photos
    scored by the benchmark (at full resolution) rather than inside the timed training; `test_stems` (with
    ``test_pct=0``) names the test photos instead of a share."""
    from dronefast.training.config import TrainConfig

    recipe, epochs, changes = parse_run(run)
    try:
        return TrainConfig(data=data, out=out, recipe=recipe, arch=arch, epochs=epochs, unfrozen_epochs=0,
                           lr_find_iters=lr_find_iters, valid_pct=valid_pct, test_pct=test_pct, seed=seed,
                           test_stems=None if test_stems is None else tuple(test_stems),
                           pretrained=False, progress=progress, overwrite=True, score_test=False, **changes)
    except ValueError as e:
        raise UsageError(str(e)) from None


def score_model(model: Any, data: Path, tta: bool = False) -> Dict[str, Any]:
    """Full-resolution ``pixel_accuracy``, ``miou`` and ``iou_<class>`` of :data:`REPORTED_CLASSES` of `model` (a
    saved model's path or a ``(network, ModelInfo)`` pair) on the test split of `data` (keys prefixed ``tta_``
    with `tta`)."""
    from dronefast.inference.predict_options import PredictOptions
    from dronefast.workflows.evaluation import evaluate_model

    full = evaluate_model(model, data, options=PredictOptions(tta=tta), subset="test", progress=False)["full_res"]
    key = "tta_" if tta else ""
    row = {f"{key}pixel_accuracy": full["pixel_accuracy"], f"{key}miou": full["miou"]}
    row.update({f"{key}iou_{c}": full["iou"][c] for c in REPORTED_CLASSES})
    return row


def _train_and_score(config: Any, data: Path, tta: bool, timer: Timer, items: bool = False) -> Dict[str, Any]:
    """One row: the seed, the training minutes (by `timer`), epochs and lr trained, and the scores; with `items`,
    the stems of the photos the learner trained and validated on (``items``)."""
    from dronefast.workflows.training_run import train

    result, sample = timer.call(lambda: train(config))
    m = result.metrics
    row: Dict[str, Any] = {"seed": config.seed, "minutes": sample.seconds / 60, "cpu_s": sample.cpu_s,
                           "epochs": m["epochs"], "lr": m["lr"], "valid_miou": m["miou"],
                           "size": format_size(m["size"]),
                           "work_size": None if m["work_size"] is None else format_size(m["work_size"]),
                           "repeats": m["repeats"], "bs": m["bs"]}
    if items:
        row["items"] = learner_stems(result.learn)
    model = Path(config.out) / "model.json"
    row.update(score_model(model, data))
    if tta:
        row.update(score_model(model, data, tta=True))
    return row


def mean_scores(rows: Sequence[Dict[str, Any]]) -> Dict[str, Optional[float]]:
    """Mean over the rows (seeds) of every key but ``seed`` and the lists of photos; None where no row has a
    value."""
    def mean(xs: List[Any]) -> Any:
        xs = [x for x in xs if x is not None]
        if xs and isinstance(xs[0], str):
            return xs[0]  # a setting (sizes): the same for every seed
        return statistics.fmean(xs) if xs else None

    return {k: mean([row[k] for row in rows]) for k in rows[0]
            if k != "seed" and not isinstance(rows[0][k], (dict, list))}


def compare_runs(variants: Dict[str, Dict[str, Any]], first: str) -> Dict[str, Dict[str, float]]:
    """Per run: ``miou_diff`` and ``pixel_accuracy_diff`` against run `first`, and ``minutes_ratio`` to it."""
    base = variants[first]["mean"]
    return {run: {"miou_diff": v["mean"]["miou"] - base["miou"],
                  "pixel_accuracy_diff": v["mean"]["pixel_accuracy"] - base["pixel_accuracy"],
                  "minutes_ratio": v["mean"]["minutes"] / base["minutes"],
                  "cpu_ratio": v["mean"]["cpu_s"] / base["cpu_s"]}
            for run, v in variants.items()}


class StockRun(NamedTuple):
    """One seed of the ``stock`` run: fastai's tutorial for `epochs` at `size` ``(height, width)``."""

    seed: int
    epochs: int
    size: Size


def _stock_and_score(run: StockRun, data: Path, test_stems: Sequence[str], tta: bool, timer: Timer,
                     progress: bool) -> Dict[str, Any]:
    """One row of the ``stock`` run, as :func:`_train_and_score`'s (no epoch chosen: ``valid_miou`` None), with
    ``weight_change`` (:func:`~benchmarks.stock.train_stock`) and ``items``."""
    (learn, moved), sample = timer.call(lambda: train_stock(data, test_stems, seed=run.seed, epochs=run.epochs,
                                                             size=run.size, progress=progress))
    row: Dict[str, Any] = {"seed": run.seed, "minutes": sample.seconds / 60, "cpu_s": sample.cpu_s,
                           "epochs": run.epochs, "lr": STOCK_LR, "valid_miou": None, "size": format_size(run.size),
                           "work_size": None, "repeats": 1, "bs": STOCK_BS, "weight_change": moved,
                           "items": learner_stems(learn)}
    model = stock_model(learn, data, test_stems, run.size)
    row.update(score_model(model, data))
    if tta:
        row.update(score_model(model, data, tta=True))
    return row


def check_test_stems(data: Path, test_stems: Sequence[str]) -> Any:
    """The dataset layout at `data`, once every one of `test_stems` is known to name one of its photos, once
    each (UsageError naming the first unknown or repeated ones)."""
    from dronefast.data.layout import find_layout

    layout = find_layout(data)
    known = {p.stem for p in layout.image_files()}
    unknown = [t for t in test_stems if t not in known]
    if unknown:
        raise UsageError(f"--test-stems: {len(unknown)} stem(s) name no photo in {layout.image_dir}: "
                         f"{', '.join(unknown[:5])}")
    repeated = sorted({t for t in test_stems if list(test_stems).count(t) > 1})
    if repeated:
        raise UsageError(f"--test-stems: stem(s) listed more than once: {', '.join(repeated[:5])}")
    return layout


def decoded_dir(data: Path, work: Path, size: Size) -> Path:
    """The folder of `work` that :func:`decoded_copy` writes the dataset at `data` into at `size`: named after
    the size and the source's resolved path (another source never mixes into it)."""
    import hashlib

    tag = hashlib.sha256(str(Path(data).expanduser().resolve()).encode()).hexdigest()[:8]
    return Path(work) / f"recipes-decoded-{format_size(size)}-{tag}"


def decoded_copy(data: Path, work: Path, size: Size, progress: bool = False) -> Tuple[Path, Dict[str, Any]]:
    """``(folder, record)``: the dataset at `data` decoded once at `size` ``(height, width)`` into a folder of
    `work` (:func:`decoded_dir`; :func:`~dronefast.data.preparation.prepare_dataset`: photos by JPEG draft and
    Lanczos, masks as class ids with NEAREST; an earlier copy is reused). `record` holds its ``path``, ``size``
    (WxH), ``photos`` and ``bytes`` (on disk). Any bad pair is refused (DronefastError naming it)."""
    from dronefast.data.preparation import prepare_dataset
    from dronefast.errors import DronefastError

    source, dst = Path(data).expanduser().resolve(), decoded_dir(data, work, size)
    report = prepare_dataset(source, dst, size=size, progress=progress)
    if report.problems:
        raise DronefastError(f"{len(report.problems)} bad photo/mask pair(s) in {source}, e.g. {report.problems[0]}")
    files = [p for p in dst.rglob("*") if p.is_file()]
    return dst, {"path": str(dst), "source": str(source), "source_layout": report.source_kind,
                 "size": format_size(size), "photos": report.n_done + report.n_skipped,
                 "written": report.n_done, "reused": report.n_skipped, "bytes": sum(p.stat().st_size for p in files)}


def _plans(runs: Sequence[str], seeds: Sequence[int], data: Path, work: Path, opts: Dict[str, Any],
           cache_size: Optional[Size]) -> List[List[Any]]:
    """Per seed, per run: its TrainConfig (:func:`run_config`) or :class:`StockRun`; every setting checked, and
    with `cache_size` no run working at a larger scale than the decoded copy."""
    plans = []
    for s in seeds:
        row = []
        for r in runs:
            name, epochs, changes = parse_run(r)
            if name == STOCK:
                row.append(StockRun(s, epochs or STOCK_EPOCHS, tuple(changes.get("size", STOCK_SIZE))))
            else:
                row.append(run_config(r, s, data, work / "recipes-runs" / f"{_folder(r)}-s{s}", **opts))
        plans.append(row)
    for r, plan in zip(runs, plans[0]):
        if cache_size is None:
            continue
        resolved = plan if isinstance(plan, StockRun) else plan.resolve()
        scale = resolved.size if isinstance(plan, StockRun) else (resolved.work_size or resolved.size)
        if scale[0] > cache_size[0] or scale[1] > cache_size[1]:
            raise UsageError(f"run {r!r} works at {format_size(scale)}, larger than the decoded copy's "
                             f"{format_size(cache_size)}; raise --cache-size")
    return plans


def _check_runs(runs: Sequence[str], seeds: Sequence[int], data: Optional[Path],
                test_stems: Optional[Sequence[str]]) -> None:
    if len(set(runs)) != len(runs):
        raise UsageError(f"runs must differ, got {', '.join(runs)}")
    if not seeds:
        raise UsageError("give at least one seed")
    if (data is None) != (not test_stems):
        raise UsageError("--data and --test-stems go together: the real photos and the photos scored among them")
    if data is None and any(parse_run(r)[0] == STOCK for r in runs):
        raise UsageError(f"run {STOCK!r} trains on real photos only: give --data and --test-stems")


def bench_recipes(runs: Sequence[str] = DEFAULT_RUNS, *, seeds: Sequence[int] = (1, 2), n: int = 120,
                  photo_size: Size = (640, 960), sample_seed: int = 7, arch: str = "resnet18",
                  valid_pct: Optional[float] = None, test_pct: float = 0.2, lr_find_iters: int = 100,
                  tta: bool = False, data: Optional[Path] = None, test_stems: Optional[Sequence[str]] = None,
                  cache_size: Size = DEFAULT_CACHE_SIZE, work: Optional[Path] = None, progress: bool = False,
                  clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Train each run for each seed, from scratch, on one generated sample (or the real photos at `data`), and score
    it on the test photos.

    Args:
        runs: ``RECIPE[:EPOCHS][/KEY=VALUE...]`` (see :func:`parse_run`); the first is the one compared against.
        seeds: seeds of the splits, the weight initialisation and the augmentations (one run each).
        n, photo_size, sample_seed: the generated sample (:func:`~dronefast.synthetic.generator.ensure_sample`),
            photos ``(height, width)``; unused with `data`.
        arch: encoder (no ImageNet weights).
        valid_pct: validation share of the non-test photos (each run keeps its best epoch by them); default 0.15
            on the sample, 0.1 (training's) with `data`.
        test_pct: share of the sample's photos set aside and scored (with `data`: `test_stems` instead).
        lr_find_iters: lr_find steps of runs that run it (``reference``).
        tta: also score with flip test-time augmentation.
        data: a dataset folder (TU Graz or Kaggle layout), decoded once at `cache_size` ``(height, width)``
            (:func:`decoded_copy`); every run trains on and is scored on that copy.
        test_stems: with `data`, the stems of the photos scored; no run trains or chooses anything on them.
        work: folder for the sample, the decoded copy and the runs (default:
            :func:`~benchmarks.harness.default_work_dir`).
        progress: show fastai's progress bars.
        clock: the clock the training minutes are measured with (CPU seconds come from the process's own count).

    Returns:
        ``{"command": "recipes", "machine", "settings", "variants": {run: {"recipe", "epochs", "per_seed": [...],
        "mean": {...}}}, "ratios": {run: {"miou_diff", "pixel_accuracy_diff", "minutes_ratio", "cpu_ratio"}}}``;
        each score dict holds ``pixel_accuracy``, ``miou``, ``iou_person``, ``iou_car`` (test photos, full
        resolution: the decoded copy's with `data`), ``valid_miou`` (what the best epoch was chosen by), ``minutes``
        and ``cpu_s`` (training, data loading and lr_find included) and the run's sizes; with `data`, each row's
        ``items`` (stems its learner trained and validated on) and ``settings["cache"]`` (:func:`decoded_copy`).
    """
    import torch

    from dronefast.synthetic.generator import ensure_sample

    parsed = [parse_run(r) for r in runs]
    _check_runs(runs, seeds, data, test_stems)
    work = Path(work or default_work_dir())
    real = data is not None
    valid_pct = valid_pct if valid_pct is not None else (DEFAULT_VALID_PCT if real else SAMPLE_VALID_PCT)
    if real:
        check_test_stems(data, test_stems)
        source = decoded_dir(data, work, cache_size)
    else:
        source = work / f"recipes-sample-n{n}-{format_size(photo_size)}-s{sample_seed}"
    opts = dict(arch=arch, valid_pct=valid_pct, test_pct=0.0 if real else test_pct, lr_find_iters=lr_find_iters,
                progress=progress, test_stems=test_stems if real else None)
    plans = _plans(runs, seeds, source, work, opts, cache_size if real else None)  # all checked before any run
    cache = decoded_copy(data, work, cache_size, progress)[1] if real else None
    if not real:
        ensure_sample(source, n=n, size=photo_size, seed=sample_seed)
    machine = {**machine_info("cuda" if torch.cuda.is_available() else "cpu"), "load_avg_before": load_average()}
    variants: Dict[str, Dict[str, Any]] = {r: {"recipe": name, "epochs": ep or (STOCK_EPOCHS if name == STOCK else
                                                                                 None), "per_seed": []}
                                           for r, (name, ep, _) in zip(runs, parsed)}
    timer = Timer(clock)
    for round_plans in plans:
        for run, plan in zip(runs, round_plans):
            variants[run]["per_seed"].append(
                _stock_and_score(plan, source, test_stems, tta, timer, progress) if isinstance(plan, StockRun)
                else _train_and_score(plan, source, tta, timer, items=real))
    machine["load_avg_after"] = load_average()
    for v in variants.values():
        v["mean"] = mean_scores(v["per_seed"])
    settings = {"runs": list(runs), "seeds": list(seeds), "n": n, "photo_size": list(photo_size),
                "sample_seed": sample_seed, "arch": arch, "valid_pct": valid_pct, "test_pct": opts["test_pct"],
                "lr_find_iters": lr_find_iters, "tta": tta, "pretrained": False, "data": str(source)}
    if real:
        settings.update(n=None, photo_size=None, sample_seed=None, test_stems=list(test_stems), cache=cache)
    return {"command": "recipes", "machine": machine, "settings": settings, "variants": variants,
            "ratios": compare_runs(variants, runs[0])}


def _folder(run: str) -> str:
    return "".join(c if c.isalnum() or c in "-x" else "-" for c in run)


def _f(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report_lines(result: Dict[str, Any]) -> List[str]:
    """A :func:`bench_recipes` result as a Markdown table (means over the seeds) and the differences."""
    s = result["settings"]
    seeds = ", ".join(map(str, s["seeds"]))
    if s.get("cache"):
        c = s["cache"]
        head = (f"  {s['arch']} from scratch, {c['photos']} real photos of {c['source']} decoded once at {c['size']} "
                f"({c['bytes'] / 1e6:.1f} MB in {c['path']}), {len(s['test_stems'])} listed test photos, validation "
                f"share {s['valid_pct']} of the rest, seeds {seeds}; scores of the test photos at {c['size']} (best "
                f"epoch chosen on validation; {STOCK}: fastai's tutorial, its final epoch), means over the seeds")
    else:
        head = (f"  {s['arch']} from scratch, sample of {s['n']} photos {format_size(s['photo_size'])}, test share "
                f"{s['test_pct']}, validation share {s['valid_pct']} of the rest, seeds {seeds}; scores of the test "
                "photos at full resolution (best epoch chosen on validation), means over the seeds")
    out = [head, "",
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
    from dronefast.cli.common import fraction, positive_int, size_arg, stems_arg
    from dronefast.models.archs import ADDED_ARCHS


    p.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                   help="comma-separated RECIPE[:EPOCHS][/KEY=VALUE...] (keys: size, work, repeats, context, "
                        f"bs, lr, weights), or {STOCK}[:EPOCHS][/size=WxH] (fastai's tutorial, with --data); the "
                        "first is the one compared against")
    p.add_argument("--seeds", default="1,2", help="comma-separated seeds (splits, initialisation, augmentations)")
    p.add_argument("--n", type=positive_int, default=120, help="photos in the generated sample")
    p.add_argument("--photo-size", type=size_arg, default="960x640", metavar="WxH", help="size of those photos")
    p.add_argument("--sample-seed", type=int, default=7, help="seed of the generated sample")
    p.add_argument("--arch", default="resnet18", choices=(*ARCH_CHOICES, *ADDED_ARCHS),
                   help="encoder (or one added by dronefast.models.encoders.register_encoder)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="real photos (TU Graz or Kaggle layout) instead of the generated sample, decoded once at "
                        "--cache-size into the work folder; needs --test-stems")
    p.add_argument("--test-stems", type=stems_arg, default=None, metavar="STEMS",
                   help="with --data: the photos scored (never trained or chosen on), comma-separated stems or "
                        "@FILE with one a line")
    p.add_argument("--cache-size", type=size_arg, default=format_size(DEFAULT_CACHE_SIZE), metavar="WxH",
                   help="with --data: the size the photos are decoded to once (masks NEAREST) and scored at; no "
                        "run may work at a larger scale")
    p.add_argument("--valid-pct", type=fraction, default=None,
                   help=f"validation share of the non-test photos (default {SAMPLE_VALID_PCT} on the sample, "
                        f"{DEFAULT_VALID_PCT} with --data)")
    p.add_argument("--test-pct", type=fraction, default=0.2,
                   help="share of the sample's photos scored (never trained on); with --data, --test-stems")
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
                         tta=a.tta, data=a.data, test_stems=a.test_stems, cache_size=a.cache_size, work=a.work,
                         progress=a.progress, clock=clock)
