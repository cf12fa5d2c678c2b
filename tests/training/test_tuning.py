"""Tests of dronefast.training.tuning: with malloc tuned, a freed 64 MiB block is reused without new page faults; under
glibc's untuned steady state it is mapped (and faulted in) again every time. Run in a fresh interpreter, since
the settings are process-wide."""
import subprocess
import sys

import pytest

SCRIPT = """
import resource, numpy as np
from dronefast.training.tuning import glibc_default_malloc, tune_malloc

def faults_of_second_block():
    a = np.ones(64 << 20, np.uint8); del a            # first use: pages faulted in
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(64 << 20, np.uint8); del b             # second use of a block of the same size
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

ok = tune_malloc()
tuned = faults_of_second_block()
with glibc_default_malloc():
    untuned = faults_of_second_block()
print(ok, tuned, untuned)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_tuned_malloc_reuses_large_blocks():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    ok, tuned, untuned = out[0] == "True", int(out[1]), int(out[2])
    assert ok
    assert untuned >= (64 << 20) // (2 << 20)       # mapped afresh: at least one fault per 2 MiB (huge) page
    assert tuned <= untuned // 10                   # reused from the heap
