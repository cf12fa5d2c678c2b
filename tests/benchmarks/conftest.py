"""Fake clocks for the benchmark tests: timings whose every value the test chose, so that medians and ratios can
be asserted exactly (real timings on a shared test machine mean nothing)."""
from __future__ import annotations

from typing import List, Sequence

import pytest


class ScriptedClock:
    """A clock for :class:`benchmarks.harness.Timer` whose i-th timed call lasts ``durations[i]`` seconds.

    A Timer reads its clock twice per call (before, after), so the readings are ``t, t + d0, t', t' + d1, ...``,
    with gaps between calls that no measurement may include. Reading it more often than scripted fails the test;
    :meth:`done` says whether every reading was used.
    """

    def __init__(self, durations: Sequence[float], start: float = 100.0, gap: float = 1000.0):
        self.readings: List[float] = []
        t = start
        for d in durations:
            self.readings += [t, t + d]
            t += d + gap
        self.reads = 0

    def __call__(self) -> float:
        if self.reads >= len(self.readings):
            raise AssertionError(f"the clock was read more than the {len(self.readings)} times scripted")
        self.reads += 1
        return self.readings[self.reads - 1]

    def done(self) -> bool:
        """Every scripted reading was taken (as many timed calls as durations)."""
        return self.reads == len(self.readings)


@pytest.fixture
def scripted_clock():
    """The :class:`ScriptedClock` class: ``clock = scripted_clock([d0, d1, ...])``."""
    return ScriptedClock


@pytest.fixture(scope="module")
def bench_work(tmp_path_factory):
    """One folder of generated benchmark photos per test module (reused across its tests)."""
    return tmp_path_factory.mktemp("bench-work")
