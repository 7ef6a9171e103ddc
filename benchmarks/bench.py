"""Benchmarks of cnnbook's vectorized layers (a script, not a test: timings are never asserted).

Prints, for a grid of convolution shapes, the median time of one forward +
backward pass of ``cnnbook.conv`` and its ratio to PyTorch on the CPU (with
``torch.set_num_threads`` equal to NumPy's BLAS threads), or, without torch,
the speed-up over the loop reference on a few small shapes; the geometric
mean of the ratios per dtype; the same for 2x2 max-pooling; and one training
epoch on the digits against the same network in PyTorch.

The compared implementations are interleaved (A, B, A, B, ...) so that a
change of machine load hits both, and each time is the median of several
rounds of a calibrated number of calls.  Run:

    .venv/bin/python benchmarks/bench.py            # the full grid (~3-4 min on 2 cores)
    .venv/bin/python benchmarks/bench.py --quick    # every value of the grid, fewer shapes
    .venv/bin/python benchmarks/bench.py --stages   # also the share of copy / GEMM / col2im
    .venv/bin/python benchmarks/bench.py --threads 1  # both libraries on one thread

Ratios > 1 mean cnnbook is slower.  Numbers from a loaded machine are noisy:
the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from cnnbook import conv, data, pooling
from cnnbook import model as M
from cnnbook.losses import softmax_cross_entropy

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # torch is optional: compare with the loop reference instead
    torch = None

# ---------------------------------------------------------------------------- grids

CONV_GRID = dict(C=(1, 8, 16), H=(8, 28), k=(3, 5), F=(8, 16, 32), stride=(1, 2), pad=(0, 1))
DTYPES = (np.float32, np.float64)
N = 64


def conv_shapes(quick: bool):
    """All combinations; --quick keeps a subset in which every listed value still occurs."""
    combos = list(itertools.product(*CONV_GRID.values()))
    if not quick:
        return combos
    # F and pad vary together with C, so each value of every parameter appears
    return [c for c in combos if CONV_GRID["F"].index(c[3]) == CONV_GRID["C"].index(c[0])
            and c[5] == (c[1] == 28)]


POOL_GRID = dict(C=(1, 8, 16, 32), H=(8, 28))


# ---------------------------------------------------------------------------- timing


def numpy_threads() -> int:
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    return os.cpu_count() or 1


def _calibrate(fn, target=0.01):
    fn()  # warm-up (and first-call allocations)
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-6)
    return max(1, min(1000, int(target / once)))


def compare(fns: dict, *, rounds=7, target=0.01) -> dict:
    """Median seconds per call of each function, the calls interleaved round by round."""
    loops = {name: _calibrate(fn, target) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(loops[name]):
                fn()
            samples[name].append((time.perf_counter() - t) / loops[name])
    return {name: statistics.median(v) for name, v in samples.items()}


def geomean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


# ---------------------------------------------------------------------------- workloads


def cnnbook_conv_step(x, w, b, dy, stride, pad):
    def step():
        _, cache = conv.conv2d_forward(x, w, b, stride=stride, pad=pad)
        conv.conv2d_backward(dy, cache)
    return step


def torch_conv_step(x, w, b, dy, stride, pad):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    dyt = torch.from_numpy(dy)

    def step():
        xt.grad = wt.grad = bt.grad = None
        TF.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(dyt)
    return step


def naive_conv_step(x, w, b, dy, stride, pad):
    def step():
        _, cache = conv.conv2d_forward_naive(x, w, b, stride=stride, pad=pad)
        conv.conv2d_backward_naive(dy, cache)
    return step


def conv_case(rng, n, c, h, k, f, stride, pad, dtype):
    x = rng.standard_normal((n, c, h, h)).astype(dtype)
    w = rng.standard_normal((f, c, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh = conv.output_size(h, k, stride=stride, pad=pad)
    dy = rng.standard_normal((n, f, oh, oh)).astype(dtype)
    return x, w, b, dy


def pool_steps(x, dy):
    def ours():
        _, cache = pooling.maxpool2d_forward(x, size=2)
        pooling.maxpool2d_backward(dy, cache)

    if torch is None:
        def ref():
            _, cache = pooling.maxpool2d_forward_naive(x, size=2)
            pooling.maxpool2d_backward_naive(dy, cache)
        return ours, ref
    xt = torch.from_numpy(x).requires_grad_()
    dyt = torch.from_numpy(dy)

    def theirs():
        xt.grad = None
        TF.max_pool2d(xt, 2).backward(dyt)
    return ours, theirs


# ---------------------------------------------------------------------------- digits epoch


DIGITS_BATCH, DIGITS_LR, DIGITS_MOMENTUM = 32, 0.05, 0.9


def digits_nets(dtype, seed=0):
    """The network of the training chapter in cnnbook and (if present) in PyTorch, same weights."""
    rng = np.random.default_rng(seed)
    ours = M.Sequential([
        M.Conv2d(in_channels=1, out_channels=16, kernel=3, pad=1, rng=rng, dtype=dtype), M.ReLU(),
        M.MaxPool2d(size=2),
        M.Conv2d(in_channels=16, out_channels=32, kernel=3, pad=1, rng=rng, dtype=dtype), M.ReLU(),
        M.MaxPool2d(size=2),
        M.Flatten(), M.Dense(in_features=32 * 2 * 2, out_features=10, rng=rng, dtype=dtype),
    ])
    if torch is None:
        return ours, None
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 10),
    ).to(tdt)
    p = ours.params()
    with torch.no_grad():
        for i in (0, 3):
            theirs[i].weight.copy_(torch.from_numpy(p[f"{i}.w"]))
            theirs[i].bias.copy_(torch.from_numpy(p[f"{i}.b"]))
        theirs[7].weight.copy_(torch.from_numpy(p["7.w"].T.copy()))
        theirs[7].bias.copy_(torch.from_numpy(p["7.b"]))
    return ours, theirs


def digits_epoch_fns(dtype):
    x_train, y_train, _, _ = data.load_digits_split(test_size=0.25, seed=0, dtype=dtype)
    batches = data.minibatches(len(x_train), batch_size=DIGITS_BATCH, rng=np.random.default_rng(1))
    ours, theirs = digits_nets(dtype)
    opt = M.SGD(ours.params(), lr=DIGITS_LR, momentum=DIGITS_MOMENTUM)

    def ours_epoch():
        for idx in batches:
            logits = ours.forward(x_train[idx])
            _, dlogits = softmax_cross_entropy(logits, y_train[idx])
            ours.backward(dlogits)
            opt.step(ours.grads())

    if theirs is None:
        return ours_epoch, None
    topt = torch.optim.SGD(theirs.parameters(), lr=DIGITS_LR, momentum=DIGITS_MOMENTUM)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    tbatches = [torch.from_numpy(idx) for idx in batches]

    def theirs_epoch():
        for idx in tbatches:
            topt.zero_grad()
            TF.cross_entropy(theirs(xt[idx]), yt[idx]).backward()
            topt.step()

    return ours_epoch, theirs_epoch


# ---------------------------------------------------------------------------- stages


def conv_stages(x, w, b, dy, stride, pad, rounds=5):
    """Median seconds of the stages of cnnbook's conv forward + backward, done as conv.py does them
    (including its choice between the two col2im layouts)."""
    stride, pad = _pair(stride), _pair(pad)
    f, c = w.shape[:2]
    kernel = w.shape[2:]
    n, _, oh, ow = dy.shape
    xp = conv._pad_fast(x, pad)
    cols = conv.im2col(xp, kernel, stride)
    w2 = w.reshape(f, -1)
    dy2 = dy.reshape(n, f, -1)
    batch_last = conv._batch_last_pays(c, kernel, stride, (oh, ow))
    if batch_last:
        def dx_product():
            dyt = np.ascontiguousarray(dy.transpose(1, 2, 3, 0)).reshape(f, -1)
            return w2.T @ dyt
        d6 = dx_product().reshape(c, *kernel, oh, ow, n)

        def scatter():
            dxp = np.zeros((c, xp.shape[2], xp.shape[3], n), dtype=d6.dtype)
            for a in range(kernel[0]):
                for b_ in range(kernel[1]):
                    dxp[:, a: a + stride[0] * oh: stride[0], b_: b_ + stride[1] * ow: stride[1], :] += d6[:, a, b_]
            return np.ascontiguousarray(dxp.transpose(3, 0, 1, 2))
    else:
        def dx_product():
            return np.matmul(w2.T, dy2)
        dcols = dx_product()

        def scatter():
            return conv.col2im(dcols, xp.shape, kernel, stride, (oh, ow))
    fns = {
        "pad + im2col copy": lambda: conv.im2col(conv._pad_fast(x, pad), kernel, stride),
        "matrix products": lambda: (np.matmul(w2, cols), np.matmul(dy2, cols.transpose(0, 2, 1)).sum(0),
                                    dx_product()),
        "col2im" + (" (batch last)" if batch_last else ""): scatter,
        "whole layer": cnnbook_conv_step(x, w, b, dy, stride, pad),
    }
    return compare(fns, rounds=rounds)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------------- main


def fmt_ms(seconds):
    return f"{seconds * 1e3:9.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of the conv grid (every value occurs)")
    parser.add_argument("--stages", action="store_true", help="time the stages of the slowest conv shapes")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS (and torch) to this many threads (default: NumPy's own)")
    args = parser.parse_args(argv)

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # stays in effect for the whole run
    threads = numpy_threads()
    ref_name = "torch" if torch is not None else "loops"
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}; "
          f"{os.cpu_count()} cores, NumPy BLAS threads {threads}")
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"torch threads set to {torch.get_num_threads()}")
    if hasattr(os, "getloadavg"):
        print("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)

    # ---------------------------------------------------------------- convolution
    ratios = {np.dtype(d).name: [] for d in DTYPES}
    rows = []
    if torch is not None:
        shapes = conv_shapes(args.quick)
        print(f"\nConvolution forward + backward, N = {N}, {len(shapes)} shapes x 2 dtypes "
              f"({'subset' if args.quick else 'full grid'}); times in ms, median of {args.rounds}")
        print(f"{'dtype':>7} {'C':>3} {'H':>3} {'k':>2} {'F':>3} {'s':>2} {'p':>2} "
              f"{'cnnbook':>9} {'torch':>9} {'ratio':>6}")
        for dtype in DTYPES:
            for c, h, k, f, s, p in shapes:
                x, w, b, dy = conv_case(rng, N, c, h, k, f, s, p, dtype)
                t = compare({"ours": cnnbook_conv_step(x, w, b, dy, s, p),
                             "ref": torch_conv_step(x, w, b, dy, s, p)}, rounds=args.rounds)
                r = t["ours"] / t["ref"]
                ratios[np.dtype(dtype).name].append(r)
                rows.append((np.dtype(dtype).name, c, h, k, f, s, p, r))
                print(f"{np.dtype(dtype).name:>7} {c:>3} {h:>3} {k:>2} {f:>3} {s:>2} {p:>2} "
                      f"{fmt_ms(t['ours'])} {fmt_ms(t['ref'])} {r:6.2f}", flush=True)
    else:
        small = [(1, 8, 3, 4, 1, 0), (2, 8, 3, 4, 2, 1), (1, 8, 5, 4, 1, 1)]
        print(f"\ntorch is not installed: convolution against the loop reference, N = 2, "
              f"small shapes; times in ms; ratio = cnnbook / loops")
        print(f"{'dtype':>7} {'C':>3} {'H':>3} {'k':>2} {'F':>3} {'s':>2} {'p':>2} "
              f"{'cnnbook':>9} {'loops':>9} {'ratio':>8}")
        for dtype in DTYPES:
            for c, h, k, f, s, p in small:
                x, w, b, dy = conv_case(rng, 2, c, h, k, f, s, p, dtype)
                t = compare({"ours": cnnbook_conv_step(x, w, b, dy, s, p),
                             "ref": naive_conv_step(x, w, b, dy, s, p)}, rounds=3)
                r = t["ours"] / t["ref"]
                ratios[np.dtype(dtype).name].append(r)
                print(f"{np.dtype(dtype).name:>7} {c:>3} {h:>3} {k:>2} {f:>3} {s:>2} {p:>2} "
                      f"{fmt_ms(t['ours'])} {fmt_ms(t['ref'])} {r:8.4f}", flush=True)
    print("\nconvolution, geometric mean of cnnbook / " + ref_name + " per dtype:")
    for name, rs in ratios.items():
        print(f"  {name}: geometric mean {geomean(rs):.3f}, max {max(rs):.2f}, min {min(rs):.2f}, "
              f"{len(rs)} shapes")

    # ---------------------------------------------------------------- max-pool
    print(f"\nMax-pool 2x2 (stride 2) forward + backward, N = {N if torch is not None else 2}; "
          f"times in ms, ratio = cnnbook / {ref_name}")
    print(f"{'dtype':>7} {'C':>3} {'H':>3} {'cnnbook':>9} {ref_name:>9} {'ratio':>6}")
    pool_ratios = {np.dtype(d).name: [] for d in DTYPES}
    for dtype in DTYPES:
        for c, h in itertools.product(*POOL_GRID.values()):
            n = N if torch is not None else 2
            x = rng.standard_normal((n, c, h, h)).astype(dtype)
            dy = rng.standard_normal((n, c, h // 2, h // 2)).astype(dtype)
            ours, ref = pool_steps(x, dy)
            t = compare({"ours": ours, "ref": ref}, rounds=args.rounds if torch is not None else 3)
            r = t["ours"] / t["ref"]
            pool_ratios[np.dtype(dtype).name].append(r)
            print(f"{np.dtype(dtype).name:>7} {c:>3} {h:>3} {fmt_ms(t['ours'])} {fmt_ms(t['ref'])} {r:6.2f}",
                  flush=True)
    for name, rs in pool_ratios.items():
        print(f"  {name}: geometric mean {geomean(rs):.3f}, max {max(rs):.2f}")

    # ---------------------------------------------------------------- digits epoch
    print(f"\nOne training epoch on the digits (1347 images, batch {DIGITS_BATCH}, "
          f"conv16-relu-pool-conv32-relu-pool-dense, SGD momentum); seconds")
    for dtype in DTYPES:
        ours, theirs = digits_epoch_fns(dtype)
        if theirs is None:
            t = compare({"ours": ours}, rounds=5, target=0)
            print(f"  {np.dtype(dtype).name}: cnnbook {t['ours']:.4f} s (torch not installed)")
        else:
            t = compare({"ours": ours, "ref": theirs}, rounds=7, target=0)
            print(f"  {np.dtype(dtype).name}: cnnbook {t['ours']:.4f} s, torch {t['ref']:.4f} s, "
                  f"ratio {t['ours'] / t['ref']:.2f}", flush=True)

    # ---------------------------------------------------------------- stages
    if args.stages and rows:
        print("\nWhere the time goes: stages of cnnbook's conv forward + backward, the 6 slowest "
              "shapes relative to torch (ms, share of the stage sum)")
        for name, c, h, k, f, s, p, r in sorted(rows, key=lambda row: -row[-1])[:6]:
            dtype = np.dtype(name)
            x, w, b, dy = conv_case(rng, N, c, h, k, f, s, p, dtype)
            st = conv_stages(x, w, b, dy, s, p)
            parts = {key: v for key, v in st.items() if key != "whole layer"}
            total = sum(parts.values())
            text = ", ".join(f"{key} {v * 1e3:.2f} ({v / total:.0%})" for key, v in parts.items())
            print(f"  {name} C={c} H={h} k={k} F={f} s={s} p={p} (ratio {r:.2f}): {text}; "
                  f"whole layer {st['whole layer'] * 1e3:.2f}")

    if hasattr(os, "getloadavg"):
        print("\nload average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
