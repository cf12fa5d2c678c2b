"""Tests of benchmarks.levers: one tiny in-process run of ``python -m benchmarks levers`` on a scripted clock
(exact medians and ratios in its JSON; the thread count restored)."""
from __future__ import annotations

import json

import torch

from benchmarks.__main__ import main


def test_levers_json_on_a_scripted_clock(tmp_path, scripted_clock):
    # the warm-up round (fp32, threads1), then one timed round (fp32, threads1); rounds rotate (test_harness)
    clock = scripted_clock([9.0, 9.0, 4.0, 2.0])
    out = tmp_path / "lev.json"
    threads = torch.get_num_threads()
    assert main(["levers", "--threads", "2", "--levers", "fp32,threads1", "--size", "48x32", "--bs", "2",
                 "--arch", "resnet18", "--steps", "1", "--device", "cpu", "--json", str(out)], clock=clock) == 0
    assert clock.done() and torch.get_num_threads() == threads
    r = json.loads(out.read_text())
    assert set(r) == {"command", "machine", "settings", "compile_warmup_s", "variants", "ratios", "argv"}
    v = r["variants"]
    assert v["fp32"]["step_s"]["samples"] == [4.0] and v["threads1"]["step_s"]["samples"] == [2.0]
    assert r["ratios"] == {"fp32_over_threads1": 2.0} and r["compile_warmup_s"] is None
    assert r["settings"]["threads"] == 2 and r["settings"]["levers"] == ["fp32", "threads1"]
    assert v["fp32"]["cpu_s"] >= 0 and v["fp32"]["page_faults"] >= 0
