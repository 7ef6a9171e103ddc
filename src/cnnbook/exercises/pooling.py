"""Checkers for the chapter "Pooling".

* :data:`check_maxpool_backward` -- ``fn(dy, x, size, stride) -> dx`` (max-pool,
  ties to the first maximum in row-major order, as ``cnnbook`` and PyTorch).
* :data:`check_avgpool_backward` -- ``fn(dy, x_shape, size, stride) -> dx``.
* :data:`check_window_sums` -- ``fn(dx, size) -> (N, C, OH, OW)`` sums of dx over
  non-overlapping windows.

The cases contain tied maxima, a maximum shared by two overlapping windows,
non-square windows and strides that differ from the window size.
"""

from __future__ import annotations

import numpy as np

from .. import pooling
from ._core import Case, Checker, Mutant

EVERY_TIE = (
    "the gradient was sent to every tied maximum: when several inputs of a window share the maximum, "
    "delta must go to ONE of them (cnnbook and PyTorch: the first in row-major order); giving it to all "
    "of them passes on k * delta in total, more than the window's output received."
)
LAST_TIE = (
    "the gradient went to the wrong tied maximum: ties go to the FIRST maximum in row-major order "
    "(np.argmax's rule); yours sends delta to the last one (a '>=' where '>' belongs)."
)
OVERWRITE = (
    "'=' instead of '+=': windows overlap (stride < size), and an input that is the maximum of two "
    "windows must collect both deltas; assigning keeps only the last window's."
)
NO_STRIDE = (
    "the windows were placed without the stride: window (i, j) starts at row i*sh and column j*sw, "
    "not at (i, j)."
)
SPREAD = (
    "delta was sent to every input of the window: max-pooling routes it to the maximum only "
    "(only that input influenced the output); the rest of the window gets 0."
)
AREA_SQUARE = (
    "divided by KH*KH (a square window): the window has KH*KW inputs, so each receives "
    "delta / (KH*KW)."
)
NO_DIVISION = (
    "the 1/(KH*KW) of the mean is missing: each input of the window contributes 1/(KH*KW) of the "
    "output, so it receives delta / (KH*KW)."
)
AVG_OVERWRITE = (
    "'=' instead of '+=': windows overlap (stride < size), so an input collects delta/(KH*KW) from "
    "every window it belongs to; assigning keeps only the last one."
)
MEAN_NOT_SUM = "you averaged over each window; the exercise asks for the sum."
WRONG_RESHAPE = (
    "the reshape groups the wrong entries: split rows into (window row, offset) and columns into "
    "(window column, offset), i.e. reshape (N, C, H, W) to (N, C, OH, KH, OW, KW), and sum over axes 3 "
    "and 5; reshaping straight to (N, C, OH, OW, KH, KW) mixes different windows."
)


# --------------------------------------------------------------------------- max-pool


def _ref_maxpool(dy, x, size, stride):
    _, cache = pooling.maxpool2d_forward(x, size=size, stride=stride)
    return pooling.maxpool2d_backward(dy, cache)


def _maxpool_variant(dy, x, size, stride, *, tie="first", accumulate=True, strided=True, spread=False):
    (kh, kw), (sh, sw) = size, stride
    if not strided:
        sh, sw = 1, 1
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dy.shape):
        r0, c0 = i * sh, j * sw
        win = x[n, c, r0:r0 + kh, c0:c0 + kw]
        if spread:
            mask = np.ones(win.shape, dtype=bool)
        elif tie == "every":
            mask = win == win.max()
        else:
            flat = win.ravel()
            k = int(np.argmax(flat)) if tie == "first" else flat.size - 1 - int(np.argmax(flat[::-1]))
            mask = np.zeros(win.shape, dtype=bool)
            mask.flat[k] = True
        if accumulate:
            dx[n, c, r0:r0 + kh, c0:c0 + kw] += mask * dy[n, c, i, j]
        else:
            dx[n, c, r0:r0 + kh, c0:c0 + kw][mask] = dy[n, c, i, j]
    return dx


def _mp(**flags):
    def fn(dy, x, size, stride):
        return _maxpool_variant(dy, x, size, stride, **flags)
    return fn


def _pool_case(label, shape, size, stride, seed, *, high=5):
    r = np.random.default_rng(seed)
    x = r.integers(0, high, size=shape).astype(float)  # small integers: ties occur
    oh = (shape[2] - size[0]) // stride[0] + 1
    ow = (shape[3] - size[1]) // stride[1] + 1
    dy = r.integers(1, 9, size=(*shape[:2], oh, ow)).astype(float)
    return x, dy


def _maxpool_case(label, shape, size, stride, seed):
    x, dy = _pool_case(label, shape, size, stride, seed)
    return Case(label, (dy, x, size, stride))


check_maxpool_backward = Checker(
    title="max-pool backward",
    reference=_ref_maxpool,
    outputs=("dx",),
    arg_names=("dy", "x", "size", "stride"),
    cases=[
        Case("2x4 input, 2x2 windows, stride 2; the second window has a tie (3 twice)",
             (np.array([[[[2.0, 5.0]]]]), np.array([[[[1.0, 3.0, 3.0, 0.0], [2.0, 0.0, 0.0, 3.0]]]]),
              (2, 2), (2, 2))),
        Case("3x3 input, 2x2 windows, stride 1 (overlapping): 9 is the maximum of all four windows",
             (np.array([[[[1.0, 2.0], [3.0, 4.0]]]]),
              np.array([[[[1.0, 2.0, 0.0], [3.0, 9.0, 4.0], [0.0, 5.0, 6.0]]]]), (2, 2), (1, 1))),
        _maxpool_case("N=2, C=2, 5x6 input, 3x2 windows, stride (1, 2), ties", (2, 2, 5, 6), (3, 2), (1, 2), 1),
        _maxpool_case("N=2, C=2, 6x7 input, 2x3 windows, stride (2, 1), ties", (2, 2, 6, 7), (2, 3), (2, 1), 2),
    ],
    mutants=[
        Mutant("every_tie", EVERY_TIE, _mp(tie="every")),
        Mutant("last_tie", LAST_TIE, _mp(tie="last")),
        Mutant("overwrite", OVERWRITE, _mp(accumulate=False)),
        Mutant("no_stride", NO_STRIDE, _mp(strided=False)),
        Mutant("spread", SPREAD, _mp(spread=True)),
    ],
)


# --------------------------------------------------------------------------- average-pool


def _ref_avgpool(dy, x_shape, size, stride):
    _, cache = pooling.avgpool2d_forward(np.zeros(x_shape), size=size, stride=stride)
    return pooling.avgpool2d_backward(dy, cache)


def _avg_variant(dy, x_shape, size, stride, *, area="KH*KW", accumulate=True, strided=True):
    (kh, kw), (sh, sw) = size, stride
    if not strided:
        sh, sw = 1, 1
    div = {"KH*KW": kh * kw, "KH*KH": kh * kh, "1": 1}[area]
    dx = np.zeros(x_shape)
    for n, c, i, j in np.ndindex(dy.shape):
        block = (n, c, slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))
        if accumulate:
            dx[block] += dy[n, c, i, j] / div
        else:
            dx[block] = dy[n, c, i, j] / div
    return dx


def _ap(**flags):
    def fn(dy, x_shape, size, stride):
        return _avg_variant(dy, x_shape, size, stride, **flags)
    return fn


def _avg_case(label, shape, size, stride, seed):
    _, dy = _pool_case(label, shape, size, stride, seed)
    return Case(label, (dy, shape, size, stride))


check_avgpool_backward = Checker(
    title="average-pool backward",
    reference=_ref_avgpool,
    outputs=("dx",),
    arg_names=("dy", "x_shape", "size", "stride"),
    cases=[
        Case("2x4 input, 2x3 windows, stride 1 (overlapping): delta = [6, 12] gives [1, 3, 3, 2] in each row",
             (np.array([[[[6.0, 12.0]]]]), (1, 1, 2, 4), (2, 3), (1, 1))),
        _avg_case("N=2, C=1, 4x6 input, 2x3 windows, stride (2, 3)", (2, 1, 4, 6), (2, 3), (2, 3), 3),
        _avg_case("N=2, C=2, 7x9 input, 3x2 windows, stride (2, 1)", (2, 2, 7, 9), (3, 2), (2, 1), 4),
    ],
    mutants=[
        Mutant("area_square", AREA_SQUARE, _ap(area="KH*KH")),
        Mutant("no_division", NO_DIVISION, _ap(area="1")),
        Mutant("overwrite", AVG_OVERWRITE, _ap(accumulate=False)),
        Mutant("no_stride", NO_STRIDE, _ap(strided=False)),
    ],
)


# --------------------------------------------------------------------------- window sums


def _ref_window_sums(dx, size):
    kh, kw = size
    n, c, h, w = dx.shape
    out = np.zeros((n, c, h // kh, w // kw))
    for i, j in np.ndindex(out.shape[2:]):
        out[:, :, i, j] = dx[:, :, i * kh:(i + 1) * kh, j * kw:(j + 1) * kw].sum(axis=(2, 3))
    return out


def _ws_mean(dx, size):
    return _ref_window_sums(dx, size) / (size[0] * size[1])


def _ws_reshape(dx, size):
    kh, kw = size
    n, c, h, w = dx.shape
    return dx.reshape(n, c, h // kh, w // kw, kh, kw).sum(axis=(4, 5))


check_window_sums = Checker(
    title="window sums",
    reference=_ref_window_sums,
    outputs=("sums",),
    arg_names=("dx", "size"),
    cases=[
        Case("0..15 as a 4x4 input, 2x2 windows: sums [[10, 18], [42, 50]]",
             (np.arange(16.0).reshape(1, 1, 4, 4), (2, 2))),
        Case("N=2, C=1, 2x8 input, 1x4 windows",
             (np.random.default_rng(6).integers(-4, 5, size=(2, 1, 2, 8)).astype(float), (1, 4))),
        Case("N=2, C=2, 6x8 input, 3x2 windows",
             (np.random.default_rng(5).integers(-4, 5, size=(2, 2, 6, 8)).astype(float), (3, 2))),
    ],
    mutants=[
        Mutant("mean", MEAN_NOT_SUM, _ws_mean),
        Mutant("wrong_reshape", WRONG_RESHAPE, _ws_reshape),
    ],
)
