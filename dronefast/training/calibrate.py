"""Calibrating a trained model: the temperature that makes its probabilities honest on the validation photos.

After training, the validation photos (the ones the best epoch was chosen on, never the test photos) are run
through the model as validation runs them (whole photos by tiles for object-scale training), a random sample of
their labelled pixels is kept (bounded memory), and :func:`~dronefast.metrics.calibration.fit_temperature` finds
the temperature. It is stored in the model file (``ModelInfo.temperature``); the classes predicted do not change.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from fastai.learner import Learner

from ..inference.tiling import TiledNet
from ..metrics.calibration import CalibrationTally, fit_temperature, nll
from ..metrics.functional import plain
from ..models.learner import TiledValidation

__all__ = ["validation_logits", "calibrate", "MAX_PIXELS"]

#: Labelled validation pixels kept for the fit (a random sample; about 24 x 4 bytes each).
MAX_PIXELS = 200_000


def validation_logits(learn: Learner, max_pixels: int = MAX_PIXELS, seed: int = 0
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, C), targets (N,))`` of up to `max_pixels` random labelled (non-void) validation pixels, the
    model run as validation runs it; the global random state is left as it was."""
    model, void = learn.model, getattr(getattr(learn, "dronefast_info", None), "void_code", None)
    tiled = next((cb for cb in learn.cbs if isinstance(cb, TiledValidation)), None)
    net = TiledNet(model, tiled.window, tiled.overlap, tiled.batch_size) if tiled is not None else model
    batches = len(learn.dls.valid)
    per_batch = max(1, max_pixels // max(1, batches))
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    model.eval()
    with torch.no_grad():
        for xb, yb in learn.dls.valid:
            out = plain(net(xb)).float()
            logits = out.movedim(1, -1).reshape(-1, out.shape[1])
            y = plain(yb).reshape(-1).long()
            keep = (y != void) if void is not None else torch.ones_like(y, dtype=torch.bool)
            idx = keep.nonzero()[:, 0].cpu()
            idx = idx[torch.randperm(idx.numel(), generator=gen)[:per_batch]]
            sel = idx.to(logits.device)  # only the sampled pixels leave the device
            xs.append(logits[sel].cpu())
            ys.append(y[sel].cpu())
    return torch.cat(xs), torch.cat(ys)


def calibrate(learn: Learner, max_pixels: int = MAX_PIXELS) -> Dict[str, Any]:
    """Fit the temperature on the validation photos and store it in ``learn.dronefast_info``; returns the
    temperature with the NLL and the expected calibration error of the top-class probability, before and after
    (on the same validation pixels: the honest figures are evaluate's, on the test photos)."""
    logits, targets = validation_logits(learn, max_pixels)
    t = fit_temperature(logits, targets)
    out: Dict[str, Any] = {"temperature": t, "pixels": int(targets.numel())}
    for key, temp in (("before", 1.0), ("after", t)):
        p = torch.softmax(logits / temp, 1)
        tally = CalibrationTally()
        tally.add(p.max(1).values, p.argmax(1) == targets)
        out[f"ece_{key}"], out[f"nll_{key}"] = tally.ece(), nll(logits, targets, temp)
    info: Optional[Any] = getattr(learn, "dronefast_info", None)
    if info is not None:
        info.temperature = t
    return out
