"""Benchmarks of the convolution family in cnnbook (a script, not a test: timings are never asserted).

For grids of shapes (batch N = 32), the time of one forward + backward pass of

* ``conv.conv2d_forward/backward`` with ``dilation`` > 1,
* ``conv.conv2d_forward/backward`` with ``groups`` > 1 (up to depthwise, groups = C),
* ``conv.conv_transpose2d_forward/backward`` (stride, padding, output_padding, groups),
* the plain convolution (dilation 1, groups 1) against the same code before dilation and groups
  existed (``conv.py`` of the git revision given by ``--baseline``, default 9fc0436; skipped
  without git),
* max/avg pooling with padding and ceil_mode,

each beside PyTorch on the CPU (``torch.set_num_threads`` equal to NumPy's BLAS threads), with
the ratio cnnbook / torch (> 1: cnnbook is slower) and its geometric mean per family and dtype.
The implementations compared are interleaved (A, B, A, B, ...) so that a change of machine load
hits both; each round times a calibrated number of calls; the ratio is the median over the rounds
of the ratio within a round (``--stat min`` or ``--stat median``: the ratio of the fastest or of
the median rounds, as benchmarks/bench.py reports), and the times printed are the fastest rounds.
``--repeat R`` measures everything R times and prints the spread of the geometric means, since
a shared machine is noisy; ``--threads 1`` gives the steadiest figures on a loaded machine (two
threads per library on two busy cores mostly measure the waiting).  Run:

    PYTHONPATH=/tmp/torchlib .venv/bin/python benchmarks/bench_family.py --threads 1 --repeat 2   # ~1-2 min
    .venv/bin/python benchmarks/bench_family.py --only plain     # without torch: the before/after check

Without torch only the before/after comparison runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cnnbook import conv, pooling
from cnnbook.timing import blas_kernel, blas_threads

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = None

ROOT = Path(__file__).resolve().parent.parent
N = 32
DTYPES = (np.float32, np.float64)

# (C, H, k, F, stride, pad, dilation)
DILATION_GRID = [(c, h, 3, 16, s, d, d) for c in (8, 16) for h in (14, 28) for s in (1, 2) for d in (2, 3)]
# (C, H, k, F, stride, pad, groups)
GROUPS_GRID = [(c, h, 3, c, s, 1, g) for c in (16, 32) for h in (14, 28) for s in (1, 2) for g in (2, 4, c)]
# (C, H, k, F, stride, pad, output_padding, dilation, groups)
TRANSPOSE_GRID = ([(c, h, k, f, s, 1, s - 1, 1, 1) for c, f in ((16, 8), (8, 16)) for h in (7, 14)
                   for k, s in ((3, 2), (4, 2), (3, 1))]
                  + [(16, 14, 3, 16, 2, 1, 1, 1, 4), (16, 14, 3, 16, 1, 2, 0, 2, 1), (16, 14, 3, 16, 2, 1, 1, 1, 16)])
# (C, H, k, F, stride, pad)
PLAIN_GRID = [(c, h, k, 16, s, 1) for c in (1, 16) for h in (8, 28) for k in (3, 5) for s in (1, 2)]
# (C, H, size, stride, pad, ceil_mode)
POOL_GRID = [(c, h, 3, 2, 1, ceil) for c in (8, 32) for h in (13, 28) for ceil in (False, True)]


# ---------------------------------------------------------------------------- timing


def _calibrate(fn, target):
    fn()
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-6)
    return max(1, min(1000, int(target / once)))


def compare(fns: dict, *, rounds=7, target=0.01) -> dict:
    """Seconds per call of each function in every round, the calls interleaved round by round
    (A, B, C, then B, C, A, ...), so that the times of one round were taken under the same load."""
    loops = {name: _calibrate(fn, target) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    order = list(fns.items())
    for i in range(rounds):
        # the order rotates from round to round, so that no function always runs in the same
        # place (e.g. first, after the others have filled the caches with their data)
        k = i % len(order)
        for name, fn in order[k:] + order[:k]:
            t = time.perf_counter()
            for _ in range(loops[name]):
                fn()
            samples[name].append((time.perf_counter() - t) / loops[name])
    return samples


def ratio(samples: dict, a: str, b: str, stat: str) -> float:
    """a's time over b's: the median over the rounds of the ratio within each round ("paired",
    the default: a burst of load slows one round of both, and a burst that hits one of them
    moves one ratio, not the median), or the ratio of the fastest or of the median rounds."""
    if stat == "paired":
        return statistics.median(x / y for x, y in zip(samples[a], samples[b]))
    pick = min if stat == "min" else statistics.median
    return pick(samples[a]) / pick(samples[b])


def geomean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def load_baseline(rev: str):
    """cnnbook.conv as it was at git revision ``rev``, as a module beside the current one."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:src/cnnbook/conv.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("cnnbook._conv_baseline", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "cnnbook"
    exec(compile(source, f"{rev}:src/cnnbook/conv.py", "exec"), module.__dict__)
    return module


# ---------------------------------------------------------------------------- workloads


def _torch_step(fn, arrays, dy, **hyper):
    ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
    dyt = torch.from_numpy(dy)

    def step():
        for t in ts:
            t.grad = None
        fn(*ts, **hyper).backward(dyt)
    return step


def _ours_step(forward, backward, arrays, dy, **hyper):
    def step():
        _, cache = forward(*arrays, **hyper)
        backward(dy, cache)
    return step


def conv_workload(rng, dtype, c, h, k, f, stride, pad, dilation=1, groups=1):
    x = rng.standard_normal((N, c, h, h)).astype(dtype)
    w = rng.standard_normal((f, c // groups, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh = conv.output_size(h, k, stride=stride, pad=pad, dilation=dilation)
    dy = rng.standard_normal((N, f, oh, oh)).astype(dtype)
    hyper = dict(stride=stride, pad=pad, dilation=dilation, groups=groups)
    fns = {"cnnbook": _ours_step(conv.conv2d_forward, conv.conv2d_backward, (x, w, b), dy, **hyper)}
    if torch is not None:
        fns["torch"] = _torch_step(TF.conv2d, (x, w, b), dy, stride=stride, padding=pad, dilation=dilation,
                                   groups=groups)
    return fns


def transpose_workload(rng, dtype, c, h, k, f, stride, pad, output_padding, dilation, groups):
    x = rng.standard_normal((N, c, h, h)).astype(dtype)
    w = rng.standard_normal((c, f // groups, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh = conv.transpose_output_size(h, k, stride=stride, pad=pad, output_padding=output_padding,
                                    dilation=dilation)
    dy = rng.standard_normal((N, f, oh, oh)).astype(dtype)
    hyper = dict(stride=stride, pad=pad, output_padding=output_padding, dilation=dilation, groups=groups)
    fns = {"cnnbook": _ours_step(conv.conv_transpose2d_forward, conv.conv_transpose2d_backward, (x, w, b), dy,
                                 **hyper)}
    if torch is not None:
        fns["torch"] = _torch_step(TF.conv_transpose2d, (x, w, b), dy, stride=stride, padding=pad,
                                   output_padding=output_padding, dilation=dilation, groups=groups)
    return fns


def plain_workload(rng, dtype, baseline, c, h, k, f, stride, pad):
    x = rng.standard_normal((N, c, h, h)).astype(dtype)
    w = rng.standard_normal((f, c, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh = conv.output_size(h, k, stride=stride, pad=pad)
    dy = rng.standard_normal((N, f, oh, oh)).astype(dtype)
    hyper = dict(stride=stride, pad=pad)
    fns = {"cnnbook": _ours_step(conv.conv2d_forward, conv.conv2d_backward, (x, w, b), dy, **hyper),
           "before": _ours_step(baseline.conv2d_forward, baseline.conv2d_backward, (x, w, b), dy, **hyper)}
    if torch is not None:
        fns["torch"] = _torch_step(TF.conv2d, (x, w, b), dy, stride=stride, padding=pad)
    return fns


def pool_workload(rng, dtype, kind, c, h, size, stride, pad, ceil_mode):
    x = rng.standard_normal((N, c, h, h)).astype(dtype)
    oh = pooling.pool_output_size(h, size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    dy = rng.standard_normal((N, c, oh, oh)).astype(dtype)
    hyper = dict(size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    fwd, bwd = getattr(pooling, f"{kind}pool2d_forward"), getattr(pooling, f"{kind}pool2d_backward")
    fns = {"cnnbook": _ours_step(fwd, bwd, (x,), dy, **hyper)}
    if torch is not None:
        tfn = TF.max_pool2d if kind == "max" else TF.avg_pool2d
        fns["torch"] = _torch_step(tfn, (x,), dy, kernel_size=size, stride=stride, padding=pad, ceil_mode=ceil_mode)
    return fns


# ---------------------------------------------------------------------------- main


def run_family(title, header, grid, make, rounds, ratio_of, stat="paired"):
    """Time every shape of a grid in both dtypes; returns {dtype: [ratio, ...]}."""
    print(f"\n{title}; times in ms (fastest of {rounds} rounds), ratio: {stat}")
    print(f"{'dtype':>7} {header} " + " ".join(f"{k:>9}" for k in ("cnnbook", "other", "ratio")))
    ratios = {np.dtype(d).name: [] for d in DTYPES}
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        for params in grid:
            fns = make(rng, dtype, *params)
            samples = compare(fns, rounds=rounds)
            t = {name: min(v) for name, v in samples.items()}
            other = ratio_of
            r = ratio(samples, "cnnbook", other, stat)
            ratios[name].append(r)
            extra = "".join(f" {k} {v * 1e3:.3f}" for k, v in t.items() if k not in ("cnnbook", other))
            print(f"{name:>7} " + " ".join(f"{str(p):>4}" for p in params)
                  + f" {t['cnnbook'] * 1e3:9.3f} {t[other] * 1e3:9.3f} {r:9.2f}" + extra, flush=True)
    for name, rs in ratios.items():
        print(f"  {name}: geometric mean cnnbook / {ratio_of} {geomean(rs):.3f} "
              f"(min {min(rs):.2f}, max {max(rs):.2f}, {len(rs)} shapes)")
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--stat", choices=("paired", "min", "median"), default="paired",
                        help="the ratio: median of the per-round ratios (default), or of the fastest "
                             "or the median rounds")
    parser.add_argument("--repeat", type=int, default=1, help="measure everything this many times")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS (and torch) to this many threads (default: NumPy's own)")
    parser.add_argument("--baseline", default="9fc0436",
                        help="git revision whose conv.py is the 'before' of the plain convolution")
    parser.add_argument("--only", choices=("dilation", "groups", "transpose", "plain", "pool"), action="append",
                        help="run only these families (repeatable)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    threads = blas_threads()
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}; "
          f"{os.cpu_count()} cores, NumPy BLAS threads {threads}, N = {N}")
    print(blas_kernel())
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"torch threads set to {torch.get_num_threads()}")
    baseline = load_baseline(args.baseline)
    print(f"baseline conv.py: {'git ' + args.baseline if baseline is not None else 'not available (no git)'}")
    if hasattr(os, "getloadavg"):
        print("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    t_start = time.perf_counter()
    wanted = set(args.only or ("dilation", "groups", "transpose", "plain", "pool"))

    summary = {}  # (family, dtype) -> [geomean per repeat]
    for rep in range(args.repeat):
        if args.repeat > 1:
            print(f"\n======== repeat {rep + 1} of {args.repeat}")
        results = {}
        if torch is not None and "dilation" in wanted:
            results["dilation vs torch"] = run_family(
                "conv2d with dilation, forward + backward (C H k F stride pad dilation)",
                "   C    H    k    F    s    p    d",
                DILATION_GRID, conv_workload, args.rounds, "torch", args.stat)
        if torch is not None and "groups" in wanted:
            results["groups vs torch"] = run_family(
                "conv2d with groups, forward + backward (C H k F stride pad groups)",
                "   C    H    k    F    s    p    g",
                GROUPS_GRID, lambda rng, dt, c, h, k, f, s, p, g: conv_workload(rng, dt, c, h, k, f, s, p, 1, g),
                args.rounds, "torch", args.stat)
        if torch is not None and "transpose" in wanted:
            results["transpose vs torch"] = run_family(
                "conv_transpose2d, forward + backward (C H k F stride pad output_padding dilation groups)",
                "   C    H    k    F    s    p   op    d    g", TRANSPOSE_GRID, transpose_workload, args.rounds,
                "torch", args.stat)
        if baseline is not None and "plain" in wanted:
            results["plain vs before"] = run_family(
                "plain conv2d (dilation 1, groups 1) against the code before this change "
                "(other = before; torch's time at the end)", "   C    H    k    F    s    p",
                PLAIN_GRID, lambda rng, dt, *p: plain_workload(rng, dt, baseline, *p), args.rounds, "before", args.stat)
        if torch is not None and "pool" in wanted:
            for kind in ("max", "avg"):
                results[f"{kind}pool vs torch"] = run_family(
                    f"{kind}pool2d with padding and ceil_mode, forward + backward (C H size stride pad ceil)",
                    "   C    H    k    s    p ceil", POOL_GRID,
                    lambda rng, dt, *p, kind=kind: pool_workload(rng, dt, kind, *p), args.rounds, "torch", args.stat)
        for family, ratios in results.items():
            for dtype, rs in ratios.items():
                summary.setdefault((family, dtype), []).append(geomean(rs))

    print("\nSummary: geometric mean of the ratio per family and dtype"
          + (f" over {args.repeat} repeats (each value one repeat)" if args.repeat > 1 else ""))
    for (family, dtype), gms in summary.items():
        spread = f", spread {min(gms):.2f}-{max(gms):.2f}" if len(gms) > 1 else ""
        print(f"  {family:>20} {dtype:>7}: " + " ".join(f"{g:.3f}" for g in gms) + spread)
    if hasattr(os, "getloadavg"):
        print("load average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
