"""The main job, as a library function: train a U-Net with a recipe and write everything a run leaves.

``train(TrainConfig(...))`` (or ``train(data=..., epochs=...)``) runs a named recipe
(:mod:`dronefast.training.recipes`) end to end in four steps, each a function of its own:

1. :func:`build_data`: the data check and the cached DataLoaders (the built-in sample when no data is given);
2. :func:`build_learner`: the dynamic U-Net with the recipe's loss, precision and memory format;
3. :func:`fit`: ``lr_find`` when the learning rate is ``auto``, then ``fit_one_cycle`` keeping the best epoch,
   checkpointed after every epoch (resumable);
4. :func:`write_outputs`: the model (``model.safetensors`` + ``model.json``; fastai's pickle ``export.pkl`` only
   with ``export_pkl``), the split (``split.json``: the stems of the training, validation and test photos the
   DataLoaders used, also in ``model.json``'s ``extra["split"]``), history, plots and ``metrics.json``.

The output folder is guarded by :class:`~dronefast.training.rundir.RunFolder`: a finished run is never replaced
without ``overwrite``, and then only once the new run has finished (it runs in a staging folder until then), two
trainings never write into one folder, and a resume must use the run's settings.
"""
from __future__ import annotations

import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import fastai
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torchvision
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.progress import ProgressCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.torch_core import set_seed

from ..data.block import drone_dataloaders, recorded_split
from ..data.masks import palette_show_args
from ..data.split import SPLIT_FILE
from ..inference.predict_options import PredictOptions
from ..metrics.callback import find_confusion
from ..models.encoders import Encoder, encoder
from ..models.learner import drone_learner, learner_info
from ..models.modelfile import save_model
from ..outputs import atomic_path, save_figure, write_failure, write_json
from ..sizes import format_size
from ..synthetic.generator import ensure_sample
from ..training.augment import recipe_batch_tfms
from ..training.calibrate import calibrate
from ..training.config import ResolvedConfig, TrainConfig
from ..training.distributed import (
    broadcast_object,
    distributed,
    is_main_process,
    main_first,
    world_size,
)
from ..training.fit import find_lr, fit_reference
from ..training.losses import recipe_loss, train_class_counts
from ..training.precision import set_precision
from ..training.preflight import check_before_training
from ..training.recipes import Recipe
from ..training.rundir import RunFolder
from ..training.tuning import tune_malloc
from ..version import __version__
from .evaluation import evaluate_model

__all__ = ["train", "TrainResult", "describe_recipe", "build_data", "build_learner", "fit", "write_outputs",
           "score_test"]


@dataclass
class TrainResult:
    """What :func:`train` produced: the learner, the history, the final scores and the output folder."""

    learn: Learner
    history: pd.DataFrame
    metrics: Dict[str, Any]
    out: Path


def describe_recipe(recipe: Recipe, lr, pct_start: float, epochs: int, unfrozen_epochs: int, bs: int,
                    monitor: Optional[str] = None) -> str:
    """One line saying what a recipe does, as printed by the training command."""
    aug = {"fastai": "fastai aug_transforms", "nadir": "nadir augmentations", "none": "no augmentation"}
    if recipe.plain_loss:
        loss = "cross-entropy"
    else:
        loss = ("cross-entropy" if recipe.weights == "none" else
                f"class-weighted cross-entropy ({recipe.weights}, cap {recipe.weight_cap:g}x)") + ", void ignored"
        loss += f" + {recipe.dice:g} x Dice" if recipe.dice else ""
    sched = (f"lr {'lr_find' if lr == 'auto' else format(lr, '.2e')}, one-cycle pct_start {pct_start:g}, "
             f"{epochs} epoch{'' if epochs == 1 else 's'}")
    sched += f" + {unfrozen_epochs} unfrozen" if unfrozen_epochs else ""
    return (f"recipe {recipe.name}: {aug.get(recipe.augment, recipe.augment)}, {loss}; {sched}, batch size {bs}, "
            f"best {monitor or recipe.monitor} kept")


def _say(*args, **kwargs) -> None:
    if is_main_process():
        print(*args, **kwargs)


def _versions() -> Dict[str, str]:
    return {"dronefast": __version__, "fastai": fastai.__version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version()}


def _save_plot(fn, path: Path) -> None:
    plt.close("all")
    fn()
    save_figure(plt.gcf(), path)


def build_data(plan: ResolvedConfig) -> Tuple[DataLoaders, Path]:
    """Check and cache the data, then build the DataLoaders (rank 0 first); ``(dls, data folder)``."""
    cfg = plan.config
    with main_first():  # one-time work (sample generation, the data check) on rank 0 first
        data_path = Path(ensure_sample() if plan.on_sample else cfg.data).resolve()
        _say(f"data: {data_path}" + (" (built-in synthetic sample)" if plan.on_sample else ""))
        dls = drone_dataloaders(data_path, size=plan.size, bs=plan.bs, num_workers=cfg.workers, path=plan.out,
                                progress=cfg.progress and is_main_process(), batch_tfms=recipe_batch_tfms(plan.recipe),
                                split=plan.split, work_size=plan.work_size, repeats=plan.repeats,
                                context=plan.context)
    _say(dls.layout.describe())
    n_proc = world_size()
    context = f", showing 1 to {plan.context:g}x their extent" if plan.context > 1 else ""
    how = (f"windows of {format_size(plan.size)}{context} from photos at {format_size(plan.work_size)} "
           f"(x{plan.repeats} an epoch), validation photos whole by tiles" if plan.work_size
           else f"photos at {format_size(plan.size)}")
    _say(f"train/valid/test: {len(dls.train_ds)}/{len(dls.valid_ds)}/{len(dls.test_items)} images; {how} (WxH); "
         f"batch size {plan.bs}" + (f" per process x {n_proc} processes" if n_proc > 1 else "")
         + f", device {dls.device}")
    return dls, data_path


def build_learner(plan: ResolvedConfig, dls: DataLoaders, enc: Encoder) -> Tuple[Learner, str]:
    """The U-Net learner with the recipe's loss, the asked precision and memory format; ``(learn, precision)``."""
    cfg = plan.config
    loss = recipe_loss(plan.recipe, dls, cfg.void_code)
    learn = drone_learner(dls, enc, void_code=cfg.void_code, **({} if loss is None else {"loss_func": loss}))
    if not cfg.progress:
        learn.remove_cb(ProgressCallback)
    chosen = set_precision(learn, cfg.precision)
    if cfg.channels_last:
        learn.add_cb(ChannelsLast())  # NHWC weights and activations: 1.14x per CPU step in fp32, tensor cores on GPU
    return learn, chosen


def fit(plan: ResolvedConfig, learn: Learner, folder: RunFolder, record: Dict[str, Any]) -> Tuple[pd.DataFrame, Any]:
    """``lr_find`` if the learning rate is ``auto`` (the found value is recorded), then the recipe's fit;
    returns ``(history, lr)``. Every validation pixel is then scored once with the best weights."""
    cfg, lr = plan.config, record["lr"]
    with distributed(learn, sync_bn=cfg.sync_bn):
        if lr == "auto":
            plot = plan.out / "lr_find.png" if is_main_process() else None
            lr = broadcast_object(find_lr(learn, plot, num_it=cfg.lr_find_iters))
            _say(f"lr_find suggests lr = {lr:.2e} (plot: {plan.out / 'lr_find.png'})")
            if is_main_process():
                folder.write_record({**record, "lr": lr}, plan.out)
        history = fit_reference(learn, epochs=plan.epochs, lr=lr, pct_start=plan.pct_start,
                                unfrozen_epochs=plan.unfrozen_epochs, monitor=plan.monitor, resume=cfg.resume)
        if cfg.channels_last:
            learn.to_contiguous()  # the saved weights and the export in the default layout (safetensors needs it)
        learn.validate()  # the best weights (loaded at the end of the fit) over the whole validation set
        find_confusion(learn).confusion  # read on every rank: the read sums the ranks' matrices
    return history, lr


def _baseline_accuracy(dls: DataLoaders, cm) -> float:
    """Pixel accuracy on the validation set of always predicting the class most common in the training set."""
    majority = int(train_class_counts(dls, cm.shape[0]).argmax())
    total = int(cm.sum())
    return float(cm[majority].sum()) / total if total else float("nan")


def _metrics(plan: ResolvedConfig, learn: Learner, lr, precision: str, data_path: Path) -> Dict[str, Any]:
    cfg, dls = plan.config, learn.dls
    scores = find_confusion(learn).scores()
    scores["baseline_pixel_accuracy"] = _baseline_accuracy(dls, find_confusion(learn).confusion.numpy())
    loss = learn.loss_func
    weight = getattr(loss, "weight", None)
    return {**scores, "recipe": plan.recipe.name, "recipe_settings": plan.recipe.as_dict(), "lr": lr,
            "epochs": plan.epochs, "unfrozen_epochs": plan.unfrozen_epochs, "bs": plan.bs,
            "pct_start": plan.pct_start, "monitor": plan.monitor,
            "class_weights": None if weight is None else [round(float(w), 4) for w in weight],
            "precision": precision, "channels_last": cfg.channels_last, "device": str(dls.device),
            "size": list(plan.size), "work_size": None if plan.work_size is None else list(plan.work_size),
            "repeats": plan.repeats, "context": plan.context, "split": plan.split.as_dict(), "world_size": world_size(),
            "n_train": len(dls.train_ds), "n_valid": len(dls.valid_ds), "n_test": len(dls.test_items),
            "data": str(data_path), "synthetic_sample": plan.on_sample, "args": cfg.args or cfg.as_dict(),
            "versions": _versions()}


def write_outputs(plan: ResolvedConfig, learn: Learner, metrics: Dict[str, Any], data_path: Path,
                  started: float) -> None:
    """Write the model (``model.json`` + ``model.safetensors``; ``export.pkl`` with ``export_pkl``), the split
    (``split.json``, and ``extra["split"]`` of ``model.json``), ``show_results.png``, score the test photos (the
    recorded ones) and write ``metrics.json`` (last: its presence marks a finished run), each file atomically;
    rank 0 only. `started` is the run's start (``time.time()``) for the time it took."""
    cfg, out = plan.config, plan.out
    save_figure(plt.gcf(), out / "show_results.png")
    info = learner_info(learn)
    split = recorded_split(learn.dls).as_dict()
    info.extra = {"train_args": {**plan.split.as_dict(), "size": list(plan.size), "arch": cfg.arch,
                                 "data": str(data_path), "recipe": plan.recipe.name},
                  "scores": {k: metrics[k] for k in ("pixel_accuracy", "accuracy_mask", "miou")}, "split": split}
    write_json(out / SPLIT_FILE, split)
    save_model(learn, out / "model", info)
    if cfg.export_pkl:
        _export_pickle(learn, out.resolve() / "export.pkl")
    if learn.dls.test_items and cfg.score_test:
        metrics["test"] = score_test(learn, data_path, plan.bs)
        if "calibration" in metrics:  # beside the error on the photos the temperature was fitted on
            metrics["calibration"]["ece_test"] = metrics["test"].pop("ece")
    metrics["time_s"] = round(time.time() - started, 1)
    write_json(out / "metrics.json", metrics)


def score_test(learn: Learner, data_path: Path, bs: int) -> Dict[str, Any]:
    """Scores of the trained model on the test photos, which no step of training saw or chose by: at the
    training resolution (or working scale, by tiles), as ``evaluate`` scores it (the same code); ``ece``: the
    calibration error of the top-class probability ``before`` / ``after`` the temperature."""
    info = learner_info(learn)
    opts = PredictOptions(device=str(learn.dls.device), batch_size=2 * bs)
    m = evaluate_model((learn.model, info), data_path, subset="test", full_res=False, progress=False, options=opts)
    keep = ("pixel_accuracy", "accuracy_mask", "miou", "miou_classes", "iou", "support", "how")
    ece = {k: m["calibration"]["class"][k]["ece"] for k in ("before", "after")}  # of the top-class probability
    return {"n_images": m["split"]["n_images"], "images": m["images"], **{k: m["train_res"][k] for k in keep},
            "ece": ece}


def _export_pickle(learn: Learner, path: Path) -> None:
    """fastai's ``learn.export`` to `path`, atomically; a failed write (a full disk: PyTorch's writer then raises a
    C++ error naming neither) as one OutputError naming the file."""
    with atomic_path(path) as tmp:
        try:
            learn.export(tmp)  # fastai writes to learn.path / fname: an absolute path goes as it is
        except RuntimeError as e:
            raise write_failure(e, path) from None


def _start(plan: ResolvedConfig, folder: RunFolder) -> Tuple[Dict[str, Any], Path]:
    """Check the folder for this start (fresh, overwrite or resume); ``(the run's record, the folder the run
    writes into)``: the output folder, or its staging folder when the run replaces another."""
    cfg = plan.config
    settings = {**plan.settings(), "data": None if plan.on_sample else str(Path(cfg.data).resolve()),
                "world_size": world_size()}  # the global batch is world_size x bs
    work = folder.check_start(cfg.resume, cfg.overwrite)
    if cfg.resume:
        return folder.check_resume(settings, work), work  # the run's lr (lr_find's value, when it was "auto")
    record = {"settings": settings, "lr": plan.lr, "world_size": world_size(), "args": cfg.args or cfg.as_dict()}
    folder.write_record(record, work)
    return record, work


def train(config: Optional[TrainConfig] = None, **settings: Any) -> Optional[TrainResult]:
    """Train a U-Net with a recipe and write every output into ``config.out`` (see the module docstring).

    Args:
        config: the run's settings (:class:`~dronefast.training.config.TrainConfig`); default all defaults.
        settings: fields of :class:`~dronefast.training.config.TrainConfig` to set or replace, by name
            (``train(data="data/sdd", epochs=30)``).

    Returns:
        A :class:`TrainResult`. Launched distributed, every rank returns one; only rank 0 writes files. None when
        ``resume`` finds the run finished (a replacement of an older run interrupted at its very end, completed).

    Raises:
        RunFolderError: the output folder holds a run and neither ``overwrite`` nor ``resume`` was asked for,
            another training holds it, or a resume's settings differ from the run's.
        OfflineWeightsError: ImageNet weights were asked for and cannot be had (before any data is read).
        DatasetError: the data is missing or fails the check.
    """
    cfg = (config or TrainConfig()).replace(**settings)
    plan = cfg.resolve()
    check_before_training(plan, world_size())  # the data against the settings, before weights, data or files
    t0 = time.time()
    malloc_tuned = tune_malloc() if cfg.malloc_tuning else False
    enc = encoder(cfg.arch, plan.pretrained, cfg.weights)  # no weights, no data work: fail first
    folder = RunFolder(plan.out)
    with folder.lock() if is_main_process() else nullcontext():
        if broadcast_object(is_main_process() and folder.recover()):
            _say(f"{plan.out}: a finished run's replacement of the run before it had been interrupted; it is now "
                 f"complete")
            if cfg.resume:
                return None  # that run was the one to resume: it has finished
        record, work = _start(plan, folder) if is_main_process() else ({"lr": plan.lr}, None)
        plan = replace(plan, out=broadcast_object(work))  # every file of the run goes there until it finished
        try:
            result = _run(plan, cfg, enc, record, folder, t0, malloc_tuned)
        except BaseException:
            if is_main_process():
                folder.abandon(plan.out)
            raise
        if is_main_process():
            folder.finish(plan.out)
    if is_main_process():
        _summary(result.metrics, folder.path, cfg)
    return replace(result, out=folder.path)


def _run(plan: ResolvedConfig, cfg: TrainConfig, enc: Encoder, record: Dict[str, Any], folder: RunFolder,
         t0: float, malloc_tuned: bool) -> TrainResult:
    """The run itself, every file written into ``plan.out`` (the output folder or its staging folder)."""
    set_seed(cfg.seed)  # batch order, augmentations, the weights' initialisation: repeatable on one device
    dls, data_path = build_data(plan)
    show = palette_show_args(dls.classes)
    if is_main_process():
        _save_plot(lambda: dls.show_batch(max_n=4, figsize=(10, 7), **show), plan.out / "show_batch.png")
    _say(describe_recipe(plan.recipe, record["lr"], plan.pct_start, plan.epochs, plan.unfrozen_epochs, plan.bs,
                         plan.monitor))
    learn, precision = build_learner(plan, dls, enc)
    history, lr = fit(plan, learn, folder, broadcast_object(record))
    metrics = {**_metrics(plan, learn, lr, precision, data_path), "malloc_tuned": malloc_tuned}
    if is_main_process():
        metrics["calibration"] = calibrate(learn)  # the temperature goes into the model file
    learn.show_results(max_n=4, figsize=(8, 12), **show)  # every rank: fastai gathers predictions
    if is_main_process():
        write_outputs(plan, learn, metrics, data_path, t0)
        if not cfg.keep_checkpoint:
            folder.remove_checkpoint(plan.out)
    return TrainResult(learn, history, metrics, plan.out)


def _summary(metrics: Dict[str, Any], out: Path, cfg: TrainConfig) -> None:
    print(f"\nvalidation (the best epoch was chosen on it): pixel accuracy {metrics['pixel_accuracy']:.4f} "
          f"(most-common-class baseline {metrics['baseline_pixel_accuracy']:.4f}), accuracy_mask "
          f"{metrics['accuracy_mask']:.4f}, mIoU {metrics['miou']:.4f} over {len(metrics['miou_classes'])} classes")
    t = metrics.get("test")
    if t:
        photos = f"{t['n_images']} photo{'' if t['n_images'] == 1 else 's'}"
        print(f"test ({photos} no step of training saw): pixel accuracy {t['pixel_accuracy']:.4f}, "
              f"accuracy_mask {t['accuracy_mask']:.4f}, mIoU {t['miou']:.4f} over {len(t['miou_classes'])} classes")
    kept = ", export.pkl" * cfg.export_pkl + ", models/ (the checkpoint)" * cfg.keep_checkpoint
    print(f"outputs in {out}: model.json + model.safetensors{kept}, history.csv, metrics.json, split.json, plots; "
          f"{metrics['time_s']:.0f} s")
