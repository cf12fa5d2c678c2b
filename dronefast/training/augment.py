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

from typing import Any, List, Optional

import torch
from fastai.vision.augment import (
    Brightness,
    Contrast,
    Dihedral,
    Hue,
    PadMode,
    Rotate,
    Saturation,
    Zoom,
    setup_aug_tfms,
)

from .recipes import NadirAugment, Recipe

__all__ = ["nadir_transforms", "recipe_batch_tfms", "FrameDihedralDraw"]


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


def recipe_batch_tfms(recipe: Recipe, augment: bool = True) -> Optional[List]:
    """``batch_tfms`` for :func:`~dronefast.data.block.drone_dataloaders`: None for fastai's ``aug_transforms()``
    (the DataBlock's default), the nadir transforms, or ``[]`` for none (`augment` False or recipe ``none``)."""
    if not augment or recipe.augment == "none":
        return []
    if recipe.augment == "fastai":
        return None
    if recipe.augment == "nadir":
        return nadir_transforms(recipe.nadir_augment)
    raise ValueError(f"unknown augmentation {recipe.augment!r} (fastai, nadir or none)")
