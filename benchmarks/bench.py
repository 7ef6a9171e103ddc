"""Benchmarks of cnnbook's vectorized layers (a script, not a test: timings are never asserted).

Prints, for the grid of convolution shapes of issue 14 (C in 1, 8, 16; H in 8, 28; k in 3, 5;
F in 8, 16, 32; stride 1, 2; padding 0, 1: 144 shapes, batch N = 64, in float32 and float64),
the median time of one forward + backward pass of ``cnnbook.conv`` and its ratio to PyTorch on
the CPU (``torch.set_num_threads`` equal to NumPy's BLAS threads, so both use the same number of
threads) and the page faults of one call (memory the kernel handed out fresh, see
``cnnbook.memory``; ``--default-malloc`` measures with glibc's defaults instead of the freed
memory that ``import cnnbook`` keeps for reuse); per dtype, the geometric mean of the ratios, the worst shape and how many shapes are
above 3x, beside the targets of issue 14 (geometric mean <= 0.9 in float64 and <= 1.2 in
float32, no shape above 3x). Without torch, it prints the speed-up over the loop reference on a
few small shapes instead. Then the same for 2x2 max-pooling, and one training epoch on the
digits against the same network in PyTorch; then (not with --quick or --conv-only) the
convolution family of ``benchmarks/bench_family.py``: dilation, groups and the transposed
convolution against PyTorch.

The compared implementations are interleaved (A, B, A, B, ...) by ``cnnbook.timing.compare``, so
that a change of machine load hits both, and each time is the median of several rounds of a
calibrated number of calls.  Run:

    .venv/bin/python benchmarks/bench.py              # the full grid (~4 min on 2 idle cores)
    .venv/bin/python benchmarks/bench.py --quick      # a subset in which every value of the grid occurs
    .venv/bin/python benchmarks/bench.py --conv-only  # only the convolution grid
    .venv/bin/python benchmarks/bench.py --stages     # also where the time goes: copy / GEMM / col2im
    .venv/bin/python benchmarks/bench.py --levers     # also candidate implementations (issue 14, item 2)
    .venv/bin/python benchmarks/bench.py --threads 1  # both libraries on one thread
    .venv/bin/python benchmarks/bench.py --default-malloc  # glibc returns freed memory (page faults)

PyTorch is optional; with a CPU build on the path (e.g. ``PYTHONPATH=/path/to/torch``) the script
finds it. Ratios > 1 mean cnnbook is slower.  Numbers from a loaded machine are noisy, and
multi-threaded ones most of all (a thread that waits for a descheduled partner loses its time
slice): the script prints the load average before and after; run it twice and compare.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time

import numpy as np

from cnnbook import conv, data, memory, pooling
from cnnbook import model as M
from cnnbook.losses import softmax_cross_entropy
from cnnbook.timing import blas_kernel, blas_threads, compare, geomean

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


# Issue 14, item 2: forward + backward, cnnbook time / PyTorch time, same threads.
TARGETS = {"float64": 0.9, "float32": 1.2}
WORST_ALLOWED = 3.0


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
    """Median seconds of the stages of cnnbook's conv forward + backward, in the arrangement conv.py
    chooses for the shape: for the stride-1 tall layout (conv._tall_pays) the copies into the tall
    layout, the forward correlation, dw and dx; otherwise the one-product-per-image arrangement
    (with conv.py's choice between the two col2im layouts), which for the shapes where conv.py folds
    the batch into the columns (conv._folded_pays) is not the arrangement conv.py runs."""
    stride, pad = _pair(stride), _pair(pad)
    f, c = w.shape[:2]
    kernel = w.shape[2:]
    n, _, oh, ow = dy.shape
    if conv._tall_pays(c, 1, kernel, stride, (oh, ow)):
        hp, wp = x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]
        lead = (kernel[0] - 1) * wp + kernel[1] - 1
        buf = conv._tall(x, (hp, wp), pad, x.dtype, tail=kernel[1] - 1)
        dyb = conv._tall(dy, (hp, wp), (0, 0), x.dtype, lead=lead)
        total = n * hp * wp
        wr = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        fns = {
            "tall copies of x and delta": lambda: (conv._tall(x, (hp, wp), pad, x.dtype, tail=kernel[1] - 1),
                                                   conv._tall(dy, (hp, wp), (0, 0), x.dtype, lead=lead)),
            "forward": lambda: conv._tall_corr(buf, w, 1, wp, (1, 1),
                                               np.empty((f, total - (kernel[0] - 1) * wp), x.dtype)),
            "dw": lambda: conv._tall_grad_w(dyb, lead, buf, w.shape, 1, wp, (1, 1), total),
            "dx": lambda: conv._tall_corr(dyb, wr, 1, wp, (1, 1), np.empty((c, total), x.dtype)),
            "whole layer": cnnbook_conv_step(x, w, b, dy, stride, pad),
        }
        return compare(fns, rounds=rounds, min_time=0.01)
    xp = conv._pad_fast(x, pad)
    cols = conv.im2col(xp, kernel, stride)
    w2 = w.reshape(f, -1)
    dy2 = dy.reshape(n, f, -1)
    batch_last = conv._batch_last_pays(c, (oh, ow))
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
    return compare(fns, rounds=rounds, min_time=0.01)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------------- levers (issue 14, item 2)
#
# Candidate implementations of the forward + backward pass, kept here (not in cnnbook) until one is
# chosen by measurement: the layout of the matrix product (one product per image, as conv.py, or the
# batch folded into the columns of one product), col2im by kernel offset (as conv.py) or by stride
# phase, and the input gradient as a correlation of the padded delta with the rotated kernel (an
# im2col of delta and one more product, instead of col2im; stride 1 only).


def _windows6(xp, kernel, stride, out_hw, order):
    """A view of the windows of xp (N, C, Hp, Wp) with the axes in ``order`` (letters of "ncuvij")."""
    s_n, s_c, s_h, s_w = xp.strides
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    axes = {"n": (xp.shape[0], s_n), "c": (xp.shape[1], s_c), "u": (kh, s_h), "v": (kw, s_w),
            "i": (oh, sh * s_h), "j": (ow, sw * s_w)}
    shape, strides = zip(*(axes[a] for a in order))
    return np.ndarray(shape, dtype=xp.dtype, buffer=xp, strides=strides)


def _pad(x, p):
    if p == 0:
        return np.ascontiguousarray(x)
    xp = np.zeros((*x.shape[:2], x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype)
    xp[:, :, p:-p, p:-p] = x
    return xp


def col2im_by_offset(d6, xp_shape, s, out_hw):
    """d6 (N, C, KH, KW, OH, OW) -> dxp: one strided += per kernel offset (u, v), as conv.col2im."""
    (oh, ow), (kh, kw) = out_hw, d6.shape[2:4]
    dxp = np.zeros(xp_shape, d6.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + s * oh:s, v:v + s * ow:s] += d6[:, :, u, v]
    return dxp


def col2im_by_phase(d6, xp_shape, s, out_hw):
    """The same sums grouped by stride phase (u mod s, v mod s): the offsets of one phase add into a
    contiguous buffer, and each phase, a disjoint set of pixels, is written once with a strided '='."""
    (oh, ow), (n, c, kh, kw) = out_hw, d6.shape[:4]
    dxp = np.zeros(xp_shape, d6.dtype)
    for a in range(min(s, kh)):
        for b in range(min(s, kw)):
            us, vs = range(a, kh, s), range(b, kw, s)
            buf = np.zeros((n, c, oh + len(us) - 1, ow + len(vs) - 1), d6.dtype)
            for q, u in enumerate(us):
                for r, v in enumerate(vs):
                    buf[:, :, q:q + oh, r:r + ow] += d6[:, :, u, v]
            dxp[:, :, a:a + s * buf.shape[2]:s, b:b + s * buf.shape[3]:s] = buf
    return dxp


def _lever_step(layout, col2im, s, p, dx_as_conv=False):
    def step(x, w, b, dy):
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        oh, ow = dy.shape[2:]
        xp, w2 = _pad(x, p), w.reshape(f, -1)
        if layout == "per-image":
            X = _windows6(xp, (kh, kw), (s, s), (oh, ow), "ncuvij").reshape(n, c * kh * kw, oh * ow)
            y = np.matmul(w2, X)
            y += b[:, None]
            y = y.reshape(n, f, oh, ow)
            d2 = dy.reshape(n, f, oh * ow)
            dw = np.matmul(d2, X.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
            d6 = None if dx_as_conv else np.matmul(w2.T, d2).reshape(n, c, kh, kw, oh, ow)
        else:  # the batch folded into the columns: X (C*KH*KW, N*OH*OW), one product each
            X = _windows6(xp, (kh, kw), (s, s), (oh, ow), "cuvnij").reshape(c * kh * kw, n * oh * ow)
            yf = w2 @ X
            yf += b[:, None]
            y = np.ascontiguousarray(yf.reshape(f, n, oh, ow).transpose(1, 0, 2, 3))
            df = np.ascontiguousarray(dy.transpose(1, 0, 2, 3)).reshape(f, -1)
            dw = (df @ X.T).reshape(w.shape)
            d6 = None if dx_as_conv else (w2.T @ df).reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
        if dx_as_conv:  # stride 1: dx = correlation of dy padded by K-1-p with the rotated, transposed kernel
            dyp = _pad(dy, kh - 1 - p)
            D = _windows6(dyp, (kh, kw), (1, 1), (h, wd), "ncuvij").reshape(n, f * kh * kw, h * wd)
            wr = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(c, -1)
            dx = np.matmul(wr, D).reshape(n, c, h, wd)
        else:
            dxp = col2im(d6, xp.shape, s, (oh, ow))
            dx = np.ascontiguousarray(dxp[:, :, p:p + h, p:p + wd])
        return y, dx, dw, dy.sum(axis=(0, 2, 3))
    return step


def lever_steps(s, p, f, c):
    """The candidates that apply to a layer with stride s, padding p, F filters and C channels."""
    steps = {"per-image + offsets": _lever_step("per-image", col2im_by_offset, s, p),
             "folded + offsets": _lever_step("folded", col2im_by_offset, s, p)}
    if s > 1:
        steps["per-image + phases"] = _lever_step("per-image", col2im_by_phase, s, p)
        steps["folded + phases"] = _lever_step("folded", col2im_by_phase, s, p)
    else:
        steps["dx as a correlation"] = _lever_step("per-image", None, s, p, dx_as_conv=True)
    return steps


# ---------------------------------------------------------------------------- main


def fmt_ms(seconds):
    return f"{seconds * 1e3:9.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of the conv grid (every value occurs)")
    parser.add_argument("--stages", action="store_true", help="time the stages of the slowest conv shapes")
    parser.add_argument("--levers", action="store_true",
                        help="time candidate implementations (layouts, col2im variants) on the slowest shapes")
    parser.add_argument("--conv-only", action="store_true", help="only the convolution grid (and --stages/--levers)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS (and torch) to this many threads (default: NumPy's own)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults (cnnbook.memory.keep_freed_memory(False)): "
                             "every call then pays page faults for its fresh memory")
    args = parser.parse_args(argv)
    if args.default_malloc:
        memory.keep_freed_memory(False)

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # stays in effect for the whole run
    threads = blas_threads()
    ref_name = "torch" if torch is not None else "loops"
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}; "
          f"{os.cpu_count()} cores, NumPy BLAS threads {threads}")
    print(blas_kernel())
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"torch threads set to {torch.get_num_threads()}")
    print("freed memory: " + ("returned to the system (glibc's defaults)" if args.default_malloc else
                              "kept for reuse (cnnbook.memory.keep_freed_memory, as on import)"))
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
              f"{'cnnbook':>9} {'torch':>9} {'ratio':>6} {'faults':>7}")
        for dtype in DTYPES:
            for c, h, k, f, s, p in shapes:
                x, w, b, dy = conv_case(rng, N, c, h, k, f, s, p, dtype)
                ours = cnnbook_conv_step(x, w, b, dy, s, p)
                t = compare({"ours": ours, "ref": torch_conv_step(x, w, b, dy, s, p)}, rounds=args.rounds,
                            min_time=0.01)
                before = memory.page_faults()
                ours()                      # the page faults of one call: fresh memory the kernel zeroed
                faults = memory.page_faults() - before
                r = t["ours"] / t["ref"]
                ratios[np.dtype(dtype).name].append(r)
                rows.append((np.dtype(dtype).name, c, h, k, f, s, p, r))
                print(f"{np.dtype(dtype).name:>7} {c:>3} {h:>3} {k:>2} {f:>3} {s:>2} {p:>2} "
                      f"{fmt_ms(t['ours'])} {fmt_ms(t['ref'])} {r:6.2f} {faults:7d}", flush=True)
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
                             "ref": naive_conv_step(x, w, b, dy, s, p)}, rounds=3, min_time=0.01)
                r = t["ours"] / t["ref"]
                ratios[np.dtype(dtype).name].append(r)
                print(f"{np.dtype(dtype).name:>7} {c:>3} {h:>3} {k:>2} {f:>3} {s:>2} {p:>2} "
                      f"{fmt_ms(t['ours'])} {fmt_ms(t['ref'])} {r:8.4f}", flush=True)
    print("\nconvolution forward + backward, cnnbook / " + ref_name + " per dtype:")
    for name, rs in ratios.items():
        print(f"  {name}: geometric mean {geomean(rs):.3f}, min {min(rs):.2f}, max {max(rs):.2f}, {len(rs)} shapes")
        if rows:
            worst = max((row for row in rows if row[0] == name), key=lambda row: row[-1])
            _, c, h, k, f, s, p, r = worst
            above = sum(v > WORST_ALLOWED for v in rs)
            print(f"    worst shape C={c} H={h} k={k} F={f} s={s} p={p}: {r:.2f}; {above} shape(s) above "
                  f"{WORST_ALLOWED:g}x; issue 14 target: geometric mean <= {TARGETS[name]} "
                  f"({'met' if geomean(rs) <= TARGETS[name] else 'not met'}), no shape above {WORST_ALLOWED:g}x "
                  f"({'met' if above == 0 else 'not met'})")
    if args.conv_only:
        return _finish(args, rows, rng, t_start)

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
            t = compare({"ours": ours, "ref": ref}, rounds=args.rounds if torch is not None else 3, min_time=0.01)
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
            t = compare({"ours": ours}, rounds=5, min_time=0)
            print(f"  {np.dtype(dtype).name}: cnnbook {t['ours']:.4f} s (torch not installed)")
        else:
            t = compare({"ours": ours, "ref": theirs}, rounds=7, min_time=0)
            print(f"  {np.dtype(dtype).name}: cnnbook {t['ours']:.4f} s, torch {t['ref']:.4f} s, "
                  f"ratio {t['ours'] / t['ref']:.2f}", flush=True)

    return _finish(args, rows, rng, t_start)


def _finish(args, rows, rng, t_start):
    # ---------------------------------------------------------------- stages
    if args.stages and rows:
        print("\nWhere the time goes: stages of cnnbook's conv forward + backward, the 6 slowest "
              "shapes relative to torch (ms, share of the stage sum)")
        for name, c, h, k, f, s, p, r in sorted(rows, key=lambda row: -row[-1])[:6]:
            dtype = np.dtype(name)
            x, w, b, dy = conv_case(rng, N, c, h, k, f, s, p, dtype)
            try:
                st = conv_stages(x, w, b, dy, s, p)
            except AttributeError as e:  # the stages mirror conv.py's private helpers
                print(f"  the stages need conv.py's internals, which have changed: {e}")
                break
            parts = {key: v for key, v in st.items() if key != "whole layer"}
            total = sum(parts.values())
            text = ", ".join(f"{key} {v * 1e3:.2f} ({v / total:.0%})" for key, v in parts.items())
            print(f"  {name} C={c} H={h} k={k} F={f} s={s} p={p} (ratio {r:.2f}): {text}; "
                  f"whole layer {st['whole layer'] * 1e3:.2f}")

    if args.levers and rows:
        print("\nCandidate implementations (issue 14, item 2) on the 8 slowest shapes relative to torch: "
              "time / torch's time, interleaved, same threads")
        for name, c, h, k, f, s, p, r in sorted(rows, key=lambda row: -row[-1])[:8]:
            x, w, b, dy = conv_case(rng, N, c, h, k, f, s, p, np.dtype(name))
            y, cache = conv.conv2d_forward(x, w, b, stride=s, pad=p)
            for key, step in lever_steps(s, p, f, c).items():   # every candidate computes cnnbook's numbers
                for got, want in zip(step(x, w, b, dy), (y, *conv.conv2d_backward(dy, cache))):
                    tol = 1e-10 if name == "float64" else 1e-4
                    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=key)
            t = compare({"cnnbook": cnnbook_conv_step(x, w, b, dy, s, p),
                         **{key: (lambda v=v: v(x, w, b, dy)) for key, v in lever_steps(s, p, f, c).items()},
                         "torch": torch_conv_step(x, w, b, dy, s, p)}, rounds=args.rounds, min_time=0.01)
            print(f"  {name} C={c} H={h} k={k} F={f} s={s} p={p}: " +
                  ", ".join(f"{key} {v / t['torch']:.2f}" for key, v in t.items() if key != "torch"), flush=True)

    if not args.conv_only and not args.quick:
        # the convolution family (issue 12): dilation, groups, the transposed convolution, beside
        # the figures above, same thread count
        import bench_family
        print("\nThe convolution family (benchmarks/bench_family.py):", flush=True)
        bench_family.main(["--only", "dilation", "--only", "groups", "--only", "transpose"]
                          + (["--threads", str(args.threads)] if args.threads else []))

    if hasattr(os, "getloadavg"):
        print("\nload average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
