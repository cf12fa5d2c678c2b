"""Which photos a run trains on, selects its best epoch on, and is finally judged on: the test, validation and
training splits, recovered the same way anywhere from the same settings.

The **test** photos are set aside first: a seeded random share ``test_pct`` of the dataset's photos in sorted
order (fastai's ``RandomSplitter(test_pct, seed)``), or the photos whose stems are listed. Training never sees
them and the best epoch is never chosen on them, so a score on them is an honest estimate. The **validation**
photos are then fastai's ``RandomSplitter(valid_pct, seed)`` over the remaining photos in sorted order, exactly
as :func:`dronefast.data.block.drone_datablock` splits its items; with no test split this is the split of the
reference notebook. Everything else is for **training**. A share above 0 holds out at least one photo (fastai's
cut, ``int(pct * n)``, would hold out none of 9 photos at 10%), and a split that leaves no photo to train or to
validate on is refused.

**The recorded split.** Settings give the same photos only from the same folder listing: one photo removed from a
folder of 400 moves most of the others between the subsets. So a training run records the stems of the photos its
DataLoaders used (:class:`SplitRecord`: ``split.json`` beside ``model.json``, and the same record in
``model.json``'s ``extra["split"]``), and everything that scores, calibrates or exports a model afterwards reads
the photos from that record (:func:`model_split`): a recorded photo missing from the folder is refused by name,
photos added since training are left out (and named), and the settings cannot be changed. A model without a record
(an older run) has its split re-derived from its settings, with a one-line note saying so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import DatasetError, DronefastError, UsageError
from .layout import DatasetLayout

__all__ = ["Split", "split_photos", "split_files", "validation_files", "split_settings", "SplitRecord", "ModelSplit",
           "model_split", "DEFAULT_VALID_PCT", "DEFAULT_SEED", "SUBSETS", "SPLIT_FILE", "SPLIT_FORMAT",
           "SPLIT_VERSION"]

DEFAULT_VALID_PCT = 0.1
DEFAULT_SEED = 42
SUBSETS = ("test", "validation", "train", "all")
#: The file a training run records its split in (beside ``model.json``), its ``format`` and ``version``.
SPLIT_FILE, SPLIT_FORMAT, SPLIT_VERSION = "split.json", "dronefast-split", 1
#: The field of a :class:`SplitRecord` (and of ``split.json``) holding each subset's stems.
_FIELDS = {"train": "train", "validation": "valid", "test": "test"}


@dataclass(frozen=True)
class Split:
    """How photos are divided (see the module docstring).

    Args:
        valid_pct: share of the non-test photos held out for validation.
        seed: seed of both random splits (None: unseeded, not reproducible).
        test_pct: share of all photos set aside for testing (0: no test split).
        test_stems: file stems of the test photos, instead of `test_pct`.
    """

    valid_pct: float = DEFAULT_VALID_PCT
    seed: Optional[int] = DEFAULT_SEED
    test_pct: float = 0.0
    test_stems: Optional[Tuple[str, ...]] = None

    def __post_init__(self) -> None:
        if not 0 < self.valid_pct < 1:
            raise ValueError(f"valid_pct must be between 0 and 1 (exclusive), got {self.valid_pct!r}")
        if not 0 <= self.test_pct < 1:
            raise ValueError(f"test_pct must be at least 0 and below 1, got {self.test_pct!r}")
        if self.test_stems is not None:
            object.__setattr__(self, "test_stems", tuple(str(s) for s in self.test_stems))
            if self.test_pct:
                raise ValueError("give test_pct or test_stems, not both")

    @property
    def has_test(self) -> bool:
        """True when some photos are set aside for testing."""
        return bool(self.test_pct) or bool(self.test_stems)

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready settings (as recorded in a model's training arguments)."""
        return {"valid_pct": self.valid_pct, "seed": self.seed, "test_pct": self.test_pct,
                "test_stems": None if self.test_stems is None else list(self.test_stems)}

    def divide(self, items: Sequence[Path]) -> Tuple[List[Path], List[Path], List[Path]]:
        """``(training, validation, test)`` of `items` (photo paths in sorted order); the global torch random
        state is left as it was (fastai's splitter reseeds it)."""
        items = list(items)
        if self.test_stems is not None:
            by_stem = {Path(p).stem: p for p in items}
            unknown = [s for s in self.test_stems if s not in by_stem]
            if unknown:
                raise DronefastError(f"test photo(s) not in the dataset: {', '.join(unknown[:5])}"
                                     + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
            test = [by_stem[s] for s in self.test_stems]
        else:
            test = [items[i] for i in _random_split(items, self.test_pct, self.seed)[1]] if self.test_pct else []
        chosen = set(test)
        rest = [p for p in items if p not in chosen]
        train_idx, valid_idx = _random_split(rest, self.valid_pct, self.seed)
        if not train_idx or not valid_idx:
            raise DronefastError(f"{len(items)} photos are too few to split: {len(train_idx)} would train, "
                                 f"{len(valid_idx)} validate and {len(test)} test; training and validation need at "
                                 f"least one photo each")
        return [rest[i] for i in train_idx], [rest[i] for i in valid_idx], test

    def valid_share(self, n: int) -> float:
        """The validation share fastai's ``RandomSplitter`` is given for `n` non-test photos: `valid_pct`, raised
        just enough to hold out one photo when ``int(valid_pct * n)`` (fastai's cut) would hold out none."""
        return _at_least_one(self.valid_pct, n)


def _at_least_one(pct: float, n: int) -> float:
    """`pct`, or the share that makes fastai's cut ``int(pct * n)`` one photo when `pct` > 0 would give none (a
    small dataset: 10% of 9 photos)."""
    return pct if pct == 0 or int(pct * n) >= 1 else (1 + 1e-9) / max(n, 1)


def _random_split(items: Sequence, pct: float, seed: Optional[int]) -> Tuple[List[int], List[int]]:
    """fastai's ``RandomSplitter(pct, seed)`` of `items` (at least one item held out when `pct` > 0), leaving the
    global torch random state as it was."""
    # imported here: the command line builds a Split before it loads PyTorch (fast --help)
    import torch
    from fastai.data.transforms import RandomSplitter

    with torch.random.fork_rng(devices=[]):
        train_idx, valid_idx = RandomSplitter(valid_pct=_at_least_one(pct, len(items)), seed=seed)(list(items))
    return list(train_idx), list(valid_idx)


def split_photos(layout: DatasetLayout, split: Split = Split()) -> Dict[str, List[Path]]:
    """The photos of each subset: ``{"train", "validation", "test", "all"}`` (``all`` sorted, the others in the
    splitters' order)."""
    items = layout.image_files()
    train, valid, test = split.divide(items)
    return {"train": train, "validation": valid, "test": test, "all": items}


def split_files(layout: DatasetLayout, valid_pct: float = DEFAULT_VALID_PCT, seed: Optional[int] = DEFAULT_SEED
                ) -> Tuple[List[Path], List[Path]]:
    """``(training photos, validation photos)`` of a split without test photos (the reference notebook's)."""
    parts = split_photos(layout, Split(valid_pct, seed))
    return parts["train"], parts["validation"]


def validation_files(layout: DatasetLayout, valid_pct: float = DEFAULT_VALID_PCT,
                     seed: Optional[int] = DEFAULT_SEED) -> List[Path]:
    """The validation photos of :func:`split_files`."""
    return split_files(layout, valid_pct, seed)[1]


def split_settings(train_args: Optional[Dict[str, Any]], valid_pct: Optional[float] = None, seed: Optional[int] = None
                   ) -> Tuple[Split, str]:
    """``(split, where from)`` for evaluating a model: the model's training split (`train_args`, the
    ``extra["train_args"]`` of its description: valid_pct, seed, test_pct, test_stems), with `valid_pct` and `seed`
    replaced when given, else the defaults 0.1 and 42. ``where from`` is ``"arguments"``, ``"model"``, ``"default"``
    or a mix such as ``"arguments+model"`` (valid_pct's source first).

    Raises:
        DronefastError: the model was trained with an unseeded (irreproducible) split and no seed is given.
    """
    args = train_args or {}
    if valid_pct is not None:
        vp, src_vp = float(valid_pct), "arguments"
    elif args.get("valid_pct") is not None:
        vp, src_vp = float(args["valid_pct"]), "model"
    else:
        vp, src_vp = DEFAULT_VALID_PCT, "default"
    if seed is not None:
        sd, src_sd = int(seed), "arguments"
    elif "seed" in args:
        if args["seed"] is None:
            raise DronefastError("the model was trained with an unseeded random split, so its validation "
                                 "photos cannot be recovered; pass --seed to score some split, or --all")
        sd, src_sd = int(args["seed"]), "model"
    else:
        sd, src_sd = DEFAULT_SEED, "default"
    try:
        split = Split(vp, sd, float(args.get("test_pct") or 0.0), args.get("test_stems"))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return split, src_vp if src_vp == src_sd else f"{src_vp}+{src_sd}"


def _names(stems: Sequence[str], shown: int = 10) -> str:
    """``a, b, c`` (the first `shown`, then ``and N more``)."""
    more = f" and {len(stems) - shown} more" if len(stems) > shown else ""
    return ", ".join(stems[:shown]) + more


@dataclass(frozen=True)
class SplitRecord:
    """The photos a run trained on (``train``), chose its best epoch on (``valid``) and set aside (``test``), as
    sorted file stems, and the settings that produced them. ``split.json`` and ``model.json``'s ``extra["split"]``
    hold :meth:`as_dict`."""

    train: Tuple[str, ...]
    valid: Tuple[str, ...]
    test: Tuple[str, ...]
    settings: Split

    @classmethod
    def of(cls, train: Sequence[Union[str, Path]], valid: Sequence[Union[str, Path]],
           test: Sequence[Union[str, Path]], settings: Split) -> "SplitRecord":
        """The record of three lists of photo paths (or stems)."""
        def stems(ps):
            return tuple(sorted(Path(p).stem for p in ps))
        return cls(stems(train), stems(valid), stems(test), settings)

    def stems(self, subset: str) -> Tuple[str, ...]:
        """The recorded stems of `subset` (``"train"``, ``"validation"`` or ``"test"``)."""
        return getattr(self, _FIELDS[subset])

    def as_dict(self) -> Dict[str, Any]:
        """``{"format": "dronefast-split", "version": 1, "train": [...], "valid": [...], "test": [...],
        "settings": {valid_pct, seed, test_pct, test_stems}}`` (JSON-ready)."""
        return {"format": SPLIT_FORMAT, "version": SPLIT_VERSION, "train": list(self.train),
                "valid": list(self.valid), "test": list(self.test), "settings": self.settings.as_dict()}

    @classmethod
    def from_dict(cls, d: Any) -> "SplitRecord":
        """The record :meth:`as_dict` wrote; ValueError saying what is wrong otherwise."""
        if not isinstance(d, dict) or d.get("format") != SPLIT_FORMAT or d.get("version") != SPLIT_VERSION:
            raise ValueError(f"not a {SPLIT_FORMAT} record of version {SPLIT_VERSION}")
        lists = [d.get(k) for k in _FIELDS.values()]
        if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists):
            raise ValueError("train, valid and test must be lists of file stems")
        if len(set().union(*lists)) != sum(map(len, lists)):
            raise ValueError("a photo is recorded twice")
        s = d.get("settings") if isinstance(d.get("settings"), dict) else {}
        settings = Split(s.get("valid_pct") or DEFAULT_VALID_PCT, s.get("seed"), s.get("test_pct") or 0.0,
                         s.get("test_stems"))
        return cls(*(tuple(sorted(v)) for v in lists), settings)


@dataclass(frozen=True)
class ModelSplit:
    """A model's split of a dataset folder (:func:`model_split`).

    Attributes:
        parts: the photos of ``"train"``, ``"validation"``, ``"test"`` (sorted; recorded photos that are missing
            left out) and ``"all"`` (every photo of the folder, sorted).
        split: the settings (recorded with the split, or those it was re-derived from).
        source: ``"record"``, or where the settings came from (:func:`split_settings`).
        folder: the photo folder.
        missing: recorded stems not in the folder, by subset.
        added: stems in the folder that the record does not hold (left out of every subset).
    """

    parts: Dict[str, List[Path]]
    split: Split
    source: str
    folder: Path
    missing: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    added: Tuple[str, ...] = ()

    @property
    def has_test(self) -> bool:
        """True when the model set photos aside for testing."""
        return bool(self.parts["test"] or self.missing.get("test"))

    @property
    def note(self) -> Optional[str]:
        """One line worth showing: photos added since training, or a split re-derived from settings (None: none)."""
        if self.source != "record":
            s = self.split
            how = f"{len(s.test_stems)} listed test photos" if s.test_stems else f"test_pct {s.test_pct:g}"
            return (f"the model records no split (an older run): its photos are re-derived from its settings "
                    f"(valid_pct {s.valid_pct:g}, seed {s.seed}, {how}; from {self.source}) and the folder listing")
        if self.added:
            n = len(self.added)
            verb = "are" if n != 1 else "is"
            return f"{n} photo{'s' * (n != 1)} added since training {verb} left out: {_names(self.added)}"
        return None

    def require(self, *subsets: str) -> None:
        """DatasetError naming the folder and every recorded photo of `subsets` that is missing from it."""
        gone = [(k, self.missing[k]) for k in subsets if self.missing.get(k)]
        if gone:
            what = "; ".join(f"{k} {_names(v)}" for k, v in gone)
            raise DatasetError(f"photo(s) of the model's recorded split missing: {what} (restore them; the split "
                               f"is not re-derived)", self.folder)

    def photos(self, subset: str) -> List[Path]:
        """The photos of `subset` (or all of them, ``"all"``), after :meth:`require`."""
        if subset != "all":
            self.require(subset)
        return self.parts[subset]


def model_split(layout: DatasetLayout, extra: Optional[Dict[str, Any]], valid_pct: Optional[float] = None,
                seed: Optional[int] = None) -> ModelSplit:
    """A model's split of `layout`'s photos: the recorded one (``extra["split"]``, a :class:`SplitRecord`), else
    re-derived from its settings (``extra["train_args"]``, :func:`split_settings`, with `valid_pct` and `seed`
    replacing them when given).

    Raises:
        UsageError: `valid_pct` or `seed` given for a model that records its split (they would score other photos).
        DronefastError: a record that cannot be read, or (no record) what :func:`split_settings` and
            :meth:`Split.divide` refuse.
    """
    extra = extra or {}
    if extra.get("split") is None:
        split, src = split_settings(extra.get("train_args"), valid_pct, seed)
        return ModelSplit(split_photos(layout, split), split, src, layout.image_dir)
    if valid_pct is not None or seed is not None:
        raise UsageError("the model records the photos of its split, so valid_pct and seed (--valid-pct, --seed) "
                         "cannot change it; drop them (or score every photo: --all)")
    try:
        rec = SplitRecord.from_dict(extra["split"])
    except ValueError as e:
        raise DronefastError(f"the model's recorded split (extra.split) cannot be read: {e}") from None
    files = layout.image_files()
    by_stem = {p.stem: p for p in files}
    parts = {k: [by_stem[s] for s in rec.stems(k) if s in by_stem] for k in _FIELDS}
    missing = {k: tuple(s for s in rec.stems(k) if s not in by_stem) for k in _FIELDS}
    added = sorted(set(by_stem) - set(rec.train + rec.valid + rec.test))
    return ModelSplit({**parts, "all": files}, rec.settings, "record", layout.image_dir, missing, tuple(added))
