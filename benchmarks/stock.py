"""The ``stock`` run of ``python -m benchmarks recipes --data DIR``: fastai's CamVid tutorial as a fastai user writes
it, in plain fastai with no dronefast training code, so that the recipes are measured against what fastai gives
without them.

``SegmentationDataLoaders.from_label_func`` over the non-test photos (``valid_pct=0.1, seed=42``,
``item_tfms=Resize((100, 150))``, ``batch_tfms=aug_transforms()``, ``bs=8``), ``unet_learner(dls, resnet18,
pretrained=False)``, ``fit_one_cycle(12, 3e-3)``; the final model (the tutorial keeps no best epoch) is scored
by the same scorer as the dronefast runs (:func:`stock_model` makes it a ``(network, ModelInfo)`` pair). The photos
are the benchmark's decoded copy, with class-id masks; DataLoader workers are 0, as for the dronefast runs, so
that the CPU seconds count the same work. The run's seed seeds the weights, the batch order and the
augmentations (``set_seed``); the split keeps the tutorial's seed 42.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

__all__ = ["STOCK", "STOCK_EPOCHS", "STOCK_SIZE", "STOCK_LR", "STOCK_BS", "STOCK_VALID_PCT", "STOCK_SPLIT_SEED",
           "stock_learner", "train_stock", "stock_model", "learner_stems"]

#: The run's name in ``--runs``.
STOCK = "stock"
STOCK_EPOCHS = 12
#: ``(height, width)``: the tutorial's half-size CamVid frames, here 150x100.
STOCK_SIZE = (100, 150)
STOCK_LR = 3e-3
STOCK_BS = 8
STOCK_VALID_PCT = 0.1
STOCK_SPLIT_SEED = 42


def stock_learner(data: Path, test_stems: Sequence[str], *, seed: int, size: Tuple[int, int] = STOCK_SIZE) -> Any:
    """The tutorial's untrained ``Learner`` over the photos of the prepared dataset `data` whose stems are not
    `test_stems`; `size` is ``(height, width)``. `seed` is set after the split (fastai's splitter reseeds torch), so
    that it decides the initial weights, the batch order and the augmentations."""
    from fastai.vision.all import (
        SegmentationDataLoaders,
        aug_transforms,
        foreground_acc,
        resnet18,
        set_seed,
        unet_learner,
    )
    from fastai.vision.augment import Resize

    from dronefast.data.layout import find_layout

    layout = find_layout(data, "prepared")
    held_out = set(test_stems)
    fnames = [p for p in layout.image_files() if p.stem not in held_out]
    dls = SegmentationDataLoaders.from_label_func(
        layout.image_dir, fnames, layout.label_func, codes=list(layout.classes.names), valid_pct=STOCK_VALID_PCT,
        seed=STOCK_SPLIT_SEED, item_tfms=Resize(tuple(size)), batch_tfms=aug_transforms(), bs=STOCK_BS,
        num_workers=0)
    set_seed(seed)
    return unet_learner(dls, resnet18, pretrained=False, metrics=foreground_acc)


def train_stock(data: Path, test_stems: Sequence[str], *, seed: int, epochs: int = STOCK_EPOCHS,
                size: Tuple[int, int] = STOCK_SIZE, progress: bool = False) -> Tuple[Any, float]:
    """:func:`stock_learner` trained with ``fit_one_cycle(epochs, 3e-3)``: ``(learner, weight change)``, the change
    being ``|w - w0| / |w0|`` over all parameters (0: training moved no weight)."""
    import torch

    learn = stock_learner(data, test_stems, seed=seed, size=size)
    w0 = torch.cat([p.detach().flatten().clone() for p in learn.model.parameters()])
    if progress:
        learn.fit_one_cycle(epochs, STOCK_LR)
    else:
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, STOCK_LR)
    w1 = torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    return learn, float((w1 - w0).norm() / w0.norm())


def learner_stems(learn: Any) -> Dict[str, List[str]]:
    """The stems of the photos a fastai ``Learner``'s DataLoaders hold: ``{"train": [...], "validation": [...]}``
    (sorted)."""
    return {"train": sorted(Path(p).stem for p in learn.dls.train.items),
            "validation": sorted(Path(p).stem for p in learn.dls.valid.items)}


def stock_model(learn: Any, data: Path, test_stems: Sequence[str], size: Tuple[int, int]) -> Tuple[Any, Any]:
    """``(network, ModelInfo)`` of a :func:`train_stock` learner, for
    :func:`~dronefast.workflows.evaluation.evaluate_model`: its input normalisation as the DataLoaders apply it
    (none without ImageNet weights: 0..1 RGB), its class table, size and split (test photos `test_stems`)."""
    from fastai.vision.all import Normalize

    from dronefast.data.layout import find_layout
    from dronefast.data.split import Split, SplitRecord
    from dronefast.models.modelfile import ModelInfo

    norms = [t for t in learn.dls.after_batch.fs if isinstance(t, Normalize)]
    mean, std = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) if not norms else (
        tuple(float(v) for v in norms[0].mean.flatten()), tuple(float(v) for v in norms[0].std.flatten()))
    classes = find_layout(data, "prepared").classes
    split = {"valid_pct": STOCK_VALID_PCT, "seed": STOCK_SPLIT_SEED, "test_pct": 0.0, "test_stems": list(test_stems)}
    held = learner_stems(learn)
    record = SplitRecord.of(held["train"], held["validation"], test_stems,
                            Split(STOCK_VALID_PCT, STOCK_SPLIT_SEED, test_stems=tuple(test_stems)))
    info = ModelInfo(arch="resnet18", classes=classes, size=tuple(size), mean=mean, std=std,
                     extra={"train_args": {**split, "size": list(size), "arch": "resnet18", "data": str(data)},
                            "split": record.as_dict()})
    return learn.model.eval(), info
