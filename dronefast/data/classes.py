"""The class table of the Semantic Drone Dataset: names (codes) in id order and their mask colours.

The dataset ships it as ``class_dict.csv`` (TU Graz) or ``class_dict_seg.csv`` (Kaggle), with the header
``name, r, g, b`` and a space after each comma. fastai's CamVid example keeps a plain ``codes.txt`` (one name
per line) instead; both are read here. The 24 standard classes are built in for data that has neither file.
Real masks hold ids 0..22; id 23 (``conflicting``) is defined but never occurs.

A class CSV is read strictly, every refusal naming the file and the line (and the column where there is one):

* UTF-8 text (a byte-order mark is allowed); other bytes are refused with their line and column;
* the header is exactly ``name, r, g, b`` (any case, spaces after commas allowed);
* each class line has exactly those four fields: a non-empty name (no control characters) and three integers
  0..255. A fifth column is refused (there is no optional column: a column dronefast would ignore could only hide a
  mistake), except that empty trailing fields (a trailing comma, as spreadsheets write) are ignored; blank lines
  are skipped;
* names and colours are unique (a second ``grass`` or a second ``(0, 102, 0)`` is refused with both lines);
* at most 255 classes: ids are stored in 8-bit masks and 255 is reserved as the "unknown colour" marker.

``codes.txt`` follows the same rules for its names (one per line, blank lines skipped).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ClassTableError

__all__ = ["ClassTable", "STANDARD_CLASSES", "standard_classes", "read_class_csv", "read_codes_txt",
           "find_class_table", "CLASS_CSV_NAMES", "MAX_CLASSES"]

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
#: Most classes a table may hold: ids live in 8-bit masks, and 255 marks an unknown colour.
MAX_CLASSES = 255
_HEADER = ["name", "r", "g", "b"]


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
        if not all(isinstance(n, str) and n.strip() for n in self.names):
            raise ClassTableError("class names must be non-empty text", self.source)
        if len(set(self.names)) != len(self.names):
            raise ClassTableError("class names are not unique", self.source)
        if len(set(self.colours)) != len(self.colours):
            raise ClassTableError("two classes share a colour", self.source)
        if len(self.names) > MAX_CLASSES:
            raise ClassTableError(f"more than {MAX_CLASSES} classes do not fit an 8-bit id mask", self.source)

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


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of `path` (a BOM allowed); ClassTableError naming the line and column of a byte that is not."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ClassTableError(f"cannot read the {what} ({e.strerror or e})", path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ClassTableError(f"line {line}, column {column}: byte 0x{data[e.start]:02x} is not UTF-8 text; save the "
                              f"{what} as UTF-8", path) from None


def _csv_rows(text: str, path: Path) -> List[Tuple[int, List[str]]]:
    """``(line number, fields)`` of each non-blank CSV row, fields stripped and empty trailing fields dropped."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    rows = []
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise ClassTableError(f"line {reader.line_num}: not valid CSV ({e})", path) from None
    return rows


def _colour(lineno: int, row: List[str], path: Path) -> Colour:
    rgb = []
    for column, v in enumerate(row[1:4], start=2):
        try:
            value = int(v)
        except ValueError:
            raise ClassTableError(f"line {lineno}, column {column}: colour values must be integers 0..255, found "
                                  f"{v!r}", path) from None
        if not 0 <= value <= 255:
            raise ClassTableError(f"line {lineno}, column {column}: colour values must be 0..255, found {value}",
                                  path)
        rgb.append(value)
    return rgb[0], rgb[1], rgb[2]


def _check_fields(lineno: int, row: List[str], path: Path) -> None:
    if len(row) < 4:
        raise ClassTableError(f"line {lineno}: expected 4 fields (name, r, g, b), found {len(row)}", path)
    if len(row) > 4:
        raise ClassTableError(f"line {lineno}, column 5: unexpected field {row[4]!r}; a class table has exactly the "
                              f"columns name, r, g, b", path)
    if not row[0]:
        raise ClassTableError(f"line {lineno}, column 1: empty class name", path)
    if not row[0].isprintable():
        raise ClassTableError(f"line {lineno}, column 1: class name {row[0]!r} holds a control character", path)


def read_class_csv(path: Union[str, Path]) -> ClassTable:
    """Read a ``class_dict*.csv`` (header ``name, r, g, b``, spaces allowed after commas), strictly: see the module
    docstring for what is refused; every ClassTableError names the file and the line."""
    path = Path(path)
    rows = _csv_rows(_read_text(path, "class table"), path)
    if not rows:
        raise ClassTableError("the class table is empty", path)
    head_line, header = rows[0]
    if [h.lower() for h in header[:4]] != _HEADER:
        raise ClassTableError(f"line {head_line}: expected the header 'name, r, g, b', found {', '.join(header)!r}",
                              path)
    if len(header) > 4:
        raise ClassTableError(f"line {head_line}, column 5: unexpected column {header[4]!r}; a class table has "
                              f"exactly the columns name, r, g, b", path)
    names: Dict[str, int] = {}
    colours: Dict[Colour, Tuple[str, int]] = {}
    for lineno, row in rows[1:]:
        _check_fields(lineno, row, path)
        name, rgb = row[0], _colour(lineno, row, path)
        if name in names:
            raise ClassTableError(f"line {lineno}: class name {name!r} is already on line {names[name]}", path)
        if rgb in colours:
            other, at = colours[rgb]
            raise ClassTableError(f"line {lineno}: colour {rgb} of {name!r} is already the colour of {other!r} on line "
                                  f"{at} (each class needs its own colour)", path)
        if len(names) == MAX_CLASSES:
            raise ClassTableError(f"line {lineno}: more than {MAX_CLASSES} classes (ids are stored in 8-bit masks and "
                                  f"255 is reserved)", path)
        names[name], colours[rgb] = lineno, (name, lineno)
    if not names:
        raise ClassTableError(f"the class table is empty (only a header on line {head_line})", path)
    return ClassTable(tuple(names), tuple(colours), str(path))


def read_codes_txt(path: Union[str, Path], colours: Optional[Sequence[Colour]] = None) -> ClassTable:
    """Read a ``codes.txt`` (one class name per line, id order; blank lines skipped; UTF-8, unique names, at most
    255: ClassTableError naming the line otherwise).

    Colours come from `colours` if given, else from the standard table for names it knows, else a
    deterministic distinct colour per unknown name.
    """
    path = Path(path)
    seen: Dict[str, int] = {}
    for lineno, line in enumerate(_read_text(path, "codes file").splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if not name.isprintable():
            raise ClassTableError(f"line {lineno}: class name {name!r} holds a control character", path)
        if name in seen:
            raise ClassTableError(f"line {lineno}: class name {name!r} is already on line {seen[name]}", path)
        if len(seen) == MAX_CLASSES:
            raise ClassTableError(f"line {lineno}: more than {MAX_CLASSES} classes (ids are stored in 8-bit masks and "
                                  f"255 is reserved)", path)
        seen[name] = lineno
    names = list(seen)
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
