"""Finding the Semantic Drone Dataset on disk, in any of the layouts it ships in.

Layouts recognised (searched up to three folders below the given path):

* ``kaggle`` -- the Kaggle copy: ``original_images/*.jpg`` and ``label_images_semantic/*.png`` (id masks), with
  ``class_dict_seg.csv`` beside them or in a folder above (the archive nests the data as
  ``dataset/semantic_drone_dataset/...``). ``RGB_color_image_masks/`` is ignored (same content as colours).
* ``tugraz`` -- the TU Graz original: ``training_set/images/*.jpg`` and
  ``training_set/gt/semantic/label_images/*.png`` (RGB colour masks), ``training_set/gt/semantic/class_dict.csv``.
* ``prepared`` -- what ``python -m dronefast.prepare`` writes: ``images/``, ``masks/`` (id masks),
  ``class_dict.csv``, ``codes.txt`` and ``prepare.json``.

Get the real data from TU Graz (https://www.tugraz.at/index.php?id=22387) or its Kaggle copy
("Semantic Drone Dataset" / "Aerial Semantic Segmentation Drone Dataset"). Its licence allows non-commercial
use only and forbids redistribution; cite the TU Graz Institute of Computer Graphics and Vision.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..errors import (
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    EmptyDatasetError,
    MissingMaskError,
    OrphanMaskError,
)
from .classes import ClassTable, find_class_table
from .images import IMAGE_SUFFIXES

__all__ = ["DatasetLayout", "find_layout", "MaskPathFor", "LAYOUTS", "MASK_SUFFIX", "broken_link"]

PathLike = Union[str, Path]
MASK_SUFFIX = ".png"
LAYOUTS = ("prepared", "kaggle", "tugraz")
_MAX_DEPTH = 3


def broken_link(path: PathLike) -> Optional[str]:
    """Why `path` is a symbolic link that leads to no file (a loop, or a missing target), or None when it is not
    one: such a link is named as a problem, never skipped in silence."""
    path = Path(path)
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link that loops (its chain of links never reaches a file); remove it or point it at a file"
        return f"symbolic link to {os.readlink(path)}, which does not exist"
    return None


def _listed(folder: Path, keep) -> Tuple[List[Path], List[DatasetError]]:
    """Files of `folder` that `keep` (a name test) selects, sorted, and a problem for each broken link among them."""
    files, broken = [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not keep(p):
            continue
        why = broken_link(p)
        if why:
            broken.append(CorruptImageError(why, p))
        else:
            files.append(p)
    return files, broken


class MaskPathFor:
    """The reference notebook's label function, image path -> mask path by stem, as a picklable callable.

    Args:
        mask_dir: folder holding the masks.
        suffix: mask file suffix (``.png``).
    """

    def __init__(self, mask_dir: PathLike, suffix: str = MASK_SUFFIX):
        self.mask_dir, self.suffix = Path(mask_dir), suffix

    def __call__(self, image: PathLike) -> Path:
        return self.mask_dir / f"{Path(image).stem}{self.suffix}"

    def __repr__(self) -> str:
        return f"MaskPathFor({str(self.mask_dir)!r})"


@dataclass
class DatasetLayout:
    """Where one dataset's images, masks and class table are.

    Args:
        kind: ``"kaggle"``, ``"tugraz"`` or ``"prepared"``.
        root: the folder the dataset was found in (the search start).
        image_dir: folder of photos.
        mask_dir: folder of masks (same stems as the photos, ``.png``).
        mask_format: ``"id"`` (class-id PNGs) or ``"colour"`` (RGB colour PNGs).
        classes: the class table.
    """

    kind: str
    root: Path
    image_dir: Path
    mask_dir: Path
    mask_format: str
    classes: ClassTable

    def image_files(self) -> List[Path]:
        """Photos in `image_dir`, sorted by name (broken symbolic links left out: :meth:`broken_links`)."""
        return _listed(self.image_dir, _is_photo)[0]

    def mask_files(self) -> List[Path]:
        """Mask PNGs in `mask_dir`, sorted by name (broken symbolic links left out: :meth:`broken_links`)."""
        return _listed(self.mask_dir, _is_mask)[0]

    def broken_links(self) -> List[DatasetError]:
        """A problem naming each photo or mask that is a symbolic link to no file (a loop, a missing target)."""
        return _listed(self.image_dir, _is_photo)[1] + _listed(self.mask_dir, _is_mask)[1]

    @property
    def label_func(self) -> MaskPathFor:
        """Image path -> mask path (by stem), the reference notebook's ``get_y_fn``."""
        return MaskPathFor(self.mask_dir)

    def label_path_for(self, image: PathLike) -> Path:
        """The mask path for `image` (same stem, ``.png``, in `mask_dir`)."""
        return self.label_func(image)

    def pairs(self) -> Tuple[List[Tuple[Path, Path]], List[DatasetError], List[OrphanMaskError]]:
        """Match photos and masks by stem: ``(pairs, images without mask and broken links, masks without
        image)``."""
        images = self.image_files()
        masks: Dict[str, Path] = {m.stem: m for m in self.mask_files()}
        pairs: List[Tuple[Path, Path]] = []
        missing: List[DatasetError] = self.broken_links()
        for img in images:
            m = masks.pop(img.stem, None)
            if m is None:
                missing.append(MissingMaskError(f"no mask {img.stem}{MASK_SUFFIX} in {self.mask_dir}", img))
            else:
                pairs.append((img, m))
        orphans = [OrphanMaskError(f"no image with stem {m.stem!r} in {self.image_dir}", m)
                   for m in masks.values()]
        return pairs, missing, orphans

    def describe(self) -> str:
        """One paragraph saying what was found where."""
        n_img, n_mask = len(self.image_files()), len(self.mask_files())
        return (f"{self.kind} layout at {self.root}\n"
                f"  images: {self.image_dir} ({n_img} files)\n"
                f"  masks:  {self.mask_dir} ({n_mask} {self.mask_format} masks)\n"
                f"  classes: {len(self.classes)} from {self.classes.source}")


def _is_photo(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


def _is_mask(p: Path) -> bool:
    return p.suffix.lower() == MASK_SUFFIX


def _candidates(root: Path) -> List[Tuple[int, str, Path]]:
    """(priority, kind, folder) of every layout found under `root` within `_MAX_DEPTH` levels."""
    found = []
    base_depth = len(root.parts)
    for dirpath, dirnames, _ in os.walk(root):
        d = Path(dirpath)
        depth = len(d.parts) - base_depth
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        if depth >= _MAX_DEPTH:
            dirnames[:] = []
        names = set(dirnames)
        if (d / "prepare.json").is_file() or {"images", "masks"} <= names:
            found.append((0, "prepared", d))
        if {"original_images", "label_images_semantic"} <= names:
            found.append((1, "kaggle", d))
        if "images" in names and (d / "gt" / "semantic" / "label_images").is_dir():
            found.append((2, "tugraz", d))
    return sorted(found, key=lambda t: (t[0], len(t[2].parts), str(t[2])))


def _ancestors(folder: Path, root: Path) -> List[Path]:
    """`folder` and its parents up to and including `root`."""
    out = [folder]
    while folder != root and root in folder.parents:
        folder = folder.parent
        out.append(folder)
    return out


def find_layout(path: PathLike, kind: Optional[str] = None) -> DatasetLayout:
    """Find a dataset under `path` (the folder itself or up to three levels down).

    When several layouts are present, ``prepared`` wins over ``kaggle`` over ``tugraz`` (the cheapest to
    read first); pass `kind` to choose.

    Raises:
        DatasetNotFoundError: `path` is missing or holds no recognised layout (the message lists what was
            expected).
        EmptyDatasetError: the layout is there but holds no images.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetNotFoundError("folder does not exist", root)
    if not root.is_dir():
        raise DatasetNotFoundError("not a folder", root)
    if kind is not None and kind not in LAYOUTS:
        raise ValueError(f"unknown layout {kind!r}; choose one of {', '.join(LAYOUTS)}")
    found = [c for c in _candidates(root) if kind is None or c[1] == kind]
    if not found:
        raise DatasetNotFoundError(
            "no Semantic Drone Dataset layout found; expected (up to 3 folders down) either "
            "original_images/ + label_images_semantic/ (Kaggle), images/ + gt/semantic/label_images/ "
            "(TU Graz), or images/ + masks/ (dronefast.prepare)" + (f" of kind {kind!r}" if kind else ""), root)
    _, kind, d = found[0]
    if kind == "prepared":
        layout = DatasetLayout(kind, root, d / "images", d / "masks", "id", find_class_table(_ancestors(d, root)))
    elif kind == "kaggle":
        layout = DatasetLayout(kind, root, d / "original_images", d / "label_images_semantic", "id",
                               find_class_table(_ancestors(d, root)))
    else:
        sem = d / "gt" / "semantic"
        layout = DatasetLayout(kind, root, d / "images", sem / "label_images", "colour",
                               find_class_table([sem] + _ancestors(d, root)))
    if not layout.image_files():
        raise EmptyDatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {layout.image_dir}", layout.image_dir)
    return layout
