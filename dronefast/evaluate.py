"""Scoring a trained model on its validation split: ``python -m dronefast.evaluate MODEL --data PATH``.

The validation photos are the ones training held out: fastai's ``RandomSplitter(valid_pct, seed)`` applied to
the dataset's photos in sorted order, exactly as :func:`dronefast.data.drone_datablock` does (its items are
``layout.image_files()``, or the cache built from ``layout.pairs()`` in the same order). ``valid_pct`` and
``seed`` come from the model description (``info.extra["train_args"]``) when it records them, else 0.1 and
42; ``--all`` scores every photo instead.

Two resolutions are scored, each from one confusion matrix summed over the photos (dataset-level numbers, see
:mod:`dronefast.metrics` for the void and mIoU rules):

* **training resolution**: photo and mask resized to the model's training size as training did (photo:
  JPEG draft + Lanczos, mask: NEAREST), whole-image prediction -- the number comparable with the training
  table's ``miou`` / ``accuracy_mask``;
* **full resolution**: the prediction path of :mod:`dronefast.predict` (tiled or whole-image, upsampled to
  the photo's size) against the full-size mask -- what a user of ``dronefast.predict`` gets.

Files written into ``--out`` (default ``<model folder>/eval``): ``metrics.json``, ``per_class.csv``,
``per_class.md``, ``confusion.png`` (row-normalised), ``iou.png`` and ``examples.png``.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .cli import format_size, fraction, positive_float, positive_int, run_main
from .errors import DronefastError, MissingMaskError, ModelFileError, SizeMismatchError, UsageError
from .images import read_image
from .layout import LAYOUTS, DatasetLayout, find_layout
from .masks import ids_to_colour, read_mask
from .metrics import confusion_matrix, scores_from_confusion
from .modelfile import ModelInfo, load_model, model_paths
from .outputs import ensure_outside, save_figure, write_json, write_text
from .predict import DEFAULT_OVERLAP, ModelLike, Predictor, default_device, parse_device

__all__ = ["split_files", "validation_files", "split_settings", "evaluate_model", "per_class_rows", "default_out",
           "EVAL_FILES", "DEFAULT_VALID_PCT", "DEFAULT_SEED", "build_parser", "main"]

PathLike = Union[str, Path]
DEFAULT_VALID_PCT = 0.1
DEFAULT_SEED = 42
#: Files :func:`evaluate_model` writes into its output folder.
EVAL_FILES = ("metrics.json", "per_class.csv", "per_class.md", "confusion.png", "iou.png", "examples.png")


# ------------------------------------------------------------------------------------------ the split

def split_files(layout: DatasetLayout, valid_pct: float = DEFAULT_VALID_PCT, seed: Optional[int] = DEFAULT_SEED
                ) -> Tuple[List[Path], List[Path]]:
    """``(training photos, validation photos)`` as training split them: fastai's
    ``RandomSplitter(valid_pct, seed)`` over ``layout.image_files()`` (sorted), in the splitter's order.

    The global torch random state is left as it was (the splitter reseeds it)."""
    from fastai.data.transforms import RandomSplitter

    items = layout.image_files()
    with torch.random.fork_rng(devices=[]):
        train_idx, valid_idx = RandomSplitter(valid_pct=valid_pct, seed=seed)(items)
    return [items[i] for i in train_idx], [items[i] for i in valid_idx]


def validation_files(layout: DatasetLayout, valid_pct: float = DEFAULT_VALID_PCT,
                     seed: Optional[int] = DEFAULT_SEED) -> List[Path]:
    """The validation photos of :func:`split_files`."""
    return split_files(layout, valid_pct, seed)[1]


def split_settings(info: ModelInfo, valid_pct: Optional[float] = None, seed: Optional[int] = None
                   ) -> Tuple[float, int, str]:
    """``(valid_pct, seed, where from)`` for evaluating a model: the arguments when given, else the model's
    ``info.extra["train_args"]``, else the defaults 0.1 and 42. ``where from`` is ``"arguments"``,
    ``"model"``, ``"default"`` or a mix such as ``"arguments+model"`` (valid_pct's source first).

    Raises:
        DronefastError: the model was trained with an unseeded (irreproducible) split and no seed is given.
    """
    train_args = info.extra.get("train_args") or {}
    if valid_pct is not None:
        vp, src_vp = float(valid_pct), "arguments"
    elif train_args.get("valid_pct") is not None:
        vp, src_vp = float(train_args["valid_pct"]), "model"
    else:
        vp, src_vp = DEFAULT_VALID_PCT, "default"
    if seed is not None:
        sd, src_sd = int(seed), "arguments"
    elif "seed" in train_args:
        if train_args["seed"] is None:
            raise DronefastError("the model was trained with an unseeded random split, so its validation "
                                 "photos cannot be recovered; pass --seed to score some split, or --all")
        sd, src_sd = int(train_args["seed"]), "model"
    else:
        sd, src_sd = DEFAULT_SEED, "default"
    sources = src_vp if src_vp == src_sd else f"{src_vp}+{src_sd}"
    if not 0 < vp < 1:
        raise UsageError(f"valid_pct must be between 0 and 1, got {vp}")
    return vp, sd, sources


# ------------------------------------------------------------------------------------------ reports

def _fmt(v: Optional[float], digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def per_class_rows(metrics: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One dict per class from :func:`evaluate_model`'s result: ``id``, ``class`` and ``support``, ``iou``,
    ``accuracy``, ``dice`` suffixed ``_train`` (training resolution) and ``_full`` (full resolution; None
    when not scored). Missing values (class absent, void class) are None."""
    rows = []
    for i, name in enumerate(metrics["classes"]):
        row: Dict[str, Any] = {"id": i, "class": name}
        for key, res in (("train", metrics["train_res"]), ("full", metrics.get("full_res"))):
            for col, src in (("support", "support"), ("iou", "iou"), ("accuracy", "class_accuracy"),
                             ("dice", "dice")):
                row[f"{col}_{key}"] = None if res is None else res[src][name]
        rows.append(row)
    return rows


def _csv_text(rows: List[Dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def _markdown(metrics: Dict[str, Any], rows: List[Dict[str, Any]]) -> str:
    sp = metrics["split"]
    lines = [f"# Evaluation of {metrics['model']}", "",
             f"Data: {metrics['data']} ({metrics['layout']} layout), {sp['n_images']} of {sp['n_total']} photos "
             f"({sp['subset']}" + (f", valid_pct {sp['valid_pct']}, seed {sp['seed']} from {sp['from']})"
                                   if sp["subset"] == "validation" else ")"), ""]
    for key, title in (("train_res", "training resolution"), ("full_res", "full resolution")):
        r = metrics.get(key)
        if r is None:
            continue
        lines.append(f"- {title} ({r['how']}): pixel accuracy {_fmt(r['pixel_accuracy'])}, "
                     f"accuracy without void ({r['void_class']}) {_fmt(r['accuracy_mask'])}, "
                     f"mIoU {_fmt(r['miou'])} over {len(r['miou_classes'])} classes "
                     f"({', '.join(r['miou_classes'])})")
    lines += ["", f"mIoU rule: {metrics['train_res']['miou_rule']}.", ""]
    full = metrics.get("full_res") is not None
    head = ["id", "class", "support (train)", "IoU (train)", "accuracy (train)", "dice (train)"]
    if full:
        head += ["support (full)", "IoU (full)", "accuracy (full)", "dice (full)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h != "class" else ":---" for h in head) + "|"]
    for r in rows:
        cells = [str(r["id"]), r["class"], str(r["support_train"]), _fmt(r["iou_train"]) or "-",
                 _fmt(r["accuracy_train"]) or "-", _fmt(r["dice_train"]) or "-"]
        if full:
            cells += [str(r["support_full"]), _fmt(r["iou_full"]) or "-", _fmt(r["accuracy_full"]) or "-",
                      _fmt(r["dice_full"]) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _confusion_figure(metrics: Dict[str, Any]):
    from matplotlib.figure import Figure

    names = metrics["classes"]
    panels = [(k, t) for k, t in (("train_res", "training resolution"), ("full_res", "full resolution"))
              if metrics.get(k) is not None]
    n = len(names)
    side = max(4.0, 0.32 * n + 2)
    fig = Figure(figsize=(side * len(panels) + 1, side))
    for j, (key, title) in enumerate(panels, start=1):
        cm = np.asarray(metrics[key]["confusion"], dtype=np.float64)
        rows = cm.sum(1, keepdims=True)
        norm = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
        ax = fig.add_subplot(1, len(panels), j)
        im = ax.imshow(norm, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{title}: share of each true class")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def _iou_figure(metrics: Dict[str, Any]):
    from matplotlib.figure import Figure

    names = metrics["classes"]
    panels = [(k, t) for k, t in (("train_res", "training resolution"), ("full_res", "full resolution"))
              if metrics.get(k) is not None]
    y = np.arange(len(names))
    height = 0.8 / len(panels)
    fig = Figure(figsize=(7, max(3.0, 0.3 * len(names) + 1)))
    ax = fig.add_subplot(1, 1, 1)
    for j, (key, title) in enumerate(panels):
        iou = np.array([np.nan if v is None else v for v in (metrics[key]["iou"][n] for n in names)])
        pos = y + (j - (len(panels) - 1) / 2) * height
        ax.barh(pos, np.nan_to_num(iou), height, label=f"{title} (mIoU {_fmt(metrics[key]['miou'], 3) or 'n/a'})")
        for yy, v in zip(pos, iou):
            ax.text((0 if np.isnan(v) else v) + 0.01, yy, "n/a" if np.isnan(v) else f"{v:.2f}", va="center",
                    fontsize=6)
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU (classes absent from truth and prediction, and the void class, have none)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=7)
    return fig


def _examples_figure(examples: List[Tuple[str, np.ndarray, np.ndarray, np.ndarray]], classes):
    from matplotlib.figure import Figure

    n = max(1, len(examples))
    h, w = examples[0][1].shape[:2] if examples else (1, 1)
    fig = Figure(figsize=(9, 9 / 3 * h / w * n + 0.4 * n))
    for i, (name, img, truth, pred) in enumerate(examples):
        for j, (arr, title) in enumerate(((img, name), (ids_to_colour(truth, classes), "truth"),
                                          (ids_to_colour(pred, classes), "prediction"))):
            ax = fig.add_subplot(n, 3, 3 * i + j + 1)
            ax.imshow(arr, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return fig


def _write_reports(metrics: Dict[str, Any], examples, classes, out: Path) -> None:
    rows = per_class_rows(metrics)
    write_json(out / "metrics.json", metrics)
    write_text(out / "per_class.csv", _csv_text(rows))
    write_text(out / "per_class.md", _markdown(metrics, rows))
    save_figure(_confusion_figure(metrics), out / "confusion.png")
    save_figure(_iou_figure(metrics), out / "iou.png")
    save_figure(_examples_figure(examples, classes), out / "examples.png")


# ------------------------------------------------------------------------------------------ evaluation

def default_out(model: PathLike) -> Path:
    """``<folder of the model files>/eval``."""
    model = Path(model)
    return (model.parent if model.suffix == ".pkl" else model_paths(model)[1].parent) / "eval"


def evaluate_model(model: ModelLike, data: Union[PathLike, DatasetLayout], out: Optional[PathLike] = None,
                   valid_pct: Optional[float] = None, seed: Optional[int] = None, all_images: bool = False,
                   full_res: bool = True, layout: Optional[str] = None, device=None,
                   tile: Union[bool, str] = "auto", scale: Optional[float] = None, overlap: float = DEFAULT_OVERLAP,
                   batch_size: int = 8, tta: bool = False, bf16: bool = False, allow_pickle: bool = False,
                   n_examples: int = 4, overwrite: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Score `model` on a dataset's validation split (or all of it) at training and full resolution.

    Args:
        model: saved model path (``.pkl`` only with `allow_pickle`) or a ``(network, ModelInfo)`` pair.
        data: dataset folder (any layout) or a :class:`DatasetLayout`.
        out: folder to write the report files (:data:`EVAL_FILES`) into; None writes nothing.
        valid_pct, seed: the split (default: the model's training arguments, else 0.1 and 42).
        all_images: score every photo instead of the validation split.
        full_res: also score full-resolution predictions (:mod:`dronefast.predict` path).
        layout: layout kind to use when the folder holds several.
        device, tile, scale, overlap, batch_size, tta, bf16: see :class:`~dronefast.predict.Predictor`
            (`tile`, `scale` and `overlap` only affect the full-resolution scores; `tta` both).
            With `tta` the training-resolution scores no longer equal those training reported.
        n_examples: photos drawn in ``examples.png``.
        overwrite: replace existing report files in `out`.
        progress: show a progress bar.

    Returns:
        The content of ``metrics.json``: ``model``, ``data``, ``layout``, ``classes``, ``split`` (subset,
        valid_pct, seed, from, n_images, n_total), ``images`` (file names scored), ``train_res`` and
        ``full_res`` (None unless scored): each :func:`~dronefast.metrics.scores_from_confusion`'s dict plus
        ``how`` (text), ``size`` and ``confusion`` (``C x C`` counts, rows = truth).

    Raises:
        DronefastError: a refused overwrite, an empty split, class tables that differ, or (as DatasetError)
            a photo or mask that is missing or cannot be read.
    """
    lay = data if isinstance(data, DatasetLayout) else find_layout(data, layout)
    out = Path(out) if out is not None else None
    if out is not None:
        for folder in (lay.image_dir, lay.mask_dir):
            try:
                ensure_outside(out, folder)
            except ValueError as e:
                raise UsageError(str(e)) from None
        existing = [out / f for f in EVAL_FILES if (out / f).exists()]
        if existing and not overwrite:
            raise DronefastError(f"refusing to overwrite {', '.join(map(str, existing[:3]))}"
                                 f"{' and more' if len(existing) > 3 else ''} (use --overwrite)")
    dev = torch.device(device) if device is not None else default_device()
    if isinstance(model, (str, Path)):
        net, info = load_model(model, dev, allow_pickle=allow_pickle)
        model_name = str(model)
    else:
        net, info = model
        model_name = type(net).__name__
    if tuple(lay.classes.names) != tuple(info.classes.names):
        raise DronefastError(f"the dataset's classes ({len(lay.classes)}: {', '.join(lay.classes.names[:4])}, ...) "
                             f"differ from the model's ({len(info.classes)}: {', '.join(info.classes.names[:4])}, "
                             "...); the scores would compare different things")
    n_total = len(lay.image_files())
    if all_images:
        files, split = lay.image_files(), {"subset": "all", "valid_pct": None, "seed": None, "from": None}
    else:
        vp, sd, src = split_settings(info, valid_pct, seed)
        files = sorted(validation_files(lay, vp, sd))
        split = {"subset": "validation", "valid_pct": vp, "seed": sd, "from": src}
        if not files:
            raise DronefastError(f"the validation split of {n_total} photos with valid_pct {vp} is empty; "
                                 "use a larger --valid-pct or --all")
    split.update(n_images=len(files), n_total=n_total)

    whole = Predictor((net, info), device=dev, tile=False, batch_size=batch_size, tta=tta, bf16=bf16)
    full = Predictor((net, info), device=dev, tile=tile, scale=scale, overlap=overlap, batch_size=batch_size,
                     tta=tta, bf16=bf16) if full_res else None
    n = len(info.classes)
    size = whole.tile_size
    cm_train = torch.zeros((n, n), dtype=torch.long)
    cm_full = torch.zeros((n, n), dtype=torch.long)
    modes = set()
    examples = []
    it = files
    if progress:
        from fastprogress.fastprogress import progress_bar
        it = progress_bar(files)
    for img in it:
        mask = lay.label_path_for(img)
        if not mask.is_file():
            raise MissingMaskError(f"no mask {mask.name} in {lay.mask_dir}", img)
        x = np.array(read_image(img, size))           # exactly what training fed the network
        y = read_mask(mask, lay.classes, size)
        pred = whole.predict(x)
        cm_train += confusion_matrix(torch.from_numpy(pred), torch.from_numpy(np.array(y)), n)
        if len(examples) < n_examples:
            examples.append((img.name, x, y, pred))
        if full is not None:
            yf = read_mask(mask, lay.classes)
            pf = full.predict(img)
            if pf.shape != yf.shape:
                raise SizeMismatchError(f"mask is {format_size(yf.shape)} but its photo {img.name} is "
                                        f"{format_size(pf.shape)} (WxH)", mask)
            cm_full += confusion_matrix(torch.from_numpy(pf), torch.from_numpy(np.array(yf)), n)
            modes.add(full.describe(pf.shape))

    names = list(info.classes.names)
    metrics: Dict[str, Any] = {
        "model": model_name, "arch": info.arch, "model_size": format_size(size), "data": str(lay.root),
        "layout": lay.kind, "classes": names, "split": split, "images": [f.name for f in files],
        "train_res": {"how": f"photo and mask resized to {format_size(size)}, whole-image" + (", TTA" if tta else ""),
                      "size": format_size(size), "tta": tta,
                      **scores_from_confusion(cm_train, names, info.void_code), "confusion": cm_train.tolist()},
        "full_res": None,
    }
    if full is not None:
        metrics["full_res"] = {
            "how": "; ".join(sorted(modes)) + (", TTA" if tta else ""), "size": "full",
            "tile": tile, "scale": scale, "overlap": overlap, "tta": tta,
            **scores_from_confusion(cm_full, names, info.void_code), "confusion": cm_full.tolist()}
    if out is not None:
        _write_reports(metrics, examples, info.classes, out)
    return metrics


# ------------------------------------------------------------------------------------------ command line

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.evaluate``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.evaluate",
        description="Score a model on its validation split (or all photos) at training and full resolution; "
                    "writes metrics.json, per_class.csv/.md, confusion.png, iou.png and examples.png.")
    p.add_argument("model", type=Path, metavar="MODEL", help="model.json / model.safetensors (a .pkl needs --pickle)")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="dataset folder, any layout (default: the one the model was trained on, if recorded)")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="layout to use when several are present")
    p.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: <model folder>/eval)")
    p.add_argument("--all", dest="all_images", action="store_true", help="score every photo, not the split")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the model's, else 42)")
    p.add_argument("--valid-pct", type=fraction, default=None, metavar="F",
                   help="validation share (default: the model's, else 0.1)")
    p.add_argument("--full-res", action=argparse.BooleanOptionalAction, default=True,
                   help="also score full-resolution predictions (default: yes)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiled", dest="tile", action="store_const", const=True, default="auto",
                      help="full resolution: always tile (default: tile photos more than 2x the model size)")
    mode.add_argument("--whole-image", dest="tile", action="store_const", const=False,
                      help="full resolution: always predict the whole photo resized to the model size")
    p.add_argument("--scale", type=positive_float, metavar="S", help="resize factor before tiling (see dronefast.predict)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP, metavar="F", help="tile overlap, 0..1")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="windows per forward pass")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation (average with the horizontally and vertically flipped photo), at both "
                        "resolutions: about 3x the prediction time")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA, or CPUs with AMX)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--pickle", action="store_true", help="allow a fastai .pkl export (only files you trust)")
    p.add_argument("--examples", type=int, default=4, metavar="N", help="photos shown in examples.png (4)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _line(title: str, r: Dict[str, Any]) -> str:
    return (f"{title}: pixel accuracy {_fmt(r['pixel_accuracy'])}, accuracy without {r['void_class']} "
            f"{_fmt(r['accuracy_mask'])}, mIoU {_fmt(r['miou'])} over {len(r['miou_classes'])} classes")


def _trained_on(model: Path) -> Path:
    """The dataset folder recorded in a saved model's ``train_args`` (UsageError when there is none)."""
    import json

    jpath = None if model.suffix == ".pkl" else model_paths(model)[1]
    if jpath is not None and not jpath.is_file():
        raise ModelFileError(f"{jpath}: model file not found")
    try:
        info = ModelInfo.from_json(json.loads(jpath.read_text(encoding="utf-8")), str(jpath)) if jpath else None
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{jpath}: cannot read the model description ({e})") from None
    data = ((info.extra.get("train_args") or {}).get("data")) if info is not None else None
    if not data:
        raise UsageError("--data is needed: the model description does not record its training data")
    return Path(data)


def _run(args: argparse.Namespace) -> int:
    if not 0 <= args.overlap < 1:
        raise UsageError(f"--overlap must be in [0, 1), got {args.overlap}")
    if args.all_images and (args.seed is not None or args.valid_pct is not None):
        raise UsageError("--all scores every photo; it does not go with --seed or --valid-pct")
    data = args.data
    if data is None:
        data = _trained_on(args.model)
    out = args.out if args.out is not None else default_out(args.model)
    m = evaluate_model(args.model, data, out=out, valid_pct=args.valid_pct, seed=args.seed,
                       all_images=args.all_images, full_res=args.full_res, layout=args.layout,
                       device=parse_device(args.device), tile=args.tile, scale=args.scale, overlap=args.overlap,
                       batch_size=args.batch_size, tta=args.tta, bf16=args.bf16, allow_pickle=args.pickle,
                       n_examples=max(0, args.examples), overwrite=args.overwrite, progress=not args.no_progress)
    sp = m["split"]
    which = ("all photos" if sp["subset"] == "all" else
             f"validation split (valid_pct {sp['valid_pct']}, seed {sp['seed']}, from {sp['from']})")
    print(f"{sp['n_images']} of {sp['n_total']} photos scored: {which}")
    print(_line(f"training resolution {m['train_res']['size']}", m["train_res"]))
    if m["full_res"] is not None:
        print(_line(f"full resolution ({m['full_res']['how']})", m["full_res"]))
    print(f"mIoU classes: {', '.join(m['train_res']['miou_classes'])}")
    print(f"report written to {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 data/model failure, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
