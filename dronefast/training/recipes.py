"""Named training recipes: ``nadir`` (the default) and ``reference`` (the fastai v1 notebook, faithfully).

A recipe fixes everything about training except the data and the encoder: augmentations, loss, learning rate
and schedule, epochs, batch size and training size, the metric whose best epoch is kept. Every value can still be
overridden one by one (``python -m dronefast.train --recipe nadir --epochs 30 --augment nadir``).

``reference``
    fastai's ``aug_transforms()``, fastai's plain cross-entropy, ``lr_find`` then
    ``fit_one_cycle(10, slice(lr), pct_start=0.8)``, batch size 4, 300x200, keeping the best ``accuracy_mask``
    epoch. With ImageNet weights: the same, encoder frozen.

``nadir``
    The best recipe measured for top-down drone photos from scratch on a fixed CPU budget (built-in sample,
    side by side with ``reference``, 2 seeds; the table is in ``README.md``). What it changes, by measured effect:

    * schedule: a fixed learning rate (2e-3) with a short warm-up (``pct_start=0.3``) instead of ``lr_find``'s
      "valley" (5e-5 to 8e-5 from scratch: far too low) and an 80% warm-up: +0.09 and +0.13 mIoU (2 seeds);
    * loss: cross-entropy weighted by the inverse square root of each class's pixel share in the training
      masks (capped at 10x the commonest class), void pixels ignored: +0.017 and +0.023 mIoU, for 0.008 and
      0.025 less pixel accuracy;
    * budget: no ``lr_find`` steps (100 steps, 8 epochs of the 96-image sample), spent on epochs rather than
      resolution: 20 epochs at 144x96 instead of 12: +0.032 and +0.039 mIoU; at equal minutes 20 epochs at 144x96
      beat 11 at 192x128 (0.338 vs 0.307 mIoU), at equal compute 12 at 144x96 beat 7 at 192x128 (0.306 vs 0.286);
    * batch size 8 and the best ``miou`` epoch kept.

    Kept out, as they did not help on the sample (numbers in ``README.md``): the nadir augmentations of
    :mod:`dronefast.training.augment` (flips and half turns, scale jitter, colour; ``--augment nadir``) tied with
    fastai's ``aug_transforms()`` (-0.005 mIoU, +0.003 pixel accuracy over 2 seeds; a stronger set with rotations
    and quarter turns: -0.025), and a soft Dice term (``--dice 0.5``) changed mIoU by +0.010 and -0.023.

    Object-scale training (``work_size``, ``context``) is not the default: on the 960x640 sample with real object
    sizes (2 seeds, chosen on validation photos, reported on test photos; table in ``README.md``), random windows
    of 144x96 from photos at 288x192 to 600x400 lost to whole photos at 144x96 at equal CPU time everywhere
    (mIoU 0.21 to 0.28 against 0.36 on seed 1), and windows showing 1x to 2x their extent
    (:mod:`dronefast.data.windows`) came close (pixel accuracy +0.009, person IoU +0.008, car IoU -0.07, mIoU
    -0.019, validation mIoU -0.024, for 1.15x the CPU time).

    The schedule depends on the starting point: from scratch one cycle of 20 epochs at 150x100 (144x96 on the
    sample), within the 20-minute, 2-core budget of a stock fastai run of 12 epochs (dronefast's pipeline runs
    1.8 epochs in the time stock fastai runs one, and no ``lr_find`` steps are spent); on the sample 20 epochs took
    fewer minutes than the reference recipe's ``lr_find`` + 12 epochs and beat 14 epochs by +0.019 mIoU;
    from ImageNet weights fastai's ``fine_tune`` pattern, 2 epochs with the encoder frozen then 12 unfrozen at
    ``slice(lr / 400, lr / 4)``, at the reference's 300x200 (a pretrained run is for a GPU, and a person of real
    data is about 2 pixels wide at 150x100). Not measured here: no ImageNet weights offline.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Tuple, Union

__all__ = ["Recipe", "NadirAugment", "RECIPES", "DEFAULT_RECIPE", "WEIGHT_METHODS", "get_recipe"]

#: Names of the recipes, the default first.
RECIPES = ("nadir", "reference")
DEFAULT_RECIPE = "nadir"
#: Ways :func:`~dronefast.training.losses.class_weights` turns class frequencies into weights.
WEIGHT_METHODS = ("inv_sqrt", "inv", "none")

Size = Tuple[int, int]


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


@dataclass(frozen=True)
class Recipe:
    """Everything a recipe decides (sizes are ``(height, width)``).

    Args:
        name: ``nadir`` or ``reference``.
        augment: ``"fastai"`` (``aug_transforms()``), ``"nadir"`` (:func:`~dronefast.training.augment.nadir_transforms`)
            or ``"none"``.
        nadir_augment: settings of the nadir augmentations.
        weights: class weighting of the cross-entropy: a method of :func:`~dronefast.training.losses.class_weights`
            (``"none"``: plain cross-entropy).
        weight_cap: largest class weight relative to the most common class.
        dice: weight of a soft Dice term added to the cross-entropy (0: none).
        plain_loss: use fastai's default ``CrossEntropyLossFlat`` (the reference; void pixels are not ignored).
        lr: maximum learning rate, or ``"auto"`` to run ``lr_find``.
        pct_start: warm-up share of each one-cycle schedule.
        epochs: epochs of the first stage (encoder frozen when pretrained).
        sample_epochs: the same on the built-in sample (None: `epochs`).
        unfrozen_epochs: epochs of the unfrozen second stage (pretrained only).
        bs: batch size.
        size: training size on real data (the window, with `work_size`); sample_size: on the built-in sample
            (whole-photo training only: windows keep their size, as the sample's photos have the real ones' frame).
        work_size: object-scale training: the ``(height, width)`` whole photos are brought to (real photos and the
            sample alike), from which each training item is a random window of `size`; None trains on whole
            photos squished to `size`.
        repeats: windows drawn from each training photo per epoch (with `work_size`).
        context: with `work_size`, each training item shows between 1x and `context` times the extent of a window,
            shrunk to `size` (:mod:`dronefast.data.windows`); 1 cuts plain windows.
        monitor: metric whose best epoch is kept.
    """

    name: str
    augment: str
    nadir_augment: NadirAugment = field(default_factory=NadirAugment)
    weights: str = "none"
    weight_cap: float = 10.0
    dice: float = 0.0
    plain_loss: bool = False
    lr: Union[float, str] = "auto"
    pct_start: float = 0.8
    epochs: int = 10
    sample_epochs: Optional[int] = None
    unfrozen_epochs: int = 0
    bs: int = 4
    size: Size = (200, 300)
    sample_size: Size = (96, 144)
    work_size: Optional[Size] = None
    repeats: int = 1
    context: float = 1.0
    monitor: str = "accuracy_mask"

    def as_dict(self) -> Dict[str, Any]:
        """The recipe as a JSON-ready dict."""
        d = asdict(self)
        d["size"], d["sample_size"] = list(self.size), list(self.sample_size)
        d["work_size"] = None if self.work_size is None else list(self.work_size)
        return d


_REFERENCE = Recipe(name="reference", augment="fastai", plain_loss=True, lr="auto", pct_start=0.8, epochs=10,
                    unfrozen_epochs=0, bs=4, size=(200, 300), sample_size=(96, 144), monitor="accuracy_mask")

# 20 epochs: the budget (stock fastai, 12 epochs at 150x100, ~20 min on 2 cores) at dronefast's 1.8x, with
# no lr_find steps spent; on the sample, fewer minutes than the reference recipe (README, Training recipes)
_NADIR_SCRATCH = Recipe(name="nadir", augment="fastai", weights="inv_sqrt", weight_cap=10.0, dice=0.0, lr=2e-3,
                        pct_start=0.3, epochs=20, sample_epochs=None, unfrozen_epochs=0, bs=8, size=(100, 150),
                        sample_size=(96, 144), monitor="miou")
# fastai's fine_tune pattern: a short frozen stage for the new decoder, then everything with discriminative lrs
_NADIR_PRETRAINED = replace(_NADIR_SCRATCH, epochs=2, sample_epochs=None, unfrozen_epochs=12, size=(200, 300))


def get_recipe(name: str = DEFAULT_RECIPE, pretrained: bool = False) -> Recipe:
    """The recipe called `name` (one of :data:`RECIPES`) for a network trained from scratch or from ImageNet
    weights (`pretrained`); the ``nadir`` schedule differs between the two."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {name!r}")
    if name == "reference":
        return _REFERENCE
    return _NADIR_PRETRAINED if pretrained else _NADIR_SCRATCH
