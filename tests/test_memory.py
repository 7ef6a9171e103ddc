"""cnnbook.memory: freed memory kept for reuse (glibc's mallopt), and the page faults it saves."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cnnbook import conv, memory

GLIBC = memory._mallopt() is not None and sys.platform.startswith("linux")


def _faults_per_call(fn, calls=3):
    fn()
    before = memory.page_faults()
    for _ in range(calls):
        fn()
    return (memory.page_faults() - before) / calls


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keeping_freed_memory_saves_the_page_faults_of_every_call(rng):
    x, w, b = rng.normal(size=(16, 8, 20, 20)), rng.normal(size=(8, 8, 3, 3)), np.zeros(8)
    dy = rng.normal(size=(16, 8, 20, 20))

    def step():
        _, cache = conv.conv2d_forward(x, w, b, pad=1)
        conv.conv2d_backward(dy, cache)

    try:
        assert memory.keep_freed_memory(False)
        given_back = _faults_per_call(step)
        assert memory.keep_freed_memory(True)
        kept = _faults_per_call(step)
    finally:
        memory.keep_freed_memory(True)
    # every call allocates several arrays of 100 KiB and more (x padded is 204 KiB): with glibc's
    # defaults each comes back as fresh pages; kept, they are reused
    assert given_back > 50 and kept < given_back / 10, (given_back, kept)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
@pytest.mark.parametrize("setting, expected", [("1", "kept"), ("0", "given back")])
def test_import_keeps_freed_memory_unless_the_environment_says_0(setting, expected):
    probe = (
        "import numpy as np, cnnbook\n"
        "from cnnbook import memory\n"
        "def f():\n"
        "    a = np.ones(2**20); del a\n"           # 8 MiB, far above glibc's starting threshold
        "f(); before = memory.page_faults()\n"
        "for _ in range(5): f()\n"
        "print(memory.page_faults() - before)\n"
    )
    env = {**os.environ, "CNNBOOK_KEEP_FREED_MEMORY": setting}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    faults = int(out.stdout.strip())
    # 5 fresh arrays of 8 MiB are at least 5 faults even with 2 MiB pages; reused, next to none
    assert (faults < 5) if expected == "kept" else (faults >= 5), (setting, faults)


def test_keep_freed_memory_wants_a_bool():
    with pytest.raises(ValueError, match="keep must be True or False"):
        memory.keep_freed_memory(1)


def test_page_faults_only_grow():
    a = memory.page_faults()
    np.ones(2**18)
    assert memory.page_faults() >= a >= 0
