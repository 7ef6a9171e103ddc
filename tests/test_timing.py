"""cnnbook.timing: the method of every measurement (never a speed): interleaved medians, the matmul
yardstick, one core, tracemalloc peaks, and the part-by-part training step."""

from __future__ import annotations

import math
import os
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cnnbook import model as M
from cnnbook import timing
from cnnbook.losses import softmax_cross_entropy

# --------------------------------------------------------------------------- compare / median_time


def test_compare_interleaves_the_calls_and_returns_medians(monkeypatch):
    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    clock = iter(np.arange(0.0, 1000.0, 0.5))                 # every reading 0.5 s after the last
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(clock)))
    out = timing.compare(fns, rounds=3, min_time=0.1, warmup=True)
    # warm-up (a, b), the calibration round (a, b; each 0.5 s >= min_time: it is sample 1), 2 more rounds
    assert order == ["a", "b"] * 4
    assert out == {"a": 0.5, "b": 0.5}


def test_compare_repeats_short_calls_within_a_sample():
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
    out = timing.compare({"fn": fn}, rounds=2, min_time=1e-3, warmup=False)
    assert calls["n"] > 3                       # one calibration call, then 2 samples of many calls each
    assert 0 < out["fn"] < 1e-3


def test_median_time_is_a_median_of_samples(monkeypatch):
    readings = iter([0.0, 1.0,            # calibration: 1 s (>= min_time, so it is sample 1)
                     1.0, 4.0,            # sample 2: 3 s
                     4.0, 6.0])           # sample 3: 2 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(readings))
    assert timing.median_time(lambda: None, rounds=3, min_time=0.5, warmup=False) == 2.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(fns={}), "fns"), (dict(fns={"a": 1}), r"fns\['a'\] must be callable"),
    (dict(fns={"a": lambda: 0}, rounds=0), "rounds"), (dict(fns={"a": lambda: 0}, min_time=-1), "min_time"),
])
def test_compare_rejects_bad_arguments(kwargs, match):
    fns = kwargs.pop("fns")
    with pytest.raises(ValueError, match=match):
        timing.compare(fns, **kwargs)


# --------------------------------------------------------------------------- rates


def test_gflops_and_geomean():
    assert timing.gflops(2e9, 0.5) == 4.0
    assert math.isclose(timing.geomean([0.5, 2.0, 1.0]), 1.0)
    assert math.isclose(timing.geomean([2, 8]), 4.0)
    with pytest.raises(ValueError, match="seconds"):
        timing.gflops(1.0, 0.0)
    with pytest.raises(ValueError, match="> 0"):
        timing.geomean([1.0, -1.0])
    with pytest.raises(ValueError, match="at least one"):
        timing.geomean([])


def test_matmul_gflops_counts_2n3_operations_at_the_fastest_product(monkeypatch):
    readings = iter([0.0, 0.5,  0.5, 0.75,  0.75, 1.5])      # products of 0.5 s, 0.25 s and 0.75 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(readings))
    assert timing.matmul_gflops(np.float32, n=100, rounds=3) == pytest.approx(2 * 100**3 / 0.25 / 1e9)
    with pytest.raises(ValueError, match="float32 or float64"):
        timing.matmul_gflops(np.int64)
    with pytest.raises(ValueError, match="n must be"):
        timing.matmul_gflops(n=0)
    with pytest.raises(ValueError, match="rounds"):
        timing.matmul_gflops(rounds=0)


def test_matmul_gflops_measures_a_positive_rate():
    assert timing.matmul_gflops(np.float64, n=64, rounds=1) > 0


# --------------------------------------------------------------------------- one core


def test_one_core_limits_blas_and_pins_the_process_and_restores_both():
    before_threads = timing.blas_threads()
    before_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with timing.one_core():
        assert timing.blas_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p.get("user_api") == "blas")
        if before_cpus is not None:
            assert len(os.sched_getaffinity(0)) == 1
            assert os.sched_getaffinity(0) <= before_cpus
        np.ones((64, 64)) @ np.ones((64, 64))
    assert timing.blas_threads() == before_threads
    if before_cpus is not None:
        assert os.sched_getaffinity(0) == before_cpus


def test_one_core_restores_after_an_exception():
    before = timing.blas_threads()
    with pytest.raises(RuntimeError):
        with timing.one_core():
            raise RuntimeError("inside")
    assert timing.blas_threads() == before


# --------------------------------------------------------------------------- memory


def test_peak_memory_counts_temporaries_and_the_result():
    n = 1_000_000

    def fn():
        tmp = np.ones(n)                 # 8 MB, freed before the return
        out = np.zeros(n // 2)           # 4 MB, returned
        del tmp
        return out
    result, peak = timing.peak_memory(fn)
    assert result.shape == (n // 2,)
    assert 12_000_000 <= peak < 12_000_000 + 64 * 1024      # both were alive at once
    # arrays made before the call are not counted
    before = np.ones(n)
    _, peak_view = timing.peak_memory(lambda a: a[::2], before)
    assert peak_view < 64 * 1024
    assert not tracemalloc.is_tracing()


def test_peak_memory_nested_inside_running_tracemalloc():
    tracemalloc.start()
    try:
        big = np.ones(2_000_000)         # traced, alive before the call
        _, peak = timing.peak_memory(lambda: np.ones(500_000))
        assert 4_000_000 <= peak < 4_000_000 + 64 * 1024
        assert tracemalloc.is_tracing()  # left running, as found
        del big
    finally:
        tracemalloc.stop()


def test_peak_memory_rejects_a_non_callable():
    with pytest.raises(ValueError, match="callable"):
        timing.peak_memory(3)


# --------------------------------------------------------------------------- training-step profile


def _net(seed=0):
    r = np.random.default_rng(seed)
    return M.Sequential([M.Conv2d(in_channels=1, out_channels=3, kernel=3, pad=1, rng=r), M.ReLU(),
                         M.MaxPool2d(size=2), M.Flatten(), M.Dense(in_features=3 * 2 * 2, out_features=4, rng=r)])


def test_profile_names_every_part_in_execution_order():
    net = _net()
    x, labels = np.random.default_rng(1).normal(size=(5, 1, 4, 4)), np.array([0, 1, 2, 3, 0])
    prof = timing.profile_training_step(net, x, labels, M.SGD(net.params(), lr=0.1), rounds=3)
    assert list(prof) == ["forward 0 Conv2d", "forward 1 ReLU", "forward 2 MaxPool2d", "forward 3 Flatten",
                          "forward 4 Dense", "loss", "backward 4 Dense", "backward 3 Flatten",
                          "backward 2 MaxPool2d", "backward 1 ReLU", "backward 0 Conv2d", "update"]
    assert all(t > 0 for t in prof.values())
    assert "update" not in timing.profile_training_step(net, x, labels, None, rounds=1)


def test_profiled_steps_are_training_steps():
    """Two profiled rounds leave exactly the parameters of two steps of model_loss + SGD.step."""
    x, labels = np.random.default_rng(2).normal(size=(6, 1, 4, 4)), np.array([0, 1, 2, 3, 1, 2])
    a, b = _net(), _net()
    timing.profile_training_step(a, x, labels, M.SGD(a.params(), lr=0.1, momentum=0.9), rounds=2)
    opt = M.SGD(b.params(), lr=0.1, momentum=0.9)
    for _ in range(2):
        M.model_loss(b, x, labels, loss=softmax_cross_entropy)
        opt.step(b.grads())
    for name, value in a.params().items():
        np.testing.assert_array_equal(value, b.params()[name])


def test_profile_uses_the_given_loss():
    seen = []

    def loss(logits, labels):
        seen.append(logits.shape)
        return softmax_cross_entropy(logits, labels)
    net = _net()
    timing.profile_training_step(net, np.zeros((2, 1, 4, 4)), np.array([0, 1]), loss=loss, rounds=2)
    assert seen == [(2, 4), (2, 4)]


def test_profile_rejects_bad_arguments():
    net = _net()
    x, labels = np.zeros((2, 1, 4, 4)), np.array([0, 1])
    with pytest.raises(ValueError, match="Sequential"):
        timing.profile_training_step(object(), x, labels)
    with pytest.raises(ValueError, match="step"):
        timing.profile_training_step(net, x, labels, optimizer=object())
    with pytest.raises(ValueError, match="rounds"):
        timing.profile_training_step(net, x, labels, rounds=0)


def test_blas_kernel_names_the_kernels_and_what_forced_them(monkeypatch):
    from threadpoolctl import threadpool_info

    arch = [p.get("architecture") for p in threadpool_info() if p.get("user_api") == "blas"]
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    line = timing.blas_kernel()
    assert line.startswith("NumPy's BLAS: ") and f"kernels {arch[0]}" in line, line
    assert line.endswith("(set by OPENBLAS_CORETYPE=Haswell)"), line
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert "set by" not in timing.blas_kernel()
