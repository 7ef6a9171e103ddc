"""Checkers for the chapter "Fast code".

* :data:`check_rows_conv` -- ``check_rows_conv(rows_forward, rows_backward)``:
  ``rows_forward(x, w, b, s, p) -> (y, cache)`` and ``rows_backward(dy, cache)
  -> (dx, dw, db)``, a convolution with the im2col matrix in the row layout,
  one row per output position (n, i, j) and one column per (c, u, v).
* :data:`check_pool_reshape` -- ``check_pool_reshape(pool_reshape_forward,
  pool_reshape_backward)``: ``forward(x, K) -> (y, cache)`` and
  ``backward(dy, cache) -> dx``, max-pooling with K x K windows and stride K
  by a reshape, ties to the first maximum in row-major order.

If the forward output has the wrong shape, the backward is not run (dy would
not fit) and only y is reported.  The convolution cases have C > 1, F > 1,
N > 1, non-square kernels, overlapping windows, stride 2 and padding; the
pooling cases have windows whose maximum is off the diagonal and windows of
tied maxima in which the first, the last and the first column-major maximum
are different entries.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import conv, pooling
from ._core import Case, Checker, Mutant

# --------------------------------------------------------------------------- diagnoses

ROWS_WINDOW_ORDER = (
    "the copy order of the column matrix is wrong: the rows and columns of each window are swapped. "
    "Column (c, u, v) of X~ must hold xpad[n, c, i*s + u, j*s + v] in the order of w.reshape(F, -1), "
    "i.e. channel, then kernel row u, then kernel column v: transpose the windows (N, C, OH, OW, KH, KW) "
    "to (N, OH, OW, C, KH, KW), not (N, OH, OW, C, KW, KH)."
)
ROWS_CHANNEL_ORDER = (
    "the copy order of the column matrix is wrong: the channel axis was put last, columns (u, v, c). "
    "w.reshape(F, -1) is ordered channel first, (c, u, v), so the windows must be transposed to "
    "(N, OH, OW, C, KH, KW) before the reshape."
)
ROWS_NO_STRIDE = (
    "the stride is ignored: output (i, j) reads the window that starts at (i*s, j*s), so only every s-th "
    "window enters X~ (sliding windows [:, :, ::s, ::s]); y has the wrong shape."
)
ROWS_NO_PAD = (
    "the padding is missing: pad x by p on each side of H and W (np.pad(x, ((0, 0), (0, 0), (p, p), "
    "(p, p)))) before taking the windows; y has the wrong shape."
)
ROWS_Y_RESHAPE = (
    "y was reshaped where a transpose is needed: the rows of Y~ are the positions (n, i, j) and its "
    "columns the filters f, so Y~.reshape(N, OH, OW, F).transpose(0, 3, 1, 2) gives NCHW; "
    "Y~.reshape(N, F, OH, OW) mixes positions and filters."
)
ROWS_DY_RESHAPE = (
    "dy was reshaped where a transpose is needed: the extra transpose of the forward pass must be undone "
    "on delta, D~ = dy.transpose(0, 2, 3, 1).reshape(N*OH*OW, F); dy.reshape(N*OH*OW, F) pairs each "
    "position with the wrong filters."
)
ROWS_DW_PRODUCT = (
    "dw is the wrong matrix product: Y~ = X~ W^T gives dE/dW = D~^T X~, of shape (F, C*KH*KW); "
    "X~^T D~ is its transpose, (C*KH*KW, F), and reshaping it to (F, C, KH, KW) scrambles the entries."
)
ROWS_DB_AXIS = (
    "db was summed over the wrong axis: the bias is added to every row (position) of Y~, so "
    "db = D~.sum(axis=0), one number per filter (shape (F,))."
)
ROWS_OVERWRITE = (
    "'=' instead of '+=' when the rows of dX~ go back to the image (col2im, a loop over the output "
    "positions): windows overlap (stride < kernel), so a pixel collects a contribution from every "
    "window it belongs to."
)
ROWS_OVERWRITE_OFFSETS = (
    "'=' instead of '+=' in col2im's loop over the kernel offsets (u, v): when windows overlap "
    "(stride < kernel), one pixel is reached by several offsets, one for each window that contains "
    "it, and each '=' overwrites what the earlier offsets put there, so only the last offset's "
    "contribution survives. Accumulate: dxp[:, :, u:u + s*OH:s, v:v + s*OW:s] += (the block of offset (u, v))."
)
ROWS_NOT_CROPPED = (
    "the padding was not cropped from dx: col2im gives the gradient of the padded input; "
    "return its inner part [:, :, p:p + H, p:p + W]."
)

POOL_EVERY_TIE = (
    "the gradient was sent to every tied maximum (a mask x == max): delta must go to ONE entry of its "
    "window, the first maximum in row-major order (what argmax returns), as in cnnbook.pooling."
)
POOL_LAST_TIE = (
    "the gradient went to the LAST tied maximum of the window: ties go to the first maximum in "
    "row-major order, the one np.argmax returns."
)
POOL_COLUMN_MAJOR = (
    "the window was flattened column by column: the argmax then picks the first maximum in COLUMN-major "
    "order, another entry when a window has ties. Transpose (N, C, OH, K, OW, K) to (N, C, OH, OW, K, K) "
    "-- window row before window column -- before flattening it to K*K."
)
POOL_DECODE_SWAPPED = (
    "the argmax index was decoded with rows and columns swapped: the flat index k of a K x K window "
    "(flattened row by row) is at row k // K and column k % K, not (k % K, k // K)."
)
POOL_SPREAD = (
    "delta was sent to every entry of the window (e.g. np.repeat of dy): max-pooling routes it to the "
    "maximum only; the other entries did not influence the output and get 0."
)
POOL_NO_TRANSPOSE = (
    "the windows were formed by a reshape without the transpose: x.reshape(N, C, OH, K, OW, K) has the "
    "window row on axis 3 and the window column on axis 5; transpose(0, 1, 2, 4, 3, 5) brings the two "
    "offsets together before reshaping to (N, C, OH, OW, K*K). A plain reshape mixes different windows."
)


# --------------------------------------------------------------------------- convolution, row layout

# the column order of X~ (windows (N, C, OH, OW, KH, KW) transposed): (c, u, v) is right
_ORDERS = {"cuv": (0, 2, 3, 1, 4, 5), "cvu": (0, 2, 3, 1, 5, 4), "uvc": (0, 2, 3, 4, 5, 1)}


def _ref_rows(x, w, b, s, p, dy):
    y, cache = conv.conv2d_forward(x, w, b, stride=s, pad=p)
    return (y, *conv.conv2d_backward(dy, cache))


def _rows_variant(x, w, b, s, p, dy, *, order="cuv", stride=True, pad=True, y_transpose=True,
                  dy_transpose=True, dw_product="DtX", db_axis=0, accumulate=True, assign_offsets=False,
                  crop=True):
    """The row-layout convolution, forward and backward, with one optional mistake.

    accumulate=False: col2im over the output positions with '=' (a block per window);
    assign_offsets=True: col2im over the kernel offsets with '=' (a strided slice per offset,
    the loop of the chapter's col2im)."""
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    ss, pp = (s if stride else 1), (p if pad else 0)
    xp = np.pad(x, ((0, 0), (0, 0), (pp, pp), (pp, pp)))
    win = sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::ss, ::ss]
    OH, OW = win.shape[2:4]
    perm = _ORDERS[order]
    Xt = win.transpose(perm).reshape(N * OH * OW, -1)
    Yt = Xt @ w.reshape(F, -1).T + b
    y = Yt.reshape(N, OH, OW, F).transpose(0, 3, 1, 2) if y_transpose else Yt.reshape(N, F, OH, OW)
    ref = _ref_rows(x, w, b, s, p, dy)
    if y.shape != ref[0].shape:
        return (y, *ref[1:])
    Dt = dy.transpose(0, 2, 3, 1).reshape(-1, F) if dy_transpose else dy.reshape(-1, F)
    dw = (Dt.T @ Xt).reshape(w.shape) if dw_product == "DtX" else (Xt.T @ Dt).reshape(w.shape)
    db = Dt.sum(axis=db_axis)
    dXt = Dt @ w.reshape(F, -1)
    dwin = dXt.reshape(N, OH, OW, *[(N, C, OH, OW, KH, KW)[k] for k in perm[3:]])
    dwin = dwin.transpose(np.argsort(perm))            # back to (N, C, OH, OW, KH, KW)
    dxp = np.zeros(xp.shape)
    if assign_offsets:
        for u in range(KH):
            for v in range(KW):
                dxp[:, :, u:u + ss * OH:ss, v:v + ss * OW:ss] = dwin[:, :, :, :, u, v]
        dx = dxp[:, :, pp:pp + H, pp:pp + W] if crop else dxp
        return y, dx, dw, db
    for i in range(OH):
        for j in range(OW):
            block = (slice(None), slice(None), slice(i * ss, i * ss + KH), slice(j * ss, j * ss + KW))
            if accumulate:
                dxp[block] += dwin[:, :, i, j]
            else:
                dxp[block] = dwin[:, :, i, j]
    dx = dxp[:, :, pp:pp + H, pp:pp + W] if crop else dxp
    return y, dx, dw, db


def _rv(**flags):
    def fn(x, w, b, s, p, dy):
        return _rows_variant(x, w, b, s, p, dy, **flags)
    return fn


def _compose_rows(forward, backward):
    def fn(x, w, b, s, p, dy):
        out = forward(x, w, b, s, p)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"rows_forward must return a pair (y, cache), got {type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        y, cache = out
        ref = _ref_rows(x, w, b, s, p, dy)
        if np.shape(y) != ref[0].shape:     # dy would not fit: report y only
            return (y, *ref[1:])
        grads = backward(dy, cache)
        if not isinstance(grads, (tuple, list)) or len(grads) != 3:
            raise TypeError(f"rows_backward must return (dx, dw, db), got {type(grads).__name__}"
                            + (f" of length {len(grads)}" if isinstance(grads, (tuple, list)) else ""))
        return (y, *grads)
    return fn


def _rows_case(label, n, c, f, hw, khw, s, p, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, size=(n, c, *hw)).astype(float)
    w = r.integers(-3, 4, size=(f, c, *khw)).astype(float)
    w[:, :, 0, -1] = 5.0                # no kernel is symmetric under a transpose
    b = r.integers(-2, 3, size=f).astype(float)
    y = conv.conv2d_forward(x, w, b, stride=s, pad=p)[0]
    dy = r.integers(-3, 4, size=y.shape).astype(float)
    dy.flat[0] = 4.0
    return Case(label, (x, w, b, s, p, dy))


check_rows_conv = Checker(
    title="convolution in the row layout",
    reference=_ref_rows,
    outputs=("y", "dx", "dw", "db"),
    arg_names=("x", "w", "b", "s", "p", "dy"),
    compose=_compose_rows,
    cases=[
        _rows_case("N=1, C=1, F=1, 3x3 input, 2x2 kernel, s=1, p=0", 1, 1, 1, (3, 3), (2, 2), 1, 0, 1),
        _rows_case("N=2, C=2, F=3, 5x4 input, 2x3 kernel, s=2, p=1", 2, 2, 3, (5, 4), (2, 3), 2, 1, 2),
        _rows_case("N=2, C=3, F=2, 6x5 input, 3x2 kernel, s=1, p=1", 2, 3, 2, (6, 5), (3, 2), 1, 1, 3),
    ],
    mutants=[
        Mutant("window_order", ROWS_WINDOW_ORDER, _rv(order="cvu")),
        Mutant("channel_order", ROWS_CHANNEL_ORDER, _rv(order="uvc")),
        Mutant("no_stride", ROWS_NO_STRIDE, _rv(stride=False)),
        Mutant("no_padding", ROWS_NO_PAD, _rv(pad=False)),
        Mutant("y_reshape", ROWS_Y_RESHAPE, _rv(y_transpose=False), ("y",)),
        Mutant("dy_reshape", ROWS_DY_RESHAPE, _rv(dy_transpose=False), ("dx", "dw", "db")),
        Mutant("dw_product", ROWS_DW_PRODUCT, _rv(dw_product="XtD"), ("dw",)),
        Mutant("db_axis", ROWS_DB_AXIS, _rv(db_axis=1), ("db",)),
        Mutant("overwrite", ROWS_OVERWRITE, _rv(accumulate=False), ("dx",)),
        Mutant("overwrite_offsets", ROWS_OVERWRITE_OFFSETS, _rv(assign_offsets=True), ("dx",)),
        Mutant("not_cropped", ROWS_NOT_CROPPED, _rv(crop=False), ("dx",)),
    ],
)


# --------------------------------------------------------------------------- max-pool by reshape


def _ref_pool(x, K, dy):
    y, cache = pooling.maxpool2d_forward(x, size=K)
    return y, pooling.maxpool2d_backward(dy, cache)


def _pool_variant(x, K, dy, *, rule="first", flatten="rows", decode="rows", group=True):
    N, C, H, W = x.shape
    OH, OW = H // K, W // K
    six = x.reshape(N, C, OH, K, OW, K)
    if not group:
        win = six.reshape(N, C, OH, OW, K * K)
    elif flatten == "rows":
        win = six.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, OH, OW, K * K)
    else:                                              # column by column: flat index b*K + a
        win = six.transpose(0, 1, 2, 4, 5, 3).reshape(N, C, OH, OW, K * K)
    y = win.max(axis=-1)
    if rule == "every":
        mask = win == y[..., None]
    elif rule == "spread":
        mask = np.ones(win.shape, dtype=bool)
    else:
        arg = win.argmax(axis=-1) if rule == "first" else K * K - 1 - win[..., ::-1].argmax(axis=-1)
        if decode != "rows":                           # k read as (k % K, k // K): transpose the index
            arg = (arg % K) * K + arg // K
        mask = np.arange(K * K) == arg[..., None]
    dwin = mask * dy[..., None]
    if not group:
        return y, dwin.reshape(N, C, H, W)
    if flatten == "rows":
        return y, dwin.reshape(N, C, OH, OW, K, K).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)
    return y, dwin.reshape(N, C, OH, OW, K, K).transpose(0, 1, 2, 5, 3, 4).reshape(N, C, H, W)


def _pv(**flags):
    def fn(x, K, dy):
        return _pool_variant(x, K, dy, **flags)
    return fn


def _compose_pool(forward, backward):
    def fn(x, K, dy):
        out = forward(x, K)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"pool_reshape_forward must return a pair (y, cache), got {type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        y, cache = out
        ref = _ref_pool(x, K, dy)
        if np.shape(y) != ref[0].shape:     # dy would not fit: report y only
            return y, ref[1]
        return y, backward(dy, cache)
    return fn


def _pool_case(label, shape, K, seed):
    r = np.random.default_rng(seed)
    x = r.integers(0, 4, size=shape).astype(float)   # small integers: ties occur
    x[0, 0, :K, :K] = 2.0
    x[0, 0, 0, 0] = 1.0                                # first window: ties everywhere but the corner
    dy = r.integers(1, 9, size=(shape[0], shape[1], shape[2] // K, shape[3] // K)).astype(float)
    return Case(label, (x, K, dy))


check_pool_reshape = Checker(
    title="max-pool by reshape",
    reference=_ref_pool,
    outputs=("y", "dx"),
    arg_names=("x", "K", "dy"),
    compose=_compose_pool,
    cases=[
        Case("2x6 input, K=2: windows [[1, 0], [4, 2]], [[5, 5], [5, 1]] (three tied), [[1, 5], [5, 2]]",
             (np.array([[[[1.0, 0.0, 5.0, 5.0, 1.0, 5.0], [4.0, 2.0, 5.0, 1.0, 5.0, 2.0]]]]), 2,
              np.array([[[[2.0, 3.0, 7.0]]]]))),
        _pool_case("N=2, C=2, 4x4 input, K=2, ties", (2, 2, 4, 4), 2, 1),
        _pool_case("N=2, C=2, 6x9 input, K=3, ties", (2, 2, 6, 9), 3, 2),
    ],
    mutants=[
        Mutant("every_tie", POOL_EVERY_TIE, _pv(rule="every"), ("dx",)),
        Mutant("last_tie", POOL_LAST_TIE, _pv(rule="last"), ("dx",)),
        Mutant("column_major", POOL_COLUMN_MAJOR, _pv(flatten="cols"), ("dx",)),
        Mutant("decode_swapped", POOL_DECODE_SWAPPED, _pv(decode="cols"), ("dx",)),
        Mutant("spread", POOL_SPREAD, _pv(rule="spread"), ("dx",)),
        Mutant("no_transpose", POOL_NO_TRANSPOSE, _pv(group=False)),
    ],
)
