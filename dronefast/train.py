"""Training: ``python -m dronefast.train [DATA]`` -- the main job.

Runs a named recipe (:mod:`dronefast.recipes`) end to end: data check and DataLoaders, dynamic U-Net, training
with ``fit_one_cycle`` keeping the best epoch, then writes the model (safe format and fastai export), the
history, plots and ``metrics.json`` into the output folder. The default recipe, ``nadir``, is made for top-down
drone photos and rare small classes; ``--recipe reference`` is the fastai v1 notebook (``lr_find``, then
``fit_one_cycle(epochs, slice(lr), pct_start=0.8)`` keeping the best ``accuracy_mask`` epoch). With no DATA it
trains on the built-in synthetic sample (generated on first use into ``~/.cache/dronefast``).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union


from .cli import format_size, run_main, size_arg
from .encoders import ARCHS
from .errors import UsageError
from .fitting import MIN_LR_FIND_ITERS
from .recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe

__all__ = ["train", "TrainResult", "main", "describe_recipe"]



@dataclass
class TrainResult:
    """What :func:`train` produced: the learner, the history, the final scores and the output folder."""

    learn: Any
    history: Any
    metrics: Dict[str, Any]
    out: Path


def _versions() -> Dict[str, str]:
    import fastai
    import torch
    import torchvision

    from . import __version__

    return {"dronefast": __version__, "fastai": fastai.__version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version()}


def _baseline_accuracy(dls, cm) -> float:
    """Pixel accuracy on the validation set of always predicting the class most common in the training set."""
    from .losses import train_class_counts

    store = getattr(dls, "store", None)
    if store is not None and len(store):
        majority = int(train_class_counts(dls, cm.shape[0]).argmax())
    else:
        majority = int(cm.sum(1).argmax())
    total = int(cm.sum())
    return float(cm[majority].sum()) / total if total else float("nan")


def _save_plot(fn, path: Path) -> None:
    import matplotlib.pyplot as plt

    from .outputs import save_figure

    plt.close("all")
    fn()
    save_figure(plt.gcf(), path)


def describe_recipe(recipe: Recipe, lr: Union[float, str], pct_start: float, epochs: int, unfrozen_epochs: int,
                    bs: int, monitor: Optional[str] = None) -> str:
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


def _override(rec: Recipe, augment: Union[bool, str], class_weights: Optional[str], dice: Optional[float]) -> Recipe:
    """`rec` with the augmentation and loss settings given explicitly."""
    from dataclasses import replace

    from .losses import WEIGHT_METHODS

    if augment is False or isinstance(augment, str):
        kind = "none" if augment is False else augment
        if kind not in ("fastai", "nadir", "none"):
            raise ValueError(f"augment must be fastai, nadir or none, got {augment!r}")
        rec = replace(rec, augment=kind)
    if class_weights is not None:
        if class_weights not in WEIGHT_METHODS:
            raise ValueError(f"class_weights must be one of {', '.join(WEIGHT_METHODS)}, got {class_weights!r}")
        rec = replace(rec, weights=class_weights, plain_loss=False)
    if dice is not None:
        if not dice >= 0:
            raise ValueError(f"dice must be >= 0, got {dice}")
        rec = replace(rec, dice=float(dice), plain_loss=False)
    return rec


def train(data: Optional[str] = None, out: str = "runs/train", arch: str = "resnet34", size=None,
          bs: Optional[int] = None, epochs: Optional[int] = None, unfrozen_epochs: Optional[int] = None,
          lr: Optional[Union[float, str]] = None, lr_find_iters: int = 100, valid_pct: float = 0.1, seed: int = 42,
          pretrained: Optional[bool] = None, weights: Optional[str] = None, resume: bool = False, workers: int = 0,
          precision: str = "auto", void_code: int = 0, monitor: Optional[str] = None,
          pct_start: Optional[float] = None, sync_bn: bool = False, progress: bool = True,
          args: Optional[Dict[str, Any]] = None, recipe: Union[str, Recipe] = DEFAULT_RECIPE,
          augment: Union[bool, str] = True, class_weights: Optional[str] = None,
          dice: Optional[float] = None, malloc_tuning: bool = True, channels_last: bool = True) -> TrainResult:
    """Train a U-Net on `data` with a recipe and write every output into `out` (see the module docstring).

    Every argument left None takes the recipe's value (:mod:`dronefast.recipes`), which for ``nadir`` depends on
    `pretrained`.

    Args:
        data: dataset folder (Kaggle, TU Graz or prepared layout); None = the built-in sample.
        out: output folder.
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``, ``pm-resnet50``).
        size: training ``(height, width)``; default the recipe's (``Recipe.size``, or ``Recipe.sample_size`` on
            the sample).
        bs: batch size per process (launched on N processes, the global batch is N x bs).
        epochs, unfrozen_epochs: epochs of the (frozen, if pretrained) first stage and the unfrozen second one
            (default ``Recipe.epochs``, or ``Recipe.sample_epochs`` on the sample, and ``Recipe.unfrozen_epochs``).
        lr: maximum learning rate; ``"auto"`` runs ``lr_find`` (`lr_find_iters` steps) and takes its suggestion;
            None: the recipe's (``reference``: auto).
        valid_pct, seed: the random validation split; `seed` also seeds the weights' initialisation and the
            augmentations.
        pretrained: ImageNet encoder weights; None = yes for real data, no for the synthetic sample.
        weights: local encoder checkpoint (offline machines).
        resume: continue an interrupted run in `out` from its last checkpoint.
        workers: DataLoader workers (items are cached in memory; 0 is fastest on few cores).
        precision: ``auto`` (bf16/fp16 on GPU, fp32 on CPU), ``fp32``, ``bf16``, ``fp16``.
        void_code: class excluded from accuracy_mask and mIoU (0 = unlabeled; -1 = none, as the reference).
        monitor: metric whose best epoch is kept.
        pct_start: warm-up share of the one-cycle schedule (reference: 0.8).
        sync_bn: synchronized batch norm across processes (GPUs only) when launched distributed.
        progress: show progress bars and tables.
        args: the command-line arguments, recorded in metrics.json.
        recipe: ``"nadir"`` (default), ``"reference"`` or a :class:`~dronefast.recipes.Recipe`.
        augment: True: the recipe's augmentations; False: none; or ``"fastai"``, ``"nadir"``, ``"none"``.
        class_weights: replaces the recipe's class weighting of the cross-entropy (``inv_sqrt``, ``inv``,
            ``none``; see :func:`~dronefast.losses.class_weights`); the loss then ignores the void class.
        dice: replaces the recipe's weight of the soft Dice term (the loss then ignores the void class).
        malloc_tuning: keep PyTorch's large CPU blocks in glibc's heap between steps
            (:func:`~dronefast.tuning.tune_malloc`: -17% per CPU step in fp32, -31% in bf16).
        channels_last: train in the channels-last (NHWC) memory format (fastai's ``ChannelsLast``); the saved
            model is in the default layout either way.
    """
    from fastai.callback.channelslast import ChannelsLast
    from fastai.callback.progress import ProgressCallback
    from fastai.torch_core import set_seed

    from .data import drone_dataloaders
    from .distributed import broadcast_object, distributed, is_main_process, main_first, world_size
    from .fitting import find_lr, fit_reference, set_precision
    from .learner import drone_learner
    from .masks import palette_show_args
    from .metrics import find_confusion_metric
    from .modelfile import save_model
    from .outputs import write_json
    from .recipes import recipe_batch_tfms, recipe_loss
    from .sample import ensure_sample
    from .tuning import tune_malloc

    t0 = time.time()
    malloc_tuned = tune_malloc() if malloc_tuning else False
    main = is_main_process()
    say = print if main else (lambda *a, **k: None)
    on_sample = data is None
    if pretrained is None:
        pretrained = bool(weights) or not on_sample
    rec = recipe if isinstance(recipe, Recipe) else get_recipe(recipe, pretrained)
    rec = _override(rec, augment, class_weights, dice)
    size = tuple(size) if size else (rec.sample_size if on_sample else rec.size)
    bs = rec.bs if bs is None else bs
    if epochs is None:
        epochs = rec.sample_epochs if (on_sample and rec.sample_epochs) else rec.epochs
    unfrozen_epochs = rec.unfrozen_epochs if unfrozen_epochs is None else unfrozen_epochs
    pct_start = rec.pct_start if pct_start is None else pct_start
    monitor = rec.monitor if monitor is None else monitor
    out = Path(out)
    run_file = out / "run.json"
    if resume:
        import json

        if not run_file.is_file():
            raise UsageError(f"--resume: {run_file} not found; nothing to resume in {out}")
        run = json.loads(run_file.read_text())
        if run.get("recipe", "reference") != rec.name:  # runs from before recipes were the reference
            raise UsageError(f"--resume: the run in {out} used --recipe {run.get('recipe', 'reference')}, not "
                             f"{rec.name}; resume it with the same recipe")
        lr = run["lr"] if lr is None else lr
    lr = rec.lr if lr is None else lr

    set_seed(seed)  # batch order, augmentations, the weights' initialisation: a run is repeatable on one device
    # one-time work (sample generation, the data check) on rank 0 first; the other ranks then load the data
    with main_first():
        if main:
            out.mkdir(parents=True, exist_ok=True)
        data_path = Path(ensure_sample() if on_sample else data)
        say(f"data: {data_path}" + (" (built-in synthetic sample)" if on_sample else ""))
        dls = drone_dataloaders(data_path, size=size, bs=bs, valid_pct=valid_pct, seed=seed, num_workers=workers,
                                path=out, progress=progress and main, batch_tfms=recipe_batch_tfms(rec))
    say(dls.layout.describe())
    n_proc = world_size()
    say(f"train/valid: {len(dls.train_ds)}/{len(dls.valid_ds)} images at {format_size(size)} (WxH), "
        f"batch size {bs}" + (f" per process x {n_proc} processes" if n_proc > 1 else "") + f", device {dls.device}")
    show = palette_show_args(dls.classes)
    if main:
        _save_plot(lambda: dls.show_batch(max_n=4, figsize=(10, 7), **show), out / "show_batch.png")

    say(describe_recipe(rec, lr, pct_start, epochs, unfrozen_epochs, bs, monitor))
    loss = recipe_loss(rec, dls, void_code)
    learn = drone_learner(dls, arch, pretrained=pretrained, weights=weights, void_code=void_code,
                          **({} if loss is None else {"loss_func": loss}))
    if not progress:
        learn.remove_cb(ProgressCallback)
    chosen_precision = set_precision(learn, precision)
    if channels_last:
        learn.add_cb(ChannelsLast())  # NHWC weights and activations: 1.14x per CPU step in fp32, tensor cores on GPU
    with distributed(learn, sync_bn=sync_bn):
        if lr == "auto":
            lr = broadcast_object(find_lr(learn, out / "lr_find.png" if main else None, num_it=lr_find_iters))
            say(f"lr_find suggests lr = {lr:.2e} (plot: {out / 'lr_find.png'})")
        if main:
            write_json(run_file, {"lr": lr, "args": args or {}, "size": list(size), "arch": arch,
                                  "pretrained": pretrained, "world_size": n_proc, "recipe": rec.name})
        history = fit_reference(learn, epochs=epochs, lr=lr, pct_start=pct_start, unfrozen_epochs=unfrozen_epochs,
                                monitor=monitor, resume=resume)
        if channels_last:
            learn.to_contiguous()  # the saved weights and the export in the default layout (safetensors needs it)
        # scores of the best weights (loaded by SaveModelCallback) over the whole validation set, every pixel
        # counted once across processes
        learn.validate()
        hub = find_confusion_metric(learn)
        confusion = hub.confusion  # read on every rank: the read sums the ranks' matrices
    scores = hub.scores()
    scores["baseline_pixel_accuracy"] = _baseline_accuracy(dls, confusion.numpy())
    metrics = {**scores, "recipe": rec.name, "recipe_settings": rec.as_dict(), "lr": lr, "epochs": epochs,
               "unfrozen_epochs": unfrozen_epochs, "bs": bs, "pct_start": pct_start, "monitor": monitor,
               "class_weights": (None if loss is None or loss.weight is None else
                                 [round(float(w), 4) for w in loss.weight]),
               "precision": chosen_precision, "malloc_tuned": malloc_tuned, "channels_last": channels_last,
               "device": str(dls.device), "world_size": n_proc, "n_train": len(dls.train_ds),
               "n_valid": len(dls.valid_ds), "data": str(data_path), "synthetic_sample": on_sample,
               "args": args or {}, "versions": _versions()}
    # every rank takes part: fastai gathers the predictions across processes when launched distributed
    learn.show_results(max_n=4, figsize=(8, 12), **show)
    if not main:
        return TrainResult(learn, history, metrics, out)
    import matplotlib.pyplot as plt

    from .outputs import save_figure

    save_figure(plt.gcf(), out / "show_results.png")
    info = learn.dronefast_info
    info.extra = {"train_args": {"seed": seed, "valid_pct": valid_pct, "size": list(size), "arch": arch,
                                 "data": str(data_path), "recipe": rec.name},
                  "scores": {k: scores[k] for k in ("pixel_accuracy", "accuracy_mask", "miou")}}
    save_model(learn, out / "model", info)
    learn.export(out.resolve() / "export.pkl")  # fastai writes to learn.path / fname: keep it absolute
    metrics["time_s"] = round(time.time() - t0, 1)
    write_json(out / "metrics.json", metrics)
    say(f"\nvalidation pixel accuracy {scores['pixel_accuracy']:.4f} (most-common-class baseline "
        f"{scores['baseline_pixel_accuracy']:.4f}), accuracy_mask {scores['accuracy_mask']:.4f}, "
        f"mIoU {scores['miou']:.4f} over {len(scores['miou_classes'])} classes")
    say(f"outputs in {out}: model.json + model.safetensors, export.pkl, history.csv, metrics.json, plots; "
        f"{metrics['time_s']:.0f} s")
    return TrainResult(learn, history, metrics, out)


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _lr_find_iters(text: str) -> int:
    v = int(text)
    if v < MIN_LR_FIND_ITERS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_LR_FIND_ITERS}, got {v}")
    return v


def _lr(text: str) -> Union[float, str]:
    if text == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"lr must be a number or 'auto', got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"lr must be positive, got {v}")
    return v


def _pct(text: str) -> float:
    v = float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {v}")
    return v


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ones (those options say their default in words) and those of flags."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dronefast.train", description=__doc__.split("\n\n")[0],
                                formatter_class=_Formatter)
    p.add_argument("data", nargs="?", default=None,
                   help="dataset folder (Kaggle, TU Graz or prepared layout); default: the built-in synthetic sample")
    p.add_argument("--out", default="runs/train", help="output folder")
    p.add_argument("--recipe", choices=RECIPES, default=DEFAULT_RECIPE,
                   help="nadir: class-weighted cross-entropy ignoring void, lr 2e-3 with pct_start 0.3 (no lr_find), "
                        "batch size 8, more epochs, best miou kept (measured best for drone photos from scratch); "
                        "reference: the fastai v1 notebook (aug_transforms, cross-entropy, lr_find, pct_start 0.8); "
                        "options not given take the recipe's value")
    p.add_argument("--arch", choices=ARCHS, default="resnet34", help="U-Net encoder (pm-resnet50 = pretrainedmodels)")
    p.add_argument("--size", type=size_arg, default=None, metavar="WxH",
                   help="training size WxH, width first (default: the recipe's; nadir 150x100 from scratch, 300x200 "
                        "from ImageNet weights; reference 300x200; 144x96 on the sample)")
    p.add_argument("--bs", type=_positive_int, default=None,
                   help="batch size per process (default: the recipe's; nadir 8, reference 4); launched on N "
                        "processes (accelerate launch / torchrun) the global batch is N x bs: scale --lr with it, "
                        "or use --lr auto")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs of the first stage, encoder frozen if pretrained (default: the recipe's; nadir 20 "
                        "from scratch, 2 from ImageNet weights; reference 10)")
    p.add_argument("--unfrozen-epochs", type=int, default=None,
                   help="epochs of a second stage with the whole network unfrozen, discriminative lrs (default: the "
                        "recipe's; nadir 12 from ImageNet weights, else 0)")
    p.add_argument("--lr", type=_lr, default=None,
                   help="max learning rate, or 'auto' to run lr_find (default: the recipe's; nadir 2e-3, "
                        "reference auto)")
    p.add_argument("--pct-start", type=_pct, default=None,
                   help="warm-up share of the one-cycle schedule (default: the recipe's; nadir 0.3, reference 0.8)")
    p.add_argument("--augment", choices=("fastai", "nadir", "none"), default=None,
                   help="data augmentation (default: the recipe's, fastai for both): fastai = aug_transforms(); "
                        "nadir = flips and half turns (all 8 dihedral views on square sizes), zoom 0.9-1.2, "
                        "brightness, contrast, saturation and hue, no warp (dronefast.augment); none")
    p.add_argument("--class-weights", choices=("inv_sqrt", "inv", "none"), default=None,
                   help="class weights of the cross-entropy from the training masks' class frequencies, capped at 10x "
                        "(default: the recipe's; nadir inv_sqrt; reference: plain fastai cross-entropy)")
    p.add_argument("--dice", type=float, default=None, metavar="W",
                   help="add W x soft Dice to the cross-entropy (default: the recipe's; nadir 0)")
    p.add_argument("--lr-find-iters", type=_lr_find_iters, default=100,
                   help="steps of lr_find when --lr auto (at least 20: fastai's suggestion skips the first 10%% and "
                        "the last 5 steps)")
    p.add_argument("--valid-pct", type=_pct, default=0.1, help="share of images held out for validation")
    p.add_argument("--seed", type=int, default=42,
                   help="seed of the validation split, the weights' initialisation and the augmentations")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pretrained", dest="pretrained", action="store_true", default=None,
                   help="ImageNet encoder weights, downloaded or from $TORCH_HOME (default on real data)")
    g.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="random encoder (default on the built-in sample)")
    g.add_argument("--weights", default=None, metavar="PATH", help="local encoder checkpoint, for offline machines")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from its last epoch")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (items are cached in memory)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto = bf16/fp16 mixed precision on GPU, fp32 on CPU")
    p.add_argument("--void-code", type=int, default=0,
                   help="class id excluded from accuracy_mask and mIoU (0 = unlabeled; -1 = none, as the reference)")
    p.add_argument("--monitor", default=None,
                   help="metric whose best epoch is kept, e.g. miou, accuracy_mask, valid_loss (default: the recipe's; "
                        "nadir miou, reference accuracy_mask)")
    p.add_argument("--sync-bn", action="store_true",
                   help="synchronized batch norm across processes when launched distributed (GPUs only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="train in the default NCHW memory format instead of channels-last (NHWC)")
    p.add_argument("--no-malloc-tuning", dest="malloc_tuning", action="store_false",
                   help="leave glibc's malloc thresholds alone (by default large CPU tensors stay in the heap "
                        "between steps: faster, at the cost of memory not given back to the system)")
    return p


def _run(a: argparse.Namespace) -> int:
    if a.dice is not None and not a.dice >= 0:
        raise UsageError(f"--dice must be >= 0, got {a.dice}")
    if a.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {a.workers}")
    if a.unfrozen_epochs is not None and a.unfrozen_epochs < 0:
        raise UsageError(f"--unfrozen-epochs must be >= 0, got {a.unfrozen_epochs}")
    if a.data is not None and not Path(a.data).exists():
        from .errors import DatasetNotFoundError

        raise DatasetNotFoundError("folder does not exist", a.data)
    import matplotlib

    matplotlib.use("Agg")
    args = {k: (format_size(v) if k == "size" and v else v) for k, v in vars(a).items()}
    train(a.data, a.out, a.arch, a.size, a.bs, a.epochs, a.unfrozen_epochs, a.lr, a.lr_find_iters, a.valid_pct,
          a.seed, a.pretrained, a.weights, a.resume, a.workers, a.precision, a.void_code, a.monitor,
          pct_start=a.pct_start, sync_bn=a.sync_bn, progress=not a.no_progress, args=args, recipe=a.recipe,
          augment=a.augment or True, class_weights=a.class_weights, dice=a.dice, malloc_tuning=a.malloc_tuning,
          channels_last=a.channels_last)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, _parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
