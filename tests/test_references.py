"""The library's docstrings and comments name only what exists: every dotted ``dronefast.<module>[.<name>]`` and
every relative Sphinx reference (``:mod:`.x```, ``:func:`~.x.y```) resolves to a module or an attribute of this
layout, so no text points at a module of an earlier layout (``dronefast.recipes``, ``inference.tiling``...)."""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dronefast"
DOTTED = re.compile(r"(?<![\w.])dronefast(?:\.[A-Za-z_]\w*)+")
RELATIVE = re.compile(r":(?:mod|func|class|meth|data|attr):`~?(\.[A-Za-z_][\w.]*)`")


def resolves(name: str) -> bool:
    """Whether ``a.b.c`` is a module or an attribute chain of the longest importable module prefix."""
    parts = name.rstrip(".").split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _unresolved(path: Path) -> List[str]:
    text = path.read_text(encoding="utf-8")
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")
    names = DOTTED.findall(text) + [package + ref for ref in RELATIVE.findall(text)]
    return sorted({n for n in names if not resolves(n)})


def test_every_reference_in_the_library_resolves():
    bad = {str(p.relative_to(ROOT)): _unresolved(p) for p in sorted(PACKAGE.rglob("*.py"))}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_check_catches_a_former_module(tmp_path):
    assert resolves("dronefast.training.recipes.get_recipe") and resolves("dronefast.models.grid")
    assert not resolves("dronefast.recipes") and not resolves("dronefast.inference.tiling")
    assert not resolves("dronefast.models.modelfile.NoSuchName")
