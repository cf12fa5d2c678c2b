import argparse

import pytest

from dronefast.cli.common import factor, prepare_cli, probabilities, probability, run_main, stems_arg
from dronefast.errors import DatasetError, UsageError
from dronefast.sizes import format_size, parse_size


@pytest.mark.parametrize("text, hw", [("300x200", (200, 300)), ("300X200", (200, 300)), ("64", (64, 64)),
                                      (" 48 x 32 ", (32, 48))])
def test_parse_size_width_first(text, hw):
    assert parse_size(text) == hw
    assert format_size(hw) == (f"{hw[1]}x{hw[0]}")


@pytest.mark.parametrize("text", ["300by200", "x200", "0x10", "-3x4", ""])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="WxH"if text not in ("0x10",) else "positive"):
        parse_size(text)


def test_run_main_exit_codes(capsys):
    p = argparse.ArgumentParser(prog="prog")
    p.add_argument("what")

    def fn(a):
        if a.what == "data":
            raise DatasetError("bad mask", "x/1.png")
        if a.what == "usage":
            raise UsageError("--bs must be positive")
        return 0

    assert run_main(fn, p, ["ok"]) == 0
    assert run_main(fn, p, ["data"]) == 1
    assert capsys.readouterr().err == "error: x/1.png: bad mask\n"
    assert run_main(fn, p, ["usage"]) == 2
    assert capsys.readouterr().err == "prog: error: --bs must be positive\n"


@pytest.mark.parametrize("parse, text, value", [(probability, "0", 0.0), (probability, "1", 1.0),
                                                (probability, "0.9", 0.9), (factor, "1", 1.0), (factor, "2.5", 2.5),
                                                (probabilities, "0, 0.5,1", (0.0, 0.5, 1.0))])
def test_number_types_accept(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text", [(probability, "1.01"), (probability, "-0.1"), (probability, "nan"),
                                         (probability, "p"), (factor, "0.99"), (factor, "inf"), (factor, "two"),
                                         (probabilities, ""), (probabilities, ","), (probabilities, "0.5,2"),
                                         (probabilities, "0.5,x")])
def test_number_types_refuse(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text).replace(".", r"\.")):
        parse(text)


def test_progress_bars_print_nothing_without_a_terminal(capsys):
    """A log file gets the commands' lines only: no bar updates and no stray fill character per bar."""
    prepare_cli()
    from fastprogress.fastprogress import master_bar, progress_bar

    assert list(progress_bar(range(3))) == [0, 1, 2]
    for _ in master_bar(range(2)):
        pass
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("command, argv, extra", [
    ("predict", ["M", "x.jpg", "--out", "o", "--clearance-px", "5"], ()),
    ("predict", ["M", "x.jpg", "--out", "o", "--min-p-safe", "0.5"], ()),
    ("evaluate", ["M", "--thresholds", "0.5"], ("landing_size", "thresholds")),
    ("evaluate", ["M", "--landing-size", "30x20"], ("landing_size", "thresholds")),
])
def test_a_landing_option_without_landing_is_refused(command, argv, extra):
    import importlib

    from dronefast.cli.landing import landing_requested

    parser = importlib.import_module(f"dronefast.cli.{command}").build_parser()
    with pytest.raises(UsageError, match=r"^--[a-z-]+ is a landing option; add --landing$"):
        landing_requested(parser.parse_args(argv), extra)
    assert landing_requested(parser.parse_args([*argv, "--landing"]), extra) is True
    assert landing_requested(parser.parse_args(argv[:argv.index("o") + 1] if "o" in argv else argv[:1])) is False


def test_stems_arg_reads_a_list_or_a_file(tmp_path):
    assert stems_arg(" 014, 031 ,") == ("014", "031")
    f = tmp_path / "stems.txt"
    f.write_text("# the test photos\n000\n\n 014 \n", encoding="utf-8")
    assert stems_arg(f"@{f}") == ("000", "014")
    with pytest.raises(argparse.ArgumentTypeError, match="cannot read"):
        stems_arg(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(argparse.ArgumentTypeError, match="at least one file stem"):
        stems_arg(" , ")
