"""dronefast: semantic segmentation of nadir drone imagery (TU Graz Semantic Drone Dataset) with fastai v2.

The public API is listed in ``__all__``; names are imported on first use, so ``import dronefast`` and the
light command-line tools start without loading fastai and PyTorch.

Subpackages, one part of the job each, in layer order (each imports only those above it in this list):
    data        dataset layouts, class tables, photos and masks, the check, prepared copies, the split, the DataBlock
    synthetic   the built-in synthetic sample
    metrics     accuracy, IoU and Dice from a confusion matrix; the fastai callback and metrics
    models      encoders and their weights, the U-Net learner, the safe model format, the window grid and tiling
    training    recipes and run settings, losses, augmentations, callbacks, fitting, calibration, distributed
    inference   prediction of photos of any size (engines: PyTorch; ONNX Runtime and the ONNX graph code)
    landing     landing spots from a class map, with the model's confidence, and their safety against the truth
    workflows   what combines them: the training run, evaluation and its reports, batch prediction, ONNX export
    app         the web page (``python -m dronefast.app``, extra ``[app]``; imports Gradio, never imported here)
    cli         the commands (``python -m dronefast.train`` and the others); the library never imports it
Modules shared by all: ``errors`` (one exception family), ``outputs`` (atomic file writing), ``sizes`` (WxH).
"""
import sys
from importlib import import_module
from types import ModuleType
from typing import Any, Dict

from .version import __version__

_EXPORTS: Dict[str, str] = {
    # errors
    "DronefastError": "errors", "DatasetError": "errors", "DatasetNotFoundError": "errors",
    "EmptyDatasetError": "errors", "MissingMaskError": "errors", "OrphanMaskError": "errors",
    "UnknownColourError": "errors", "ClassIdError": "errors", "SizeMismatchError": "errors",
    "CorruptImageError": "errors", "ClassTableError": "errors", "DatasetCheckError": "errors",
    "OfflineWeightsError": "errors", "ModelFileError": "errors", "UsageError": "errors",
    "RunFolderError": "errors", "OutputError": "errors", "PaletteMaskError": "errors",
    # data
    "ClassTable": "data.classes", "standard_classes": "data.classes", "read_class_csv": "data.classes",
    "read_codes_txt": "data.classes", "STANDARD_CLASSES": "data.classes",
    "DatasetLayout": "data.layout", "find_layout": "data.layout", "MaskPathFor": "data.layout",
    "read_image": "data.images", "colour_to_ids": "data.masks", "ids_to_colour": "data.masks",
    "read_mask": "data.masks", "check_dataset": "data.validation", "CheckReport": "data.validation",
    "drone_datablock": "data.block", "drone_dataloaders": "data.block", "load_items": "data.cache",
    "ItemStore": "data.cache", "Split": "data.split", "prepare_dataset": "data.preparation",
    "PrepareReport": "data.preparation",
    "split_files": "data.split", "validation_files": "data.split",
    # synthetic
    "generate_sample": "synthetic.generator", "ensure_sample": "synthetic.generator",
    "default_sample_path": "synthetic.generator", "render_scene": "synthetic.generator",
    # metrics
    "accuracy_mask": "metrics.functional", "pixel_accuracy": "metrics.functional",
    "confusion_matrix": "metrics.functional", "iou_per_class": "metrics.functional",
    "dice_per_class": "metrics.functional", "mean_iou": "metrics.functional",
    "scores_from_confusion": "metrics.functional", "ConfusionCallback": "metrics.callback",
    "AccuracyMask": "metrics.callback", "MeanIoU": "metrics.callback",
    "PixelAccuracy": "metrics.callback", "segmentation_metrics": "metrics.callback",
    "per_class_iou": "metrics.callback", "find_confusion": "metrics.callback",
    # models
    "ARCHS": "models.archs", "Encoder": "models.encoders", "encoder": "models.encoders",
    "drone_learner": "models.learner", "ModelInfo": "models.modelfile", "save_model": "models.modelfile",
    "load_model": "models.modelfile", "export_onnx": "workflows.export_onnx",
    # training
    "TrainConfig": "training.config", "train": "workflows.training_run", "TrainResult": "workflows.training_run",
    "find_lr": "training.fit", "fit_reference": "training.fit", "set_precision": "training.precision",
    "Recipe": "training.recipes", "RECIPES": "training.recipes", "DEFAULT_RECIPE": "training.recipes",
    "get_recipe": "training.recipes", "calibrate": "training.calibrate", "NadirAugment": "training.recipes",
    "recipe_loss": "training.losses", "recipe_batch_tfms": "training.augment",
    "nadir_transforms": "training.augment", "SegLoss": "training.losses", "class_weights": "training.losses",
    "train_class_counts": "training.losses", "soft_dice_loss": "training.losses", "tune_malloc": "training.tuning",
    # inference
    "Predictor": "inference.predictor",
    "PredictOptions": "inference.predict_options", "evaluate_model": "workflows.evaluation",
    "OnnxEngine": "inference.onnx",
    "Prediction": "inference.predictor",
    # landing
    "LandingSpot": "landing.spots", "find_landing_spots": "landing.spots", "landing_overlay": "landing.pictures",
    "spots_to_json": "landing.spots", "ground_sampling_distance": "landing.distances",
    "LandingOptions": "landing.options", "safe_class_ids": "landing.policy", "SafetyCheck": "landing.safety",
    "analyse_landing": "landing.writer",
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


class _Package(ModuleType):
    """``dronefast`` itself, whose public names a submodule import cannot replace.

    ``import dronefast.train`` (the command's module) makes Python's import system bind the submodule to the
    package's attribute ``train`` once it is loaded, which would replace the public function
    :func:`~dronefast.workflows.training_run.train`. That binding alone is declined here, so ``dronefast.train`` is the
    function whatever was imported before or after; the command's module stays in ``sys.modules`` (run it with
    ``python -m dronefast.train`` or call :func:`dronefast.cli.train.main`). Setting a module's ``__class__`` to a
    subclass of ``ModuleType`` is the Python data model's documented way to customise attribute setting on a
    module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            return  # the submodule of the same name as a public object: the public object keeps the name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
