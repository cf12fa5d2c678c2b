"""Augmentations for nadir (top-down) drone photos, as fastai batch transforms.

fastai's ``aug_transforms()`` is made for street scenes and pets: horizontal flips only, at most 10 degrees of
rotation, a perspective warp and zoom-in only. A photo taken straight down has no "up" and no horizon, so:

* every flip and quarter turn (the dihedral group) and rotation by any angle are valid views of the same
  ground. On square inputs all 8 dihedral views are drawn, each as likely; on other shapes only the 4 that keep
  the frame (identity, horizontal and vertical flip, half turn), because a quarter turn of a 3:2 picture must
  crop a third of it and fill that much with reflections. Alone they move pixels exactly (no blur);
* scale changes both ways (zoom out and in) stand for flying at another height (the Semantic Drone Dataset
  was shot from 5 to 30 m);
* no perspective warp (the camera looks straight down, so the ground is not tilted);
* mild brightness, contrast, saturation and hue changes stand for sun, shadow, haze and white balance.

Photo and mask get the same geometric transform in one resampling step (fastai composes the affine
transforms), the photo with bilinear and the mask with nearest interpolation, so no class id is invented;
borders uncovered by a rotation or a zoom-out are filled by reflection, in photo and mask alike. Colour changes
touch the photo only. Like every fastai ``RandTransform`` they run on the training set only.

Use: ``drone_dataloaders(data, batch_tfms=nadir_transforms())`` (ImageNet normalisation is appended there), or
``python -m dronefast.train --augment nadir``. On the built-in sample they tied with fastai's ``aug_transforms()``
(the sample is drawn in every orientation already); they are here for data whose photos share a heading.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List

import torch
from fastai.vision.augment import (Brightness, Contrast, Dihedral, Hue, PadMode, Rotate, Saturation, Zoom,
                                   setup_aug_tfms)

__all__ = ["NadirAugment", "nadir_transforms", "FrameDihedralDraw"]


class FrameDihedralDraw:
    """``draw`` for fastai's ``Dihedral``: for each item of a batch ``(B, C, H, W)`` an index of fastai's
    ``dihedral_mat`` drawn uniformly among the 8 views when ``H == W``, else among the 4 that keep the frame
    (0 identity, 1 horizontal flip, 2 vertical flip, 4 half turn). A class, not a lambda, so that learners
    using it can be exported (pickled)."""

    FRAME = (0, 1, 2, 4)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        if x.shape[-1] == x.shape[-2]:
            return torch.randint(0, 8, (n,), device=x.device)
        frame = torch.tensor(self.FRAME, device=x.device)
        return frame[torch.randint(0, len(self.FRAME), (n,), device=x.device)]


@dataclass(frozen=True)
class NadirAugment:
    """Settings of :func:`nadir_transforms`.

    The defaults are the variant that did best on the built-in sample (see ``README.md``): exact flips and half
    turns, mild scale jitter and colour changes, no rotation by arbitrary angles. A stronger set (any rotation,
    quarter turns on 3:2 pictures, zoom 0.75 to 1.5) scored 0.012 mIoU less after 12 epochs from scratch. Even
    these defaults only tied with fastai's ``aug_transforms()`` there, so the ``nadir`` recipe does not use them.

    Args:
        dihedral: apply a flip/quarter turn drawn uniformly (identity included) among the 8 on square inputs,
            among the 4 that keep the frame on others (:class:`FrameDihedralDraw`).
        max_rotate: rotate by an angle drawn uniformly in ``[-max_rotate, max_rotate]`` degrees (0: none; 180:
            any angle, valid for nadir views but it resamples the photo and reflects the corners).
        p_rotate: probability of that rotation (arbitrary angles blur a little and reflect the corners).
        min_zoom, max_zoom: scale factor range (< 1 zooms out, > 1 zooms in; 1, 1: none).
        p_zoom: probability of a scale change.
        max_lighting: strength of brightness and contrast changes (fastai's logit-space changes; 0: none).
        max_saturation: strength of saturation changes (0: none).
        max_hue: largest hue shift, as a share of the colour circle (0: none).
        p_lighting: probability of each colour change.
    """

    dihedral: bool = True
    max_rotate: float = 0.0
    p_rotate: float = 0.5
    min_zoom: float = 0.9
    max_zoom: float = 1.2
    p_zoom: float = 0.5
    max_lighting: float = 0.2
    max_saturation: float = 0.2
    max_hue: float = 0.05
    p_lighting: float = 0.75

    def as_dict(self) -> Dict[str, Any]:
        """The settings as a plain dict (for logs and metrics.json)."""
        return asdict(self)


def nadir_transforms(settings: NadirAugment = NadirAugment(), **overrides: Any) -> List:
    """fastai batch transforms for nadir photos and their masks (see the module docstring).

    Args:
        settings: a :class:`NadirAugment`; keyword `overrides` replace single fields
            (e.g. ``nadir_transforms(max_rotate=0)``).

    Returns:
        A list of fastai transforms for ``batch_tfms``, run on uint8->float batches ``TensorImage (B, 3, H, W)``
        in [0, 1] and ``TensorMask (B, H, W)``: first one combined affine transform (dihedral, rotation, zoom;
        bilinear for photos, nearest for masks, reflection padding), then the colour changes (photos only).
    """
    s = NadirAugment(**{**settings.as_dict(), **overrides})
    if not 0 < s.min_zoom <= s.max_zoom:
        raise ValueError(f"zoom range must satisfy 0 < min_zoom <= max_zoom, got {s.min_zoom}, {s.max_zoom}")
    for name in ("p_rotate", "p_zoom", "p_lighting"):
        if not 0 <= getattr(s, name) <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {getattr(s, name)}")
    geo = dict(pad_mode=PadMode.Reflection, mode="bilinear", align_corners=True)
    tfms: List = []
    if s.dihedral:
        tfms.append(Dihedral(p=1.0, draw=FrameDihedralDraw(), **geo))
    if s.max_rotate:
        tfms.append(Rotate(max_deg=s.max_rotate, p=s.p_rotate, **geo))
    if s.min_zoom != 1 or s.max_zoom != 1:
        tfms.append(Zoom(min_zoom=s.min_zoom, max_zoom=s.max_zoom, p=s.p_zoom, **geo))
    if s.max_lighting:
        tfms.append(Brightness(max_lighting=s.max_lighting, p=s.p_lighting))
        tfms.append(Contrast(max_lighting=s.max_lighting, p=s.p_lighting))
    if s.max_saturation:
        tfms.append(Saturation(max_lighting=s.max_saturation, p=s.p_lighting))
    if s.max_hue:
        tfms.append(Hue(max_hue=s.max_hue, p=s.p_lighting))
    return setup_aug_tfms(tfms)
