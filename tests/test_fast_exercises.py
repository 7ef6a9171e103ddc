"""The fast-code chapter's row-layout exercise, answered the way the chapter writes col2im.

The chapter's col2im (`col2im_offsets` in book/fast_code.ipynb) loops over the kernel offsets
(u, v) and adds a strided block per offset. A reader who copies that loop into the exercise and
writes `=` for `+=` must be told so by name: not "none of the mistakes the checker knows".
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from cnnbook import conv
from cnnbook.exercises import check_rows_conv


def pad4(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def col2im_offsets(dX, xp_shape, KH, KW, s, OH, OW, *, assign=False):
    """The chapter's col2im: one strided slice per kernel offset (u, v); `assign` writes '='."""
    N, C = xp_shape[:2]
    d6 = dX.reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros(xp_shape)
    for u in range(KH):
        for v in range(KW):
            if assign:
                dxp[:, :, u:u + s * OH:s, v:v + s * OW:s] = d6[:, :, u, v]
            else:
                dxp[:, :, u:u + s * OH:s, v:v + s * OW:s] += d6[:, :, u, v]
    return dxp


def rows_forward(x, w, b, s, p):
    F, C, KH, KW = w.shape
    win = sliding_window_view(pad4(x, p), (KH, KW), axis=(2, 3))[:, :, ::s, ::s]
    N, _, OH, OW = win.shape[:4]
    Xt = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(N * OH * OW, C * KH * KW)
    y = (Xt @ w.reshape(F, -1).T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y), (x, w, s, p, Xt)


def rows_backward(dy, cache, *, assign=False):
    x, w, s, p, Xt = cache
    F, C, KH, KW = w.shape
    N, _, OH, OW = dy.shape
    Dt = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)
    dw = (Dt.T @ Xt).reshape(w.shape)
    db = Dt.sum(axis=0)
    dX = (Dt @ w.reshape(F, -1)).reshape(N, OH * OW, C * KH * KW).transpose(0, 2, 1)
    xp_shape = (N, C, x.shape[2] + 2 * p, x.shape[3] + 2 * p)
    dxp = col2im_offsets(dX, xp_shape, KH, KW, s, OH, OW, assign=assign)
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, db


def test_the_chapter_style_answer_passes():
    assert check_rows_conv(rows_forward, rows_backward).ok


def test_overwrite_in_the_loop_over_offsets_is_named():
    report = check_rows_conv(rows_forward, lambda dy, c: rows_backward(dy, c, assign=True))
    assert report.mistakes == ("overwrite_offsets",), str(report)
    assert "'=' instead of '+='" in report.diagnosis and "kernel offsets (u, v)" in report.diagnosis
    assert "none of the mistakes" not in report.diagnosis
    assert list(report.case["expected"]) == ["dx"]          # y, dw and db are right
    assert report.passed == 0                                # the first case has overlapping windows


def test_overwrite_in_the_loop_over_positions_keeps_its_own_name():
    """The other way to write col2im (a block per window) with '=': the original mutant."""
    def backward(dy, cache):
        dx, dw, db = rows_backward(dy, cache)
        x, w, s, p, Xt = cache
        F, C, KH, KW = w.shape
        N, _, OH, OW = dy.shape
        dXt = dy.transpose(0, 2, 3, 1).reshape(-1, F) @ w.reshape(F, -1)
        blocks = dXt.reshape(N, OH, OW, C, KH, KW)
        dxp = np.zeros((N, C, x.shape[2] + 2 * p, x.shape[3] + 2 * p))
        for i in range(OH):
            for j in range(OW):
                dxp[:, :, i * s:i * s + KH, j * s:j * s + KW] = blocks[:, i, j]
        return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, db
    report = check_rows_conv(rows_forward, backward)
    assert report.mistakes == ("overwrite",), str(report)


@pytest.mark.parametrize("s,K", [(1, 3), (2, 3), (2, 2)])
def test_col2im_offsets_is_cnnbooks_col2im_and_assign_differs_only_when_windows_overlap(s, K):
    r = np.random.default_rng(s * 10 + K)
    xp_shape, OH = (2, 3, 7, 7), (7 - K) // s + 1
    Z = r.normal(size=(2, 3 * K * K, OH * OH))
    ref = conv.col2im(Z, xp_shape, (K, K), (s, s), (OH, OH))
    np.testing.assert_allclose(col2im_offsets(Z, xp_shape, K, K, s, OH, OH), ref, atol=1e-12)
    same = np.allclose(col2im_offsets(Z, xp_shape, K, K, s, OH, OH, assign=True), ref)
    assert same == (s >= K)
