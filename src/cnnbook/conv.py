r"""2-D convolution layer (cross-correlation, as every framework computes it).

Forward, for sample n, filter f and output position (i, j), with stride s and
the input ``xp`` zero-padded by ``pad`` on each side:

.. math::
    y_{nfij} = b_f + \sum_{c} \sum_{a=0}^{KH-1} \sum_{b=0}^{KW-1}
               w_{fcab}\, xp_{nc,\, i s_h + a,\, j s_w + b}

Backward, with :math:`\delta = \partial E/\partial y`:

.. math::
    \frac{\partial E}{\partial w_{fcab}} = \sum_{n,i,j} \delta_{nfij}\, xp_{nc,\, i s_h + a,\, j s_w + b}
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
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]


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


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """View (N, C, OH, OW, KH, KW) of the receptive field of every output position."""
    win = sliding_window_view(xp, kernel, axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1]]


# --------------------------------------------------------------------------- vectorized


def conv2d_forward(x, w, b, *, stride=1, pad=0):
    """Cross-correlation layer.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,); stride, pad: int or (h, w).
    Returns y: (N, F, OH, OW) and a ConvCache.  The windows of the padded
    input are contracted with the kernel in one matrix product (im2col).
    """
    x, w, b, stride, pad = _check_forward(x, w, b, stride, pad)
    win = _windows(_pad(x, pad), w.shape[2:], stride)
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, F)
    y = y.transpose(0, 3, 1, 2) + b[None, :, None, None]
    return np.ascontiguousarray(y), ConvCache(x, w, b, stride, pad)


def conv2d_backward(dy, cache: ConvCache):
    """dy: (N, F, OH, OW) -> (dx (N, C, H, W), dw (F, C, KH, KW), db (F,)).

    dw contracts delta with the input windows; dx scatters delta times the
    kernel back to the padded input one kernel offset (a, b) at a time
    (col2im), then crops the padding.
    """
    dy = _check_dy(dy, cache)
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    _, _, kh, kw = w.shape
    _, _, oh, ow = dy.shape
    xp = _pad(x, (ph, pw))
    win = _windows(xp, (kh, kw), (sh, sw))
    db = dy.sum(axis=(0, 2, 3))
    dw = np.tensordot(dy, win, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    cols = np.tensordot(w, dy, axes=([0], [1]))  # (C, KH, KW, N, OH, OW)
    dxp = np.zeros((xp.shape[1], xp.shape[0], *xp.shape[2:]), dtype=np.result_type(dy, w))
    for a in range(kh):
        for b_ in range(kw):
            dxp[:, :, a : a + sh * oh : sh, b_ : b_ + sw * ow : sw] += cols[:, a, b_]
    dx = dxp.transpose(1, 0, 2, 3)[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return np.ascontiguousarray(dx), dw, db


# --------------------------------------------------------------------------- loop reference


def conv2d_forward_naive(x, w, b, *, stride=1, pad=0):
    """Loop reference of conv2d_forward (same arguments, shapes and cache).

    y[n, f, i, j] = b[f] + sum_c sum_a sum_b w[f, c, a, b] * xp[n, c, i*s + a, j*s + b]
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
                        for a in range(kh):
                            for b_ in range(kw):
                                total = total + w[f, c, a, b_] * xp[n, c, i * sh + a, j * sw + b_]
                    y[n, f, i, j] = total
    return y, cache


def conv2d_backward_naive(dy, cache: ConvCache):
    """Loop reference of conv2d_backward: each gradient entry is its formula.

    dw[f, c, a, b] = sum_n sum_i sum_j dy[n, f, i, j] * xp[n, c, i*s + a, j*s + b]
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
            for a in range(kh):
                for b_ in range(kw):
                    total = 0
                    for n in range(n_batch):
                        for i in range(oh):
                            for j in range(ow):
                                total = total + dy[n, f, i, j] * xp[n, c, i * sh + a, j * sw + b_]
                    dw[f, c, a, b_] = total

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
                                a, b_ = p - i * sh, q - j * sw
                                if 0 <= a < kh and 0 <= b_ < kw:
                                    total = total + dy[n, f, i, j] * w[f, c, a, b_]
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
