"""Scoring a trained model on the photos its training held out: :func:`evaluate_model`.

The photos are those of the model's recorded split (``info.extra["split"]``, what the training run's DataLoaders
used; :mod:`dronefast.data.split`): a recorded photo missing from the data folder is refused by name, photos added
since training are left out and named in the split's ``note``, and ``valid_pct`` / ``seed`` are refused. A model
without a record (an older run) has its split re-derived from its description (``info.extra["train_args"]``:
``valid_pct``, ``seed``, ``test_pct``, ``test_stems``; else 0.1 and 42), which ``valid_pct`` and ``seed`` replace
when given, and the ``note`` says so. ``all_images`` scores every photo of the folder instead.

Two resolutions are scored, each from one confusion matrix summed over the photos (dataset-level numbers, see
:mod:`dronefast.metrics.functional` for the void and mIoU rules):

* **training resolution**: photo and mask resized to the model's training size as training did (photo:
  JPEG draft + Lanczos, mask: NEAREST), whole-image prediction -- the number comparable with the training
  table's ``miou`` / ``accuracy_mask``;
* **full resolution**: the prediction path of :mod:`dronefast.inference.predictor` (tiled or whole-image,
  upsampled to the photo's size) against the full-size mask -- what a user of ``predict`` gets.

The report files are written by :mod:`dronefast.workflows.reports`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from fastai.torch_core import default_device

from ..data.images import read_image
from ..data.layout import DatasetLayout, find_layout
from ..data.masks import read_mask
from ..data.split import SUBSETS, model_split
from ..errors import DronefastError, MissingMaskError, SizeMismatchError, UsageError
from ..inference.predict_options import PredictOptions
from ..inference.predictor import ModelLike, Predictor
from ..landing.policy import resolve_policy
from ..landing.safety import SafetyCheck, SafetyTally
from ..metrics.calibration import CalibrationTally, probabilities
from ..metrics.functional import confusion_matrix, scores_from_confusion
from ..models.modelfile import ModelInfo, load_model, model_paths
from ..outputs import ensure_outside, refuse_overwrite, writable_folder
from ..sizes import format_size
from .reports import EVAL_FILES, LANDING_FILES, write_reports

__all__ = ["evaluate_model", "default_out", "select_photos"]

PathLike = Union[str, Path]


def default_out(model: PathLike) -> Path:
    """``<folder of the model files>/eval``."""
    model = Path(model)
    return (model.parent if model.suffix == ".pkl" else model_paths(model)[1].parent) / "eval"


def select_photos(layout: DatasetLayout, info: ModelInfo, subset: Optional[str] = None,
                  valid_pct: Optional[float] = None, seed: Optional[int] = None) -> Tuple[List[Path], Dict[str, Any]]:
    """The photos to score and a description of the split: `subset` is ``"test"`` (default when the model's
    training set photos aside), ``"validation"`` (default otherwise: the photos the best epoch was chosen on),
    ``"train"`` or ``"all"``. The split is the one the model records (``info.extra["split"]``: a recorded photo
    missing from the folder is refused, photos added since are left out), else re-derived from its training
    settings (:func:`~dronefast.data.split.model_split`); the description's ``note`` says either in one line."""
    if subset is not None and subset not in SUBSETS:
        raise UsageError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    chosen = model_split(layout, info.extra, valid_pct, seed)  # every re-derived split holds a photo, or refused
    subset = subset or ("test" if chosen.has_test else "validation")
    if subset == "test" and not chosen.has_test:
        raise DronefastError("the model's training set no photos aside for testing (trained without --test-pct); "
                             "score the validation split (--subset validation), or --all")
    files = sorted(chosen.photos(subset))
    every = subset == "all"
    desc = {"subset": subset, **(dict.fromkeys(chosen.split.as_dict()) if every else chosen.split.as_dict()),
            "from": None if every else chosen.source, "n_images": len(files), "n_total": len(chosen.parts["all"]),
            "added": [] if every else list(chosen.added), "note": None if every else chosen.note}
    return files, desc


@dataclass
class _Tally:
    """Confusion matrices at both resolutions, how the full-resolution photos were predicted, examples, the
    calibration tallies (before and after the model's temperature) and the landing safety tally."""

    n: int
    safe_ids: List[int]
    void: Optional[int]
    train: torch.Tensor = None
    full: torch.Tensor = None
    modes: set = field(default_factory=set)
    examples: list = field(default_factory=list)
    calibration: Dict[str, CalibrationTally] = field(default_factory=dict)
    safety: Optional[SafetyTally] = None

    def __post_init__(self):
        self.train = torch.zeros((self.n, self.n), dtype=torch.long)
        self.full = torch.zeros((self.n, self.n), dtype=torch.long)
        self.calibration = {k: CalibrationTally() for k in ("class_before", "class_after", "safe_before", "safe_after")}

    def add_calibration(self, logits: torch.Tensor, truth: torch.Tensor, temperature: float) -> None:
        """Top-class confidence against correctness and P(safe) against truly-safe, void pixels left out."""
        keep = truth != self.void if self.void is not None else torch.ones_like(truth, dtype=torch.bool)
        right = logits.argmax(0) == truth
        truly_safe = torch.isin(truth, torch.tensor(self.safe_ids))
        for key, t in (("before", 1.0), ("after", temperature)):
            p = probabilities([logits], t, dim=0)
            self.calibration[f"class_{key}"].add(p.max(0).values[keep], right[keep])
            self.calibration[f"safe_{key}"].add(p[self.safe_ids].sum(0)[keep], truly_safe[keep])


def _score_photo(img: Path, layout: DatasetLayout, whole: Predictor, full: Optional[Predictor], tally: _Tally,
                 n_examples: int, landing: Optional[SafetyCheck]) -> None:
    mask = layout.label_path_for(img)
    if not mask.is_file():
        raise MissingMaskError(f"no mask {mask.name} in {layout.mask_dir}", img)
    size = whole.info.work_size or whole.tile_size
    x = np.array(read_image(img, size))           # exactly what training validated on
    y = read_mask(mask, layout.classes, size)
    logits = whole.predict_logits(x)
    pred = logits.max(0).indices.to(torch.uint8).numpy()   # as Predictor.predict, at the same size
    truth = torch.from_numpy(np.array(y)).long()
    tally.train += confusion_matrix(torch.from_numpy(pred), truth, tally.n)
    tally.add_calibration(logits, truth, whole.temperature)
    if len(tally.examples) < n_examples:
        tally.examples.append((img.name, x, y, pred))
    if full is None:
        return
    yf = read_mask(mask, layout.classes)
    if landing is None:
        pf = full.predict(img)
    else:  # the landing maps come from the same forward passes as the full-size map
        pf, small = full.predict_with_confidence(img, landing.size, tally.safety.safe_ids)
    if pf.shape != yf.shape:
        raise SizeMismatchError(f"mask is {format_size(yf.shape)} but its photo {img.name} is "
                                f"{format_size(pf.shape)} (WxH)", mask)
    tally.full += confusion_matrix(torch.from_numpy(pf), torch.from_numpy(np.array(yf)), tally.n)
    tally.modes.add(full.describe(pf.shape))
    if landing is not None:
        tally.safety.add(small.ids, small.p_safe, yf)


def _load(model: ModelLike, options: PredictOptions) -> Tuple[Tuple[Any, ModelInfo], str]:
    if options.engine == "onnxruntime":
        from ..inference.onnx import OnnxEngine  # the optional extra; says how to install it when missing

        dev = options.device or default_device()
        return OnnxEngine.from_path(model, threads=options.threads, device=dev), str(model)
    if isinstance(model, (str, Path)):
        dev = options.device or default_device()
        return load_model(model, dev, allow_pickle=options.allow_pickle), str(model)
    return model, type(model[0]).__name__


def _check_out(out: Optional[Path], layout: DatasetLayout, overwrite: bool, landing: bool) -> None:
    if out is None:
        return
    for folder in (layout.image_dir, layout.mask_dir):
        try:
            ensure_outside(out, folder)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if not overwrite:
        refuse_overwrite([out / f for f in EVAL_FILES + (LANDING_FILES if landing else ())], "use --overwrite")


def evaluate_model(model: ModelLike, data: Union[PathLike, DatasetLayout], out: Optional[PathLike] = None, *,
                   options: Optional[PredictOptions] = None, subset: Optional[str] = None,
                   valid_pct: Optional[float] = None, seed: Optional[int] = None, all_images: bool = False,
                   full_res: bool = True, layout: Optional[str] = None, n_examples: int = 4,
                   overwrite: bool = False, progress: bool = True,
                   landing: Optional[SafetyCheck] = None) -> Dict[str, Any]:
    """Score `model` on a dataset's validation split (or all of it) at training and full resolution.

    Args:
        model: a training run folder, saved model path (``.pkl`` only with ``options.allow_pickle``) or a
            ``(network, ModelInfo)`` pair.
        data: dataset folder (any layout) or a :class:`DatasetLayout`.
        out: folder to write the report files (:data:`~dronefast.workflows.reports.EVAL_FILES`) into; None writes
            nothing.
        options: how to predict (:class:`~dronefast.inference.predict_options.PredictOptions`); `tile`, `scale` and
            `overlap` only affect the full-resolution scores, `tta` both (with TTA the training-resolution scores
            no longer equal those training reported).
        subset: ``"test"``, ``"validation"``, ``"train"`` or ``"all"`` (default: test when the model's training set
            photos aside for it, else validation); see :func:`select_photos`.
        valid_pct, seed: replace the split's settings of a model without a recorded split (default: its training
            arguments, else 0.1 and 42); refused (UsageError) for a model that records its split.
        all_images: score every photo (``subset="all"``).
        full_res: also score full-resolution predictions.
        layout: layout kind to use when the folder holds several.
        n_examples: photos drawn in ``examples.png``.
        overwrite: replace existing report files in `out`.
        progress: show a progress bar.
        landing: also score the landing finder against the truth (:mod:`dronefast.landing.safety`), on the
            full-resolution predictions (needs `full_res`).

    Returns:
        The content of ``metrics.json``: ``model``, ``data``, ``layout``, ``classes``, ``split`` (subset,
        valid_pct, seed, test_pct, test_stems, from (``"record"`` or where the settings came from), n_images,
        n_total, added (stems left out), note (one line, or None)), ``images`` (file names scored),
        ``train_res`` (training resolution, or working scale) and ``full_res`` (None unless scored): each
        :func:`~dronefast.metrics.functional.scores_from_confusion`'s dict plus ``how`` (text), ``size`` and
        ``confusion`` (``C x C`` counts, rows = truth).

    Raises:
        DronefastError: a refused overwrite, too few photos to split, class tables that differ, or (as DatasetError)
            a photo or mask that is missing or cannot be read (a recorded photo missing: before anything is
            written). UsageError: `valid_pct` or `seed` for a model that records its split.
    """
    opts = options or PredictOptions()
    lay = data if isinstance(data, DatasetLayout) else find_layout(data, layout)
    out = Path(out) if out is not None else None
    _check_out(out, lay, overwrite, landing is not None)
    (net, info), model_name = _load(model, opts)
    if tuple(lay.classes.names) != tuple(info.classes.names):
        raise DronefastError(f"the dataset's classes ({len(lay.classes)}: {', '.join(lay.classes.names[:4])}, ...) "
                             f"differ from the model's ({len(info.classes)}: {', '.join(info.classes.names[:4])}, "
                             "...); the scores would compare different things")
    files, split = select_photos(lay, info, "all" if all_images else subset, valid_pct, seed)
    if out is not None:
        writable_folder(out)  # before any photo is scored: a bad --out is refused at once
    # at the training resolution as training validated: whole photos squished to the model size, or (object-scale
    # training) whole photos at the working scale seen by tiles
    whole = Predictor((net, info), opts, tile=True, scale=1.0) if info.work_size else Predictor((net, info), opts,
                                                                                                 tile=False)
    full = Predictor((net, info), opts) if full_res else None
    if landing is not None and not full_res:
        raise UsageError("the landing safety score runs on the full-resolution predictions: drop --no-full-res")
    safe_ids = resolve_policy(info.classes, None if landing is None else landing.options.safe,
                              None if landing is None else landing.options.hazards)[0]
    tally = _Tally(len(info.classes), safe_ids, info.void_code,
                   safety=None if landing is None else landing.tally(info.classes))
    it = files
    if progress:
        from fastprogress.fastprogress import progress_bar
        it = progress_bar(files)
    for img in it:
        _score_photo(img, lay, whole, full, tally, n_examples, landing)
    metrics = _assemble(model_name, info, lay, split, files, tally, opts, full_res)
    metrics["calibration"] = _calibration(tally, whole.temperature)
    if landing is not None:
        metrics["landing"] = {"size": format_size(landing.size), "settings": tally.safety.settings(),
                              "rows": tally.safety.rows(), "result": tally.safety.summary(landing.options.min_p_safe)}
    if out is not None:
        write_reports(metrics, tally.examples, info.classes, out)
    return metrics


def _calibration(tally: _Tally, temperature: float) -> Dict[str, Any]:
    """ECE of the top-class probability and of P(safe), with T = 1 and with the model's temperature."""
    c = tally.calibration
    return {"temperature": temperature,
            "class": {"before": c["class_before"].as_dict(), "after": c["class_after"].as_dict()},
            "p_safe": {"before": c["safe_before"].as_dict(), "after": c["safe_after"].as_dict()}}


def _assemble(model_name: str, info: ModelInfo, lay: DatasetLayout, split: Dict[str, Any], files: List[Path],
              tally: _Tally, opts: PredictOptions, full_res: bool) -> Dict[str, Any]:
    names, size, tta = list(info.classes.names), info.work_size or info.size, opts.tta
    how = (f"photo and mask at the working scale {format_size(size)}, tiled with {format_size(info.size)} windows"
           if info.work_size else f"photo and mask resized to {format_size(size)}, whole-image")
    metrics: Dict[str, Any] = {
        "model": model_name, "arch": info.arch, "model_size": format_size(info.size), "data": str(lay.root),
        "layout": lay.kind, "classes": names, "split": split, "images": [f.name for f in files],
        "train_res": {"how": how + (", TTA" if tta else ""), "size": format_size(size), "tta": tta,
                      **scores_from_confusion(tally.train, names, info.void_code), "confusion": tally.train.tolist()},
        "full_res": None,
    }
    if full_res:
        metrics["full_res"] = {
            "how": "; ".join(sorted(tally.modes)) + (", TTA" if tta else ""), "size": "full",
            "tile": opts.tile, "scale": opts.scale, "overlap": opts.overlap, "tta": tta,
            **scores_from_confusion(tally.full, names, info.void_code), "confusion": tally.full.tolist()}
    return metrics
