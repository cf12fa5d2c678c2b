"""Names of the encoders dronefast builds U-Nets on, without importing PyTorch (for command-line choices).

``resnet18``, ``resnet34`` and ``resnet50`` come from torchvision; ``pm-resnet50`` is the reference notebook's
ResNet-50 from the ``pretrainedmodels`` package (see :mod:`dronefast.models.encoders`).
"""
from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["ARCHS", "TORCHVISION_ARCHS", "PRETRAINEDMODELS_ARCHS", "DEFAULT_ARCH"]

TORCHVISION_ARCHS: Tuple[str, ...] = ("resnet18", "resnet34", "resnet50")
#: dronefast name -> name in the pretrainedmodels package.
PRETRAINEDMODELS_ARCHS: Dict[str, str] = {"pm-resnet50": "resnet50"}
#: Encoder names accepted everywhere (``--arch``).
ARCHS: Tuple[str, ...] = TORCHVISION_ARCHS + tuple(PRETRAINEDMODELS_ARCHS)
DEFAULT_ARCH = "resnet34"
