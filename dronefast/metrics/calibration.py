"""Calibration: does a predicted probability mean what it says? Expected calibration error and temperature scaling.

A network trained with cross-entropy is often over-confident: of the pixels it gives a probability of 0.95, fewer
than 95% are right. Temperature scaling (Guo et al., 2017) divides the logits by one number ``T`` fitted on
held-out pixels by minimising the negative log-likelihood; the predicted classes do not change (the argmax is the
same for any ``T > 0``), only how sure the model says it is. After it, a threshold on a probability (the landing
finder's ``P(safe)``) means roughly that probability.

The expected calibration error (ECE) is the share-weighted mean gap between confidence and accuracy over equal-width
confidence bins: ``sum_b n_b / N * |accuracy_b - confidence_b|``. :class:`CalibrationTally` accumulates the bins
over any number of pixels with bounded memory (two tallies: the top-class probability against "the class is
right", and ``P(safe)`` against "the pixel is truly safe").
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

__all__ = ["CalibrationTally", "fit_temperature", "expected_calibration_error", "nll", "probabilities",
           "too_few_to_choose_on", "DEFAULT_BINS", "MIN_FIT_PHOTOS", "MIN_FIT_PIXELS"]

DEFAULT_BINS = 15
#: Fewest validation photos, and labelled (non-void) validation pixels, that a temperature is fitted on; a best
#: epoch chosen on fewer photos is warned about. Pixels of one photo are far from independent (its light, its
#: ground), so one or two photos say little about the next (a 20-photo dataset leaves 1 validation photo, whose
#: temperature 0.70 sharpened an already poor model); the pixel minimum keeps tiny training sizes from fitting on
#: a few thousand pixels. 3 photos of the built-in sample at its 144x96 training size hold about 41,000 pixels.
MIN_FIT_PHOTOS, MIN_FIT_PIXELS = 3, 30_000


class CalibrationTally:
    """Counts per confidence bin: pixels, summed confidence and summed outcome (1 = right / truly safe).

    Args:
        bins: equal-width bins over [0, 1].
    """

    def __init__(self, bins: int = DEFAULT_BINS):
        self.bins = int(bins)
        self.count = torch.zeros(self.bins, dtype=torch.float64)
        self.conf = torch.zeros(self.bins, dtype=torch.float64)
        self.hits = torch.zeros(self.bins, dtype=torch.float64)

    def add(self, confidence: Tensor, outcome: Tensor) -> None:
        """Add pixels: `confidence` in [0, 1] and `outcome` (bool or 0/1), any equal shapes."""
        c = confidence.detach().reshape(-1).double().clamp(0, 1).cpu()
        o = outcome.detach().reshape(-1).double().cpu()
        idx = (c * self.bins).long().clamp(max=self.bins - 1)
        self.count += torch.bincount(idx, minlength=self.bins).double()
        self.conf += torch.bincount(idx, weights=c, minlength=self.bins)
        self.hits += torch.bincount(idx, weights=o, minlength=self.bins)

    @property
    def n(self) -> int:
        """Pixels counted."""
        return int(self.count.sum())

    def ece(self) -> float:
        """Expected calibration error (NaN with no pixel)."""
        return expected_calibration_error(self.count, self.conf, self.hits)

    def as_dict(self) -> Dict[str, object]:
        """JSON-ready: the ECE and, per non-empty bin, its range, pixels, mean confidence and accuracy."""
        rows = [{"from": i / self.bins, "to": (i + 1) / self.bins, "pixels": int(n),
                 "confidence": float(c / n), "accuracy": float(h / n)}
                for i, (n, c, h) in enumerate(zip(self.count, self.conf, self.hits)) if n > 0]
        ece = self.ece()
        return {"ece": None if math.isnan(ece) else ece, "pixels": self.n, "bins": rows}


def expected_calibration_error(count: Tensor, conf: Tensor, hits: Tensor) -> float:
    """ECE from per-bin pixel counts, summed confidences and summed outcomes (NaN with no pixel)."""
    total = float(count.sum())
    if total == 0:
        return math.nan
    nonempty = count > 0
    gap = (hits[nonempty] - conf[nonempty]).abs()   # |accuracy - confidence| * n per bin
    return float(gap.sum() / total)


def fit_temperature(logits: Tensor, targets: Tensor, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` minimising the mean negative log-likelihood of ``softmax(logits / T)`` on the
    given pixels: logits ``(N, C)`` float, targets ``(N,)`` class ids (void pixels left out beforehand).

    Fitted on log T with L-BFGS (a smooth 1-D convex problem in practice), starting at T = 1; returns 1.0 when
    there is no pixel."""
    if logits.numel() == 0:
        return 1.0
    logits = logits.detach().float()
    targets = targets.detach().long()
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return min(max(t, 1e-6), 1e6) if math.isfinite(t) and t > 0 else 1.0   # the model file's accepted range


def probabilities(views: Sequence[Tensor], temperature: float = 1.0, dim: int = 1) -> Tensor:
    """The model's probability, one definition for every path: ``softmax(logits / temperature)`` of each view's
    logits, averaged over the views (test-time flips, already flipped back): probabilities are averaged, never
    logits. `views`: one or more logits tensors of equal shape, classes along `dim`; float32 result."""
    return sum(torch.softmax(v.float() / temperature, dim) for v in views) / len(views)


def too_few_to_choose_on(photos: int, pixels: Optional[int] = None, min_photos: int = MIN_FIT_PHOTOS,
                         min_pixels: int = MIN_FIT_PIXELS) -> Optional[str]:
    """Why `photos` validation photos holding `pixels` labelled pixels (None: not counted) are too few to fit a
    temperature or choose an epoch on, in words (``"1 validation photo (fewer than 3)"``); None when enough."""
    if photos < min_photos:
        return f"{photos} validation photo{'' if photos == 1 else 's'} (fewer than {min_photos})"
    if pixels is not None and pixels < min_pixels:
        return f"{pixels:,} labelled validation pixels (fewer than {min_pixels:,})"
    return None


def nll(logits: Tensor, targets: Tensor, temperature: float = 1.0) -> Optional[float]:
    """Mean negative log-likelihood of ``softmax(logits / temperature)`` (None with no pixel)."""
    if logits.numel() == 0:
        return None
    return float(torch.nn.functional.cross_entropy(logits.float() / temperature, targets.long()))
