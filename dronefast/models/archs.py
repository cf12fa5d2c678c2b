"""Names of the encoders dronefast builds U-Nets on, without importing PyTorch (for command-line choices).

``resnet18``, ``resnet34`` and ``resnet50`` come from torchvision; ``pm-resnet50`` is the reference notebook's
ResNet-50 from the ``pretrainedmodels`` package (see :mod:`dronefast.models.encoders`). More can be added with
:func:`dronefast.models.encoders.register_encoder` (their names are then in :func:`arch_names`).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

__all__ = ["ARCHS", "TORCHVISION_ARCHS", "PRETRAINEDMODELS_ARCHS", "DEFAULT_ARCH", "ADDED_ARCHS", "arch_names"]

TORCHVISION_ARCHS: Tuple[str, ...] = ("resnet18", "resnet34", "resnet50")
#: dronefast name -> name in the pretrainedmodels package.
PRETRAINEDMODELS_ARCHS: Dict[str, str] = {"pm-resnet50": "resnet50"}
#: The encoders dronefast ships.
ARCHS: Tuple[str, ...] = TORCHVISION_ARCHS + tuple(PRETRAINEDMODELS_ARCHS)
DEFAULT_ARCH = "resnet34"
#: Names added in this process by :func:`dronefast.models.encoders.register_encoder`, in order.
ADDED_ARCHS: List[str] = []


def arch_names() -> Tuple[str, ...]:
    """Encoder names accepted everywhere (``--arch``, model descriptions): :data:`ARCHS`, then those added."""
    return ARCHS + tuple(ADDED_ARCHS)
