"""Measuring code: how long, how fast against the machine, how much memory, and where the time goes.

Used by the chapter "From loops to fast code" and by ``benchmarks/bench.py``. Nothing here is
ever asserted about speed: times depend on the machine and on what else it is doing. What
the functions guarantee is the *method*:

* :func:`one_core` -- a context in which every library computes on one core: NumPy's BLAS and
  PyTorch on one thread, and (on Linux) every thread of the process on one CPU, so that a
  library with its own thread pool (JAX's XLA) is held to one core as well.
* :func:`compare` -- the median seconds per call of several functions, their calls interleaved
  round by round (A, B, C, A, B, C, ...), so that a change of load on a shared machine hits all
  of them alike; :func:`median_time` is the same for one function.
* :func:`matmul_gflops` -- the peak rate (GFLOP/s) that ``np.matmul`` reaches on two large square
  matrices (the fastest of a few products): the yardstick for "how close to the machine" a
  computation gets, for one dtype at the current number of BLAS threads (:func:`blas_threads`).
* :func:`gflops` -- floating-point operations per second, in units of 10^9.
* :func:`peak_memory` -- the peak bytes a call allocates, by ``tracemalloc`` (NumPy reports
  every array buffer to it).
* :func:`profile_training_step` -- the median time of each part of one training step of a
  :class:`cnnbook.model.Sequential` network: the forward pass of each layer, the loss, the
  backward pass of each layer, the parameter update.
* :func:`geomean` -- the geometric mean, the average of ratios.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import statistics
import sys
import time
import tracemalloc
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from .losses import softmax_cross_entropy

__all__ = ["blas_threads", "one_core", "compare", "median_time", "gflops", "matmul_gflops", "peak_memory",
           "profile_training_step", "geomean"]

# A sample is at least this long (seconds): shorter calls are repeated within one sample, so that
# the clock's resolution and the loop's own overhead stay small against what is measured.
MIN_SAMPLE_SECONDS = 2e-3
_MAX_CALLS_PER_SAMPLE = 1000


def blas_threads() -> int:
    """The number of threads NumPy's BLAS uses now (threadpoolctl), or the core count if unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a requirement of the book
        return os.cpu_count() or 1
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


def blas_kernel() -> str:
    """One line: which BLAS NumPy runs and which of its kernels (threadpoolctl).

    OpenBLAS picks its kernels for the processor unless ``OPENBLAS_CORETYPE`` names others (some
    machines set it for old OpenBLAS builds); that choice moves every matrix product of the
    convolution, while PyTorch keeps its own kernels, so a comparison with PyTorch states it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a requirement of the book
        return "NumPy's BLAS: unknown (no threadpoolctl)"
    blas = [f"{p['internal_api']} {p.get('version')}, kernels {p.get('architecture')}"
            for p in threadpool_info() if p.get("user_api") == "blas"]
    forced = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    return ("NumPy's BLAS: " + ("; ".join(blas) or "unknown")
            + (f" (set by {', '.join(forced)})" if forced else ""))


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: only the calling thread
        return [0]


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Inside the block, every library computes on one core; everything is restored on exit.

    NumPy's BLAS runs on one thread (threadpoolctl), PyTorch too if it has been imported
    (``torch.set_num_threads(1)``), and where the operating system allows it (Linux), every
    thread of this process is held to one CPU, so that a library that runs its own pool of
    threads (JAX's XLA) cannot use more than one core either. On a machine shared with other
    programs this keeps timings comparable: a multi-threaded computation whose partner thread
    has been paused by the operating system waits for it, and loses its time slice.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    pin = hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity")
    saved = {}
    if pin:
        cpus = os.sched_getaffinity(0)
        for tid in _thread_ids():
            try:
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, {min(cpus)})
            except OSError:  # the thread ended meanwhile
                pass
    try:
        with threadpool_limits(1):
            if torch is not None:
                torch.set_num_threads(1)
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)
        if pin:
            for tid in _thread_ids():  # threads started inside the block inherited the single CPU
                try:
                    os.sched_setaffinity(tid, saved.get(tid, saved.get(0, cpus)))
                except OSError:
                    pass


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def compare(fns: Mapping[str, Callable[[], object]], *, rounds: int = 5, min_time: float = MIN_SAMPLE_SECONDS,
            warmup: bool = True) -> dict[str, float]:
    """Median seconds per call of each function, the calls interleaved round by round.

    fns: {name: fn} with fn() taking no arguments (build the inputs before, outside the timed
    call). warmup: call each fn once, untimed, first (first calls allocate, and JAX compiles).
    Then one timed call per function sets how many calls make a sample of at least min_time
    seconds (if that call alone takes min_time, it is the first sample); each of ``rounds``
    rounds takes one sample of every function in turn. Returns {name: median over the
    ``rounds`` samples of (sample time / calls per sample)}.
    """
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError(f"fns must be a non-empty mapping {{name: callable}}, got {fns!r}")
    for name, fn in fns.items():
        if not callable(fn):
            raise ValueError(f"fns[{name!r}] must be callable, got {type(fn).__name__}")
    rounds = _positive_int(rounds, "rounds")
    if not (isinstance(min_time, numbers.Real) and min_time >= 0):
        raise ValueError(f"min_time must be a number of seconds >= 0, got {min_time!r}")
    if warmup:
        for fn in fns.values():
            fn()
    # the calibration round: one timed call each; where that call alone is long enough, it is
    # a sample of the first round, so that a slow function is not run once more than needed
    first = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t
    calls = {name: 1 if t >= min_time else
             max(1, min(_MAX_CALLS_PER_SAMPLE, math.ceil(min_time / max(t, 1e-7)))) for name, t in first.items()}
    samples: dict[str, list[float]] = {name: [first[name]] if calls[name] == 1 else [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if len(samples[name]) == rounds:
                continue
            n = calls[name]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def median_time(fn: Callable[[], object], *, rounds: int = 5, min_time: float = MIN_SAMPLE_SECONDS,
                warmup: bool = True) -> float:
    """Median seconds per call of fn() over ``rounds`` samples (see :func:`compare`)."""
    return compare({"fn": fn}, rounds=rounds, min_time=min_time, warmup=warmup)["fn"]


def gflops(flop_count: float, seconds: float) -> float:
    """flop_count floating-point operations in ``seconds``, as 10^9 operations per second."""
    if not (isinstance(flop_count, numbers.Real) and flop_count >= 0):
        raise ValueError(f"flop_count must be a number >= 0, got {flop_count!r}")
    if not (isinstance(seconds, numbers.Real) and seconds > 0):
        raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
    return float(flop_count) / float(seconds) / 1e9


def matmul_gflops(dtype=np.float64, *, n: int = 1024, rounds: int = 5, seed: int = 0) -> float:
    """The peak rate, in GFLOP/s, of ``np.matmul`` on two (n, n) matrices of ``dtype``.

    One product is n^3 multiply-adds, 2 n^3 floating-point operations. The matrices are built
    before the clock starts; after one untimed product, ``rounds`` products are timed and the
    *fastest* counts: a peak is what the machine can reach, and other programs on the machine
    only ever make a product slower. The BLAS threads are as they are now (:func:`blas_threads`).
    A BLAS runs a large square product near its best, so this is the yardstick that a
    convolution's GFLOP/s is measured against. dtype: float32 or float64.
    """
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    n, rounds = _positive_int(n, "n"), _positive_int(rounds, "rounds")
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt)
    out = np.empty((n, n), dtype=dt)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t)
    return gflops(2 * n**3, min(times))


def peak_memory(fn: Callable, *args, **kwargs) -> tuple[object, int]:
    """Run fn(*args, **kwargs) under ``tracemalloc``; return (its result, peak bytes).

    The peak is the largest amount of memory allocated during the call and not yet freed,
    counted from the start of the call: arrays that existed before are not counted, arrays
    that the call returns are (they were allocated by it). NumPy reports its array buffers to
    tracemalloc, so every temporary array counts; Python objects count too (a few KiB).
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    else:
        tracemalloc.reset_peak()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    return result, int(peak - base)


def _step_parts(model, x, labels, optimizer, loss):
    """One training step, part by part: yields (name, zero-argument callable) in execution order.
    Each callable runs its part on the output of the part before."""
    state = {"a": x}
    for i, layer in enumerate(model.layers):
        def fwd(layer=layer):
            state["a"] = layer.forward(state["a"])
        yield f"forward {i} {type(layer).__name__}", fwd

    def loss_part():
        state["loss"], state["d"] = loss(state["a"], labels)
    yield "loss", loss_part
    for i in reversed(range(len(model.layers))):
        def bwd(layer=model.layers[i]):
            state["d"] = layer.backward(state["d"])
        yield f"backward {i} {type(model.layers[i]).__name__}", bwd
    if optimizer is not None:
        yield "update", lambda: optimizer.step(model.grads())


def profile_training_step(model, x, labels, optimizer=None, *, loss: Callable = softmax_cross_entropy,
                          rounds: int = 10) -> dict[str, float]:
    """Median seconds of each part of one training step of a ``cnnbook.model.Sequential``.

    model: the network; x: its input (N, ...); labels: (N,) ints; optimizer: an object with
    ``step(grads)`` such as ``cnnbook.model.SGD`` over ``model.params()``, or None for no update;
    loss(logits, labels) -> (value, dlogits). Each round runs one whole step exactly as
    ``model_loss`` and an optimizer step do -- every layer's forward in order, the loss and
    its gradient, every layer's backward in reverse, ``optimizer.step(model.grads())`` -- and
    times each part on its own. So the parameters change every round, as in training.

    Returns {part: median seconds} in execution order, with parts named
    ``"forward <i> <Layer>"``, ``"loss"``, ``"backward <i> <Layer>"`` and ``"update"``.
    """
    rounds = _positive_int(rounds, "rounds")
    if not hasattr(model, "layers") or not hasattr(model, "grads"):
        raise ValueError(f"model must be a cnnbook.model.Sequential, got {type(model).__name__}")
    if optimizer is not None and not callable(getattr(optimizer, "step", None)):
        raise ValueError(f"optimizer must have a step(grads) method (e.g. cnnbook.model.SGD), got {optimizer!r}")
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, part in _step_parts(model, x, labels, optimizer, loss):
            t = time.perf_counter()
            part()
            samples.setdefault(name, []).append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in samples.items()}


def geomean(values: Iterable[float]) -> float:
    """The geometric mean of positive numbers, exp(mean(log v)): the average of ratios."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one number")
    if any(not v > 0 for v in values):
        raise ValueError(f"values must all be > 0, got {values}")
    return math.exp(sum(math.log(v) for v in values) / len(values))
