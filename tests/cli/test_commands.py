"""One entry-point style: every command runs as ``python -m dronefast.<command>`` and ``python -m dronefast
<command>``, from the one table :data:`dronefast.cli.COMMANDS`; ``python -m dronefast`` lists them."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dronefast.cli import COMMANDS, main, run, usage

PACKAGE = Path(__file__).resolve().parents[2] / "dronefast"


def _entry_point(command: str) -> Path:
    module = PACKAGE / f"{command}.py"
    return module if module.exists() else PACKAGE / command / "__main__.py"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_the_same_entry_point(command):
    """Each entry point is the same code: ``from .cli import run`` (or ``..cli``) and ``run("<command>")``, and
    each command module has a ``main(argv)``."""
    tree = ast.parse(_entry_point(command).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run"]
    assert [ast.literal_eval(c.args[0]) for c in calls] == [command]
    imports = [(n.module, [a.name for a in n.names]) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert ("cli", ["run"]) in imports
    assert (PACKAGE / "cli" / f"{command}.py").exists()


def test_the_list_of_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.strip() == usage()
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS) == ["train", "check", "prepare", "sample", "predict", "evaluate", "landing",
                                        "export", "app"]


def test_unknown_command_is_refused_in_one_line(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "python -m dronefast: error: unknown command 'trian'"
    with pytest.raises(KeyError):
        run("trian")


def test_a_command_runs_through_the_table(capsys):
    """``python -m dronefast sample --help`` is the sample command's own help (argparse exits 0)."""
    with pytest.raises(SystemExit) as e:
        main(["sample", "--help"])
    assert e.value.code == 0 and "--layout" in capsys.readouterr().out


def test_python_m_dronefast_lists_the_commands():
    """The real interpreter: ``python -m dronefast`` (was: "No module named dronefast.__main__") and a
    ``python -m dronefast.<command>`` entry point both work."""
    listed = subprocess.run([sys.executable, "-m", "dronefast"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.strip() == usage()
    sample = subprocess.run([sys.executable, "-m", "dronefast.landing", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert sample.returncode == 0 and "--clearance-px" in sample.stdout
