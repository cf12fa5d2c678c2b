"""The reference notebook's model: fastai's dynamic U-Net on a ResNet encoder, with its metrics.

``drone_learner(dls)`` is ``unet_learner(dls, resnet34, metrics=..., wd=1e-2)`` with dronefast's encoders
(torchvision resnet18/34/50 or the reference's pretrainedmodels resnet50, see :mod:`dronefast.encoders`), the
void-aware ``accuracy_mask`` and a dataset-level mIoU (:mod:`dronefast.metrics`), and a
:class:`~dronefast.modelfile.ModelInfo` attached as ``learn.dronefast_info`` so that exports know how to rebuild
the network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import fastai.callback.schedule  # noqa: F401 -- adds fit_one_cycle and lr_find to Learner
from fastai.learner import Learner
from fastai.vision.learner import unet_learner
from fastcore.meta import delegates

from .encoders import encoder
from .metrics import all_reduce_sum, segmentation_metrics
from .modelfile import ModelInfo

__all__ = ["drone_learner", "learner_info", "REFERENCE_WD"]

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
def drone_learner(dls, arch: str = "resnet34", pretrained: bool = True, weights: Optional[PathLike] = None,
                  void_code: Optional[int] = 0, wd: float = REFERENCE_WD, metrics: Optional[Sequence] = None,
                  **kwargs: Any) -> Learner:
    """Build the dynamic U-Net learner from DataLoaders made by :func:`dronefast.data.drone_dataloaders`.

    Args:
        dls: DataLoaders (with ``dls.classes``, the class table, for the model description).
        arch: encoder, one of ``resnet18``, ``resnet34`` (default), ``resnet50``, ``pm-resnet50``.
        pretrained: start from ImageNet weights (downloaded or from the torch hub cache); with no network this
            raises :class:`~dronefast.errors.OfflineWeightsError` saying how to proceed.
        weights: local encoder checkpoint for offline machines (implies pretrained).
        void_code: class id excluded from ``accuracy_mask`` and the mIoU (0 = ``unlabeled``; -1 or None:
            nothing excluded, as the reference did).
        wd: weight decay (the reference's 1e-2).
        metrics: replaces the default ``[accuracy_mask, miou]``.
        kwargs: passed to fastai's ``unet_learner`` (e.g. ``self_attention``, ``blur``, ``loss_func``, ``path``);
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
    if metrics is None:
        # the matrix is summed over processes when launched distributed (identity otherwise)
        metrics = segmentation_metrics(n_out, void, classes.codes if classes is not None else None,
                                       reduce_fn=all_reduce_sum)
    enc = encoder(arch, pretrained, weights)
    learn = unet_learner(dls, enc, pretrained=enc.pretrained, metrics=list(metrics), wd=wd, n_out=n_out, **kwargs)
    unet_keys = ("blur", "blur_final", "self_attention", "y_range", "last_cross")
    mean, std = _normalisation(dls)
    if classes is not None:
        learn.dronefast_info = ModelInfo(arch=arch, classes=classes, size=tuple(dls.one_batch()[0].shape[-2:]),
                                         mean=mean, std=std, void_code=void,
                                         unet={k: v for k, v in kwargs.items() if k in unet_keys})
    return learn


def learner_info(learn: Learner) -> ModelInfo:
    """The model description attached by :func:`drone_learner` (ValueError if the learner has none)."""
    info = getattr(learn, "dronefast_info", None)
    if info is None:
        raise ValueError("this learner was not built by dronefast.drone_learner (no dronefast_info)")
    return info
