"""Making a small, training-ready copy of a dataset: ``python -m dronefast.prepare SRC DST --size WxH``.

Every photo of SRC (Kaggle, TU Graz or prepared layout) is decoded once at the target size (JPEG draft mode,
then Lanczos) and saved as ``DST/images/<stem>.jpg`` (RGB, quality 95, no chroma subsampling); its mask is read
as class ids (colour masks go through the class table), resized with NEAREST only and saved as
``DST/masks/<stem>.png`` (mode L). ``class_dict.csv``, ``codes.txt`` and finally ``prepare.json`` complete the
"prepared" layout that :func:`dronefast.data.layout.find_layout` recognises.

Pairs are processed on all cores. Each file is written atomically, and a pair whose two outputs already exist
is skipped, so an interrupted run is resumed by running the same command again. ``prepare.partial.json`` holds
the run's settings while it is in progress (or was interrupted); ``prepare.json`` is written last, when the run
has finished, and the partial marker is then removed. A DST prepared at another size (or class table) is
refused unless ``--overwrite``. Bad pairs are reported by file and problem; the good ones are still prepared.
"""
from __future__ import annotations

import json
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Tuple, Union

import numpy as np

from ..errors import DatasetError, DronefastError, UsageError
from ..outputs import (
    ensure_outside,
    is_temp_file,
    remove_file,
    save_image,
    writable_folder,
    write_json,
    write_text,
)
from ..sizes import format_size
from ..version import __version__
from .classes import ClassTable
from .images import image_size
from .layout import find_layout
from .validation import default_workers, inspect_pair, worker_pool

__all__ = ["PrepareReport", "PrepareConflictError", "NewClassIdError", "prepare_dataset", "scaled_size",
           "JPEG_QUALITY", "PREPARE_JSON", "PARTIAL_JSON"]

PathLike = Union[str, Path]
Size = Tuple[int, int]
JPEG_QUALITY = 95
#: Written last: its presence means a run finished (with or without bad pairs).
PREPARE_JSON = "prepare.json"
#: Present while a run is in progress or after it was interrupted; holds the run's settings.
PARTIAL_JSON = "prepare.partial.json"


class PrepareConflictError(DatasetError):
    """DST holds a dataset prepared with other settings (size, scale or class table), or unknown files."""


class NewClassIdError(DronefastError):
    """A prepared mask holds a class id its source mask does not: a bug, never expected (NEAREST only)."""


@dataclass
class PrepareReport:
    """What :func:`prepare_dataset` did.

    Attributes:
        n_done: pairs written by this run.
        n_skipped: pairs whose outputs already existed (an earlier run made them).
        problems: the bad pairs' errors (file and problem each); empty when every pair is good.
        dst: the output folder.
        size: ``(height, width)`` of the prepared items; with `scale`, the common size if all are the same,
            else None.
        scale: the scale factor asked for, or None when an exact size was asked for.
        source_kind: layout of the source (``kaggle``, ``tugraz`` or ``prepared``).
    """

    n_done: int
    n_skipped: int
    problems: List[DatasetError]
    dst: Path
    size: Optional[Size]
    scale: Optional[float] = None
    source_kind: str = ""

    @property
    def ok(self) -> bool:
        """True when no bad pair was found."""
        return not self.problems

    def summary(self) -> str:
        """One line of counts, then one line per problem."""
        size = format_size(self.size) if self.size else f"scale {self.scale}"
        lines = [f"prepared {self.n_done} pair(s), skipped {self.n_skipped} already done, "
                 f"{len(self.problems)} bad -> {self.dst} ({size})"]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def scaled_size(hw: Size, scale: float) -> Size:
    """``(height, width)`` multiplied by `scale` and rounded (at least 1 pixel each), keeping the aspect."""
    h, w = hw
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass
class _Outcome:
    """One pair's result, small enough to send back from a worker process."""

    index: int
    size: Optional[Size] = None
    problems: List[DatasetError] = field(default_factory=list)


def _prepare_pair(index: int, image: Path, mask: Path, classes: ClassTable, size: Optional[Size],
                  scale: Optional[float], out_image: Path, out_mask: Path) -> _Outcome:
    """Decode, resize, verify and write one pair (runs in a worker process)."""
    try:
        target = size if size is not None else scaled_size(image_size(image), scale)
    except DatasetError as e:
        return _Outcome(index, problems=[e])
    res = inspect_pair(image, mask, classes, target, decode_image=True, keep=True)
    if res.problems:
        return _Outcome(index, problems=res.problems)
    prepared = res.mask_array
    if prepared.dtype != np.uint8 or prepared.shape != tuple(target):
        raise NewClassIdError(f"{mask}: prepared mask has dtype {prepared.dtype} and shape {prepared.shape}, "
                              f"expected uint8 {tuple(target)}")
    # res.counts are the source's (full-resolution) pixels per id: an id present only after resizing is new
    new = np.setdiff1d(np.unique(prepared), np.flatnonzero(res.counts))
    if new.size:
        raise NewClassIdError(f"{mask}: resizing created class id(s) {new.tolist()} that the source mask does "
                              f"not hold; masks must only be resized with NEAREST")
    # 4:4:4 chroma: at training sizes the colour of 1-2 pixel wide structures matters more than file size
    save_image(res.image_array, out_image, quality=JPEG_QUALITY, subsampling=0)
    save_image(prepared, out_mask)
    return _Outcome(index, size=tuple(target))


def _prepare_star(args) -> _Outcome:
    return _prepare_pair(*args)


def _settings(size: Optional[Size], scale: Optional[float], classes: ClassTable) -> dict:
    return {"size": list(size) if size is not None else None, "scale": scale, "classes": classes.to_dict()}


def _conflict(old: dict, new: dict) -> Optional[str]:
    """Why the settings `old` (from an earlier run) differ from `new`, or None if they agree."""
    old_scale = old.get("scale")
    if (old_scale is None) != (new["scale"] is None) or (old_scale is not None and old_scale != new["scale"]):
        return f"scale {old_scale} was used, now {new['scale']}"
    if new["scale"] is None and list(old.get("size") or []) != new["size"]:
        was = format_size(old["size"]) if old.get("size") else "unknown"
        return f"it was prepared at {was}, now asked for {format_size(new['size'])}"
    if "classes" in old and old["classes"] != new["classes"]:
        return "it was prepared with a different class table"
    return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PrepareConflictError(f"cannot read it ({e}); pass --overwrite to prepare DST again", path) from None
    if not isinstance(data, dict):
        raise PrepareConflictError("not a JSON object; pass --overwrite to prepare DST again", path)
    return data


def _outputs(folder: Path, suffix: str) -> List[Path]:
    """Non-hidden files with `suffix` directly in `folder` (none if it does not exist)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.suffix == suffix and not p.name.startswith(".")]


def _check_destination(dst: Path, settings: dict, overwrite: bool) -> None:
    """Refuse a DST prepared with other settings (or holding outputs of unknown origin) unless `overwrite`.
    With `overwrite`, a DST that prepare made (it holds its marker) loses its earlier outputs, so that it ends up
    matching SRC; a DST that prepare did not make loses nothing (only files of the same name are replaced)."""
    markers = [dst / n for n in (PREPARE_JSON, PARTIAL_JSON) if (dst / n).is_file()]
    if overwrite:
        if markers:
            for p in _outputs(dst / "images", ".jpg") + _outputs(dst / "masks", ".png") + markers:
                remove_file(p)
        return
    for marker in markers:
        why = _conflict(_read_json(marker), settings)
        if why:
            raise PrepareConflictError(f"DST was prepared with other settings ({why}); pass --overwrite to "
                                       f"prepare it again or choose another folder", marker)
    found = _foreign_entry(dst) if not markers else None
    if found is not None:
        raise PrepareConflictError(f"holds files without {PREPARE_JSON} (not made by dronefast.prepare?), "
                                   f"e.g. {found.relative_to(dst)}; pass --overwrite to write into it anyway, or "
                                   f"choose an empty or new folder", dst)


def _foreign_entry(dst: Path) -> Optional[Path]:
    """The first file or non-empty folder in `dst` (and in its ``images/`` and ``masks/``), or None: what a folder
    without a prepare marker holds of someone else's (dronefast's own temporary files aside)."""
    for folder in (dst, dst / "images", dst / "masks"):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if is_temp_file(p) or (p.parent == dst and p.name in ("images", "masks") and p.is_dir()):
                continue
            if not p.is_dir() or p.is_symlink() or any(p.iterdir()):
                return p
    return None


def _write_if_changed(path: Path, text: str) -> None:
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        write_text(path, text)


def _progress_wrapper(progress) -> Callable[..., Iterable]:
    if callable(progress):
        return progress
    if progress:
        from fastprogress.fastprogress import progress_bar

        def bar(it, total=None):
            yield from progress_bar(it, total=total)
            print(flush=True)  # the console bar does not end its line

        return bar
    return lambda it, total=None: it


def _run_jobs(jobs: list, workers: int, progress) -> List[_Outcome]:
    """Run :func:`_prepare_pair` over `jobs` in `workers` processes; outcomes in job order."""
    if not jobs:
        return []
    wrap = _progress_wrapper(progress)
    if workers <= 1 or len(jobs) == 1:
        return [_prepare_star(j) for j in wrap(jobs, total=len(jobs))]
    with worker_pool(min(workers, len(jobs))) as pool:
        futures = [pool.submit(_prepare_star, j) for j in jobs]
        outcomes = [f.result() for f in wrap(as_completed(futures), total=len(futures))]
    return sorted(outcomes, key=lambda o: o.index)


def prepare_dataset(src: PathLike, dst: PathLike, size: Optional[Size] = None, scale: Optional[float] = None,
                    workers: Optional[int] = None, overwrite: bool = False,
                    progress: Union[bool, Callable[..., Iterable]] = True,
                    kind: Optional[str] = None) -> PrepareReport:
    """Write a resized, training-ready copy of the dataset at `src` into `dst` (see the module docstring).

    Args:
        src: dataset folder in any layout :func:`~dronefast.data.layout.find_layout` recognises; only read.
        dst: output folder (created; must not be or lie inside `src`).
        size: exact ``(height, width)`` of every prepared image and mask.
        scale: factor (0 < scale <= 1) applied to each image's own size, rounded; give `size` or `scale`.
        workers: processes (default: every core, :func:`~dronefast.data.validation.default_workers`).
        overwrite: prepare every pair again, even if `dst` was prepared with other settings, removing the
            outputs of that earlier prepare; a `dst` without ``prepare.json`` is written into and loses nothing
            but files of the same name. Otherwise pairs already done are skipped.
        progress: show a fastprogress bar (or a callable ``wrap(iterable, total=n)``).
        kind: layout of `src` to use when several are present.

    Returns:
        A :class:`PrepareReport`; bad pairs are listed in its `problems`, not raised.

    Raises:
        UsageError: neither or both of `size`/`scale`, a bad value, or `dst` inside `src`.
        DatasetNotFoundError, EmptyDatasetError: no dataset at `src`.
        PrepareConflictError: `dst` was prepared with other settings and `overwrite` is False.
        OutputError: `dst` cannot be written (a file in the way, read-only, no permission, disk full); raised before
            anything is written when it can be seen at the start.
        NewClassIdError: a resized mask would hold an id its source does not (never expected).
    """
    if (size is None) == (scale is None):
        raise UsageError("give exactly one of size (--size WxH) and scale (--scale F)")
    if size is not None:
        size = tuple(int(v) for v in size)
        if len(size) != 2 or min(size) <= 0:
            raise UsageError(f"size must be a positive (height, width), got {size}")
    if scale is not None:
        scale = float(scale)
        if not 0 < scale <= 1:
            raise UsageError(f"scale must be in (0, 1], got {scale}")
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    layout = find_layout(src, kind)
    try:
        for out in (dst, dst / "images", dst / "masks"):
            ensure_outside(out, src)
    except ValueError as e:
        raise UsageError(str(e)) from None
    writable_folder(dst)  # OutputError now, not at the first write: a file in the way, read-only, no permission

    classes = layout.classes
    settings = _settings(size, scale, classes)
    _check_destination(dst, settings, overwrite)
    write_json(dst / PARTIAL_JSON, {"source": str(src.resolve()), **settings})
    remove_file(dst / PREPARE_JSON)
    _write_if_changed(dst / "class_dict.csv", classes.to_csv())
    _write_if_changed(dst / "codes.txt", classes.to_codes_txt())

    pairs, missing, orphans = layout.pairs()
    jobs, skipped = [], []
    for i, (img, msk) in enumerate(pairs):
        out_img, out_msk = dst / "images" / f"{img.stem}.jpg", dst / "masks" / f"{img.stem}.png"
        if not overwrite and out_img.is_file() and out_msk.is_file():
            skipped.append(out_img)
        else:
            jobs.append((i, img, msk, classes, size, scale, out_img, out_msk))
    workers = default_workers() if workers is None else max(1, int(workers))
    outcomes = _run_jobs(jobs, workers, progress)

    problems: List[DatasetError] = [*missing, *orphans]
    sizes = set()
    for o in outcomes:
        problems += o.problems
        if o.size is not None:
            sizes.add(o.size)
    n_done = sum(o.size is not None for o in outcomes)
    if scale is not None:
        sizes |= {image_size(p) for p in skipped}
    out_size = size if size is not None else (next(iter(sizes)) if len(sizes) == 1 else None)

    info = {"source": str(src.resolve()), "source_layout": layout.kind,
            "size": list(out_size) if out_size else None, "size_wxh": format_size(out_size) if out_size else None,
            "scale": scale, "jpeg_quality": JPEG_QUALITY, "n_classes": len(classes),
            "counts": {"images": len(pairs) + len(missing), "masks": len(pairs) + len(orphans),
                       "pairs": len(pairs), "prepared": n_done + len(skipped), "written": n_done,
                       "skipped": len(skipped), "problems": len(problems)},
            "problems": [str(p) for p in problems], "classes": settings["classes"]}
    info["dronefast_version"] = __version__
    write_json(dst / PREPARE_JSON, info)
    remove_file(dst / PARTIAL_JSON)
    return PrepareReport(n_done, len(skipped), problems, dst, out_size, scale, layout.kind)
