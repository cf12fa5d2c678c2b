"""One exception family for bad data and bad runs.

Every error names the file (when there is one) and the problem, so the command-line tools can print it as a
single line and exit non-zero instead of showing a traceback from deep inside PyTorch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Union

__all__ = [
    "DronefastError", "DatasetError", "DatasetNotFoundError", "EmptyDatasetError", "MissingMaskError",
    "OrphanMaskError", "UnknownColourError", "ClassIdError", "SizeMismatchError", "CorruptImageError",
    "ClassTableError", "DatasetCheckError", "OfflineWeightsError", "ModelFileError", "UsageError",
]

PathLike = Union[str, Path]


class DronefastError(Exception):
    """Base class of every error dronefast raises on purpose (the CLI prints these as one line)."""


class DatasetError(DronefastError):
    """A problem with the data on disk; `path` is the offending file or folder (or None)."""

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = Path(path) if path is not None else None
        self.problem = message
        super().__init__(f"{path}: {message}" if path is not None else message)


class DatasetNotFoundError(DatasetError):
    """The folder does not exist or holds no layout dronefast recognises."""


class EmptyDatasetError(DatasetError):
    """A recognised folder holds no images."""


class MissingMaskError(DatasetError):
    """An image has no mask with the same stem."""


class OrphanMaskError(DatasetError):
    """A mask has no image with the same stem."""


class UnknownColourError(DatasetError):
    """A colour mask holds a colour that is not in the class table."""


class ClassIdError(DatasetError):
    """An id mask holds an id outside the class table."""


class SizeMismatchError(DatasetError):
    """An image and its mask differ in size."""


class CorruptImageError(DatasetError):
    """A file cannot be decoded."""


class ClassTableError(DatasetError):
    """A class table (class_dict*.csv or codes.txt) is malformed."""


class DatasetCheckError(DatasetError):
    """Several problems found by a dataset check; `problems` holds each one."""

    def __init__(self, problems: Iterable[DatasetError], root: Optional[PathLike] = None):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        head = f"{len(lines)} problem(s) in the dataset" + (f" at {root}" if root else "")
        super().__init__(head + ":\n  " + "\n  ".join(lines))
        self.path = Path(root) if root else None


class OfflineWeightsError(DronefastError):
    """Pretrained weights were asked for but cannot be downloaded or found locally."""


class ModelFileError(DronefastError):
    """A saved model is missing, malformed or unsafe to load."""


class UsageError(DronefastError):
    """A bad argument value that argparse could not catch (the CLI exits with 2)."""
