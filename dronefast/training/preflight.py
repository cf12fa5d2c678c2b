"""What a training run checks before it loads weights or data, or writes anything: settings that only the data can
refute. Each refusal is one line naming the data folder (or the setting), so a run never fails minutes later, deep
inside fastai, on something knowable at the start:

* too few photos for the split and the batch size (fastai's "DataLoader does not contain any batches" after the
  whole dataset was decoded): :func:`~dronefast.data.validation.check_photo_count`, the very check ``python -m
  dronefast.check`` makes;
* a void class that is not a class id of the data's class table (``void_code`` 99 of 24 classes).
"""
from __future__ import annotations

from ..data.classes import standard_classes
from ..data.layout import find_layout
from ..data.validation import check_photo_count
from ..synthetic.generator import sample_params
from .config import ResolvedConfig, SettingError

__all__ = ["check_before_training"]


def check_before_training(plan: ResolvedConfig, world: int = 1) -> None:
    """Refuse a run whose data cannot satisfy `plan` (module docstring); `world` processes share the training
    photos, each taking full batches of ``plan.bs``.

    Raises:
        DatasetNotFoundError, EmptyDatasetError: no dataset at the data folder.
        TooFewPhotosError: too few photos for one training batch and one validation photo.
        SettingError: the void class is not a class id of the data's table.
    """
    if plan.on_sample:  # the built-in sample: its count and table are known without generating it
        n, classes, root = sample_params()["n"], standard_classes(), None
    else:
        layout = find_layout(plan.config.data)
        n, classes, root = len(layout.image_files()), layout.classes, layout.root
    check_photo_count(n, plan.split, plan.bs * world, plan.repeats, root)
    void = plan.config.void_code
    if void >= len(classes):
        raise SettingError("void_code", f"{void} is not a class id of the data's class table ({len(classes)} classes "
                                        f"from {classes.source}: 0..{len(classes) - 1}); give one of them, or -1 for "
                                        f"no void class")
