"""What the page says about the model and about the scale a photo is judged at: the model's own scores, read from
its training run (``metrics.json``'s ``test`` block: photos no step of training saw; else the validation scores
``model.json`` keeps, labelled as such) and one line naming the resolution the model sees a photo at. Light: no
Gradio, no PyTorch.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from ..data.camera import CameraInfo
from ..models.description import model_json_path
from ..sizes import format_size

__all__ = ["model_scores", "scores_markdown", "judged_line", "camera_line", "SCORE_NAMES"]

#: The scores shown, in this order, with their names on the page.
SCORE_NAMES = {"miou": "mIoU", "pixel_accuracy": "pixel accuracy", "accuracy_mask": "accuracy (void excluded)"}


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _numbers(d: Any) -> Dict[str, float]:
    if not isinstance(d, dict):
        return {}
    return {k: float(d[k]) for k in SCORE_NAMES if isinstance(d.get(k), (int, float)) and math.isfinite(d[k])}


def model_scores(model: Union[str, Path, None]) -> Optional[Dict[str, Any]]:
    """``{"split": "test" | "validation", "n_images": int or None, "scores": {name: value}}`` of a saved model
    (a run folder or a path :func:`~dronefast.models.description.model_json_path` takes): the test scores of the run's
    ``metrics.json`` when present, else the validation scores in ``model.json``'s ``extra``; None when neither
    holds any (or `model` is None, e.g. a network given in memory)."""
    if model is None:
        return None
    desc = model_json_path(model)
    metrics = _read(desc.parent / "metrics.json") or {}
    test = metrics.get("test")
    if _numbers(test):
        return {"split": "test", "n_images": test.get("n_images"), "scores": _numbers(test)}
    kept = _numbers(((_read(desc) or {}).get("extra") or {}).get("scores"))
    return {"split": "validation", "n_images": metrics.get("n_valid"), "scores": kept} if kept else None


def scores_markdown(scores: Optional[Dict[str, Any]]) -> str:
    """One line for the page: the model's scores and on which photos they were measured."""
    if not scores:
        return "**Model scores:** none recorded with this model (score it with `python -m dronefast.evaluate`)."
    n = scores.get("n_images")
    photos = f" ({n} photos)" if isinstance(n, int) else ""
    values = ", ".join(f"{SCORE_NAMES[k]} {v:.3f}" for k, v in scores["scores"].items())
    if scores["split"] == "test":
        return f"**Model scores on its test photos{photos}:** {values}."
    return f"**Model scores on its validation photos{photos}** (no test scores recorded; validation chose the " \
           f"epoch, so these flatter it): {values}."


def judged_line(work: Tuple[int, int], full: Tuple[int, int], tiled: bool) -> str:
    """``"Judged at 150x100 from a 6000x4000 photo"`` (sizes ``(h, w)``): the resolution the model sees; small
    objects below a few pixels there are not seen."""
    how = "in windows" if tiled else "as one picture"
    shrink = max(full[0] / max(1, work[0]), full[1] / max(1, work[1]))
    factor = f", {shrink:.3g}x smaller" if shrink > 1.005 else ""
    return f"Judged at {format_size(work)} from a {format_size(full)} photo ({how}{factor})."


def camera_line(camera: Optional[CameraInfo]) -> str:
    """What the photo says of its camera, for the page: height, ground scale, position, heading (only what is
    known; "" when nothing is), and the warning of an oblique photo."""
    if camera is None:
        return ""
    c, parts = camera, []
    if c.height_m is not None:
        parts.append(f"{c.height_m:g} m up ({c.sources.get('height_m', '?')})")
    if c.gsd_m is not None:
        parts.append(f"{100 * c.gsd_m:.3g} cm a pixel")
    if c.lat is not None and c.lon is not None:
        parts.append(f"at {c.lat:.6f}, {c.lon:.6f}")
    if c.yaw_deg is not None:
        parts.append(f"top edge facing {c.yaw_deg:g} degrees from north")
    line = f"The photo's camera: {', '.join(parts)}." if parts else ""
    return f"{line} Warning: {c.warning}." if c.warning else line
