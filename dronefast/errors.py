"""One exception family for bad data and bad runs.

Every error names the file (when there is one) and the problem, so the command-line tools can print it as a
single line and exit non-zero instead of showing a traceback from deep inside PyTorch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional, Union

__all__ = [
    "DronefastError", "DatasetError", "DatasetNotFoundError", "EmptyDatasetError", "MissingMaskError",
    "OrphanMaskError", "UnknownColourError", "ClassIdError", "SizeMismatchError", "CorruptImageError",
    "ClassTableError", "DatasetCheckError", "OfflineWeightsError", "ModelFileError", "UsageError", "RunFolderError",
    "OutputError", "PaletteMaskError",
]

PathLike = Union[str, Path]


class DronefastError(Exception):
    """Base class of every error dronefast raises on purpose (the CLI prints these as one line)."""

    def for_cli(self) -> str:
        """The message as the command line shows it (options spelled as flags where they differ)."""
        return str(self)


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


class PaletteMaskError(DatasetError):
    """A palette (mode ``P``) mask that is neither a colour mask (its used palette entries all class colours) nor an
    id mask (its used indices all class ids)."""


class SizeMismatchError(DatasetError):
    """An image and its mask differ in size."""


class CorruptImageError(DatasetError):
    """A file cannot be decoded, or holds pixels dronefast refuses to guess about (an unsupported mode, a value
    range it cannot know, more pixels than Pillow's decompression-bomb limit)."""


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
    """Pretrained weights were asked for but cannot be downloaded or found locally.

    Args:
        arch: the encoder.
        url: where the weights are downloaded from.
        cached: where a downloaded copy is looked for.
        reason: why the download failed.
    """

    def __init__(self, arch: str, url: str, cached: PathLike, reason: str):
        self.arch, self.url, self.cached, self.reason = arch, url, Path(cached), reason
        super().__init__(self._message("weights=PATH", "pretrained=False"))

    def _message(self, weights: str, scratch: str) -> str:
        return (f"cannot get ImageNet weights for {self.arch} ({self.reason}). Either connect to the internet, or "
                f"download {self.url} on another machine and put it at {self.cached} (set TORCH_HOME to change "
                f"the cache), or pass {weights} with that file, or train from scratch with {scratch}")

    def for_cli(self) -> str:
        return self._message("--weights PATH", "--no-pretrained")


class ModelFileError(DronefastError):
    """A saved model is missing, malformed or unsafe to load (the message starts with the file, then the field or
    the problem)."""


class OutputError(DronefastError):
    """An output file or folder cannot be written: the path exists and is not a folder, no permission, a read-only
    file system, a full disk. `path` is the file or folder that could not be written; nothing that existed there
    before is changed (outputs are written to a temporary name and renamed)."""

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = Path(path) if path is not None else None
        self.problem = message
        super().__init__(f"{path}: {message}" if path is not None else message)

    def __reduce__(self):  # pickled by worker processes: keep the path and the problem apart
        return type(self), (self.problem, self.path)

    def for_cli(self) -> str:
        # from its parts: fastai rewrites the message of an error raised in a callback (a checkpoint on a full disk)
        return f"{self.path}: {self.problem}" if self.path is not None else self.problem


class UsageError(DronefastError):
    """A bad argument value that argparse could not catch (the CLI exits with 2)."""


class RunFolderError(DronefastError):
    """A training run's output folder cannot be used as asked (a finished or interrupted run is there, another
    process holds it, or a resume does not match the run). The message names the folder; options are spelled
    for Python (``overwrite=True``) or, through :meth:`for_cli`, for the command line (``--overwrite``).

    Args:
        template: the message, with ``{overwrite}``, ``{resume}`` and ``{keep_checkpoint}`` where an option is
            named; only these are filled in, so paths and other text may hold braces as they are.
    """

    _PY = {"overwrite": "overwrite=True", "resume": "resume=True", "keep_checkpoint": "keep_checkpoint=True"}
    _CLI = {"overwrite": "--overwrite", "resume": "--resume", "keep_checkpoint": "--keep-checkpoint"}

    def __init__(self, template: str):
        self.template = template
        super().__init__(self._fill(self._PY))

    def for_cli(self) -> str:
        return self._fill(self._CLI)

    def _fill(self, options: Dict[str, str]) -> str:
        text = self.template
        for name, spelled in options.items():
            text = text.replace("{" + name + "}", spelled)
        return text
