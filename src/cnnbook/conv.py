r"""2-D convolution layer (cross-correlation, as every framework computes it).

Forward, for sample n, filter f and output position (i, j), with stride s and
the input ``xp`` zero-padded by ``pad`` on each side:

.. math::
    y_{nfij} = b_f + \sum_{c} \sum_{u=0}^{KH-1} \sum_{v=0}^{KW-1}
               w_{fcuv}\, xp_{nc,\, i s_h + u,\, j s_w + v}

Backward, with :math:`\delta = \partial E/\partial y`:

.. math::
    \frac{\partial E}{\partial w_{fcuv}} = \sum_{n,i,j} \delta_{nfij}\, xp_{nc,\, i s_h + u,\, j s_w + v}
    \qquad
    \frac{\partial E}{\partial b_f} = \sum_{n,i,j} \delta_{nfij}

.. math::
    \frac{\partial E}{\partial xp_{ncpq}} = \sum_{f} \sum_{i,j}
        \delta_{nfij}\, w_{fc,\, p - i s_h,\, q - j s_w}
    \quad (\text{terms with the kernel index outside } [0, K) \text{ are absent})

and dx is dxp with the padding cropped.  For one channel the last formula is
a "full" *true* convolution of the stride-dilated delta with the kernel, i.e.
a full cross-correlation with the 180-degree rotated kernel; see
:func:`input_grad_full_convolution`.

``*_naive`` functions are loop references whose loop indices are the indices
of these formulas; they also run on object arrays (e.g. sympy symbols).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_array, check_ndim, check_shape, pair


class ConvCache(NamedTuple):
    """x, w, b, stride, pad of the forward call; ``cols`` optionally keeps the
    forward's im2col matrix for the backward as a tuple (x, kernel, stride,
    pad, matrix), used only while x, kernel shape, stride and pad still match."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]
    cols: tuple | None = None


def output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0) -> int:
    """OH = (H + 2*pad - KH) // stride + 1 for one spatial axis."""
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be an int (one spatial axis), got {value!r}")
        pair(value, name, minimum=minimum)
    if kernel > size + 2 * pad:
        raise ValueError(
            f"kernel {kernel} is larger than the padded input size {size} + 2*{pad} = {size + 2 * pad}; "
            f"expected kernel <= size + 2*pad"
        )
    return (size + 2 * pad - kernel) // stride + 1


def _check_kernel_fits(x_hw, k_hw, pad, name_x="x", name_w="w"):
    (h, w_), (kh, kw), (ph, pw) = x_hw, k_hw, pad
    if kh > h + 2 * ph or kw > w_ + 2 * pw:
        raise ValueError(
            f"kernel of {name_w} ({kh}, {kw}) is larger than the padded input of {name_x}: "
            f"({h} + 2*{ph}, {w_} + 2*{pw}) = ({h + 2 * ph}, {w_ + 2 * pw}); "
            f"expected KH <= H + 2*pad and KW <= W + 2*pad"
        )


def _check_forward(x, w, b, stride, pad, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    w = as_array(w, "w", allow_object=allow_object)
    b = as_array(b, "b", allow_object=allow_object)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    check_ndim(w, "w", 4, "(F, C, KH, KW)")
    check_ndim(b, "b", 1, "(F,)")
    stride = pair(stride, "stride", minimum=1)
    pad = pair(pad, "pad", minimum=0)
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"channels of w and x must agree: w has shape {w.shape} (C = {w.shape[1]}) "
            f"but x has shape {x.shape} (C = {x.shape[1]})"
        )
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"b must have shape (F,) = ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
    _check_kernel_fits(x.shape[2:], w.shape[2:], pad)
    return x, w, b, stride, pad


def _out_hw(cache: ConvCache) -> tuple[int, int]:
    (_, _, h, w_), (_, _, kh, kw) = cache.x.shape, cache.w.shape
    return (
        output_size(h, kh, stride=cache.stride[0], pad=cache.pad[0]),
        output_size(w_, kw, stride=cache.stride[1], pad=cache.pad[1]),
    )


def _check_dy(dy, cache: ConvCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    n, f = cache.x.shape[0], cache.w.shape[0]
    check_shape(dy, "dy", (n, f, *_out_hw(cache)), "(N, F, OH, OW), the forward output")
    return dy


def _pad(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    ph, pw = pad
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _pad_fast(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """_pad for the vectorized path: a zero array with x copied into its middle (np.pad's
    generality costs more than the copy for small inputs)."""
    ph, pw = pad
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """View (N, C, OH, OW, KH, KW) of the receptive field of every output position."""
    win = sliding_window_view(xp, kernel, axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1]]


# --------------------------------------------------------------------------- vectorized

# The forward keeps its im2col matrix for the backward when it is at most this large (bytes);
# larger ones are rebuilt in the backward instead of held in memory between the two passes.
COLS_CACHE_BYTES = 256 * 2**20


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The im2col matrix of a padded input, one (C*KH*KW, OH*OW) matrix per sample.

    xp: (N, C, Hp, Wp) -> cols: (N, C*KH*KW, OH*OW), C-contiguous, with
    cols[n, (c*KH + u)*KW + v, i*OW + j] = xp[n, c, i*sh + u, j*sw + v].
    The copy is made in this order so that its innermost axis (j) reads
    neighbouring input columns, and so that w.reshape(F, C*KH*KW) @ cols[n]
    is already sample n's output in NCHW order.
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c, hp, wp = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    xp = np.ascontiguousarray(xp)
    s_n, s_c, s_h, s_w = xp.strides
    # a view (N, C, KH, KW, OH, OW) of the windows: entry [n, c, u, v, i, j] = xp[n, c, i*sh + u, j*sw + v]
    win = np.ndarray((n, c, kh, kw, oh, ow), dtype=xp.dtype, buffer=xp,
                     strides=(s_n, s_c, s_h, s_w, sh * s_h, sw * s_w))
    return win.reshape(n, c * kh * kw, oh * ow)  # the reshape makes the copy, in this order


def col2im(dcols: np.ndarray, xp_shape: tuple, kernel: tuple[int, int], stride: tuple[int, int],
           out_hw: tuple[int, int]) -> np.ndarray:
    """The adjoint of im2col: add every column entry back to the pixel it was copied from.

    dcols: (N, C*KH*KW, OH*OW) -> dxp: (N, C, Hp, Wp), by one strided addition
    per kernel offset (u, v): dxp[:, :, u + i*sh, v + j*sw] += dcols[:, (c, u, v), (i, j)].
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, c = xp_shape[:2]
    d6 = dcols.reshape(n, c, kh, kw, oh, ow)
    dxp = np.zeros(xp_shape, dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += d6[:, :, u, v]
    return dxp


def conv2d_forward(x, w, b, *, stride=1, pad=0):
    """Cross-correlation layer.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,); stride, pad: int or (h, w).
    Returns y: (N, F, OH, OW) and a ConvCache.  The windows of the padded
    input are copied into an im2col matrix cols (N, C*KH*KW, OH*OW) and
    contracted with the kernel in one batched matrix product,
    y[n] = w.reshape(F, C*KH*KW) @ cols[n] + b (im2col).
    """
    x, w, b, stride, pad = _check_forward(x, w, b, stride, pad)
    (n, _, h, w_), (f, _, kh, kw) = x.shape, w.shape
    kernel = (kh, kw)
    oh, ow = (h + 2 * pad[0] - kh) // stride[0] + 1, (w_ + 2 * pad[1] - kw) // stride[1] + 1
    cols = im2col(_pad_fast(x, pad), kernel, stride)
    dtype = np.result_type(x, w, b)
    y = np.matmul(w.reshape(f, -1).astype(dtype, copy=False), cols.astype(dtype, copy=False))
    y += b.astype(dtype, copy=False)[:, None]
    keep = (x, kernel, stride, pad, cols) if cols.nbytes <= COLS_CACHE_BYTES else None
    return y.reshape(n, f, oh, ow), ConvCache(x, w, b, stride, pad, keep)


def _cached_cols(cache: ConvCache):
    if cache.cols is None:
        return None
    x, kernel, stride, pad, cols = cache.cols
    if x is cache.x and kernel == cache.w.shape[2:] and stride == cache.stride and pad == cache.pad:
        return cols
    return None


def conv2d_backward(dy, cache: ConvCache):
    """dy: (N, F, OH, OW) -> (dx (N, C, H, W), dw (F, C, KH, KW), db (F,)).

    With delta2 = dy.reshape(N, F, OH*OW) and w2 = w.reshape(F, C*KH*KW):
    dw = sum_n delta2[n] @ cols[n].T (the forward's im2col matrix, reused);
    db = dy summed over n, i, j; dx: dcols[n] = w2.T @ delta2[n] scattered
    back to the padded input one kernel offset (u, v) at a time (col2im),
    then the padding is cropped.  (For small outputs and for stride 1 the same
    sums are done with the batch as the last axis, which is faster.)
    """
    dy = _check_dy(dy, cache)
    x, w, stride, (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    n, f, oh, ow = dy.shape
    kernel = w.shape[2:]
    dtype = np.result_type(dy, x, w)
    dy2 = dy.reshape(n, f, oh * ow).astype(dtype, copy=False)
    cols = _cached_cols(cache)
    if cols is None:
        cols = im2col(_pad_fast(x, (ph, pw)), kernel, stride)
    cols = cols.astype(dtype, copy=False)
    db = dy.sum(axis=(0, 2, 3))
    # (N, F, P) @ (N, P, K): the transposed operand is a view, BLAS reads it as such
    dw = np.matmul(dy2, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    w2t = w.reshape(f, -1).T.astype(dtype, copy=False)  # (K, F)
    xp_shape = (n, x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)
    if _batch_last_pays(x.shape[1], kernel, stride, (oh, ow)):
        dxp = _dx_batch_last(dy, w2t, xp_shape, kernel, stride)  # (C, Hp, Wp, N)
        dx = dxp[:, ph : ph + x.shape[2], pw : pw + x.shape[3]].transpose(3, 0, 1, 2)
    else:
        dcols = np.matmul(w2t, dy2)  # (N, K, P)
        dxp = col2im(dcols, xp_shape, kernel, stride, (oh, ow))
        dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return np.ascontiguousarray(dx), dw, db


def _batch_last_pays(channels, kernel, stride, out_hw) -> bool:
    """Whether col2im is faster with the batch as the last (contiguous) axis: measured so for
    small outputs (short rows make the strided additions slow), and for C > 1 with stride 1
    or with many kernel offsets (KH*KW >= 25)."""
    if out_hw[0] * out_hw[1] <= 64:
        return True
    return channels > 1 and (stride == (1, 1) or kernel[0] * kernel[1] >= 25)


def _dx_batch_last(dy, w2t, xp_shape, kernel, stride):
    """dxp with axes (C, Hp, Wp, N): the same sums as col2im(w2t @ delta), with the batch last.

    One matrix product (K, F) @ (F, OH*OW*N) gives dcols[(c, u, v), (i, j, n)]; each
    kernel offset then adds a block whose innermost axis (n, or (j, n) for stride 1) is
    contiguous, which keeps the strided additions long.
    """
    n, f, oh, ow = dy.shape
    (kh, kw), (sh, sw) = kernel, stride
    c = xp_shape[1]
    dyt = np.ascontiguousarray(dy.transpose(1, 2, 3, 0).astype(w2t.dtype, copy=False)).reshape(f, -1)
    d6 = (w2t @ dyt).reshape(c, kh, kw, oh, ow, n)
    dxp = np.zeros((c, xp_shape[2], xp_shape[3], n), dtype=d6.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, u : u + sh * oh : sh, v : v + sw * ow : sw, :] += d6[:, u, v]
    return dxp


# --------------------------------------------------------------------------- loop reference


def conv2d_forward_naive(x, w, b, *, stride=1, pad=0):
    """Loop reference of conv2d_forward (same arguments, shapes and cache).

    y[n, f, i, j] = b[f] + sum_c sum_u sum_v w[f, c, u, v] * xp[n, c, i*s + u, j*s + v]
    """
    x, w, b, stride, pad = _check_forward(x, w, b, stride, pad, allow_object=True)
    cache = ConvCache(x, w, b, stride, pad)
    xp = _pad(x, pad)
    n_batch, n_chan = x.shape[:2]
    n_filt, _, kh, kw = w.shape
    oh, ow = _out_hw(cache)
    sh, sw = stride
    y = np.zeros((n_batch, n_filt, oh, ow), dtype=np.result_type(x, w, b))
    for n in range(n_batch):
        for f in range(n_filt):
            for i in range(oh):
                for j in range(ow):
                    total = b[f]
                    for c in range(n_chan):
                        for u in range(kh):
                            for v in range(kw):
                                total = total + w[f, c, u, v] * xp[n, c, i * sh + u, j * sw + v]
                    y[n, f, i, j] = total
    return y, cache


def conv2d_backward_naive(dy, cache: ConvCache):
    """Loop reference of conv2d_backward: each gradient entry is its formula.

    dw[f, c, u, v] = sum_n sum_i sum_j dy[n, f, i, j] * xp[n, c, i*s + u, j*s + v]
    db[f]          = sum_n sum_i sum_j dy[n, f, i, j]
    dxp[n, c, p, q] = sum_f sum_i sum_j dy[n, f, i, j] * w[f, c, p - i*s, q - j*s]
                      (only the terms with 0 <= p - i*s < KH and 0 <= q - j*s < KW)
    dx = dxp without the padding.
    """
    dy = _check_dy(dy, cache, allow_object=True)
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    xp = _pad(x, (ph, pw))
    n_batch, n_chan, hp, wp = xp.shape
    n_filt, _, kh, kw = w.shape
    _, _, oh, ow = dy.shape
    dtype = np.result_type(dy, x, w)

    dw = np.zeros(w.shape, dtype=dtype)
    for f in range(n_filt):
        for c in range(n_chan):
            for u in range(kh):
                for v in range(kw):
                    total = 0
                    for n in range(n_batch):
                        for i in range(oh):
                            for j in range(ow):
                                total = total + dy[n, f, i, j] * xp[n, c, i * sh + u, j * sw + v]
                    dw[f, c, u, v] = total

    db = np.zeros(n_filt, dtype=dtype)
    for f in range(n_filt):
        total = 0
        for n in range(n_batch):
            for i in range(oh):
                for j in range(ow):
                    total = total + dy[n, f, i, j]
        db[f] = total

    dxp = np.zeros((n_batch, n_chan, hp, wp), dtype=dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            for p in range(hp):
                for q in range(wp):
                    total = 0
                    for f in range(n_filt):
                        for i in range(oh):
                            for j in range(ow):
                                u, v = p - i * sh, q - j * sw
                                if 0 <= u < kh and 0 <= v < kw:
                                    total = total + dy[n, f, i, j] * w[f, c, u, v]
                    dxp[n, c, p, q] = total
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dw, db


# --------------------------------------------------------------------------- single channel


def _check_2d(x, name, *, allow_object=True):
    x = as_array(x, name, allow_object=allow_object)
    check_ndim(x, name, 2, "(H, W)" if name == "x" else "(KH, KW)")
    return x


def rot180(w):
    """The kernel rotated by 180 degrees: both of the last two axes reversed.

    w: (..., KH, KW) -> (..., KH, KW) with out[..., a, b] = w[..., KH-1-a, KW-1-b].
    """
    w = as_array(w, "w", allow_object=True)
    if w.ndim < 2:
        raise ValueError(f"w must have at least 2 dimensions (..., KH, KW), got shape {w.shape}")
    return w[..., ::-1, ::-1].copy()


def dilate(dy, stride):
    """Insert (stride - 1) zeros between neighbouring entries of the last two axes.

    dy: (..., OH, OW) -> (..., (OH-1)*sh + 1, (OW-1)*sw + 1); stride: int or (sh, sw).
    out[..., i*sh, j*sw] = dy[..., i, j], every other entry is 0.
    """
    dy = as_array(dy, "dy", allow_object=True)
    if dy.ndim < 2:
        raise ValueError(f"dy must have at least 2 dimensions (..., OH, OW), got shape {dy.shape}")
    sh, sw = pair(stride, "stride", minimum=1)
    oh, ow = dy.shape[-2:]
    out = np.zeros((*dy.shape[:-2], (oh - 1) * sh + 1, (ow - 1) * sw + 1), dtype=dy.dtype)
    out[..., ::sh, ::sw] = dy
    return out


def correlate2d(x, w, *, stride=1, pad=0):
    """Single-channel cross-correlation (what deep learning calls convolution).

    x: (H, W), w: (KH, KW) -> (OH, OW);
    out[i, j] = sum_a sum_b w[a, b] * xp[i*s + a, j*s + b], xp = x zero-padded.
    Works on object arrays.
    """
    x = _check_2d(x, "x")
    w = _check_2d(w, "w")
    y, _ = conv2d_forward_naive(
        x[None, None], w[None, None], np.zeros(1, dtype=w.dtype), stride=stride, pad=pad
    )
    return y[0, 0]


def convolve2d(x, w, *, stride=1, pad=0):
    """Single-channel true convolution: the kernel is flipped.

    x: (H, W), w: (KH, KW) -> (OH, OW);
    out[i, j] = sum_a sum_b w[KH-1-a, KW-1-b] * xp[i*s + a, j*s + b],
    i.e. correlate2d(x, rot180(w)).  With pad = K - 1 this is the "full"
    convolution (x * w)[p, q] = sum_{u, v} x[u, v] w[p - u, q - v].
    """
    w = _check_2d(w, "w")
    return correlate2d(x, rot180(w), stride=stride, pad=pad)


def input_grad_full_convolution(delta, w, *, stride=1, pad=0, input_shape):
    """dE/dx of one-channel correlate2d, built as the book states it.

    delta: (OH, OW), w: (KH, KW), input_shape: (H, W) -> dx: (H, W).
    1. dilate delta by the stride (s - 1 zeros between entries);
    2. full convolution with w = correlation of the dilated delta, padded by
       K - 1, with rot180(w);
    3. zero rows/columns at the bottom/right for input positions that no
       window reached ((H + 2*pad - KH) % s of them), then crop the padding.
    """
    delta = _check_2d(delta, "delta")
    w = _check_2d(w, "w")
    (sh, sw), (ph, pw) = pair(stride, "stride", minimum=1), pair(pad, "pad", minimum=0)
    h, w_ = pair(input_shape, "input_shape", minimum=1)
    kh, kw = w.shape
    _check_kernel_fits((h, w_), (kh, kw), (ph, pw), name_x="input_shape")
    expected = (output_size(h, kh, stride=sh, pad=ph), output_size(w_, kw, stride=sw, pad=pw))
    check_shape(delta, "delta", expected, f"the output of a {kh}x{kw} kernel on {input_shape}")
    full = convolve2d(dilate(delta, (sh, sw)), w, pad=(kh - 1, kw - 1))
    hp, wp = h + 2 * ph, w_ + 2 * pw
    dxp = np.zeros((hp, wp), dtype=full.dtype)
    dxp[: full.shape[0], : full.shape[1]] = full
    return dxp[ph : ph + h, pw : pw + w_]
