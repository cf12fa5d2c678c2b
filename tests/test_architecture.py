"""The architecture, enforced: the packages import only downward through :data:`LAYERS` (every import, inside
functions and under ``TYPE_CHECKING`` too), the library never imports the command-line layer (nor argparse), no
module imports another module's (or fastai's) private names, no two library modules share a basename, and no
function is longer than a screen without a reason written beside it.

"Entry points" are the modules that only exist to be run with ``python -m``: ``dronefast/<command>.py`` and
``__main__.py`` files; they import their command from :mod:`dronefast.cli`.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from dronefast.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dronefast"
#: Modules run with ``python -m dronefast.<name>`` (each two lines: import the command table's run, call it).
ENTRY_POINTS = set(COMMANDS)
MAX_FUNCTION_LINES = 80  # lines of code: decorators and signature included, the docstring not
LONG_MARK = "# long:"  # a function may be longer with "# long: <reason>" on its def line or the line above


def _modules(root: Path) -> List[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_entry_point(path: Path) -> bool:
    return path.name == "__main__.py" or (path.parent == PACKAGE and path.stem in ENTRY_POINTS)


def _is_cli(path: Path) -> bool:
    return (PACKAGE / "cli") in path.parents or _is_entry_point(path)


def _imports(path: Path) -> Iterator[Tuple[str, List[str], int]]:
    """``(absolute module, imported names, line)`` of every import in `path` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _dotted(path).split(".")[:-1]
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, [a.name for a in node.names], node.lineno


#: The layers, bottom to top: a module may import its own layer and those below, never one above. "basics" are the
#: top-level modules every layer shares (and may share among themselves); the command line sits on the web page,
#: whose ``app`` command starts it. The README's "Project layout" draws the same order (checked below).
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ("errors", "sizes", "outputs", "version"),
    ("data",),
    ("synthetic",),
    ("metrics",),
    ("models",),
    ("training",),
    ("inference",),
    ("landing",),
    ("workflows",),
    ("app",),
    ("cli",),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _part(module: str) -> str:
    """The layer part of ``dronefast.<part>[...]`` (``""`` for ``dronefast`` itself, the lazy public API)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(path: Path, here: str = "") -> List[Tuple[str, int]]:
    """``(module, line)`` of every import of `path` (in layer part `here`, default its own) that goes up or
    sideways in :data:`LAYERS` (or to the package root, whose lazy API reaches every layer)."""
    here = here or _part(_dotted(path))
    out = []
    for module, names, line in _imports(path):
        if module != "dronefast" and not module.startswith("dronefast."):
            continue
        there = _part(module)
        if there == "" and names:  # "from dronefast import x": x may be a module
            there = names[0] if names[0] in LAYER_OF else ""
        if there == here:
            continue
        if there not in LAYER_OF or LAYER_OF[there] >= LAYER_OF[here] and not (
                LAYER_OF[there] == LAYER_OF[here] and here in LAYERS[0]):
            out.append((module, line))
    return out


LIBRARY = [p for p in _modules(PACKAGE) if not _is_cli(p)]
EVERYTHING = _modules(PACKAGE) + _modules(ROOT / "benchmarks")


def test_the_layout_is_as_documented():
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == ["app", "cli", "data", "inference", "landing", "metrics", "models", "synthetic", "training",
                            "workflows"]
    assert len(LIBRARY) > 30 and any(_is_cli(p) for p in _modules(PACKAGE))


LAYERED = [p for p in _modules(PACKAGE) if not _is_entry_point(p) and p != PACKAGE / "__init__.py"]


def test_every_module_has_a_layer():
    assert {_part(_dotted(p)) for p in LAYERED} == set(LAYER_OF)


@pytest.mark.parametrize("path", LAYERED, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_only_downward(path):
    bad = upward_imports(path)
    layer = LAYER_OF[_part(_dotted(path))]
    assert not bad, (f"{path.relative_to(ROOT)} (layer {' '.join(LAYERS[layer])}) imports from its own layer's "
                     f"neighbours or from above: {bad}; the order is {' < '.join('/'.join(n) for n in LAYERS)}")


def test_the_readme_draws_the_enforced_layers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    drawn = " < ".join(" and ".join(names) for names in LAYERS)
    assert drawn in readme, f"the README's project layout should say the layer order: {drawn}"


def test_no_two_modules_share_a_basename():
    """A reader never has to guess which ``evaluate.py`` is meant: basenames are unique, except the entry points
    ``dronefast/<command>.py``, which run the command module of the same name in :mod:`dronefast.cli`."""
    seen: dict = {}
    for p in _modules(PACKAGE):
        if p.name in ("__init__.py", "__main__.py") or _is_entry_point(p):
            continue
        seen.setdefault(p.name, []).append(str(p.relative_to(ROOT)))
    assert {n: ps for n, ps in seen.items() if len(ps) > 1} == {}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_does_not_import_the_command_line(path):
    bad = [(m, line) for m, names, line in _imports(path)
           if m == "argparse" or m.startswith("dronefast.cli") or m == "benchmarks" or m.startswith("benchmarks.")
           or (m == "dronefast" and "cli" in names)]
    assert not bad, f"{path.relative_to(ROOT)} imports the command-line layer: {bad}"


@pytest.mark.parametrize("path", EVERYTHING, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_across_modules(path):
    here = _dotted(path)
    bad = [(m, n, line) for m, names, line in _imports(path) for n in names
           if (m.startswith("dronefast") or m.startswith("benchmarks")) and m != here
           and n.startswith("_") and not n.startswith("__")]
    assert not bad, f"{path.relative_to(ROOT)} imports private names of other modules: {bad}"


@pytest.mark.parametrize("path", EVERYTHING, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_fastai_names(path):
    # fastai is extended through its public API, never through its internals (none allowed, none listed)
    bad = [(m, n, line) for m, names, line in _imports(path) for n in [*m.split("."), *names]
           if m.split(".")[0] in ("fastai", "fastcore") and n.startswith("_") and not n.startswith("__")]
    assert not bad, f"{path.relative_to(ROOT)} imports private fastai names: {bad}"


def _docstring_lines(node: ast.AST) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[0].end_lineno - body[0].lineno + 1
    return 0


def _long_functions(path: Path) -> List[str]:
    """Functions of `path` longer than :data:`MAX_FUNCTION_LINES` (docstring not counted) and not marked."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            n = node.end_lineno - first + 1 - _docstring_lines(node)
            marked = any(LONG_MARK in lines[i] for i in (first - 2, node.lineno - 1) if 0 <= i < len(lines))
            if n > MAX_FUNCTION_LINES and not marked:
                out.append(f"{node.name} ({n} lines, line {node.lineno})")
    return out


@pytest.mark.parametrize("path", EVERYTHING, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_fit_on_a_screen(path):
    long = _long_functions(path)
    assert not long, (f"{path.relative_to(ROOT)}: functions longer than {MAX_FUNCTION_LINES} lines without a "
                      f"'{LONG_MARK} reason' beside them: {long}")


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The checks themselves work: a module breaking each rule is caught."""
    bad = tmp_path / "bad.py"
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES))
    bad.write_text(f"import argparse\nfrom dronefast.cli.common import run_main\nfrom dronefast.data.block import _x\n"
                   f"def f():\n{body}\n")
    imports = list(_imports(bad))
    assert ("argparse", [], 1) in imports and ("dronefast.cli.common", ["run_main"], 2) in imports
    assert ("dronefast.data.block", ["_x"], 3) in imports
    assert _long_functions(bad) == [f"f ({MAX_FUNCTION_LINES + 1} lines, line 4)"]
    bad.write_text(f"# long: one table\ndef f():\n{body}\n")
    assert _long_functions(bad) == []
    bad.write_text("from typing import TYPE_CHECKING\nimport dronefast.errors\nfrom dronefast.data import layout\n"
                   "if TYPE_CHECKING:\n    from dronefast.models.modelfile import ModelInfo\n"
                   "def f():\n    from dronefast.landing import spots\n    import dronefast\n")
    assert upward_imports(bad, "data") == [("dronefast.models.modelfile", 5), ("dronefast.landing", 7),
                                           ("dronefast", 8)]
    assert upward_imports(bad, "cli") == [("dronefast", 8)]
