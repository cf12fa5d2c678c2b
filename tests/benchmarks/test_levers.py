"""Tests of benchmarks.levers on chosen numbers: what each lever changes in the floor step, and the ratios to
fp32 (the timed model runs themselves are the benchmark's, not the tests')."""
from __future__ import annotations

from benchmarks.levers import LEVERS, lever_ratios, lever_settings


def test_each_lever_changes_what_it_names():
    settings = {lever: lever_settings(lever) for lever in LEVERS}
    assert settings == {"fp32": ("fp32", False, False), "channels_last": ("fp32", True, False),
                        "bf16": ("bf16", False, False), "bf16_channels_last": ("bf16", True, False),
                        "threads1": ("fp32", False, False), "compile": ("fp32", False, True)}


def test_ratios_are_fp32_over_each_other_lever():
    def res(median):
        return {"step_s": {"median": median}}

    out = lever_ratios({"fp32": res(4.0), "channels_last": res(3.2), "bf16": res(1.0), "threads1": res(8.0)})
    assert out == {"fp32_over_channels_last": 1.25, "fp32_over_bf16": 4.0, "fp32_over_threads1": 0.5}
    assert lever_ratios({"bf16": res(1.0)}) == {}
    nan = lever_ratios({"fp32": res(4.0), "bf16": res(0.0)})["fp32_over_bf16"]
    assert nan != nan  # NaN, not a division error
