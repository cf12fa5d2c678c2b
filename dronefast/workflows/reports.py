"""The files an evaluation writes: ``metrics.json``, ``per_class.csv``, ``per_class.md``, ``confusion.png``
(row-normalised), ``iou.png`` (per-class IoU bars) and ``examples.png`` (photo / truth / prediction)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..data.masks import ids_to_colour
from ..outputs import save_figure, write_json, write_text

__all__ = ["EVAL_FILES", "LANDING_FILES", "per_class_rows", "write_reports", "fmt", "describe_split", "safety_figure"]

#: Files :func:`write_reports` writes into its output folder.
EVAL_FILES = ("metrics.json", "per_class.csv", "per_class.md", "confusion.png", "iou.png", "examples.png")
#: Files added when the landing finder is scored too.
LANDING_FILES = ("landing_safety.csv", "landing_safety.png")


def fmt(v: Optional[float], digits: int = 4) -> str:
    """`v` with `digits` decimals; empty for None."""
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
    return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")


def describe_split(sp: Dict[str, Any]) -> str:
    """The subset scored, in words: ``all photos``, ``validation split (valid_pct 0.2, seed 3, from model)``,
    ``test split (test_pct 0.1, seed 42, from model)``, ``test split (20 listed photos, from model)``; a recorded
    split says ``as recorded by the run`` instead of where its settings came from."""
    if sp["subset"] == "all":
        return "all photos"
    if sp.get("test_stems") and sp["subset"] == "test":
        how = f"{len(sp['test_stems'])} listed photos"
    elif sp["subset"] == "test":
        how = f"test_pct {sp['test_pct']}, seed {sp['seed']}"
    else:
        how = f"valid_pct {sp['valid_pct']}, seed {sp['seed']}"
        how += f", after test_pct {sp['test_pct']}" if sp.get("test_pct") else ""
    where = "as recorded by the run" if sp["from"] == "record" else f"from {sp['from']}"
    return f"{sp['subset']} split ({how}, {where})"


def _markdown(metrics: Dict[str, Any], rows: List[Dict[str, Any]]) -> str:
    sp = metrics["split"]
    lines = [f"# Evaluation of {metrics['model']}", "",
             f"Data: {metrics['data']} ({metrics['layout']} layout), {sp['n_images']} of {sp['n_total']} photos: "
             f"{describe_split(sp)}", ""]
    for key, title in (("train_res", "training resolution"), ("full_res", "full resolution")):
        r = metrics.get(key)
        if r is None:
            continue
        lines.append(f"- {title} ({r['how']}): pixel accuracy {fmt(r['pixel_accuracy'])}, "
                     f"accuracy without void ({r['void_class']}) {fmt(r['accuracy_mask'])}, "
                     f"mIoU {fmt(r['miou'])} over {len(r['miou_classes'])} classes "
                     f"({', '.join(r['miou_classes'])})")
    lines += ["", f"mIoU rule: {metrics['train_res']['miou_rule']}.", ""]
    cal = metrics.get("calibration")
    if cal:
        lines += [f"Calibration at the training resolution (expected calibration error, 15 bins; temperature "
                  f"{cal['temperature']:.3f}): top-class probability {fmt(cal['class']['before']['ece'])} -> "
                  f"{fmt(cal['class']['after']['ece'])}, P(safe) {fmt(cal['p_safe']['before']['ece'])} -> "
                  f"{fmt(cal['p_safe']['after']['ece'])}.", ""]
    land = metrics.get("landing")
    if land:
        r = land["result"]
        lines += [f"Landing at {land['size']}, clearance {land['settings']['clearance_px']:g} px, P(safe) >= "
                  f"{r['threshold']:g}: top-1 spot truly safe in {r['top1_safe']} of {r['offered']} photos with a "
                  f"spot ({fmt(r['top1_safe_rate'], 3) or 'n/a'}), {r['spots_safe']} of {r['spots']} spots truly safe, "
                  f"{r['spots_touching']} touching a person, dog, car or bicycle, abstained on {r['abstained']} of "
                  f"{r['photos']} photos, missed {r['missed']} (the truth had a spot).", ""]
    full = metrics.get("full_res") is not None
    head = ["id", "class", "support (train)", "IoU (train)", "accuracy (train)", "dice (train)"]
    if full:
        head += ["support (full)", "IoU (full)", "accuracy (full)", "dice (full)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h != "class" else ":---" for h in head) + "|"]
    for r in rows:
        cells = [str(r["id"]), r["class"], str(r["support_train"]), fmt(r["iou_train"]) or "-",
                 fmt(r["accuracy_train"]) or "-", fmt(r["dice_train"]) or "-"]
        if full:
            cells += [str(r["support_full"]), fmt(r["iou_full"]) or "-", fmt(r["accuracy_full"]) or "-",
                      fmt(r["dice_full"]) or "-"]
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
        ax.barh(pos, np.nan_to_num(iou), height, label=f"{title} (mIoU {fmt(metrics[key]['miou'], 3) or 'n/a'})")
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


def safety_figure(landing: Dict[str, Any]):
    """The landing safety trade-off: top-1 truly safe rate against abstention rate, one point per P(safe)
    threshold (spots touching a person, dog, car or bicycle marked in red)."""
    from matplotlib.figure import Figure

    rows = [r for r in landing["rows"] if r["top1_safe_rate"] is not None]
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    xs = [r["abstention_rate"] for r in rows]
    ys = [r["top1_safe_rate"] for r in rows]
    ax.plot(xs, ys, "-o", color="tab:blue", zorder=1)
    for r, x, y in zip(rows, xs, ys):
        bad = r["spots_touching"] > 0
        ax.scatter([x], [y], color="tab:red" if bad else "tab:blue", zorder=2)
        ax.annotate(f"{r['threshold']:g}" + (f" ({r['spots_touching']} touching)" if bad else ""), (x, y),
                    textcoords="offset points", xytext=(5, -10), fontsize=7)
    chosen = landing["result"]
    if chosen["top1_safe_rate"] is not None:
        ax.scatter([chosen["abstention_rate"]], [chosen["top1_safe_rate"]], s=160, facecolors="none",
                   edgecolors="black", label=f"default threshold {chosen['threshold']:g}", zorder=3)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("abstention rate (photos with no spot offered)")
    ax.set_ylabel("top-1 spot truly safe (share of photos with a spot)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(min([0.5, *ys]) - 0.02, 1.01)
    ax.set_title(f"landing safety by P(safe) threshold ({landing['size']}, clearance "
                 f"{landing['settings']['clearance_px']:g} px)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def write_reports(metrics: Dict[str, Any], examples, classes, out: Path) -> None:
    """Write :data:`EVAL_FILES` into `out` (and :data:`LANDING_FILES` when the landing finder was scored), each
    atomically, from :func:`~dronefast.workflows.evaluation.evaluate_model`'s result and a list of
    ``(name, photo, truth, prediction)`` examples."""
    rows = per_class_rows(metrics)
    write_json(out / "metrics.json", metrics)
    write_text(out / "per_class.csv", _csv_text(rows))
    write_text(out / "per_class.md", _markdown(metrics, rows))
    save_figure(_confusion_figure(metrics), out / "confusion.png")
    save_figure(_iou_figure(metrics), out / "iou.png")
    save_figure(_examples_figure(examples, classes), out / "examples.png")
    if metrics.get("landing"):
        write_text(out / "landing_safety.csv", _csv_text(metrics["landing"]["rows"]))
        save_figure(safety_figure(metrics["landing"]), out / "landing_safety.png")
