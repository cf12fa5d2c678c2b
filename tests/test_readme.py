"""The README cannot drift from the code: its two commands for a fresh machine are the ones CI runs, its Python
blocks run as printed (on the tiny sample, with a few sizes made smaller), and every ``python -m dronefast.<command>``
line it shows parses with that command's own parser."""
from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from tests.tiny_encoder import TINY_ARCH

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAIN_COMMAND = "pip install -e . && python -m dronefast.train"
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -q'
#: What the test changes in the README's Python blocks so they run in seconds on the tiny sample (the
#: substitutions are the only difference from what a reader runs).
SHRINK = {'"resnet34"': f'"{TINY_ARCH}"', "size=(128, 192)": "size=(32, 48)",
          "epochs=2": "epochs=1", "clearance_px=40": "clearance_px=4", "(640, 960)": "(64, 96)"}


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def command_lines():
    """Every line of the README's code that runs a dronefast command, with its continuation lines joined."""
    text = README.replace("\\\n", " ")
    return sorted({m.group(0).strip().rstrip("`") for m in re.finditer(r"python -m dronefast\.\w+[^\n`|]*", text)})


def test_the_two_commands_are_printed_and_run_by_ci():
    assert MAIN_COMMAND in README and TEST_COMMAND in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert MAIN_COMMAND in ci and TEST_COMMAND in ci and "venv" in ci


def test_there_is_python_to_run():
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("i", range(len(python_blocks())))
def test_python_blocks_run_as_printed(i, sample_kaggle, tmp_path, monkeypatch):
    """Each block runs in a fresh namespace in a temporary folder (where it writes), offline, with
    ``ensure_sample()`` giving the tests' tiny sample; blocks marked ``# needs: the real dataset`` are only
    compiled."""
    import dronefast

    code = python_blocks()[i]
    for old, new in SHRINK.items():
        code = code.replace(old, new)
    compiled = compile(code, f"README python block {i}", "exec")
    if "# needs: the real dataset" in code:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dronefast, "ensure_sample", lambda *a, **k: sample_kaggle)
    exec(compiled, {"__name__": "__readme__"})


@pytest.mark.parametrize("line", command_lines())
def test_command_lines_parse(line):
    """Every ``python -m dronefast.X ...`` line parses with X's parser (placeholders in capitals are fine)."""
    words = shlex.split(line, comments=True)  # a "# ..." after a command is the README's note
    command = words[2].split(".", 1)[1]
    cli = importlib.import_module(f"dronefast.cli.{command}")
    args = [w for w in words[3:] if w not in ("...", "[...]")]
    try:
        cli.build_parser().parse_args(args)
    except SystemExit as e:
        pytest.fail(f"README line does not parse: {line!r} (exit {e.code})")


STUB_PYTHON3 = """#!/usr/bin/env bash
# stands in for `python3 -m venv DIR`: a virtualenv whose pip fails (as on a full disk or a missing package)
venv="${@: -1}"
mkdir -p "$venv/bin"
printf 'export PATH="%s/bin:$PATH"\\n' "$venv" > "$venv/bin/activate"
printf '#!/usr/bin/env bash\\necho "ERROR: stub pip" >&2\\nexit 1\\n' > "$venv/bin/pip"
printf '#!/usr/bin/env bash\\nexit 0\\n' > "$venv/bin/python"
chmod +x "$venv/bin/pip" "$venv/bin/python"
"""


def test_ci_fails_when_the_main_command_fails(tmp_path):
    """`.ci/run` stops with exit 1 when the first half of `pip install -e . && python -m dronefast.train` fails
    (a bare `a && b` under `set -e` would carry on and pass)."""
    import os
    import shutil
    import subprocess

    repo = tmp_path / "checkout"  # the script works in the folder above its own: a copy keeps the real one out
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "python3").write_text(STUB_PYTHON3)
    (stubs / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ci: FAILED: 1/2 the main job" in proc.stderr and "stub pip" in proc.stderr
    assert "ci: 2/2" not in proc.stdout
