"""The tests' own encoder, registered on import (:func:`dronefast.models.encoders.register_encoder`) by
tests/conftest.py, and by the processes the tests start (tests/tiny_train.py, tests/tiny_kernel.py)."""
from __future__ import annotations

from torch import nn

from dronefast.models.encoders import register_encoder

#: Its name. A U-Net on it has 59 thousand weights (0.25 MB saved) where a resnet18 U-Net has 31 million (124 MB), so
#: the tests of training, saving, resuming, calibrating, exporting and predicting that are not about the ResNet U-Net
#: itself run on it. Model files naming it load in the processes that imported this module (and their forks).
TINY_ARCH = "tiny-test"


def tiny_encoder() -> nn.Module:
    """A ResNet-shaped classifier at a sliver of the width, laid out as torchvision's ResNet (stem conv, bn and relu
    as the first children, then stages, then the pooling and classifier that fastai's cut (-2) removes): 5 stride-2
    convolutions of 8 to 16 channels (strides 2 to 32, as a ResNet's)."""
    def stage(ni: int, nf: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(ni, nf, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(nf),
                             nn.ReLU(inplace=True))

    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         stage(8, 8), stage(8, 16), stage(16, 16), stage(16, 16),
                         nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.Flatten(), nn.Linear(16, 1000)))


def tiny_split(model: nn.Module) -> list:
    """Three parameter groups, as fastai's ResNet splitter gives: stem and first stages, the rest of the encoder,
    the decoder."""
    from fastai.torch_core import params

    return [params(model[0][:5]), params(model[0][5:]), params(model[1:])]


register_encoder(TINY_ARCH, tiny_encoder, split=tiny_split)
