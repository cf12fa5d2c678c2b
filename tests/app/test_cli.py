"""``python -m dronefast.app``: the refusals (no MODEL, no Gradio, bad flags) and a real start and stop of the server
with its private folder."""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from dronefast.cli.app import NO_MODEL, build_parser, main
from tests.app.support import free_port


def test_without_a_model_it_says_how_to_get_one(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == f"python -m dronefast.app: error: {NO_MODEL}\n"
    assert "train one with python -m dronefast.train, then python -m dronefast.app runs/train" in err


def test_without_gradio_it_says_how_to_install_it(monkeypatch, capsys, tiny_model):
    monkeypatch.setitem(sys.modules, "gradio", None)  # find_spec then finds nothing
    assert main([str(tiny_model)]) == 1
    assert capsys.readouterr().err == 'error: the web page needs Gradio, an optional extra: pip install -e ".[app]"\n'


@pytest.mark.parametrize("argv, message", [
    (["m", "--port", "70000"], "a port is at most 65535"),
    (["m", "--max-pixels", "0"], "must be at least 1"),
], ids=["port", "max-pixels"])
def test_bad_flags_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_landing_flags_that_do_not_go_together_exit_2(capsys):
    assert main(["m", "--gsd", "0.02", "--altitude", "20"]) == 2
    err = capsys.readouterr().err
    assert "give either --gsd or --altitude" in err, err


def test_defaults_serve_this_machine_only():
    args = build_parser().parse_args(["runs/train"])
    assert (args.host, args.port, args.share, args.keep_uploads) == ("127.0.0.1", 7860, False, False)
    assert args.max_pixels == 30_000_000 and args.examples == 4 and args.engine == "torch"


def test_serves_the_page_and_deletes_its_folder_on_stop(tiny_model, monkeypatch, capsys):
    pytest.importorskip("gradio", reason='pip install -e ".[app]"')
    seen = {}

    def stop_at_once(page):  # instead of waiting for Ctrl+C: look at the page, then stop
        seen["folder"] = Path(os.environ["GRADIO_TEMP_DIR"])
        seen["config"] = json.loads(urllib.request.urlopen(f"{page.local_url}config", timeout=10).read())
        page.close()

    monkeypatch.setattr("dronefast.cli.app.wait", stop_at_once)
    port = free_port()
    assert main([str(tiny_model), "--port", str(port), "--examples", "0", "--device", "cpu",
                 "--clearance-px", "12"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"dronefast app: http://127.0.0.1:{port}/ (model {tiny_model}, resnet18 U-Net, 24 classes)")
    assert out.endswith("stopped; uploads and results deleted\n")
    assert seen["config"]["title"] == "dronefast: where to land"
    assert seen["folder"].name.startswith("dronefast-app-") and not seen["folder"].exists()
    assert os.environ["GRADIO_TEMP_DIR"] != str(seen["folder"])  # the test session's value is back
