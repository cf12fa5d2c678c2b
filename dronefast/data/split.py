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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import DronefastError, UsageError
from .layout import DatasetLayout

__all__ = ["Split", "split_photos", "split_files", "validation_files", "split_settings", "DEFAULT_VALID_PCT",
           "DEFAULT_SEED", "SUBSETS"]

DEFAULT_VALID_PCT = 0.1
DEFAULT_SEED = 42
SUBSETS = ("test", "validation", "train", "all")


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
    replaced when given, else the defaults
    0.1 and 42. ``where from`` is ``"arguments"``, ``"model"``, ``"default"`` or a mix such as
    ``"arguments+model"`` (valid_pct's source first).

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
