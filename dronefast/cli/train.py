"""``python -m dronefast.train [DATA]``: the main job's command line (parser and ``main``).

Runs :func:`dronefast.workflows.training_run.train` with a :class:`~dronefast.training.config.TrainConfig` made from the
flags. With no DATA it trains on the built-in synthetic sample (generated on first use into
``~/.cache/dronefast``). Only light modules are imported before the arguments are parsed, so ``--help`` and usage
errors answer at once.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..errors import DatasetNotFoundError, UsageError
from ..models.archs import DEFAULT_ARCH, arch_names
from ..sizes import format_size
from ..training.config import (
    AUGMENTS,
    MAX_EPOCHS,
    MAX_VOID_CODE,
    MIN_LR_FIND_ITERS,
    MONITORS,
    PRECISION_CHOICES,
    TrainConfig,
)
from ..training.recipes import DEFAULT_RECIPE, RECIPES, WEIGHT_METHODS
from .common import (
    DefaultsFormatter,
    at_least,
    at_most,
    factor,
    fraction,
    lr_arg,
    positive_int,
    prepare_cli,
    run_main,
    share,
    size_arg,
    stems_arg,
)

__all__ = ["build_parser", "main", "config_from_args"]


def _recipe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", choices=RECIPES, default=DEFAULT_RECIPE,
                   help="nadir: class-weighted cross-entropy ignoring void, lr 2e-3 with pct_start 0.3 (no lr_find), "
                        "batch size 8, more epochs, best miou kept (measured best for drone photos from scratch); "
                        "reference: the fastai v1 notebook (aug_transforms, cross-entropy, lr_find, pct_start 0.8); "
                        "options not given take the recipe's value")
    p.add_argument("--arch", choices=arch_names(), default=DEFAULT_ARCH,
                   help="U-Net encoder (pm-resnet50 = pretrainedmodels)")
    p.add_argument("--size", type=size_arg, default=None, metavar="WxH",
                   help="training size WxH, width first (default: the recipe's; nadir 150x100 from scratch, 300x200 "
                        "from ImageNet weights; reference 300x200; 144x96 on the sample)")
    p.add_argument("--bs", type=positive_int, default=None,
                   help="batch size per process (default: the recipe's; nadir 8, reference 4); launched on N "
                        "processes (accelerate launch / torchrun) the global batch is N x bs: scale --lr with it, "
                        "or use --lr auto")
    p.add_argument("--epochs", type=at_most(MAX_EPOCHS), default=None,
                   help="epochs of the first stage, encoder frozen if pretrained (default: the recipe's; nadir 20 "
                        "from scratch, 2 from ImageNet weights; reference 10)")
    p.add_argument("--unfrozen-epochs", type=at_most(MAX_EPOCHS, 0), default=None,
                   help="epochs of a second stage with the whole network unfrozen, discriminative lrs (default: the "
                        "recipe's; nadir 12 from ImageNet weights, else 0)")
    p.add_argument("--lr", type=lr_arg, default=None,
                   help="max learning rate, or 'auto' to run lr_find (default: the recipe's; nadir 2e-3, "
                        "reference auto)")
    p.add_argument("--pct-start", type=fraction, default=None,
                   help="warm-up share of the one-cycle schedule (default: the recipe's; nadir 0.3, reference 0.8)")
    p.add_argument("--augment", choices=AUGMENTS, default=None,
                   help="data augmentation (default: the recipe's, fastai for both): fastai = aug_transforms(); "
                        "nadir = flips and half turns (all 8 dihedral views on square sizes), zoom 0.9-1.2, "
                        "brightness, contrast, saturation and hue, no warp; none")
    p.add_argument("--class-weights", choices=WEIGHT_METHODS, default=None,
                   help="class weights of the cross-entropy from the training masks' class frequencies, capped at 10x "
                        "(default: the recipe's; nadir inv_sqrt; reference: plain fastai cross-entropy)")
    p.add_argument("--dice", type=float, default=None, metavar="W",
                   help="add W x soft Dice to the cross-entropy (default: the recipe's; nadir 0)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--work-size", type=size_arg, default=None, metavar="WxH",
                   help="object-scale training: whole photos are brought to WxH (e.g. 600x400 of a 6000x4000 photo) "
                        "and each training item is a random --size window of one, so people and cars keep the "
                        "size they have at that scale; validation scores whole photos there by tiles, as predict "
                        "does (default: the recipe's: whole photos for both; see the README for what each measured)")
    w.add_argument("--whole-photos", action="store_true",
                   help="train on whole photos squished to --size even if a recipe works at object scale")
    p.add_argument("--repeats", type=positive_int, default=None,
                   help="windows drawn from each training photo per epoch with --work-size (default: the recipe's)")
    p.add_argument("--context", type=factor, default=None, metavar="F",
                   help="with --work-size, each training item shows between 1x and F times the extent of a --size "
                        "window, shrunk to --size: context of whole-photo training, detail of the working scale "
                        "(default: the recipe's: 1)")
    p.add_argument("--lr-find-iters", type=at_least(MIN_LR_FIND_ITERS), default=100,
                   help=f"steps of lr_find when --lr auto (at least {MIN_LR_FIND_ITERS}: fastai's suggestion skips the "
                        f"first 10%% and the last 5 steps)")
    p.add_argument("--monitor", choices=MONITORS, default=None,
                   help="metric or loss whose best epoch is kept (default: the recipe's; nadir miou, reference "
                        "accuracy_mask)")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--valid-pct", type=fraction, default=0.1,
                   help="share of the (non-test) photos held out for validation: the best epoch is chosen on them")
    t = p.add_mutually_exclusive_group()
    t.add_argument("--test-pct", type=share, default=0.1,
                   help="share of the photos set aside first for an honest final score: training never sees them "
                        "nor chooses by them; 0 for none (the reference notebook's split)")
    t.add_argument("--test-stems", type=stems_arg, default=None, metavar="STEMS",
                   help="the test photos by file stem: comma-separated, or @FILE with one stem a line")
    p.add_argument("--seed", type=int, default=42,
                   help="seed of the validation split, the weights' initialisation, the batch order and the "
                        "augmentations")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pretrained", dest="pretrained", action="store_true", default=None,
                   help="ImageNet encoder weights, downloaded or from $TORCH_HOME (default on real data)")
    g.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="random encoder (default on the built-in sample)")
    g.add_argument("--weights", default=None, metavar="PATH", help="local encoder checkpoint, for offline machines")
    r = p.add_mutually_exclusive_group()
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last epoch (same settings)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the run in --out (finished or interrupted) once the new one has finished (only "
                        "files a run writes are replaced), or train into a folder of other files beside them")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep the checkpoint models/last.pth (model + optimizer, ~3x the model's size) and "
                        "models/best.pth after the run finished (by default the weights are kept once, in "
                        "model.safetensors)")
    p.add_argument("--export-pkl", action="store_true",
                   help="also write fastai's export.pkl (learn.export: a pickle holding the model a second time)")
    p.add_argument("--workers", type=at_least(0), default=0, help="DataLoader workers (items are cached in memory)")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="auto = bf16/fp16 mixed precision on GPU, fp32 on CPU")
    p.add_argument("--void-code", type=at_most(MAX_VOID_CODE, -1), default=0,
                   help="class id excluded from accuracy_mask and mIoU (0 = unlabeled; -1 = none, as the reference)")
    p.add_argument("--sync-bn", action="store_true",
                   help="synchronized batch norm across processes when launched distributed (GPUs only)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (the epoch table is still printed; bars are also off when output is not "
                        "a terminal)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="train in the default NCHW memory format instead of channels-last (NHWC)")
    p.add_argument("--no-malloc-tuning", dest="malloc_tuning", action="store_false",
                   help="leave glibc's malloc thresholds alone (by default large CPU tensors stay in the heap "
                        "between steps: faster, at the cost of memory not given back to the system)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.train``."""
    p = argparse.ArgumentParser(prog="python -m dronefast.train", formatter_class=DefaultsFormatter,
                                description="Train a U-Net on drone photos with a recipe; writes the model, history, "
                                            "plots and metrics.json into --out.")
    p.add_argument("data", nargs="?", default=None,
                   help="dataset folder (Kaggle, TU Graz or prepared layout); default: the built-in synthetic sample")
    p.add_argument("--out", default="runs/train", help="output folder")
    _recipe_options(p)
    _run_options(p)
    return p


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed flags ask for (UsageError for values out of range)."""
    if a.data is not None and not Path(a.data).exists():
        raise DatasetNotFoundError("folder does not exist", a.data)
    args = {k: (format_size(v) if k == "size" and v else v) for k, v in vars(a).items()}
    try:
        cfg = TrainConfig(
            data=a.data, out=a.out, recipe=a.recipe, arch=a.arch, size=a.size, bs=a.bs, epochs=a.epochs,
            unfrozen_epochs=a.unfrozen_epochs, lr=a.lr, lr_find_iters=a.lr_find_iters, pct_start=a.pct_start,
            monitor=a.monitor, augment=a.augment, class_weights=a.class_weights, dice=a.dice,
            valid_pct=a.valid_pct, seed=a.seed, test_pct=0.0 if a.test_stems else a.test_pct,
            test_stems=a.test_stems, work_size=a.work_size, whole_photos=a.whole_photos, repeats=a.repeats,
            context=a.context,
            pretrained=a.pretrained, weights=a.weights, resume=a.resume,
            overwrite=a.overwrite, keep_checkpoint=a.keep_checkpoint, export_pkl=a.export_pkl, workers=a.workers,
            precision=a.precision,
            void_code=a.void_code, sync_bn=a.sync_bn, progress=not a.no_progress, malloc_tuning=a.malloc_tuning,
            channels_last=a.channels_last, args=args)
        cfg.resolve()  # what the recipe's values and the flags make together (a working scale below --size ...)
        return cfg
    except ValueError as e:
        name, _, rest = str(e).partition(" ")
        raise UsageError(f"--{name.replace('_', '-')} {rest}") from None


def _run(a: argparse.Namespace) -> int:
    cfg = config_from_args(a)
    prepare_cli()
    from ..workflows.training_run import (
        train,  # torch and fastai load here, after the arguments are known to be good
    )

    train(cfg)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
