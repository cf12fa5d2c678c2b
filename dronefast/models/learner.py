"""The reference notebook's model: fastai's dynamic U-Net on a ResNet encoder, with its metrics.

``drone_learner(dls)`` is ``unet_learner(dls, resnet34, metrics=..., wd=1e-2, opt_func=adamw)`` (torch's AdamW
behind fastai's ``OptimWrapper``, BatchNorm and biases not decayed: :mod:`dronefast.models.optim`) with dronefast's
encoders (torchvision resnet18/34/50 or the reference's pretrainedmodels resnet50, see
:mod:`dronefast.models.encoders`), the void-aware ``accuracy_mask`` and a dataset-level mIoU
(:mod:`dronefast.metrics`), and a :class:`~dronefast.models.modelfile.ModelInfo` attached as
``learn.dronefast_info`` so that exports know how to rebuild the network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Union

import fastai.callback.schedule  # noqa: F401 -- adds fit_one_cycle and lr_find to Learner
import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.vision.learner import unet_learner
from fastcore.meta import delegates

from ..metrics.callback import ConfusionCallback, all_reduce_sum
from .encoders import Encoder, encoder
from .grid import DEFAULT_OVERLAP
from .modelfile import ModelInfo
from .optim import adamw
from .tiling import TiledNet

__all__ = ["drone_learner", "learner_info", "TiledValidation", "REFERENCE_WD"]

PathLike = Union[str, Path]
#: The reference notebook's weight decay.
REFERENCE_WD = 1e-2


def _normalisation(dls):
    from fastai.data.transforms import Normalize

    for t in dls.after_batch.fs:
        if isinstance(t, Normalize):
            return tuple(float(v) for v in t.mean.flatten()), tuple(float(v) for v in t.std.flatten())
    return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


@delegates(unet_learner, but=["arch", "pretrained", "weights", "metrics", "n_out"])
def drone_learner(dls, arch: Union[str, Encoder] = "resnet34", pretrained: bool = True,
                  weights: Optional[PathLike] = None,
                  void_code: Optional[int] = 0, wd: float = REFERENCE_WD, metrics: Optional[Sequence] = None,
                  **kwargs: Any) -> Learner:
    """Build the dynamic U-Net learner from DataLoaders made by :func:`dronefast.data.block.drone_dataloaders`.

    Args:
        dls: DataLoaders (with ``dls.classes``, the class table, for the model description).
        arch: encoder, one of ``resnet18``, ``resnet34`` (default), ``resnet50``, ``pm-resnet50``, or an
            :class:`~dronefast.models.encoders.Encoder` built already (then `pretrained` and `weights` are its own).
        pretrained: start from ImageNet weights (downloaded or from the torch hub cache); with no network this
            raises :class:`~dronefast.errors.OfflineWeightsError` saying how to proceed.
        weights: local encoder checkpoint for offline machines (implies pretrained).
        void_code: class id excluded from ``accuracy_mask`` and the mIoU (0 = ``unlabeled``; -1 or None:
            nothing excluded, as the reference did).
        wd: weight decay (the reference's 1e-2).
        metrics: replaces the default ``[accuracy_mask, miou]`` (read from a
            :class:`~dronefast.metrics.callback.ConfusionCallback` added to the learner's callbacks).
        kwargs: passed to fastai's ``unet_learner`` (e.g. ``self_attention``, ``blur``, ``loss_func``, ``path``,
            ``opt_func``: default :func:`~dronefast.models.optim.adamw`);
            the U-Net options are recorded in the model description. (The reference's ``bottle=True`` is
            refused: it is broken in fastai 2.8.)

    Returns:
        A fastai ``Learner``; with pretrained weights its encoder is frozen, as ``unet_learner`` does.
    """
    if kwargs.get("bottle"):
        # fastai 2.8's DynamicUnet(bottle=True) builds a last ResBlock whose output does not fit its next layer
        raise ValueError("bottle=True is broken in fastai 2.8 (the first forward pass fails); leave it out")
    if "norm_type" in kwargs:
        raise ValueError("norm_type cannot be recorded in the safe model format; leave it at fastai's default")
    classes = getattr(dls, "classes", None)
    n_out = len(classes) if classes is not None else None
    void = None if void_code is None or void_code < 0 else void_code
    cbs = list(kwargs.pop("cbs", None) or [])
    if metrics is None:
        # the matrix is summed over processes when launched distributed (identity otherwise)
        conf = ConfusionCallback(n_out, void, classes.codes if classes is not None else None,
                                 reduce_fn=all_reduce_sum)
        cbs, metrics = [conf, *cbs], conf.metrics()
    if getattr(dls, "work_size", None):  # object-scale training: validate whole photos by tiles, as predict does
        cbs.append(TiledValidation(dls.train_size, batch_size=2 * (dls.bs or 1)))
    enc = arch if isinstance(arch, Encoder) else encoder(arch, pretrained, weights)
    kwargs.setdefault("opt_func", adamw)
    learn = unet_learner(dls, enc, pretrained=enc.pretrained, metrics=list(metrics), wd=wd, n_out=n_out,
                         cbs=cbs, **kwargs)
    unet_keys = ("blur", "blur_final", "self_attention", "y_range", "last_cross")
    mean, std = _normalisation(dls)
    if classes is not None:
        learn.dronefast_info = ModelInfo(arch=enc.name, classes=classes, size=_input_size(dls), mean=mean, std=std,
                                         void_code=void, unet={k: v for k, v in kwargs.items() if k in unet_keys},
                                         work_size=getattr(dls, "work_size", None))
    return learn


def _input_size(dls) -> Tuple[int, int]:
    """``(height, width)`` of the training batches: recorded by ``drone_dataloaders``, else read from one batch
    with the random state put back afterwards (drawing a batch consumes shuffling and augmentation randomness)."""
    size = getattr(dls, "train_size", None)
    if size is not None:
        return tuple(size)
    import random

    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        dl = dls.train.new(shuffle=False)
        size = tuple(dl.one_batch()[0].shape[-2:])
    random.setstate(state)
    return size


class TiledValidation(Callback):
    """Validation of object-scale training as prediction does it: whole photos at the working scale, seen through
    windows of the training size whose logits are blended (:class:`~dronefast.models.tiling.TiledNet`), so the
    scores a run reports and keeps its best epoch by are what ``predict`` delivers.

    The learner's model is wrapped for each validation batch's forward pass only (before_batch to after_pred), and
    put back at every other event, so an interrupted validation cannot leave it wrapped.

    Args:
        window: ``(h, w)`` of the training windows.
        overlap: share of a window shared by neighbours (as ``predict``'s default).
        batch_size: windows per forward pass.
    """

    order = 1  # after ChannelsLast and mixed precision have set the model up

    def __init__(self, window, overlap: float = DEFAULT_OVERLAP, batch_size: int = 8):
        self.window, self.overlap, self.batch_size = tuple(window), overlap, batch_size

    def _unwrap(self):
        if isinstance(self.learn.model, TiledNet):
            self.learn.model = self.learn.model.net

    def before_batch(self):
        self._unwrap()
        if not self.training and tuple(self.x.shape[-2:]) != self.window:
            self.learn.model = TiledNet(self.learn.model, self.window, self.overlap, self.batch_size)

    def after_pred(self):
        self._unwrap()

    before_fit = after_fit = before_validate = after_validate = after_cancel_batch = after_cancel_validate = _unwrap


def learner_info(learn: Learner) -> ModelInfo:
    """The model description attached by :func:`drone_learner` (ValueError if the learner has none)."""
    info = getattr(learn, "dronefast_info", None)
    if info is None:
        raise ValueError("this learner was not built by dronefast.drone_learner (no dronefast_info)")
    return info
