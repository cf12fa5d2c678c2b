"""Training: ``python -m dronefast.train [DATA]`` -- the main job.

Runs the reference notebook end to end: data check and DataLoaders, dynamic U-Net, ``lr_find``,
``fit_one_cycle(epochs, slice(lr), pct_start=0.8)`` keeping the best ``accuracy_mask`` epoch, then writes the
model (safe format and fastai export), the history, plots and ``metrics.json`` into the output folder. With no
DATA it trains on the built-in synthetic sample (generated on first use into ``~/.cache/dronefast``).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .cli import format_size, run_main, size_arg
from .encoders import ARCHS
from .errors import UsageError
from .recipe import MIN_LR_FIND_ITERS

__all__ = ["train", "TrainResult", "main", "SAMPLE_SIZE"]

#: Default training size (height, width) on the built-in sample: small enough for a few CPU minutes.
SAMPLE_SIZE = (96, 144)


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
    store = getattr(dls, "store", None)
    n = cm.shape[0]
    if store is not None and len(store):
        counts = np.zeros(n, dtype=np.int64)
        for item in dls.train_ds.items:
            counts += np.bincount(store.masks[item].ravel(), minlength=n)[:n]
        majority = int(counts.argmax())
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


def train(data: Optional[str] = None, out: str = "runs/train", arch: str = "resnet34", size=None, bs: int = 4,
          epochs: int = 10, unfrozen_epochs: int = 0, lr: Optional[float] = None, lr_find_iters: int = 100,
          valid_pct: float = 0.1, seed: int = 42, pretrained: Optional[bool] = None, weights: Optional[str] = None,
          resume: bool = False, workers: int = 0, precision: str = "auto", void_code: int = 0,
          monitor: str = "accuracy_mask", pct_start: float = 0.8, sync_bn: bool = False, progress: bool = True,
          args: Optional[Dict[str, Any]] = None) -> TrainResult:
    """Train a U-Net on `data` and write every output into `out` (see the module docstring).

    Args:
        data: dataset folder (Kaggle, TU Graz or prepared layout); None = the built-in sample.
        out: output folder.
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``, ``pm-resnet50``).
        size: training ``(height, width)``; default the reference's (200, 300), or (96, 144) on the sample.
        bs: batch size per process (launched on N processes, the global batch is N x bs).
        epochs, unfrozen_epochs: epochs of the (frozen, if pretrained) first stage and the unfrozen second one.
        lr: maximum learning rate; None runs ``lr_find`` (`lr_find_iters` steps) and takes its suggestion.
        valid_pct, seed: the random validation split.
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
    """
    from fastai.callback.progress import ProgressCallback

    from .data import DEFAULT_SIZE, drone_dataloaders
    from .distributed import broadcast_object, distributed, is_main_process, main_first, world_size
    from .learner import drone_learner
    from .masks import palette_show_args
    from .metrics import find_confusion_metric
    from .modelfile import save_model
    from .outputs import write_json
    from .recipe import find_lr, fit_reference, set_precision
    from .sample import ensure_sample

    t0 = time.time()
    main = is_main_process()
    say = print if main else (lambda *a, **k: None)
    on_sample = data is None
    size = tuple(size) if size else (SAMPLE_SIZE if on_sample else DEFAULT_SIZE)
    if pretrained is None:
        pretrained = bool(weights) or not on_sample
    out = Path(out)
    run_file = out / "run.json"
    if resume:
        import json

        if not run_file.is_file():
            raise UsageError(f"--resume: {run_file} not found; nothing to resume in {out}")
        lr = json.loads(run_file.read_text())["lr"] if lr is None else lr

    # one-time work (sample generation, the data check) on rank 0 first; the other ranks then load the data
    with main_first():
        if main:
            out.mkdir(parents=True, exist_ok=True)
        data_path = Path(ensure_sample() if on_sample else data)
        say(f"data: {data_path}" + (" (built-in synthetic sample)" if on_sample else ""))
        dls = drone_dataloaders(data_path, size=size, bs=bs, valid_pct=valid_pct, seed=seed, num_workers=workers,
                                path=out, progress=progress and main)
    say(dls.layout.describe())
    n_proc = world_size()
    say(f"train/valid: {len(dls.train_ds)}/{len(dls.valid_ds)} images at {format_size(size)} (WxH), "
        f"batch size {bs}" + (f" per process x {n_proc} processes" if n_proc > 1 else "") + f", device {dls.device}")
    show = palette_show_args(dls.classes)
    if main:
        _save_plot(lambda: dls.show_batch(max_n=4, figsize=(10, 7), **show), out / "show_batch.png")

    learn = drone_learner(dls, arch, pretrained=pretrained, weights=weights, void_code=void_code)
    if not progress:
        learn.remove_cb(ProgressCallback)
    chosen_precision = set_precision(learn, precision)
    with distributed(learn, sync_bn=sync_bn):
        if lr is None:
            lr = broadcast_object(find_lr(learn, out / "lr_find.png" if main else None, num_it=lr_find_iters))
            say(f"lr_find suggests lr = {lr:.2e} (plot: {out / 'lr_find.png'})")
        if main:
            write_json(run_file, {"lr": lr, "args": args or {}, "size": list(size), "arch": arch,
                                  "pretrained": pretrained, "world_size": n_proc})
        history = fit_reference(learn, epochs=epochs, lr=lr, pct_start=pct_start, unfrozen_epochs=unfrozen_epochs,
                                monitor=monitor, resume=resume)
        # scores of the best weights (loaded by SaveModelCallback) over the whole validation set, every pixel
        # counted once across processes
        learn.validate()
        hub = find_confusion_metric(learn)
        confusion = hub.confusion  # read on every rank: the read sums the ranks' matrices
    scores = hub.scores()
    scores["baseline_pixel_accuracy"] = _baseline_accuracy(dls, confusion.numpy())
    metrics = {**scores, "lr": lr, "epochs": epochs, "unfrozen_epochs": unfrozen_epochs, "precision": chosen_precision,
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
                                 "data": str(data_path)},
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


def _lr(text: str) -> Optional[float]:
    if text == "auto":
        return None
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dronefast.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", nargs="?", default=None,
                   help="dataset folder (Kaggle, TU Graz or prepared layout); default: the built-in synthetic sample")
    p.add_argument("--out", default="runs/train", help="output folder")
    p.add_argument("--arch", choices=ARCHS, default="resnet34", help="U-Net encoder (pm-resnet50 = pretrainedmodels)")
    p.add_argument("--size", type=size_arg, default=None,
                   help="training size WxH, width first (default 300x200 as the reference; 144x96 on the sample)")
    p.add_argument("--bs", type=_positive_int, default=4,
                   help="batch size per process (the reference used 4); launched on N processes (accelerate launch / "
                        "torchrun) the global batch is N x bs: scale --lr with it, or let lr_find choose")
    p.add_argument("--epochs", type=_positive_int, default=10, help="epochs of the first stage (encoder frozen if pretrained)")
    p.add_argument("--unfrozen-epochs", type=int, default=0,
                   help="epochs of a second stage with the whole network unfrozen (discriminative lrs)")
    p.add_argument("--lr", type=_lr, default=None, help="max learning rate, or 'auto' to run lr_find (default: auto)")
    p.add_argument("--lr-find-iters", type=_lr_find_iters, default=100,
                   help="steps of lr_find when --lr auto (at least 20: fastai's suggestion skips the first 10%% and "
                        "the last 5 steps)")
    p.add_argument("--valid-pct", type=_pct, default=0.1, help="share of images held out for validation")
    p.add_argument("--seed", type=int, default=42, help="seed of the validation split")
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
    p.add_argument("--monitor", default="accuracy_mask", help="metric whose best epoch is kept (e.g. miou, valid_loss)")
    p.add_argument("--sync-bn", action="store_true",
                   help="synchronized batch norm across processes when launched distributed (GPUs only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _run(a: argparse.Namespace) -> int:
    if a.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {a.workers}")
    if a.unfrozen_epochs < 0:
        raise UsageError(f"--unfrozen-epochs must be >= 0, got {a.unfrozen_epochs}")
    if a.data is not None and not Path(a.data).exists():
        from .errors import DatasetNotFoundError

        raise DatasetNotFoundError("folder does not exist", a.data)
    import matplotlib

    matplotlib.use("Agg")
    args = {k: (format_size(v) if k == "size" and v else v) for k, v in vars(a).items()}
    train(a.data, a.out, a.arch, a.size, a.bs, a.epochs, a.unfrozen_epochs, a.lr, a.lr_find_iters, a.valid_pct,
          a.seed, a.pretrained, a.weights, a.resume, a.workers, a.precision, a.void_code, a.monitor,
          sync_bn=a.sync_bn, progress=not a.no_progress, args=args)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_main(_run, _parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
