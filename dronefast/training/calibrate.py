"""Calibrating a trained model: the temperature that makes its probabilities honest on the validation photos.

After training, the validation photos (the ones the best epoch was chosen on, never the test photos) are run
through the model as validation runs them (whole photos by tiles for object-scale training), a random sample of
their labelled pixels is kept (bounded memory), and :func:`~dronefast.metrics.calibration.fit_temperature` finds
the temperature. It is stored in the model file (``ModelInfo.temperature``); the classes predicted do not change.

Below :data:`~dronefast.metrics.calibration.MIN_FIT_PHOTOS` validation photos or
:data:`~dronefast.metrics.calibration.MIN_FIT_PIXELS` labelled validation pixels no temperature is fitted (it stays
1) and a one-line warning says why. The calibration errors returned are measured on the photos the temperature was
fitted on (``ece_fit_photos``: optimistic); the honest ones are on the test photos (``ece_test``, filled in by the
training run when it scores them, and ``evaluate``'s).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional, Tuple

import torch
from fastai.learner import Learner

from ..metrics.calibration import (
    MIN_FIT_PHOTOS,
    MIN_FIT_PIXELS,
    CalibrationTally,
    fit_temperature,
    nll,
    probabilities,
    too_few_to_choose_on,
)
from ..metrics.functional import plain
from ..models.learner import TiledValidation
from ..models.tiling import TiledNet

__all__ = ["validation_logits", "calibrate", "MAX_PIXELS"]

#: Labelled validation pixels kept for the fit (a random sample; about 24 x 4 bytes each).
MAX_PIXELS = 200_000


def _sample(learn: Learner, max_pixels: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """:func:`validation_logits` and the number of labelled validation pixels it sampled from."""
    model, void = learn.model, getattr(getattr(learn, "dronefast_info", None), "void_code", None)
    tiled = next((cb for cb in learn.cbs if isinstance(cb, TiledValidation)), None)
    net = TiledNet(model, tiled.window, tiled.overlap, tiled.batch_size) if tiled is not None else model
    batches = len(learn.dls.valid)
    per_batch = max(1, max_pixels // max(1, batches))
    gen = torch.Generator().manual_seed(seed)
    xs, ys, labelled = [], [], 0
    model.eval()
    with torch.no_grad():
        for xb, yb in learn.dls.valid:
            out = plain(net(xb)).float()
            logits = out.movedim(1, -1).reshape(-1, out.shape[1])
            y = plain(yb).reshape(-1).long()
            keep = (y != void) if void is not None else torch.ones_like(y, dtype=torch.bool)
            idx = keep.nonzero()[:, 0].cpu()
            labelled += idx.numel()
            idx = idx[torch.randperm(idx.numel(), generator=gen)[:per_batch]]
            sel = idx.to(logits.device)  # only the sampled pixels leave the device
            xs.append(logits[sel].cpu())
            ys.append(y[sel].cpu())
    return torch.cat(xs), torch.cat(ys), labelled


def validation_logits(learn: Learner, max_pixels: int = MAX_PIXELS, seed: int = 0
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, C), targets (N,))`` of up to `max_pixels` random labelled (non-void) validation pixels, the
    model run as validation runs it; the global random state is left as it was."""
    return _sample(learn, max_pixels, seed)[:2]


def calibrate(learn: Learner, max_pixels: int = MAX_PIXELS, min_photos: int = MIN_FIT_PHOTOS,
              min_pixels: int = MIN_FIT_PIXELS) -> Dict[str, Any]:
    """Fit the temperature on the validation photos and store it in ``learn.dronefast_info``, unless they are fewer
    than `min_photos` photos or hold fewer than `min_pixels` labelled pixels (then T = 1 and a one-line
    RuntimeWarning says why).

    Returns (``metrics.json``'s ``calibration``): ``temperature``, ``fitted``, ``not_fitted_because`` (None when
    fitted), ``fit_photos`` and ``fit_pixels`` (labelled pixels of those photos; ``sampled_pixels`` of them used),
    the minimums, ``ece_fit_photos`` and ``nll_fit_photos`` (``before`` / ``after`` the temperature, on those same
    photos: optimistic) and ``ece_test`` (None here: the test photos' error, filled in when they are scored).
    """
    logits, targets, labelled = _sample(learn, max_pixels, 0)
    photos = len(learn.dls.valid_ds)
    why = too_few_to_choose_on(photos, labelled, min_photos, min_pixels)
    if why is not None:
        warnings.warn(f"calibration: no temperature fitted (kept at 1) on {why}; more validation photos "
                      f"(valid_pct / --valid-pct) make it possible", RuntimeWarning, stacklevel=2)
    t = fit_temperature(logits, targets) if why is None else 1.0
    out: Dict[str, Any] = {"temperature": t, "fitted": why is None, "not_fitted_because": why, "fit_photos": photos,
                           "fit_pixels": labelled, "sampled_pixels": int(targets.numel()), "min_photos": min_photos,
                           "min_pixels": min_pixels, "ece_fit_photos": {}, "nll_fit_photos": {}, "ece_test": None}
    for key, temp in (("before", 1.0), ("after", t)):
        p = probabilities([logits], temp)
        tally = CalibrationTally()
        tally.add(p.max(1).values, p.argmax(1) == targets)
        ece = tally.ece()
        out["ece_fit_photos"][key] = None if math.isnan(ece) else ece   # no pixel: JSON null
        out["nll_fit_photos"][key] = nll(logits, targets, temp)
    info: Optional[Any] = getattr(learn, "dronefast_info", None)
    if info is not None:
        info.temperature = t
    return out
