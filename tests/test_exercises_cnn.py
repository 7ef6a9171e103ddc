"""Tests of the checkers of the chapters "A CNN from scratch" and "Fast code"
(cnnbook.exercises.cnn and cnnbook.exercises.fast).

Every mistake of the catalogues is named; the mistakes are also written here by
hand, the way a reader would write them, independently of the mutants; the
right answers pass; and a reader's exception, None, wrong tuple or wrong shape
is reported, never raised."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cnnbook import model as M
from cnnbook.exercises import (CHECKERS, check_global_avg_pool, check_locate_bug, check_pool_reshape,
                               check_rows_conv)
from cnnbook.gradcheck import numerical_gradient, rel_error

NEW = {"check_global_avg_pool": check_global_avg_pool, "check_locate_bug": check_locate_bug,
       "check_rows_conv": check_rows_conv, "check_pool_reshape": check_pool_reshape}


def test_registered():
    for name, checker in NEW.items():
        assert CHECKERS[name] is checker
        assert checker.compose is not None and checker.mutants


@pytest.mark.parametrize("name,key", [(n, m.key) for n, ch in sorted(NEW.items()) for m in ch.mutants])
def test_every_mutant_is_named(name, key):
    checker = dataclasses.replace(NEW[name], compose=None)   # mutants take the case arguments
    report = checker(checker.mutant(key).fn)
    assert not report.ok
    assert key in report.mistakes, (report.mistakes, str(report))
    assert checker.mutant(key).diagnosis in report.diagnosis
    assert set(report.case["expected"]) == set(report.case["got"])


@pytest.mark.parametrize("name", sorted(NEW))
def test_reference_passes_uncomposed(name):
    checker = dataclasses.replace(NEW[name], compose=None)
    assert checker(checker.reference).ok


# --------------------------------------------------------------------------- global average pooling


def gap_class(slip=None):
    class GAP(M.Layer):
        def forward(self, x):
            self.cache = x.shape
            if slip == "forward sum":
                return x.sum(axis=(2, 3))
            if slip == "forward axes":
                return x.mean(axis=(0, 2, 3))
            return x.mean(axis=(2, 3))

        def backward(self, dy):
            n, c, h, w = self._need_cache()
            if slip == "no division":
                return np.ones((n, c, h, w)) * dy[:, :, None, None]
            if slip == "batch":
                return np.ones((n, c, h, w)) * dy[:, :, None, None] / (n * h * w)
            if slip == "broadcast_to":
                return np.broadcast_to(dy / (h * w), (n, c, h, w)).copy()
            if slip == "tile":
                return np.tile(dy / (h * w), h * w).reshape(n, c, h, w)
            if slip == "no broadcast":
                return dy / (h * w)
            if slip == "none":
                return None
            return np.repeat(dy / (h * w), h * w).reshape(n, c, h, w)
    return GAP


@pytest.mark.parametrize("slip,key,text", [
    (None, None, None),
    ("no division", "no_division", "forgot to divide by H*W"),
    ("batch", "divided_by_batch", "divided by N*H*W"),
    ("broadcast_to", "wrong_axes", "broadcast to the wrong axes"),
    ("tile", "wrong_axes_tile", "broadcast to the wrong axes"),
    ("forward sum", "forward_sum", "sums instead of averaging"),
    ("forward axes", "forward_axes", "averages over the wrong axes"),
    ("no broadcast", "shape", "returned shape (2, 2), expected (2, 2, 2, 2)"),
    ("none", "bad_return", "dx is None"),
])
def test_global_avg_pool_reader_versions(slip, key, text):
    report = check_global_avg_pool(gap_class(slip))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis


def test_global_avg_pool_never_crashes():
    assert check_global_avg_pool(None).mistakes == ("exception",)
    assert check_global_avg_pool(M.ReLU).mistakes == ("exception",)      # a layer that is not GAP

    class Raises(gap_class()):
        def backward(self, dy):
            raise RuntimeError("not yet")
    report = check_global_avg_pool(Raises)
    assert report.mistakes == ("exception",) and "not yet" in report.diagnosis

    class NeedsArgs(gap_class()):
        def __init__(self, size):
            super().__init__()
    assert check_global_avg_pool(NeedsArgs).mistakes == ("exception",)


# --------------------------------------------------------------------------- find the broken layer


def locate_bug(net, x, *, real=False, params=True, ones=False, one_based=False, tol=1e-6):
    """A reader's version: every layer on its own, at a random input, with a random dout."""
    r = np.random.default_rng(1)
    inputs = [x]
    for layer in net.layers[:-1]:
        inputs.append(layer.forward(inputs[-1]))
    for l, layer in enumerate(net.layers):
        a = inputs[l].copy() if real else r.normal(size=inputs[l].shape)
        out = layer.forward(a)
        dout = np.ones_like(out) if ones else r.normal(size=out.shape)
        dx = layer.backward(dout)
        grads = {k: g.copy() for k, g in layer.grads.items()}
        bad = rel_error(dx, numerical_gradient(lambda v: np.sum(layer.forward(v) * dout), a)) > tol
        if params:
            for name, p in layer.params.items():
                num = numerical_gradient(lambda _: np.sum(layer.forward(a) * dout), p)
                bad = bad or rel_error(grads[name], num) > tol
        if bad:
            return l + 1 if one_based else l
    return None


@pytest.mark.parametrize("kwargs,key,text", [
    (dict(), None, None),
    (dict(real=True), "real_inputs", "RANDOM normal input"),
    (dict(params=False), "dx_only", "compared only the input gradient"),
    (dict(ones=True), "ones_dout", "upstream gradient of ones"),
    (dict(one_based=True), "one_based", "off by one"),
])
def test_locate_bug_reader_versions(kwargs, key, text):
    report = check_locate_bug(lambda net, x: locate_bug(net, x, **kwargs))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis


def test_locate_bug_report_shows_the_broken_layer_and_never_crashes():
    report = check_locate_bug(lambda net, x: locate_bug(net, x, params=False))
    assert "<- broken: kernel gradient rotated" in str(report)
    assert report.case["expected"]["layer"] == 0 and report.case["got"]["layer"] == -1
    assert check_locate_bug(lambda net, x: 0).mistakes == ("values",)
    assert check_locate_bug(lambda net, x: "2").mistakes == ("exception",)
    assert check_locate_bug(lambda net, x: True).mistakes == ("exception",)
    assert check_locate_bug(lambda net: None).mistakes == ("exception",)

    def vandal(net, x):       # breaks the network it was given: the next case is unaffected
        net.layers.clear()
        return None
    assert check_locate_bug(vandal).passed == 1


# --------------------------------------------------------------------------- convolution, row layout


def rows_forward(x, w, b, s, p, *, order="cab", stride=True, pad=True, reshape_y=False):
    """A reader's version with loops: one row of X~ per (n, i, j), one column per (c, a, b)."""
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    s_, p_ = (s if stride else 1), (p if pad else 0)
    xp = np.pad(x, ((0, 0), (0, 0), (p_, p_), (p_, p_)))
    OH, OW = (H + 2 * p_ - KH) // s_ + 1, (W + 2 * p_ - KW) // s_ + 1
    cols = {"cab": [(c, a, b_) for c in range(C) for a in range(KH) for b_ in range(KW)],
            "cba": [(c, a, b_) for c in range(C) for b_ in range(KW) for a in range(KH)],
            "abc": [(c, a, b_) for a in range(KH) for b_ in range(KW) for c in range(C)]}[order]
    Xt = np.array([[xp[n, c, i * s_ + a, j * s_ + b_] for (c, a, b_) in cols]
                   for n in range(N) for i in range(OH) for j in range(OW)])
    Yt = Xt @ w.reshape(F, -1).T + b
    y = Yt.reshape(N, F, OH, OW) if reshape_y else Yt.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
    return y, (x, w, s_, p_, Xt, cols)


def rows_backward(dy, cache, *, reshape_dy=False, xtd=False, db_axis=0, assign=False, crop=True):
    x, w, s, p, Xt, cols = cache
    F = w.shape[0]
    N, _, OH, OW = dy.shape
    Dt = dy.reshape(-1, F) if reshape_dy else dy.transpose(0, 2, 3, 1).reshape(-1, F)
    dw = (Xt.T @ Dt if xtd else Dt.T @ Xt).reshape(w.shape)
    db = Dt.sum(axis=db_axis)
    dXt = Dt @ w.reshape(F, -1)
    dxp = np.zeros((N, x.shape[1], x.shape[2] + 2 * p, x.shape[3] + 2 * p))
    row = 0
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                patch = np.zeros(dxp.shape[1:])
                hit = np.zeros(dxp.shape[1:], dtype=bool)
                for k, (c, a, b_) in enumerate(cols):
                    patch[c, i * s + a, j * s + b_] += dXt[row, k]
                    hit[c, i * s + a, j * s + b_] = True
                if assign:
                    dxp[n][hit] = patch[hit]
                else:
                    dxp[n] += patch
                row += 1
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]] if crop else dxp
    return dx, dw, db


@pytest.mark.parametrize("fkw,bkw,key,text", [
    ({}, {}, None, None),
    (dict(order="cba"), {}, "window_order", "rows and columns of each window are swapped"),
    (dict(order="abc"), {}, "channel_order", "channel axis was put last"),
    (dict(stride=False), {}, "no_stride", "stride is ignored"),
    (dict(pad=False), {}, "no_padding", "padding is missing"),
    (dict(reshape_y=True), {}, "y_reshape", "y was reshaped where a transpose is needed"),
    ({}, dict(reshape_dy=True), "dy_reshape", "dy was reshaped where a transpose is needed"),
    ({}, dict(xtd=True), "dw_product", "wrong matrix product"),
    ({}, dict(db_axis=1), "db_axis", "summed over the wrong axis"),
    ({}, dict(assign=True), "overwrite", "'=' instead of '+='"),
    ({}, dict(crop=False), "not_cropped", "padding was not cropped"),
])
def test_rows_conv_reader_versions(fkw, bkw, key, text):
    report = check_rows_conv(lambda *a: rows_forward(*a, **fkw), lambda dy, c: rows_backward(dy, c, **bkw))
    if key is None:
        assert report.ok, str(report)
    else:
        assert key in report.mistakes and set(report.mistakes) == {key}, str(report)
        assert text in report.diagnosis


def test_rows_conv_two_mistakes_and_never_crash():
    report = check_rows_conv(lambda *a: rows_forward(*a, reshape_y=True),
                             lambda dy, c: rows_backward(dy, c, reshape_dy=True))
    assert set(report.mistakes) == {"y_reshape", "dy_reshape"}, str(report)
    r = check_rows_conv(lambda *a: rows_forward(*a)[0], rows_backward)
    assert r.mistakes == ("exception",) and "must return a pair (y, cache)" in r.diagnosis
    r = check_rows_conv(rows_forward, lambda dy, c: rows_backward(dy, c)[:2])
    assert r.mistakes == ("exception",) and "(dx, dw, db)" in r.diagnosis
    r = check_rows_conv(rows_forward, lambda dy, c: None)
    assert r.mistakes == ("exception",)
    r = check_rows_conv(rows_forward, lambda dy, c: (None, None, None))
    assert r.mistakes == ("bad_return",) and "dx is None" in r.diagnosis
    r = check_rows_conv(lambda *a: (np.zeros((1, 1, 1)), None), rows_backward)
    assert r.mistakes == ("shape",)            # y of the wrong shape: the backward is not run
    r = check_rows_conv(rows_forward, lambda dy, c: (dy, c[1], c[1][:, 0, 0, 0]))
    assert not r.ok


# --------------------------------------------------------------------------- max-pool by reshape


def pool_forward(x, K, *, cols=False, plain=False):
    N, C, H, W = x.shape
    six = x.reshape(N, C, H // K, K, W // K, K)
    if plain:
        win = six.reshape(N, C, H // K, W // K, K * K)
    else:
        win = six.transpose(0, 1, 2, 4, 5, 3) if cols else six.transpose(0, 1, 2, 4, 3, 5)
        win = win.reshape(N, C, H // K, W // K, K * K)
    return win.max(axis=-1), (x, K, win, cols, plain)


def pool_backward(dy, cache, *, every=False, last=False, swapped=False, spread=False):
    """A reader's version with a loop over the windows."""
    x, K, win, cols, plain = cache
    N, C, OH, OW, _ = win.shape
    dx = np.zeros(x.shape)
    flat_dx = dx.reshape(N, C, OH, K, OW, K)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        if spread:
            picks = range(K * K)
        elif every:
            picks = np.flatnonzero(win[n, c, i, j] == win[n, c, i, j].max())
        elif last:
            picks = [np.flatnonzero(win[n, c, i, j] == win[n, c, i, j].max())[-1]]
        else:
            picks = [int(np.argmax(win[n, c, i, j]))]
        for k in picks:
            if plain:
                dx.reshape(N, C, OH, OW, K * K)[n, c, i, j, k] += dy[n, c, i, j]
                continue
            a, b = divmod(k, K)
            if cols != swapped:
                a, b = b, a
            flat_dx[n, c, i, a, j, b] += dy[n, c, i, j]
    return dx


@pytest.mark.parametrize("fkw,bkw,key,text", [
    ({}, {}, None, None),
    ({}, dict(every=True), "every_tie", "every tied maximum"),
    ({}, dict(last=True), "last_tie", "LAST tied maximum"),
    (dict(cols=True), {}, "column_major", "flattened column by column"),
    ({}, dict(swapped=True), "decode_swapped", "decoded with rows and columns swapped"),
    ({}, dict(spread=True), "spread", "every entry of the window"),
    (dict(plain=True), {}, "no_transpose", "reshape without the transpose"),
])
def test_pool_reshape_reader_versions(fkw, bkw, key, text):
    report = check_pool_reshape(lambda x, K: pool_forward(x, K, **fkw),
                                lambda dy, c: pool_backward(dy, c, **bkw))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis
        assert report.passed == 0              # caught on the crafted 2x6 example


def test_pool_reshape_never_crashes():
    r = check_pool_reshape(lambda x, K: pool_forward(x, K)[0], pool_backward)
    assert r.mistakes == ("exception",) and "(y, cache)" in r.diagnosis
    r = check_pool_reshape(pool_forward, lambda dy, c: None)
    assert r.mistakes == ("bad_return",) and "dx is None" in r.diagnosis
    r = check_pool_reshape(pool_forward, lambda dy, c: dy)
    assert r.mistakes == ("shape",)
    r = check_pool_reshape(lambda x, K: (x.max(axis=(2, 3)), None), pool_backward)
    assert r.mistakes == ("shape",) and list(r.case["expected"]) == ["y"]
    r = check_pool_reshape(None, None)
    assert r.mistakes == ("exception",)
