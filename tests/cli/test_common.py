import argparse

import pytest

from dronefast.cli.common import run_main
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
