"""Encoders (U-Net backbones) and their ImageNet weights: downloaded when online, a local file when offline.

Supported: torchvision ``resnet18``, ``resnet34`` (default), ``resnet50``, and ``pm-resnet50`` -- the
reference notebook's ResNet-50 from the ``pretrainedmodels`` package (``pip install dronefast[pretrainedmodels]``).
Each is registered in fastai's ``model_meta`` so the cut, parameter groups (for discriminative learning rates
and freezing) and ImageNet normalisation are right.

Weights:
* ``pretrained=True``: the ImageNet checkpoint is taken from the torch hub cache (``$TORCH_HOME/hub/checkpoints``)
  or downloaded there. With no network this fails with one :class:`OfflineWeightsError` saying how to proceed.
* ``weights=PATH``: a local encoder checkpoint (a state dict, e.g. ``resnet34-b627a593.pth``), loaded safely
  (``weights_only``): for offline machines.
* ``pretrained=False``: random initialisation.

Other encoders can be added with :func:`register_encoder` (no ImageNet weights: random or a local file); a model
file naming one loads in any process that registered it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import torch
from fastai.torch_core import params
from fastai.vision.data import imagenet_stats
from fastai.vision.learner import model_meta
from torch import nn
from torchvision import models

from ..errors import ModelFileError, OfflineWeightsError
from .archs import ADDED_ARCHS, ARCHS, PRETRAINEDMODELS_ARCHS, arch_names

__all__ = ["ARCHS", "Encoder", "encoder", "resnet_split", "imagenet_state_dict", "weights_url", "register_encoder"]

PathLike = Union[str, Path]

# name -> (builder without weights, torchvision weights enum or pretrainedmodels URL)
_TORCHVISION = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V1),
}
_PRETRAINEDMODELS = PRETRAINEDMODELS_ARCHS
assert ARCHS == tuple(_TORCHVISION) + tuple(_PRETRAINEDMODELS)
#: name -> (builder of the randomly initialised classification network, fastai model_meta entry)
_ADDED: Dict[str, tuple] = {}


def register_encoder(name: str, build: Callable[[], nn.Module], *, cut: Union[int, Callable] = -2,
                     split: Optional[Callable] = None, stats=imagenet_stats) -> None:
    """Add an encoder that U-Nets can be built on, trained, saved and loaded with, by `name`
    (``drone_learner(dls, name)``, ``--arch name``, ``"arch": name`` in model.json) in this process.

    Args:
        build: returns the randomly initialised classification network; its layers before `cut` (fastai's cut:
            an index into its children, or a function of the network) are the U-Net's encoder.
        split: fastai's parameter-group splitter of the U-Net (for discriminative learning rates and freezing);
            None: the built-in ResNets' one.
        stats: ``(mean, std)`` the inputs are normalised with.

    There are no ImageNet weights for an added encoder: it starts random, or from a local state dict
    (``weights=PATH``). ValueError when `name` is taken.
    """
    if name in arch_names():
        raise ValueError(f"encoder {name!r} exists already")
    _ADDED[name] = (build, {"cut": cut, "split": split, "stats": stats})
    ADDED_ARCHS.append(name)


def _pm_module():
    try:
        import pretrainedmodels  # noqa: F401  (needs `six`, which it does not declare)
    except ImportError as e:
        raise ModelFileError(f"the pm-resnet50 encoder needs the pretrainedmodels package ({e}); install it with "
                             "`pip install 'dronefast[pretrainedmodels]'` (pretrainedmodels + six)") from None
    return pretrainedmodels


def weights_url(arch: str) -> str:
    """Download address of the ImageNet checkpoint of `arch`."""
    if arch in _TORCHVISION:
        return _TORCHVISION[arch][1].url
    if arch in _ADDED:
        raise ModelFileError(f"{arch}: no ImageNet weights for an added encoder; start it random "
                             f"(pretrained=False, --no-pretrained) or from a local state dict (weights=PATH)")
    return _pm_module().pretrained_settings[_PRETRAINEDMODELS[arch]]["imagenet"]["url"]


def imagenet_state_dict(arch: str) -> Dict[str, torch.Tensor]:
    """The ImageNet state dict of `arch` from the torch hub cache, downloading it there if needed.

    Raises:
        OfflineWeightsError: when it is not cached and cannot be downloaded, with the ways to proceed.
    """
    url = weights_url(arch)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    try:
        return torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True, weights_only=True)
    except Exception as e:  # URLError, socket errors, HTTP errors: all mean "not available here"
        raise OfflineWeightsError(arch, url, cached, f"{type(e).__name__}: {e}") from None


def _load_local(path: PathLike) -> Dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: encoder weights file not found")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path}: not a loadable state dict ({type(e).__name__}: {e})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ModelFileError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return sd


def resnet_split(m: nn.Module) -> List[List[nn.Parameter]]:
    """The three parameter groups of a ResNet U-Net (or classifier) ``m = (body, head...)``, as fastai splits
    ResNets: the body's stem, layer1 and layer2; the body's layer3 and layer4; the rest (the decoder or head)."""
    return [params(m[0][:6]), params(m[0][6:]), params(m[1:])]


class Encoder:
    """Picklable builder of an encoder, used as fastai's ``arch``: ``Encoder(...)()`` returns the full
    classification network with the requested weights, which fastai then cuts into a U-Net body.

    Args:
        name: one of :data:`ARCHS`.
        pretrained: load ImageNet weights (hub cache or download).
        weights: path of a local state dict to load instead (implies pretrained).
    """

    def __init__(self, name: str, pretrained: bool = True, weights: Optional[PathLike] = None):
        if name not in arch_names():
            raise ValueError(f"unknown arch {name!r}; choose one of {', '.join(arch_names())}")
        self.name, self.weights = name, (str(weights) if weights else None)
        self.pretrained = bool(pretrained or weights)
        # fastai looks the cut, parameter groups and stats up by arch; equal encoders share one entry
        meta = {"cut": -2, "split": resnet_split, "stats": imagenet_stats}
        if name in _ADDED:
            meta.update({k: v for k, v in _ADDED[name][1].items() if v is not None})
        model_meta.setdefault(self, meta)

    def __call__(self, *args, **kwargs) -> nn.Module:
        if self.name in _TORCHVISION:
            model = _TORCHVISION[self.name][0](weights=None)
        elif self.name in _ADDED:
            model = _ADDED[self.name][0]()
        else:
            model = _pm_module().__dict__[_PRETRAINEDMODELS[self.name]](num_classes=1000, pretrained=None)
        sd, self._checked = getattr(self, "_checked", None), None
        if sd is not None:
            pass
        elif self.weights:
            sd = _load_local(self.weights)
        elif self.pretrained:
            sd = imagenet_state_dict(self.name)
        else:
            return model
        if self.name in _PRETRAINEDMODELS:  # pretrainedmodels renames fc -> last_linear
            sd = {("last_linear" + k[2:] if k.startswith("fc.") else k): v for k, v in sd.items()}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ModelFileError(f"{self.weights or weights_url(self.name)}: does not fit {self.name} "
                                 f"(missing {len(missing)} keys, e.g. {missing[:3]}; unexpected {unexpected[:3]})")
        return model

    def _key(self):
        return (self.name, self.pretrained, self.weights)

    def __eq__(self, other) -> bool:
        return isinstance(other, Encoder) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((Encoder, *self._key()))

    def __reduce__(self):
        return (Encoder, (self.name, self.pretrained, self.weights))

    def __repr__(self) -> str:
        return f"Encoder({self.name!r}, pretrained={self.pretrained}, weights={self.weights!r})"


def encoder(name: str = "resnet34", pretrained: bool = True, weights: Optional[PathLike] = None) -> Encoder:
    """An :class:`Encoder` for `name`, checking up front that requested weights can be had (so the error comes
    before any model is built)."""
    enc = Encoder(name, pretrained, weights)
    if weights:
        enc._checked = _load_local(weights)
    elif pretrained:
        enc._checked = imagenet_state_dict(name)
    return enc
