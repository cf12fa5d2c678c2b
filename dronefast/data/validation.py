"""Checking a dataset before training (``python -m dronefast.check PATH`` runs :func:`check_dataset`).

Every image must have a mask and vice versa, sizes must match, every id must be within the class table and
every file must decode. The check prints counts and a class-frequency table, and exits non-zero with the list
of offending files otherwise. Training runs the same per-file check (:func:`inspect_pair`) while it decodes
items into memory, so a bad mask stops it with this message instead of a device-side assert.
"""
from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DatasetError, SizeMismatchError
from .classes import ClassTable
from .images import image_size, read_image
from .layout import DatasetLayout, find_layout
from .masks import count_ids, read_mask
from .split import Split

__all__ = ["PairResult", "CheckReport", "inspect_pair", "inspect_pairs", "check_dataset", "default_workers",
           "TooFewPhotosError", "split_counts", "min_photos", "check_photo_count", "worker_pool"]

PathLike = Union[str, Path]


@dataclass
class PairResult:
    """What inspecting one image/mask pair found.

    Attributes:
        image, mask: the two paths.
        counts: pixel count per class id, shape ``(n_classes,)`` int64 (None when the pair is bad).
        problems: the errors found (empty when the pair is good).
        image_array, mask_array: decoded (and resized) ``(H, W, 3)`` / ``(H, W)`` uint8 arrays when asked.
    """

    image: Path
    mask: Path
    counts: Optional[np.ndarray] = None
    problems: List[DatasetError] = field(default_factory=list)
    image_array: Optional[np.ndarray] = None
    mask_array: Optional[np.ndarray] = None


def inspect_pair(image: Path, mask: Path, classes: ClassTable, size: Optional[Tuple[int, int]] = None,
                 decode_image: bool = True, keep: bool = False) -> PairResult:
    """Check one pair: both decode, sizes match, ids within `classes`; count pixels per class.

    Args:
        image, mask: paths of the photo and its mask.
        classes: class table the mask ids / colours must belong to.
        size: ``(height, width)`` to resize to when `keep` (photo with Lanczos after draft decoding, mask with
            NEAREST); the size comparison is always made at full resolution.
        decode_image: decode the photo's pixels (catches truncated files); else only its header is read.
        keep: return the decoded arrays in the result (used to fill the training cache in the same pass).
    """
    res = PairResult(image, mask)
    try:
        ids = read_mask(mask, classes)
    except DatasetError as e:
        res.problems.append(e)
        ids = None
    try:
        full_hw = image_size(image)
        if decode_image or keep:
            img = read_image(image, size if keep else None)
            if keep:
                res.image_array = np.asarray(img)
    except DatasetError as e:
        res.problems.append(e)
        full_hw = None
    if ids is not None and full_hw is not None and ids.shape != full_hw:
        res.problems.append(SizeMismatchError(
            f"mask is {ids.shape[1]}x{ids.shape[0]} but its image {image.name} is {full_hw[1]}x{full_hw[0]} (WxH)",
            mask))
    if res.problems:
        res.image_array = None
        return res
    res.counts = count_ids(ids, len(classes))
    if keep:
        from .masks import resize_mask
        res.mask_array = resize_mask(ids, size) if size is not None else ids
    return res


def default_workers() -> int:
    """Worker processes for decoding: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _inspect_star(args):
    return inspect_pair(*args)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: ask Linux to kill this process when its parent ends, however it ends (a SIGTERM or a
    SIGKILL runs no ``finally`` of the parent's), so that no decoding worker outlives the command."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc/Linux: the pool's shutdown is all there is
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool of `workers` for decoding (forked on Linux: cheap start-up; the workers only use numpy and
    Pillow) whose workers end with the parent process, even when it is killed; on leaving the block, by an error or
    an interruption too, queued jobs are cancelled and the workers joined."""
    linux = sys.platform.startswith("linux")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork") if linux else None,
                               initializer=_die_with_parent if linux else None,
                               initargs=(os.getpid(),) if linux else ())
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def inspect_pairs(pairs: Sequence[Tuple[Path, Path]], classes: ClassTable, size=None, decode_image: bool = True,
                  keep: bool = False, workers: Optional[int] = None,
                  progress: Optional[Callable[[Iterable], Iterable]] = None) -> List[PairResult]:
    """:func:`inspect_pair` over many pairs, in `workers` processes (all cores by default), results in order.

    `progress` wraps the result iterator (e.g. fastprogress's ``progress_bar``) to show progress.
    """
    workers = default_workers() if workers is None else workers
    jobs = [(img, m, classes, size, decode_image, keep) for img, m in pairs]
    wrap = progress or (lambda it, **kw: it)
    if workers <= 1 or len(jobs) < 8:
        return [inspect_pair(*j) for j in wrap(jobs)]
    with worker_pool(workers) as pool:
        return list(wrap(pool.map(_inspect_star, jobs, chunksize=max(1, len(jobs) // (workers * 8))),
                         total=len(jobs)))


class TooFewPhotosError(DatasetError):
    """A dataset holds too few photos to give one training batch and one validation photo with the split and batch
    size asked for (the same refusal in ``check`` and ``train``)."""


def _cut(pct: float, n: int) -> int:
    """Photos fastai's ``RandomSplitter`` holds out of `n` for a share `pct` > 0, at least one (as
    :class:`~dronefast.data.split.Split` asks it)."""
    return min(n, max(1, int(pct * n))) if pct > 0 and n > 0 else 0


def split_counts(n: int, split: Split) -> Tuple[int, int, int]:
    """``(training, validation, test)`` photo counts `split` gives `n` photos, without drawing the split (the
    counts of :meth:`~dronefast.data.split.Split.divide`)."""
    n_test = min(n, len(split.test_stems)) if split.test_stems is not None else _cut(split.test_pct, n)
    n_valid = _cut(split.valid_pct, n - n_test)
    return n - n_test - n_valid, n_valid, n_test


def _enough(n: int, split: Split, bs: int, repeats: int) -> bool:
    n_train, n_valid, _ = split_counts(n, split)
    return n_valid >= 1 and n_train >= 1 and n_train * repeats >= bs


def min_photos(split: Split, bs: int, repeats: int = 1) -> int:
    """The fewest photos that give at least one validation photo and one full training batch of `bs` items
    (each training photo `repeats` items an epoch; a last, incomplete batch is dropped)."""
    lo = 2 + (len(split.test_stems) if split.test_stems is not None else 0)
    hi = lo
    while not _enough(hi, split, bs, repeats):  # the training count never falls as photos are added
        lo, hi = hi + 1, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _enough(mid, split, bs, repeats) else (mid + 1, hi)
    return hi


def check_photo_count(n: int, split: Split, bs: int, repeats: int = 1, root: Optional[PathLike] = None) -> None:
    """Refuse (:class:`TooFewPhotosError` naming `root`, the count and the minimum) `n` photos that cannot give one
    training batch of `bs` and a validation photo with `split`."""
    if _enough(n, split, bs, repeats):
        return
    n_train, n_valid, n_test = split_counts(n, split)
    items = f" x {repeats} windows = {n_train * repeats} items" if repeats > 1 else ""
    raise TooFewPhotosError(
        f"{n} photo(s) are too few to train on: at least {min_photos(split, bs, repeats)} are needed for one batch "
        f"of {bs} and one validation photo (the split, validation share {split.valid_pct:g} and "
        f"{_test_part(split)}, leaves {n_train} to train on{items}, {n_valid} to validate and {n_test} to test); add "
        f"photos, or lower the batch size or the test share", root)


def _test_part(split: Split) -> str:
    return (f"{len(split.test_stems)} test stem(s)" if split.test_stems is not None
            else f"test share {split.test_pct:g}")


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`.

    Attributes:
        layout: where the data was found.
        n_images, n_masks, n_pairs: counts.
        counts: pixels per class id over all good pairs, ``(n_classes,)`` int64.
        problems: every problem found (empty when the dataset is good).
    """

    layout: DatasetLayout
    n_images: int
    n_masks: int
    n_pairs: int
    counts: np.ndarray
    problems: List[DatasetError]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def shares(self) -> np.ndarray:
        """Share of pixels per class id, ``(n_classes,)`` float64 summing to 1 (zeros if no pixel)."""
        total = self.counts.sum()
        return self.counts / total if total else self.counts.astype(float)

    def frequency_table(self) -> str:
        """Class id, name, pixel count and share as a fixed-width text table."""
        lines = [f"{'id':>3}  {'class':<12} {'pixels':>14} {'share':>8}"]
        for i, (name, n, s) in enumerate(zip(self.layout.classes.names, self.counts, self.shares)):
            lines.append(f"{i:>3}  {name:<12} {int(n):>14,} {100 * s:>7.2f}%")
        return "\n".join(lines)

    def summary(self) -> str:
        """Counts, the frequency table and the problems, as printed by ``python -m dronefast.check``."""
        out = [self.layout.describe(),
               f"pairs: {self.n_pairs} ({self.n_images} images, {self.n_masks} masks)", self.frequency_table()]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s):")
            out += [f"  {p}" for p in self.problems]
        else:
            out.append("OK: no problems found")
        return "\n".join(out)


def check_dataset(path: Union[PathLike, DatasetLayout], decode_images: bool = True, workers: Optional[int] = None,
                  kind: Optional[str] = None, progress=None, *, split: Optional[Split] = None,
                  bs: Optional[int] = None, repeats: int = 1) -> CheckReport:
    """Check a whole dataset (see the module docstring); never raises for bad files, it reports them.

    With `bs`, the number of photos is checked as training checks it (:func:`check_photo_count` with `split`,
    default ``Split()``, and `repeats`): too few is the report's first problem, in the words training refuses them.

    Raises:
        DatasetNotFoundError, EmptyDatasetError: when there is no dataset at `path` at all.
    """
    layout = path if isinstance(path, DatasetLayout) else find_layout(path, kind)
    problems: List[DatasetError] = []
    if bs is not None:
        try:
            check_photo_count(len(layout.image_files()), split or Split(), bs, repeats, layout.root)
        except TooFewPhotosError as e:
            problems.append(e)
    pairs, missing, orphans = layout.pairs()
    results = inspect_pairs(pairs, layout.classes, decode_image=decode_images, workers=workers, progress=progress)
    counts = np.zeros(len(layout.classes), dtype=np.int64)
    problems += [*missing, *orphans]
    for r in results:
        problems += r.problems
        if r.counts is not None:
            counts += r.counts
    return CheckReport(layout, len(pairs) + len(missing), len(pairs) + len(orphans), len(pairs), counts, problems)
