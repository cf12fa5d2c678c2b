"""dronefast: semantic segmentation of nadir drone imagery (TU Graz Semantic Drone Dataset) with fastai v2.

The public API is listed in ``__all__``; names are imported on first use, so ``import dronefast`` and the
light command-line tools (``sample``, ``check``, ``prepare``) start without loading fastai and PyTorch.

Modules, one job each:
    classes   class table (names, colours), class_dict*.csv / codes.txt
    layout    finding the dataset on disk (Kaggle, TU Graz, prepared layouts)
    images    fast photo decoding (JPEG draft mode)
    masks     colour <-> id masks, reading masks
    check     dataset checking (``python -m dronefast.check``)
    data      fastai DataBlock / DataLoaders with items cached in memory
    prepare   training-ready copies of full-size data (``python -m dronefast.prepare``)
    sample    built-in synthetic dataset (``python -m dronefast.sample``)
    metrics   accuracy_mask, confusion matrix, IoU / mIoU / Dice
    encoders  U-Net encoders and their ImageNet weights (online or offline)
    learner   the dynamic U-Net learner
    modelfile safe model format (safetensors + JSON)
    fitting   lr_find and fit_one_cycle keeping the best epoch, resumable; precision
    augment   augmentations for nadir (top-down) photos
    losses    class-weighted cross-entropy ignoring void, soft Dice, class weights
    recipes   named training recipes: nadir (default) and reference
    train     the main job (``python -m dronefast.train``)
    predict   full-resolution prediction (``python -m dronefast.predict``)
    evaluate  evaluation reports (``python -m dronefast.evaluate``)
    landing   landing-zone search (``python -m dronefast.landing``)
    distributed  data-parallel training through fastai + accelerate
    tuning    process-wide speed settings (glibc malloc)
    bench     speed benchmarks (``python -m dronefast.bench``)
    recipe_bench  the recipes' accuracy side by side (``python -m dronefast.bench recipes``)
"""
from importlib import import_module
from typing import Any, Dict

__version__ = "0.1.0"

_EXPORTS: Dict[str, str] = {
    # classes
    "ClassTable": "classes", "standard_classes": "classes", "read_class_csv": "classes",
    "read_codes_txt": "classes", "STANDARD_CLASSES": "classes",
    # errors
    "DronefastError": "errors", "DatasetError": "errors", "DatasetNotFoundError": "errors",
    "EmptyDatasetError": "errors", "MissingMaskError": "errors", "OrphanMaskError": "errors",
    "UnknownColourError": "errors", "ClassIdError": "errors", "SizeMismatchError": "errors",
    "CorruptImageError": "errors", "ClassTableError": "errors", "DatasetCheckError": "errors",
    "OfflineWeightsError": "errors", "ModelFileError": "errors", "UsageError": "errors",
    # layout, images, masks
    "DatasetLayout": "layout", "find_layout": "layout", "MaskPathFor": "layout",
    "read_image": "images", "colour_to_ids": "masks", "ids_to_colour": "masks", "read_mask": "masks",
    # check, data, prepare, sample
    "check_dataset": "check", "CheckReport": "check",
    "drone_datablock": "data", "drone_dataloaders": "data", "load_items": "data", "ItemStore": "data",
    "prepare_dataset": "prepare", "PrepareReport": "prepare",
    "generate_sample": "sample", "ensure_sample": "sample", "default_sample_path": "sample",
    "render_scene": "sample",
    # metrics
    "accuracy_mask": "metrics", "pixel_accuracy": "metrics", "confusion_matrix": "metrics",
    "iou_per_class": "metrics", "dice_per_class": "metrics", "mean_iou": "metrics",
    "scores_from_confusion": "metrics", "ConfusionMetric": "metrics", "AccuracyMask": "metrics",
    "MeanIoU": "metrics", "PixelAccuracy": "metrics", "segmentation_metrics": "metrics",
    "per_class_iou": "metrics", "find_confusion_metric": "metrics",
    # model and training
    "ARCHS": "encoders", "Encoder": "encoders", "encoder": "encoders",
    "drone_learner": "learner", "ModelInfo": "modelfile", "save_model": "modelfile", "load_model": "modelfile",
    "find_lr": "fitting", "fit_reference": "fitting", "set_precision": "fitting",
    "Recipe": "recipes", "RECIPES": "recipes", "DEFAULT_RECIPE": "recipes", "get_recipe": "recipes",
    "recipe_loss": "recipes", "recipe_batch_tfms": "recipes",
    "NadirAugment": "augment", "nadir_transforms": "augment",
    "SegLoss": "losses", "class_weights": "losses", "train_class_counts": "losses", "soft_dice_loss": "losses",
    "train": "train", "TrainResult": "train",
    # benchmarks
    "bench_train": "bench", "bench_prepare": "bench", "bench_predict": "bench", "tune_malloc": "tuning",
    # prediction and evaluation
    "Predictor": "predict", "predict_image": "predict", "evaluate_model": "evaluate",
    # landing
    "LandingSpot": "landing", "find_landing_spots": "landing", "landing_overlay": "landing",
    "spots_to_json": "landing", "ground_sampling_distance": "landing",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dronefast' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
