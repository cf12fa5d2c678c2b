"""The class table of the Semantic Drone Dataset: names (codes) in id order and their mask colours.

The dataset ships it as ``class_dict.csv`` (TU Graz) or ``class_dict_seg.csv`` (Kaggle), with the header
``name, r, g, b`` and a space after each comma. fastai's CamVid example keeps a plain ``codes.txt`` (one name
per line) instead; both are read here. The 24 standard classes are built in for data that has neither file.
Real masks hold ids 0..22; id 23 (``conflicting``) is defined but never occurs.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ClassTableError

__all__ = ["ClassTable", "STANDARD_CLASSES", "standard_classes", "read_class_csv", "read_codes_txt",
           "find_class_table", "CLASS_CSV_NAMES"]

Colour = Tuple[int, int, int]

#: (name, (r, g, b)) for each id, as the dataset's class_dict.csv gives them.
STANDARD_CLASSES: List[Tuple[str, Colour]] = [
    ("unlabeled", (0, 0, 0)), ("paved-area", (128, 64, 128)), ("dirt", (130, 76, 0)), ("grass", (0, 102, 0)),
    ("gravel", (112, 103, 87)), ("water", (28, 42, 168)), ("rocks", (48, 41, 30)), ("pool", (0, 50, 89)),
    ("vegetation", (107, 142, 35)), ("roof", (70, 70, 70)), ("wall", (102, 102, 156)), ("window", (254, 228, 12)),
    ("door", (254, 148, 12)), ("fence", (190, 153, 153)), ("fence-pole", (153, 153, 153)),
    ("person", (255, 22, 96)), ("dog", (102, 51, 0)), ("car", (9, 143, 150)), ("bicycle", (119, 11, 32)),
    ("tree", (51, 51, 0)), ("bald-tree", (190, 250, 190)), ("ar-marker", (112, 150, 146)),
    ("obstacle", (2, 135, 115)), ("conflicting", (255, 0, 0)),
]

#: File names of class tables, most specific first.
CLASS_CSV_NAMES = ("class_dict_seg.csv", "class_dict.csv")


@dataclass(frozen=True)
class ClassTable:
    """Class names in id order and their RGB mask colours.

    Args:
        names: class names (fastai's ``codes``); the id of a class is its index.
        colours: one ``(r, g, b)`` tuple (0..255) per class, same order as ``names``.
        source: where the table was read from ("built-in" for the standard table).
    """

    names: Tuple[str, ...]
    colours: Tuple[Colour, ...]
    source: str = field(default="built-in", compare=False)

    def __post_init__(self):
        if len(self.names) != len(self.colours):
            raise ClassTableError(f"{len(self.names)} names but {len(self.colours)} colours", self.source)
        if not self.names:
            raise ClassTableError("the class table is empty", self.source)
        if len(set(self.names)) != len(self.names):
            raise ClassTableError("class names are not unique", self.source)
        if len(set(self.colours)) != len(self.colours):
            raise ClassTableError("two classes share a colour", self.source)
        if len(self.names) > 255:
            raise ClassTableError("more than 255 classes do not fit an 8-bit id mask", self.source)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def codes(self) -> List[str]:
        """Class names in id order, as fastai's ``MaskBlock(codes=...)`` wants them."""
        return list(self.names)

    @property
    def palette(self) -> np.ndarray:
        """Colours as a ``(n_classes, 3)`` uint8 array, indexable by class id."""
        return np.array(self.colours, dtype=np.uint8).reshape(-1, 3)

    def id_of(self, name: str) -> int:
        """The id of class `name` (ValueError naming the known classes if it is not one)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown class {name!r}; known classes: {', '.join(self.names)}") from None

    def to_csv(self) -> str:
        """The table as ``class_dict.csv`` text (header ``name, r, g, b``, spaces after commas)."""
        lines = ["name, r, g, b"] + [f"{n}, {r}, {g}, {b}" for n, (r, g, b) in zip(self.names, self.colours)]
        return "\n".join(lines) + "\n"

    def to_codes_txt(self) -> str:
        """The names as ``codes.txt`` text, one per line."""
        return "\n".join(self.names) + "\n"

    def to_dict(self) -> dict:
        """JSON-friendly form: ``{"names": [...], "colours": [[r, g, b], ...]}``."""
        return {"names": list(self.names), "colours": [list(c) for c in self.colours]}

    @classmethod
    def from_dict(cls, d: dict, source: str = "dict") -> "ClassTable":
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["names"]), tuple(tuple(int(v) for v in c) for c in d["colours"]), source)


def standard_classes() -> ClassTable:
    """The 24 built-in classes of the Semantic Drone Dataset with their colours."""
    return ClassTable(tuple(n for n, _ in STANDARD_CLASSES), tuple(c for _, c in STANDARD_CLASSES))


def read_class_csv(path: Union[str, Path]) -> ClassTable:
    """Read a ``class_dict*.csv`` (header ``name, r, g, b``, spaces allowed after commas)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ClassTableError(f"cannot read the class table ({e.strerror})", path) from None
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    if not rows:
        raise ClassTableError("the class table is empty", path)
    header = [h.lower() for h in rows[0]]
    if header[:4] != ["name", "r", "g", "b"]:
        raise ClassTableError(f"expected the header 'name, r, g, b', found {', '.join(rows[0])!r}", path)
    names, colours = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) < 4:
            raise ClassTableError(f"line {lineno}: expected 4 fields, found {len(row)}", path)
        try:
            rgb = tuple(int(v) for v in row[1:4])
        except ValueError:
            raise ClassTableError(f"line {lineno}: colour values must be integers, found {row[1:4]}", path) from None
        if not all(0 <= v <= 255 for v in rgb):
            raise ClassTableError(f"line {lineno}: colour values must be 0..255, found {rgb}", path)
        names.append(row[0])
        colours.append(rgb)
    return ClassTable(tuple(names), tuple(colours), str(path))


def read_codes_txt(path: Union[str, Path], colours: Optional[Sequence[Colour]] = None) -> ClassTable:
    """Read a ``codes.txt`` (one class name per line, id order).

    Colours come from `colours` if given, else from the standard table for names it knows, else a
    deterministic distinct colour per unknown name.
    """
    path = Path(path)
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    except OSError as e:
        raise ClassTableError(f"cannot read the codes file ({e.strerror})", path) from None
    if colours is None:
        known = dict(STANDARD_CLASSES)
        used = set(known[n] for n in names if n in known)
        rng = np.random.default_rng(0)
        colours = []
        for n in names:
            c = known.get(n)
            while c is None or (c in used and n not in known):
                c = tuple(int(v) for v in rng.integers(0, 256, 3))
            used.add(c)
            colours.append(c)
    return ClassTable(tuple(names), tuple(tuple(c) for c in colours), str(path))


def find_class_table(folders: Sequence[Union[str, Path]]) -> ClassTable:
    """The first class table found in `folders` (searched in order): a class CSV, else ``codes.txt``,
    else the built-in standard table."""
    for folder in folders:
        folder = Path(folder)
        for name in CLASS_CSV_NAMES:
            if (folder / name).is_file():
                return read_class_csv(folder / name)
        if (folder / "codes.txt").is_file():
            return read_codes_txt(folder / "codes.txt")
    return standard_classes()
