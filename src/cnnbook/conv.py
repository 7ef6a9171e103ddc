r"""2-D convolution layer (cross-correlation, as every framework computes it), and its transpose.

Forward, for sample n, filter f and output position (i, j), with stride s, dilation d and
the input ``xp`` zero-padded by ``pad`` on each side.  With ``groups`` = G the C channels and
the F filters are split into G consecutive groups of :math:`C_g = C/G` and :math:`F_g = F/G`;
filter f belongs to group :math:`g = \lfloor f / F_g \rfloor` and sees only that group's
channels, so w has shape (F, C/G, KH, KW):

.. math::
    y_{nfij} = b_f + \sum_{c'=0}^{C_g-1} \sum_{u=0}^{KH-1} \sum_{v=0}^{KW-1}
               w_{fc'uv}\, xp_{n,\, g C_g + c',\, i s_h + u d_h,\, j s_w + v d_w}

and ``OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1`` (G = 1 and d = 1 give the
plain layer, ``OH = (H + 2*pad - KH) // stride + 1``).

Backward, with :math:`\delta = \partial E/\partial y`:

.. math::
    \frac{\partial E}{\partial w_{fc'uv}} = \sum_{n,i,j} \delta_{nfij}\,
        xp_{n,\, g C_g + c',\, i s_h + u d_h,\, j s_w + v d_w}
    \qquad
    \frac{\partial E}{\partial b_f} = \sum_{n,i,j} \delta_{nfij}

.. math::
    \frac{\partial E}{\partial xp_{ncpq}} = \sum_{f \in \text{group of } c} \sum_{i,j}
        \delta_{nfij}\, w_{f,\, c - g C_g,\, (p - i s_h)/d_h,\, (q - j s_w)/d_w}
    \quad (\text{only the terms whose kernel indices are integers in } [0, K))

and dx is dxp with the padding cropped.  For one channel the last formula is
a "full" *true* convolution of the stride-dilated delta with the kernel, i.e.
a full cross-correlation with the 180-degree rotated kernel; see
:func:`input_grad_full_convolution`.

The input gradient, as a function of delta, is the *transposed convolution*
(:func:`conv_transpose2d_forward`, PyTorch's ``conv_transpose2d``): x (N, C, H, W) and
w (C, F/G, KH, KW) give y (N, F, OH, OW) with
``OH = (H - 1)*stride - 2*pad + dilation*(KH - 1) + output_padding + 1``,

.. math::
    y_{nf,\, i s_h + u d_h - p_h,\, j s_w + v d_w - p_w} \mathrel{+}= x_{nc ij}\, w_{c f' u v}
    \qquad (c \text{ in group } g,\ f = g F_g + f'),

plus :math:`b_f`: each input pixel adds a copy of its kernel, scaled by the pixel, into the output.

``*_naive`` functions are loop references whose loop indices are the indices
of these formulas; they also run on object arrays (e.g. sympy symbols).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ._validate import as_array, check_ndim, check_shape, pair, positive_int


class ConvCache(NamedTuple):
    """x, w, b, stride, pad, dilation, groups of the forward call; ``cols`` optionally keeps the
    forward's im2col matrix for the backward as a tuple (x, kernel, stride, pad, dilation,
    matrix), used only while x, kernel shape, stride, pad and dilation still match.  The matrix
    is (N, C*KH*KW, OH*OW), or (C*KH*KW, OH*OW*N) for the folded layout (_folded_pays); the
    stride-1 tall layout (_tall_pays) keeps its buffer (C, N*Hp*Wp + dilation*(KW - 1)) of the
    padded input instead."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    cols: tuple | None = None


class ConvTransposeCache(NamedTuple):
    """x, w, b and the hyperparameters of a conv_transpose2d_forward call."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def _span(kernel: int, dilation: int) -> int:
    """Rows (or columns) that a dilated kernel covers: d*(K - 1) + 1."""
    return dilation * (kernel - 1) + 1


def output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1 for one spatial axis
    (= (H + 2*pad - KH) // stride + 1 for dilation 1)."""
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                                 ("pad", pad, 0), ("dilation", dilation, 1)):
        if isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be an int (one spatial axis), got {value!r}")
        pair(value, name, minimum=minimum)
    span = _span(kernel, dilation)
    if span > size + 2 * pad:
        what = f"kernel {kernel}" if dilation == 1 else f"kernel {kernel} with dilation {dilation} (span {span})"
        expected = "kernel" if dilation == 1 else "dilation*(kernel - 1) + 1"
        raise ValueError(
            f"{what} is larger than the padded input size {size} + 2*{pad} = {size + 2 * pad}; "
            f"expected {expected} <= size + 2*pad"
        )
    return (size + 2 * pad - span) // stride + 1


def transpose_output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0, output_padding: int = 0,
                          dilation: int = 1) -> int:
    """OH = (H - 1)*stride - 2*pad + dilation*(KH - 1) + output_padding + 1 for one spatial axis
    (the size of conv_transpose2d_forward's output)."""
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                                 ("pad", pad, 0), ("output_padding", output_padding, 0),
                                 ("dilation", dilation, 1)):
        if isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be an int (one spatial axis), got {value!r}")
        pair(value, name, minimum=minimum)
    _check_output_padding((output_padding, output_padding), (stride, stride), (dilation, dilation))
    out = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"pad {pad} is too large: the output size (size - 1)*stride - 2*pad + dilation*(kernel - 1) "
            f"+ output_padding + 1 = ({size} - 1)*{stride} - 2*{pad} + {dilation}*({kernel} - 1) "
            f"+ {output_padding} + 1 = {out}; expected >= 1"
        )
    return out


def _check_kernel_fits(x_hw, k_hw, pad, name_x="x", name_w="w", dilation=(1, 1)):
    (h, w_), (kh, kw), (ph, pw), (dh, dw) = x_hw, k_hw, pad, dilation
    eh, ew = _span(kh, dh), _span(kw, dw)
    if eh > h + 2 * ph or ew > w_ + 2 * pw:
        if (dh, dw) == (1, 1):
            what, expected = f"kernel of {name_w} ({kh}, {kw})", "KH <= H + 2*pad and KW <= W + 2*pad"
        else:
            what = f"kernel of {name_w} ({kh}, {kw}) with dilation {(dh, dw)} spans ({eh}, {ew}), which"
            expected = "dilation*(KH - 1) + 1 <= H + 2*pad and dilation*(KW - 1) + 1 <= W + 2*pad"
        raise ValueError(
            f"{what} is larger than the padded input of {name_x}: "
            f"({h} + 2*{ph}, {w_} + 2*{pw}) = ({h + 2 * ph}, {w_ + 2 * pw}); expected {expected}"
        )


def _check_groups(groups, channels, filters, *, x_name, x_shape, w_shape, filters_where):
    groups = positive_int(groups, "groups")
    if channels % groups:
        raise ValueError(
            f"groups = {groups} must divide the channels of {x_name}: {x_name} has shape {x_shape} "
            f"(C = {channels}); expected C % groups == 0"
        )
    if filters % groups:
        raise ValueError(
            f"groups = {groups} must divide the filters F = {filters} ({filters_where}, w has shape "
            f"{w_shape}); expected F % groups == 0"
        )
    return groups


def _check_output_padding(output_padding, stride, dilation):
    for axis, (op, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding {output_padding} must be smaller than max(stride, dilation) on each axis: "
                f"axis {axis} has output_padding {op}, stride {s}, dilation {d}; "
                f"expected output_padding < {max(s, d)}"
            )


def _check_forward(x, w, b, stride, pad, dilation=1, groups=1, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    w = as_array(w, "w", allow_object=allow_object)
    b = as_array(b, "b", allow_object=allow_object)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    check_ndim(w, "w", 4, "(F, C, KH, KW)" if groups == 1 else "(F, C/groups, KH, KW)")
    check_ndim(b, "b", 1, "(F,)")
    stride = pair(stride, "stride", minimum=1)
    pad = pair(pad, "pad", minimum=0)
    # the plain layer's defaults skip the general checks (this runs on every call)
    dilation = (1, 1) if type(dilation) is int and dilation == 1 else pair(dilation, "dilation", minimum=1)
    if not (type(groups) is int and groups == 1):
        groups = _check_groups(groups, x.shape[1], w.shape[0], x_name="x", x_shape=x.shape, w_shape=w.shape,
                               filters_where="w.shape[0]")
    if groups == 1 and w.shape[1] != x.shape[1]:
        raise ValueError(
            f"channels of w and x must agree: w has shape {w.shape} (C = {w.shape[1]}) "
            f"but x has shape {x.shape} (C = {x.shape[1]})"
        )
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"w must have C/groups = {x.shape[1]}/{groups} = {x.shape[1] // groups} channels per filter: "
            f"w has shape {w.shape} (w.shape[1] = {w.shape[1]}), x has shape {x.shape}, groups = {groups}"
        )
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"b must have shape (F,) = ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
    _check_kernel_fits(x.shape[2:], w.shape[2:], pad, dilation=dilation)
    return x, w, b, stride, pad, dilation, groups


def _out_hw(cache: ConvCache) -> tuple[int, int]:
    (_, _, h, w_), (_, _, kh, kw) = cache.x.shape, cache.w.shape
    (sh, sw), (ph, pw), (dh, dw) = cache.stride, cache.pad, cache.dilation
    oh, ow = (h + 2 * ph - _span(kh, dh)) // sh + 1, (w_ + 2 * pw - _span(kw, dw)) // sw + 1
    if oh < 1 or ow < 1:  # a cache the forward did not make: let output_size say what is wrong
        output_size(h, kh, stride=sh, pad=ph, dilation=dh)
        output_size(w_, kw, stride=sw, pad=pw, dilation=dw)
    return oh, ow


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


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], *,
           dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The im2col matrix of a padded input, one (C*KH*KW, OH*OW) matrix per sample.

    xp: (N, C, Hp, Wp) -> cols: (N, C*KH*KW, OH*OW), C-contiguous, with
    cols[n, (c*KH + u)*KW + v, i*OW + j] = xp[n, c, i*sh + u*dh, j*sw + v*dw]
    (dilation (dh, dw), (1, 1) unless given).
    The copy is made in this order so that its innermost axis (j) reads
    neighbouring input columns, and so that w.reshape(F, C*KH*KW) @ cols[n]
    is already sample n's output in NCHW order.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, c, hp, wp = xp.shape
    oh, ow = (hp - _span(kh, dh)) // sh + 1, (wp - _span(kw, dw)) // sw + 1
    xp = np.ascontiguousarray(xp)
    s_n, s_c, s_h, s_w = xp.strides
    # a view (N, C, KH, KW, OH, OW) of the windows: entry [n, c, u, v, i, j] = xp[n, c, i*sh + u*dh, j*sw + v*dw]
    win = np.ndarray((n, c, kh, kw, oh, ow), dtype=xp.dtype, buffer=xp,
                     strides=(s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w))
    return win.reshape(n, c * kh * kw, oh * ow)  # the reshape makes the copy, in this order


def _im2col_batch_last(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The im2col matrix of the whole batch with the batch folded into the columns, batch last.

    xp: (N, C, Hp, Wp) -> cols: (C*KH*KW, OH*OW*N), C-contiguous, with
    cols[(c*KH + u)*KW + v, (i*OW + j)*N + n] = xp[n, c, i*sh + u, j*sw + v]: one matrix
    product w.reshape(F, C*KH*KW) @ cols gives the output of every image, with axes (F, OH, OW, N).
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c, hp, wp = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    xt = np.ascontiguousarray(xp.transpose(1, 2, 3, 0))  # (C, Hp, Wp, N): the batch is the contiguous axis
    s_c, s_h, s_w, s_n = xt.strides
    win = np.ndarray((c, kh, kw, oh, ow, n), dtype=xt.dtype, buffer=xt,
                     strides=(s_c, s_h, s_w, sh * s_h, sw * s_w, s_n))
    return win.reshape(c * kh * kw, oh * ow * n)  # the copy; its innermost runs are (j, n) or n long


def col2im(dcols: np.ndarray, xp_shape: tuple, kernel: tuple[int, int], stride: tuple[int, int],
           out_hw: tuple[int, int], *, dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The adjoint of im2col: add every column entry back to the pixel it was copied from.

    dcols: (N, C*KH*KW, OH*OW) -> dxp: (N, C, Hp, Wp), by one strided addition
    per kernel offset (u, v): dxp[:, :, u*dh + i*sh, v*dw + j*sw] += dcols[:, (c, u, v), (i, j)].
    """
    (kh, kw), (sh, sw), (oh, ow), (dh, dw) = kernel, stride, out_hw, dilation
    n, c = xp_shape[:2]
    d6 = dcols.reshape(n, c, kh, kw, oh, ow)
    dxp = np.zeros(xp_shape, dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u * dh : u * dh + sh * oh : sh, v * dw : v * dw + sw * ow : sw] += d6[:, :, u, v]
    return dxp


def _grouped_matmul(a: np.ndarray, cols: np.ndarray, groups: int) -> np.ndarray:
    """(A_g @ cols[n, g]) for every sample n and group g, stacked back along the rows.

    a: (R, K) with R and K split into G groups -> a.reshape(G, R/G, K) holds one (R/G, K) block
    per group (the rows of group g, its columns only); cols: (N, G*K, P) -> (N, R, P).
    """
    n, gk, p = cols.shape
    r = a.shape[0]
    if groups == 1:
        return np.matmul(a, cols)
    k = gk // groups
    if r == groups and k * p >= 512 and p >= 16:
        # one row per group (depthwise): einsum's weighted sum of each block's K rows was
        # measured up to 2x faster than N*G matrix products of a single row
        return np.einsum("gk,ngkp->ngp", a, cols.reshape(n, groups, k, p))
    out = np.matmul(a.reshape(groups, r // groups, -1), cols.reshape(n, groups, k, p))
    return out.reshape(n, r, p)


def conv2d_forward(x, w, b, *, stride=1, pad=0, dilation=1, groups=1):
    """Cross-correlation layer.

    x: (N, C, H, W), w: (F, C/groups, KH, KW), b: (F,); stride, pad, dilation: int or (h, w);
    groups: int dividing C and F.  Returns y: (N, F, OH, OW) with
    OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1, and a ConvCache.  The windows of
    the padded input are copied into an im2col matrix cols (N, C*KH*KW, OH*OW) and
    contracted with the kernel in one batched matrix product,
    y[n] = w.reshape(F, C*KH*KW) @ cols[n] + b (im2col); with groups, one product per
    group, between that group's filters and the rows of its channels.  The same sums are
    arranged in one of three ways, chosen by shape (measured, see each helper):

    * stride 1, at least 8 channels, outputs large enough for the kernel: the tall layout, in which
      a kernel offset is a shift along the rows of all images stacked one under another, and
      no im2col matrix is formed (_tall_pays, _tall_corr);
    * at most 64 output positions, plain layer: the batch folded into the columns of one
      (C*KH*KW, OH*OW*N) matrix and one product for the whole batch (_folded_pays);
    * otherwise one product per image on the whole batch's matrix, kept in the cache for the
      backward up to COLS_CACHE_BYTES.
    """
    x, w, b, stride, pad, dilation, groups = _check_forward(x, w, b, stride, pad, dilation, groups)
    (n, _, h, w_), (f, _, kh, kw) = x.shape, w.shape
    kernel = (kh, kw)
    oh = (h + 2 * pad[0] - _span(kh, dilation[0])) // stride[0] + 1
    ow = (w_ + 2 * pad[1] - _span(kw, dilation[1])) // stride[1] + 1
    dtype = np.result_type(x, w, b)
    if _tall_pays(x.shape[1], groups, kernel, stride, (oh, ow)):
        y, buf = _tall_forward(x, w, b, pad, dilation, groups, dtype)
        return y, ConvCache(x, w, b, stride, pad, dilation, groups, (x, kernel, stride, pad, dilation, buf))
    if groups == 1 and dilation == (1, 1) and _folded_pays((oh, ow)):
        cols = _im2col_batch_last(_pad_fast(x, pad).astype(dtype, copy=False), kernel, stride)
        yf = w.reshape(f, -1).astype(dtype, copy=False) @ cols  # (F, OH*OW*N)
        yf += b.astype(dtype, copy=False)[:, None]
        y = np.ascontiguousarray(yf.reshape(f, oh, ow, n).transpose(3, 0, 1, 2))
        keep = (x, kernel, stride, pad, dilation, cols) if cols.nbytes <= COLS_CACHE_BYTES else None
        return y, ConvCache(x, w, b, stride, pad, dilation, groups, keep)
    cols = im2col(_pad_fast(x, pad), kernel, stride, dilation=dilation)
    w2, cols = w.reshape(f, -1).astype(dtype, copy=False), cols.astype(dtype, copy=False)
    y = np.matmul(w2, cols) if groups == 1 else _grouped_matmul(w2, cols, groups)
    y += b.astype(dtype, copy=False)[:, None]
    keep = (x, kernel, stride, pad, dilation, cols) if cols.nbytes <= COLS_CACHE_BYTES else None
    return y.reshape(n, f, oh, ow), ConvCache(x, w, b, stride, pad, dilation, groups, keep)


def _cached_cols(cache: ConvCache):
    if cache.cols is None:
        return None
    x, kernel, stride, pad, dilation, cols = cache.cols
    if (x is cache.x and kernel == cache.w.shape[2:] and stride == cache.stride and pad == cache.pad
            and dilation == cache.dilation):
        return cols
    return None


def _grouped_dw(dy2: np.ndarray, cols: np.ndarray, groups: int) -> np.ndarray:
    """sum_n dy2[n, g] @ cols[n, g].T per group g: dy2 (N, F, P), cols (N, G*K, P) -> (F, K)."""
    n, f, p = dy2.shape
    if groups == 1:
        # (N, F, P) @ (N, P, K): the transposed operand is a view, BLAS reads it as such
        return np.matmul(dy2, cols.transpose(0, 2, 1)).sum(axis=0)
    k = cols.shape[1] // groups
    fg = f // groups
    if fg == 1 and k * p >= 512 and p >= 16:
        # depthwise: one row per group, a dot product over the positions for every (g, k)
        return np.einsum("ngp,ngkp->gk", dy2, cols.reshape(n, groups, k, p))
    prod = np.matmul(dy2.reshape(n, groups, fg, p), cols.reshape(n, groups, k, p).transpose(0, 1, 3, 2))
    return prod.sum(axis=0).reshape(f, k)


def _grouped_dcols(wt: np.ndarray, dy2: np.ndarray, groups: int) -> np.ndarray:
    """The columns' gradient per group: wt (G*K, F/G) = each group's w2[g].T stacked, dy2 (N, F, P)
    -> (N, G*K, P) with block g = w2[g].T @ dy2[n, g]."""
    n, f, p = dy2.shape
    if groups == 1:
        return np.matmul(wt, dy2)
    gk, fg = wt.shape
    k = gk // groups
    if fg == 1:
        # depthwise: an outer product per group, as a broadcast multiplication
        return (wt.reshape(1, groups, k, 1) * dy2.reshape(n, groups, 1, p)).reshape(n, gk, p)
    out = np.matmul(wt.reshape(groups, k, fg), dy2.reshape(n, groups, fg, p))
    return out.reshape(n, gk, p)


def _grouped_wt(w: np.ndarray, groups: int, dtype) -> np.ndarray:
    """w (F, C/G, KH, KW) -> (G*K, F/G), K = C/G*KH*KW: block g is w2[g].T, w2[g] = (F/G, K)."""
    f = w.shape[0]
    if groups == 1:
        return w.reshape(f, -1).T.astype(dtype, copy=False)
    return (w.reshape(groups, f // groups, -1).transpose(0, 2, 1).reshape(-1, f // groups)
            .astype(dtype, copy=False))


def _input_grad(dy: np.ndarray, w: np.ndarray, x_shape, pad, kernel, stride, dilation, groups, dtype):
    """dx (N, C, H, W) = x_shape: the input gradient of the convolution with kernel w (F, C/G, KH, KW).

    dcols[n] = w2.T @ delta2[n] (per group), scattered back to the padded input one kernel
    offset (u, v) at a time (col2im), then the padding is cropped.  (For small outputs and for
    C > 1 the same sums are done with the batch as the last axis, which is faster.)  With
    stride 1 and large outputs it is the full correlation instead, see _input_grad_full.
    """
    n, f, oh, ow = dy.shape
    (ph, pw), (kh, kw), (dh, dw) = pad, kernel, dilation
    if stride == (1, 1) and oh * ow > 256 and dh * (kh - 1) >= ph and dw * (kw - 1) >= pw:
        return _input_grad_full(dy, w, x_shape, pad, kernel, dilation, groups, dtype)
    xp_shape = (n, x_shape[1], x_shape[2] + 2 * ph, x_shape[3] + 2 * pw)
    if groups > 1 and w.shape[1] == 1:
        dxp = _input_grad_depthwise(dy, w, xp_shape, kernel, stride, dilation, groups, dtype)
    else:
        wt = _grouped_wt(w, groups, dtype)  # (C*KH*KW, F/G)
        if _batch_last_pays(xp_shape[1], (oh, ow)):
            dxp = _dx_batch_last(dy, wt, xp_shape, kernel, stride, dilation=dilation, groups=groups)
            dxp = dxp.transpose(3, 0, 1, 2)  # from (C, Hp, Wp, N)
        else:
            dy2 = dy.reshape(n, f, oh * ow).astype(dtype, copy=False)
            dcols = _grouped_dcols(wt, dy2, groups)  # (N, C*KH*KW, P)
            dxp = col2im(dcols, xp_shape, kernel, stride, (oh, ow), dilation=dilation)
    return np.ascontiguousarray(dxp[:, :, ph : ph + x_shape[2], pw : pw + x_shape[3]])


def _input_grad_full(dy, w, x_shape, pad, kernel, dilation, groups, dtype):
    """_input_grad for stride 1 as a convolution: the correlation of delta, zero-padded by
    dilation*(K - 1) - pad (>= 0) on each side, with the kernel rotated by 180 degrees and its
    filter and channel axes swapped within each group (the "full convolution" of the
    convolution chapter, in im2col form: one copy and one product instead of a product and
    KH*KW scattered additions)."""
    n, f, oh, ow = dy.shape
    (kh, kw), (dh, dw), (ph, pw) = kernel, dilation, pad
    c, h, w_ = x_shape[1:]
    fg, cg = f // groups, w.shape[1]
    # (F, C/G, KH, KW) = (G, F/G, C/G, ...) -> (G, C/G, F/G, ...) rotated: the kernel from F to C channels
    wt = w.reshape(groups, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(c, fg * kh * kw)
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    dyp = np.zeros((n, f, h + dh * (kh - 1), w_ + dw * (kw - 1)), dtype=dtype)
    dyp[:, :, eh : eh + oh, ew : ew + ow] = dy  # rows below (the transposed layer's output_padding) stay 0
    cols = im2col(dyp, kernel, (1, 1), dilation=dilation)  # (N, F*KH*KW, H*W)
    return _grouped_matmul(wt.astype(dtype, copy=False), cols, groups).reshape(n, c, h, w_)


def _input_grad_depthwise(dy, w, xp_shape, kernel, stride, dilation, groups, dtype):
    """_input_grad when every filter sees one channel (C/groups = 1: depthwise, F = groups*m):
    dxp[n, c, u*dh + i*sh, v*dw + j*sw] += sum_{f in group c} w[f, 0, u, v] * dy[n, f, i, j],
    one kernel offset at a time, without building the (N, C*KH*KW, OH*OW) column gradient."""
    n, f, oh, ow = dy.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    fg = f // groups
    dy = dy.astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    dxp = np.zeros(xp_shape, dtype=dtype)
    share = np.empty((n, groups, oh, ow), dtype=dtype)
    for u in range(kh):
        for v in range(kw):
            if fg == 1:
                np.multiply(dy, w[:, 0, u, v][:, None, None], out=share)
            else:
                np.einsum("ngfij,gf->ngij", dy.reshape(n, groups, fg, oh, ow), w[:, 0, u, v].reshape(groups, fg),
                          out=share)
            dxp[:, :, u * dh : u * dh + sh * oh : sh, v * dw : v * dw + sw * ow : sw] += share
    return dxp


def conv2d_backward(dy, cache: ConvCache):
    """dy: (N, F, OH, OW) -> (dx (N, C, H, W), dw (F, C/groups, KH, KW), db (F,)).

    With delta2 = dy.reshape(N, F, OH*OW) and w2 = w.reshape(F, C/groups*KH*KW):
    dw = sum_n delta2[n] @ cols[n].T (the forward's im2col matrix, reused; with groups,
    per group); db = dy summed over n, i, j; dx: dcols[n] = w2.T @ delta2[n] scattered
    back to the padded input one kernel offset (u, v) at a time (col2im),
    then the padding is cropped.  (For small outputs and for C > 1 the same
    sums are done with the batch as the last axis, which is faster.)  The layers that the
    forward folded (_folded_pays) use one product for the whole batch for dw and for dcols;
    the stride-1 layers of the tall layout (_tall_pays) take dw and dx there (_tall_backward).
    """
    dy = _check_dy(dy, cache)
    x, w, stride, (ph, pw), dilation, groups = cache.x, cache.w, cache.stride, cache.pad, cache.dilation, cache.groups
    n, f, oh, ow = dy.shape
    kernel = w.shape[2:]
    dtype = np.result_type(dy, x, w)
    if _tall_pays(x.shape[1], groups, kernel, stride, (oh, ow)):
        dx, dw = _tall_backward(dy, x, w, (ph, pw), dilation, groups, dtype, buf=_cached_cols(cache))
        return dx, dw, dy.sum(axis=(0, 2, 3))
    dy2 = dy.reshape(n, f, oh * ow).astype(dtype, copy=False)
    cols = _cached_cols(cache)
    if groups == 1 and dilation == (1, 1) and _folded_pays((oh, ow)):
        return _backward_folded(dy, cache, cols, dtype)
    if cols is not None and cols.ndim == 2:  # a folded matrix, but this cache is not the plain layer's
        cols = None
    if cols is None:
        cols = im2col(_pad_fast(x, (ph, pw)), kernel, stride, dilation=dilation)
    cols = cols.astype(dtype, copy=False)
    db = dy.sum(axis=(0, 2, 3))
    xp_shape = (n, x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)
    if groups == 1 and dilation == (1, 1):
        # the plain layer, exactly as before dilation and groups existed
        # (N, F, P) @ (N, P, K): the transposed operand is a view, BLAS reads it as such
        dw = np.matmul(dy2, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
        w2t = w.reshape(f, -1).T.astype(dtype, copy=False)  # (K, F)
        if _full_correlation_pays(x.shape[1], f, kernel, stride, (ph, pw), (oh, ow)):
            dx = _input_grad_full(dy, w, x.shape, (ph, pw), kernel, (1, 1), 1, dtype)
            return dx, dw, db
        if _batch_last_pays(x.shape[1], (oh, ow)):
            dxp = _dx_batch_last(dy, w2t, xp_shape, kernel, stride)  # (C, Hp, Wp, N)
            dx = dxp[:, ph : ph + x.shape[2], pw : pw + x.shape[3]].transpose(3, 0, 1, 2)
        else:
            dcols = np.matmul(w2t, dy2)  # (N, K, P)
            dxp = col2im(dcols, xp_shape, kernel, stride, (oh, ow))
            dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
        return np.ascontiguousarray(dx), dw, db
    dw = _grouped_dw(dy2, cols, groups).reshape(w.shape)
    dx = _input_grad(dy, w, x.shape, (ph, pw), kernel, stride, dilation, groups, dtype)
    return dx, dw, db


def _folded_pays(out_hw) -> bool:
    """Whether the plain layer folds the batch into the columns of one matrix product per pass
    (_im2col_batch_last) instead of one product per image: for outputs of at most 64 positions,
    where the per-image matrices are small (one product per image costs a call each) and the
    copy's innermost runs of OW entries are short.  Measured (N = 64, H = 8, one thread,
    interleaved): 0.68-0.94x the time of the per-image layout in float32 and 0.85-0.96x in
    float64; for 28x28 inputs the two were within 10% of each other."""
    return out_hw[0] * out_hw[1] <= 64


def _backward_folded(dy, cache: ConvCache, cols, dtype):
    """conv2d_backward for the layers of _folded_pays, on the folded matrix cols (C*KH*KW,
    OH*OW*N) (the forward's, or built again): with delta as (F, OH*OW*N),
    dw = delta @ cols.T (one product for the whole batch) and dx by _dx_batch_last."""
    x, w, stride, (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    n, f, oh, ow = dy.shape
    kernel = w.shape[2:]
    if cols is None or cols.ndim != 2:
        cols = _im2col_batch_last(_pad_fast(x, (ph, pw)), kernel, stride)
    cols = cols.astype(dtype, copy=False)
    dyt = np.ascontiguousarray(dy.transpose(1, 2, 3, 0).astype(dtype, copy=False)).reshape(f, -1)
    dw = (dyt @ cols.T).reshape(w.shape)
    xp_shape = (n, x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)
    w2t = w.reshape(f, -1).T.astype(dtype, copy=False)
    dxp = _dx_batch_last(dy, w2t, xp_shape, kernel, stride, dyt=dyt)  # (C, Hp, Wp, N)
    dx = np.ascontiguousarray(dxp[:, ph : ph + x.shape[2], pw : pw + x.shape[3]].transpose(3, 0, 1, 2))
    return dx, dw, dy.sum(axis=(0, 2, 3))


def _full_correlation_pays(channels, filters, kernel, stride, pad, out_hw) -> bool:
    """Whether the plain layer's input gradient is faster as the full correlation of delta with
    the rotated kernel (_input_grad_full: an im2col of the padded delta, N*F*KH*KW*H*W numbers,
    and one product) than as W^T delta followed by col2im's KH*KW strided additions.
    Measured (N = 64, one thread, stride 1, H = 28): with F <= C it took 0.3-0.6x the time of
    the batch-last col2im (e.g. C = 16, F = 8, k = 5: 7.6 against 21 ms in float32); with F > C
    the larger im2col matrix of delta made it up to 2x slower, and for outputs of at most 16x16
    the fixed costs of the extra copy lose."""
    (kh, kw), (ph, pw) = kernel, pad
    return (stride == (1, 1) and out_hw[0] * out_hw[1] > 256 and filters <= channels
            and kh - 1 >= ph and kw - 1 >= pw)


def _batch_last_pays(channels, out_hw) -> bool:
    """Whether col2im is faster with the batch as the last (contiguous) axis: measured so for
    small outputs (short rows make the strided additions slow), and for C > 1.  (With freed
    memory kept, see cnnbook.memory, stride-2 layers of 28x28 with a 3x3 kernel took 0.82-0.94x
    the time of the NCHW col2im, forward + backward, plain and grouped; with C = 1, 0.98-1.07x.)"""
    if out_hw[0] * out_hw[1] <= 64:
        return True
    return channels > 1


def _dx_batch_last(dy, w2t, xp_shape, kernel, stride, *, dilation=(1, 1), groups=1, dyt=None):
    """dxp with axes (C, Hp, Wp, N): the same sums as col2im(w2t @ delta), with the batch last.

    One matrix product (K, F) @ (F, OH*OW*N) (per group) gives dcols[(c, u, v), (i, j, n)];
    each kernel offset then adds a block whose innermost axis (n, or (j, n) for stride 1) is
    contiguous, which keeps the strided additions long.
    """
    n, f, oh, ow = dy.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    c = xp_shape[1]
    if dyt is None:  # delta as (F, OH*OW*N); the folded backward has made it already
        dyt = np.ascontiguousarray(dy.transpose(1, 2, 3, 0).astype(w2t.dtype, copy=False)).reshape(f, -1)
    if groups == 1:
        d6 = (w2t @ dyt).reshape(c, kh, kw, oh, ow, n)
    else:
        d6 = _grouped_dcols(w2t, dyt[None], groups).reshape(c, kh, kw, oh, ow, n)
    dxp = np.zeros((c, xp_shape[2], xp_shape[3], n), dtype=d6.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, u * dh : u * dh + sh * oh : sh, v * dw : v * dw + sw * ow : sw, :] += d6[:, u, v]
    return dxp


# --------------------------------------------------------------------------- stride 1: the tall layout

# Each block of the tall layout's products copies about this many bytes of shifted rows and
# product, so that both are still in the processor's cache when they are read again (measured
# best among 0.25-32 MiB).
TALL_BLOCK_BYTES = 4 * 2**20


def _tall_pays(channels, groups, kernel, stride, out_hw) -> bool:
    """Whether a stride-1 layer with at least 8 input channels runs in the tall layout
    (_tall_forward, _tall_backward): with groups, for outputs of more than 64 positions; without,
    once positions * KH * KW >= 2048 (from 16x16 outputs for a 3x3 kernel, 10x10 for 5x5), where
    the copies it saves outweigh the products it computes and drops at the images' edges.
    Measured (one thread, interleaved, freed memory kept, see cnnbook.memory), forward + backward
    against the previous arrangements: 0.77-0.91x their time for 28x28 plain layers with C = 8 or
    16 in float32 and 0.79-0.89x in float64 (0.98 in both for C = 8, F = 32, 5x5); 0.51-0.97x for
    depthwise layers of 14x14 and 28x28, 0.45-0.90x for grouped and depthwise ones of 9x9 and
    10x10; plain layers of 10x10 to 14x14 with a 3x3 kernel were 1.0-1.27x, and of 9x9 with 5x5
    1.4x (hence the product rule)."""
    positions = out_hw[0] * out_hw[1]
    if stride != (1, 1) or channels < 8:
        return False
    return positions > 64 if groups > 1 else positions * kernel[0] * kernel[1] >= 2048


def _tall(a, grid, at, dtype, *, lead=0, tail=0):
    """a (N, C, H, W) -> (C, lead + N*GH*GW + tail): channel by channel, the images one under
    another, each placed at row and column ``at`` of a zero grid of GH x GW, flattened; zeros
    before (lead) and after (tail)."""
    n, c, h, w = a.shape
    (gh, gw), (r, s) = grid, at
    buf = np.zeros((c, lead + n * gh * gw + tail), dtype=dtype)
    buf[:, lead : lead + n * gh * gw].reshape(c, n, gh, gw)[:, :, r : r + h, s : s + w] = a.transpose(1, 0, 2, 3)
    return buf


def _tall_block(rows_per_column, itemsize) -> int:
    return max(256, TALL_BLOCK_BYTES // (rows_per_column * itemsize))


def _tall_corr(buf, w, groups, wp, dilation, out):
    """The stride-1 correlation in the tall layout: out (F, Q) with
    out[f, t] = sum over the C/G channels c' of f's group and the kernel offsets (u, v) of
    w[f, c', u, v] * buf[g*C/G + c', t + u*dh*wp + v*dw].

    buf (C, >= Q + dh*(KH - 1)*wp + dw*(KW - 1)) is a tall layout (_tall) with rows of wp
    columns: moving down by u kernel rows is moving along it by u*dh*wp, so every window is a
    set of KH*KW shifted copies of the same row, and no im2col matrix is needed.  Block by
    block of positions t: the KW column shifts of each channel are copied (rows (c, v)), one
    product with the kernel rows of all KH offsets at once gives Z[(u, f), t], and the KH
    blocks are added, each shifted back by its u*dh*wp.  Depthwise (C/G = 1): with one filter
    per channel, KH*KW multiply-adds of whole shifted rows; with more, all KH*KW shifts are
    copied and each channel's filters multiply them in one product."""
    f, cg, kh, kw = w.shape
    dh, dw = dilation
    c, sh, fg = buf.shape[0], dh * wp, f // groups
    q = out.shape[1]
    s0, s1 = buf.strides
    offsets = [u * sh + v * dw for u in range(kh) for v in range(kw)]
    if cg == 1 and fg == 1:
        # one filter per channel: KH*KW multiply-adds of whole shifted rows, in place (a product
        # per channel would have only one row, and copying the shifts costs more than it saves)
        w2, part = w.reshape(c, kh * kw), np.empty((c, q), dtype=buf.dtype)
        np.multiply(buf[:, :q], w2[:, :1], out=out)
        for k, off in enumerate(offsets[1:], start=1):
            out += np.multiply(buf[:, off : off + q], w2[:, k : k + 1], out=part)
        return out
    if cg == 1:
        w3 = w.reshape(groups, fg, kh * kw)
        block = _tall_block(kh * kw * c, buf.itemsize)
        for lo in range(0, q, block):
            b = min(block, q - lo)
            cols = as_strided(buf[:, lo:], (c, kh, kw, b), (s0, sh * s1, dw * s1, s1)).reshape(c, kh * kw, b)
            out[:, lo : lo + b] = np.matmul(w3, cols).reshape(f, b)
        return out
    # wz[g, (u, f'), (c', v)] = w[g*F/G + f', c', u, v]
    wz = w.reshape(groups, fg, cg, kh, kw).transpose(0, 3, 1, 2, 4).reshape(groups, kh * fg, cg * kw)
    block = _tall_block(kw * c + kh * f, buf.itemsize)  # the shifted rows and the product Z
    for lo in range(0, q, block):
        b = min(block, q - lo)
        span = b + sh * (kh - 1)
        rows = as_strided(buf[:, lo:], (c, kw, span), (s0, dw * s1, s1)).reshape(groups, cg * kw, span)
        z = np.matmul(wz, rows).reshape(groups, kh, fg, span)
        o = out[:, lo : lo + b].reshape(groups, fg, b)
        np.copyto(o, z[:, 0, :, :b])
        for u in range(1, kh):
            o += z[:, u, :, u * sh : u * sh + b]
    return out


def _tall_grad_w(dyb, lead, buf, w_shape, groups, wp, dilation, total):
    """dw (F, C/G, KH, KW) = sum over t of delta[f, t] * buf[c, t + u*dh*wp + v*dw], with delta
    in the tall layout dyb[:, lead + t] (zeros where no output is, and before it: lead >=
    dh*(KH - 1)*wp).  Block by block: the KW column shifts of buf (rows (c, v)) and the KH row
    shifts of delta (rows (u, f)) are copied, and one product per group adds their dot
    products.  Depthwise: with one filter per channel, one dot product per channel and kernel
    offset; with more, all KH*KW shifts of buf against delta itself."""
    f, cg, kh, kw = w_shape
    dh, dw = dilation
    c, sh, fg = buf.shape[0], dh * wp, f // groups
    s0, s1 = buf.strides
    if cg == 1 and fg == 1:
        # one filter per channel: a dot product per channel for each kernel offset
        q = total - sh * (kh - 1)
        dy_rows = dyb[:, lead : lead + q]
        dw_ = np.stack([np.vecdot(dy_rows, buf[:, u * sh + v * dw : u * sh + v * dw + q])
                        for u in range(kh) for v in range(kw)], axis=1)
        return dw_.reshape(f, 1, kh, kw)
    if cg == 1:
        acc = np.zeros((groups, fg, kh * kw), dtype=buf.dtype)
        q = total - sh * (kh - 1)
        block = _tall_block(kh * kw * c, buf.itemsize)
        for lo in range(0, q, block):
            b = min(block, q - lo)
            cols = as_strided(buf[:, lo:], (c, kh, kw, b), (s0, sh * s1, dw * s1, s1)).reshape(c, kh * kw, b)
            acc += np.matmul(dyb[:, lead + lo : lead + lo + b].reshape(groups, fg, b), cols.transpose(0, 2, 1))
        return acc.reshape(f, 1, kh, kw)
    acc = np.zeros((groups, kh * fg, cg * kw), dtype=buf.dtype)
    dyg = dyb.reshape(groups, fg, -1)
    block = _tall_block(kw * c + kh * f, buf.itemsize)
    for lo in range(0, total, block):
        b = min(block, total - lo)
        rows = as_strided(buf[:, lo:], (c, kw, b), (s0, dw * s1, s1)).reshape(groups, cg * kw, b)
        shifted = np.stack([dyg[:, :, lead + lo - u * sh : lead + lo - u * sh + b] for u in range(kh)], axis=1)
        acc += np.matmul(shifted.reshape(groups, kh * fg, b), rows.transpose(0, 2, 1))
    return np.ascontiguousarray(acc.reshape(groups, kh, fg, cg, kw).transpose(0, 2, 3, 1, 4)).reshape(f, cg, kh, kw)


def _tall_forward(x, w, b, pad, dilation, groups, dtype):
    """y (N, F, OH, OW) of a stride-1 layer in the tall layout (_tall_corr), and the tall
    buffer of the padded input, which the backward pass reuses."""
    n, c, h, w_ = x.shape
    f, _, kh, kw = w.shape
    (ph, pw), (dh, dw) = pad, dilation
    hp, wp = h + 2 * ph, w_ + 2 * pw
    oh, ow = hp - dh * (kh - 1), wp - dw * (kw - 1)
    total = n * hp * wp
    buf = _tall(x, (hp, wp), (ph, pw), dtype, tail=dw * (kw - 1))
    yt = np.empty((f, total), dtype=dtype)  # one output per grid position; only (i < OH, j < OW) are outputs
    _tall_corr(buf, w.astype(dtype, copy=False), groups, wp, dilation, yt[:, : total - dh * (kh - 1) * wp])
    y = np.empty((n, f, oh, ow), dtype=dtype)
    np.add(yt.reshape(f, n, hp, wp)[:, :, :oh, :ow].transpose(1, 0, 2, 3), b.astype(dtype, copy=False)[:, None, None],
           out=y)
    return y, buf


def _tall_backward(dy, x, w, pad, dilation, groups, dtype, buf=None):
    """(dx, dw) of a stride-1 layer in the tall layout: delta placed on the same grid as the
    padded input, dw by _tall_grad_w, and dx (the whole padded grid, then cropped) as the
    correlation of delta with the kernel rotated by 180 degrees, its filter and channel axes
    swapped within each group (the full correlation of the convolution chapter)."""
    n, c, h, w_ = x.shape
    f, cg, kh, kw = w.shape
    (ph, pw), (dh, dw) = pad, dilation
    hp, wp = h + 2 * ph, w_ + 2 * pw
    total = n * hp * wp
    lead = dh * (kh - 1) * wp + dw * (kw - 1)
    if buf is None or buf.shape != (c, total + dw * (kw - 1)) or buf.dtype != dtype:
        buf = _tall(x, (hp, wp), (ph, pw), dtype, tail=dw * (kw - 1))
    dyb = _tall(dy, (hp, wp), (0, 0), dtype, lead=lead)
    dw_ = _tall_grad_w(dyb, lead, buf, w.shape, groups, wp, dilation, total)
    fg = f // groups
    wr = w.reshape(groups, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(c, fg, kh, kw)
    dxt = _tall_corr(dyb, wr.astype(dtype, copy=False), groups, wp, dilation, np.empty((c, total), dtype=dtype))
    dx = np.ascontiguousarray(dxt.reshape(c, n, hp, wp)[:, :, ph : ph + h, pw : pw + w_].transpose(1, 0, 2, 3))
    return dx, dw_


# --------------------------------------------------------------------------- transposed convolution


def _check_transpose_forward(x, w, b, stride, pad, output_padding, dilation, groups, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    w = as_array(w, "w", allow_object=allow_object)
    b = as_array(b, "b", allow_object=allow_object)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    check_ndim(w, "w", 4, "(C, F/groups, KH, KW)")
    check_ndim(b, "b", 1, "(F,)")
    stride = pair(stride, "stride", minimum=1)
    pad = pair(pad, "pad", minimum=0)
    output_padding = pair(output_padding, "output_padding", minimum=0)
    dilation = pair(dilation, "dilation", minimum=1)
    groups = positive_int(groups, "groups")
    if w.shape[0] != x.shape[1]:
        raise ValueError(
            f"channels of w and x must agree: w has shape {w.shape} (C = w.shape[0] = {w.shape[0]}, "
            f"the layout is (C, F/groups, KH, KW)) but x has shape {x.shape} (C = {x.shape[1]})"
        )
    groups = _check_groups(groups, x.shape[1], w.shape[1] * groups, x_name="x", x_shape=x.shape,
                           w_shape=w.shape, filters_where="w.shape[1]*groups")
    f = w.shape[1] * groups
    if b.shape != (f,):
        raise ValueError(
            f"b must have shape (F,) = ({f},) with F = w.shape[1]*groups = {w.shape[1]}*{groups} "
            f"to match w {w.shape}, got {b.shape}"
        )
    _check_output_padding(output_padding, stride, dilation)
    out = tuple((h - 1) * s - 2 * p + d * (k - 1) + op + 1
                for h, s, p, d, k, op in zip(x.shape[2:], stride, pad, dilation, w.shape[2:], output_padding))
    if min(out) < 1:
        raise ValueError(
            f"pad {pad} is too large for x {x.shape} and w {w.shape}: the output size "
            f"(H - 1)*stride - 2*pad + dilation*(KH - 1) + output_padding + 1 is {out}; expected >= 1"
        )
    return x, w, b, stride, pad, output_padding, dilation, groups


def _transpose_out_hw(cache: ConvTransposeCache) -> tuple[int, int]:
    return tuple((h - 1) * s - 2 * p + d * (k - 1) + op + 1 for h, s, p, d, k, op in
                 zip(cache.x.shape[2:], cache.stride, cache.pad, cache.dilation, cache.w.shape[2:],
                     cache.output_padding))


def _check_transpose_dy(dy, cache: ConvTransposeCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    n, f = cache.x.shape[0], cache.w.shape[1] * cache.groups
    check_shape(dy, "dy", (n, f, *_transpose_out_hw(cache)), "(N, F, OH, OW), the forward output")
    return dy


def conv_transpose2d_forward(x, w, b, *, stride=1, pad=0, output_padding=0, dilation=1, groups=1):
    """Transposed convolution (PyTorch's conv_transpose2d): the input gradient of a convolution,
    used as a layer.

    x: (N, C, H, W), w: (C, F/groups, KH, KW) (PyTorch's layout: input channels first), b: (F,);
    stride, pad, output_padding, dilation: int or (h, w), output_padding < max(stride, dilation)
    on each axis; groups: int dividing C and F.  Returns y: (N, F, OH, OW) with
    OH = (H - 1)*stride - 2*pad + dilation*(KH - 1) + output_padding + 1, and a
    ConvTransposeCache.

    y is exactly conv2d_backward's dx for a convolution from F to C channels with kernel w
    (shape (C, F/groups, KH, KW) = (filters, channels/groups, ...) of that convolution) and
    delta x, plus b: each input pixel adds its kernel, scaled, into the output (col2im);
    output_padding adds rows at the bottom (columns at the right) that no pixel reaches.
    """
    x, w, b, stride, pad, output_padding, dilation, groups = _check_transpose_forward(
        x, w, b, stride, pad, output_padding, dilation, groups)
    n, c = x.shape[:2]
    f = w.shape[1] * groups
    kernel = w.shape[2:]
    cache = ConvTransposeCache(x, w, b, stride, pad, output_padding, dilation, groups)
    oh, ow = _transpose_out_hw(cache)
    dtype = np.result_type(x, w, b)
    # the convolution whose input gradient this is maps an (OH + 2*pad)-row padded input with F
    # channels to x; its kernel is w, with C filters of F/groups channels
    y = _input_grad(x.astype(dtype, copy=False), w, (n, f, oh, ow), pad, kernel, stride, dilation, groups, dtype)
    y += b.astype(dtype, copy=False)[:, None, None]
    return y, cache


def conv_transpose2d_backward(dy, cache: ConvTransposeCache):
    """dy: (N, F, OH, OW) -> (dx (N, C, H, W), dw (C, F/groups, KH, KW), db (F,)).

    The forward is linear in x and in w, and its adjoint in x is the convolution:
    dx = conv2d of dy (padded by pad) with kernel w, stride, dilation and groups, keeping
    the first H x W outputs;
    dw[c, f', u, v] = sum_{n,i,j} x[n, c, i, j] * dyp[n, g*F/G + f', i*sh + u*dh, j*sw + v*dw]
    (the convolution's weight gradient with the roles of input and delta swapped);
    db = dy summed over n, i, j.  Both products read one im2col matrix of the padded dy.
    """
    dy = _check_transpose_dy(dy, cache)
    x, w, stride, (ph, pw), dilation, groups = cache.x, cache.w, cache.stride, cache.pad, cache.dilation, cache.groups
    n, c, h, w_ = x.shape
    f, oh, ow = dy.shape[1:]
    kernel = w.shape[2:]
    dtype = np.result_type(dy, x, w)
    # the rows of the padded dy that some window reaches: (H - 1)*stride + dilation*(KH - 1) + 1
    hr = (h - 1) * stride[0] + _span(kernel[0], dilation[0])
    wr = (w_ - 1) * stride[1] + _span(kernel[1], dilation[1])
    dyp = np.zeros((n, f, hr, wr), dtype=dtype)
    rows, cols_ = max(0, min(oh, hr - ph)), max(0, min(ow, wr - pw))
    dyp[:, :, ph : ph + rows, pw : pw + cols_] = dy[:, :, :rows, :cols_]
    cols = im2col(dyp, kernel, stride, dilation=dilation)  # (N, F*KH*KW, H*W)
    x2 = x.reshape(n, c, h * w_).astype(dtype, copy=False)
    dx = _grouped_matmul(w.reshape(c, -1).astype(dtype, copy=False), cols, groups).reshape(n, c, h, w_)
    dw = _grouped_dw(x2, cols, groups).reshape(w.shape)
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db


# --------------------------------------------------------------------------- loop reference


def conv2d_forward_naive(x, w, b, *, stride=1, pad=0, dilation=1, groups=1):
    """Loop reference of conv2d_forward (same arguments, shapes and cache).

    y[n, f, i, j] = b[f] + sum_c' sum_u sum_v w[f, c', u, v] * xp[n, g*Cg + c', i*s + u*d, j*s + v*d]
    with Cg = C/groups channels per group and g = f // (F/groups) the group of filter f.
    """
    x, w, b, stride, pad, dilation, groups = _check_forward(x, w, b, stride, pad, dilation, groups,
                                                            allow_object=True)
    cache = ConvCache(x, w, b, stride, pad, dilation, groups)
    xp = _pad(x, pad)
    n_batch = x.shape[0]
    n_filt, c_group, kh, kw = w.shape
    f_group = n_filt // groups
    oh, ow = _out_hw(cache)
    (sh, sw), (dh, dw) = stride, dilation
    y = np.zeros((n_batch, n_filt, oh, ow), dtype=np.result_type(x, w, b))
    for n in range(n_batch):
        for f in range(n_filt):
            g = f // f_group
            for i in range(oh):
                for j in range(ow):
                    total = b[f]
                    for c in range(c_group):
                        for u in range(kh):
                            for v in range(kw):
                                total = total + w[f, c, u, v] * xp[n, g * c_group + c, i * sh + u * dh, j * sw + v * dw]
                    y[n, f, i, j] = total
    return y, cache


def _bias_grad_naive(dy, dtype):
    """db_f = sum over n, i, j of dy[n, f, i, j], as loops.  dy: (N, F, OH, OW) -> (F,)."""
    n_batch, n_filt, oh, ow = dy.shape
    db = np.zeros(n_filt, dtype=dtype)
    for f in range(n_filt):
        total = 0
        for n in range(n_batch):
            for i in range(oh):
                for j in range(ow):
                    total = total + dy[n, f, i, j]
        db[f] = total
    return db


def conv2d_backward_naive(dy, cache: ConvCache):
    """Loop reference of conv2d_backward: each gradient entry is its formula.

    dw[f, c', u, v] = sum_n sum_i sum_j dy[n, f, i, j] * xp[n, g*Cg + c', i*s + u*d, j*s + v*d]
    db[f]           = sum_n sum_i sum_j dy[n, f, i, j]
    dxp[n, c, p, q] = sum_{f in the group of c} sum_i sum_j dy[n, f, i, j] * w[f, c - g*Cg, u, v]
                      with u = (p - i*s)/d, v = (q - j*s)/d (only the terms where both are
                      integers with 0 <= u < KH and 0 <= v < KW)
    dx = dxp without the padding.  g = f // (F/groups), Cg = C/groups.
    """
    dy = _check_dy(dy, cache, allow_object=True)
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    (dh, dw_), groups = cache.dilation, cache.groups
    xp = _pad(x, (ph, pw))
    n_batch, n_chan, hp, wp = xp.shape
    n_filt, c_group, kh, kw = w.shape
    f_group = n_filt // groups
    _, _, oh, ow = dy.shape
    dtype = np.result_type(dy, x, w)

    dw = np.zeros(w.shape, dtype=dtype)
    for f in range(n_filt):
        g = f // f_group
        for c in range(c_group):
            for u in range(kh):
                for v in range(kw):
                    total = 0
                    for n in range(n_batch):
                        for i in range(oh):
                            for j in range(ow):
                                total = total + (dy[n, f, i, j]
                                                 * xp[n, g * c_group + c, i * sh + u * dh, j * sw + v * dw_])
                    dw[f, c, u, v] = total

    db = _bias_grad_naive(dy, dtype)

    dxp = np.zeros((n_batch, n_chan, hp, wp), dtype=dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            g = c // c_group
            for p in range(hp):
                for q in range(wp):
                    total = 0
                    for f in range(g * f_group, (g + 1) * f_group):
                        for i in range(oh):
                            for j in range(ow):
                                a, e = p - i * sh, q - j * sw  # u*dh and v*dw
                                if a % dh == 0 and e % dw_ == 0 and 0 <= a // dh < kh and 0 <= e // dw_ < kw:
                                    total = total + dy[n, f, i, j] * w[f, c - g * c_group, a // dh, e // dw_]
                    dxp[n, c, p, q] = total
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dw, db


def conv_transpose2d_forward_naive(x, w, b, *, stride=1, pad=0, output_padding=0, dilation=1, groups=1):
    """Loop reference of conv_transpose2d_forward (same arguments, shapes and cache).

    Every input pixel scatters its kernel into the padded output yp (OH + 2*pad rows):
    yp[n, g*Fg + f', i*s + u*d, j*s + v*d] += x[n, c, i, j] * w[c, f', u, v]
    for c in group g = c // (C/groups), Fg = F/groups; then y = yp without the padding, plus b.
    """
    x, w, b, stride, pad, output_padding, dilation, groups = _check_transpose_forward(
        x, w, b, stride, pad, output_padding, dilation, groups, allow_object=True)
    cache = ConvTransposeCache(x, w, b, stride, pad, output_padding, dilation, groups)
    n_batch, n_chan, h, w_ = x.shape
    _, f_group, kh, kw = w.shape
    c_group = n_chan // groups
    oh, ow = _transpose_out_hw(cache)
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    yp = np.zeros((n_batch, f_group * groups, oh + 2 * ph, ow + 2 * pw), dtype=np.result_type(x, w, b))
    for n in range(n_batch):
        for c in range(n_chan):
            g = c // c_group
            for i in range(h):
                for j in range(w_):
                    for f in range(f_group):
                        for u in range(kh):
                            for v in range(kw):
                                yp[n, g * f_group + f, i * sh + u * dh, j * sw + v * dw] += (x[n, c, i, j]
                                                                                             * w[c, f, u, v])
    y = yp[:, :, ph : ph + oh, pw : pw + ow]
    for f in range(f_group * groups):
        y[:, f] += b[f]
    return y, cache


def conv_transpose2d_backward_naive(dy, cache: ConvTransposeCache):
    """Loop reference of conv_transpose2d_backward: each gradient entry is its formula.

    With dyp = dy zero-padded by pad (the output rows the forward cropped get no gradient):
    dx[n, c, i, j]  = sum_f' sum_u sum_v dyp[n, g*Fg + f', i*s + u*d, j*s + v*d] * w[c, f', u, v]
    dw[c, f', u, v] = sum_n sum_i sum_j x[n, c, i, j] * dyp[n, g*Fg + f', i*s + u*d, j*s + v*d]
    db[f]           = sum_n sum_i sum_j dy[n, f, i, j]
    (g = c // (C/groups), Fg = F/groups).
    """
    dy = _check_transpose_dy(dy, cache, allow_object=True)
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    (dh, dw_), groups = cache.dilation, cache.groups
    n_batch, n_chan, h, w_ = x.shape
    _, f_group, kh, kw = w.shape
    c_group = n_chan // groups
    n_filt, oh, ow = dy.shape[1:]
    dtype = np.result_type(dy, x, w)
    dyp = _pad(dy, (ph, pw))

    dx = np.zeros(x.shape, dtype=dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            g = c // c_group
            for i in range(h):
                for j in range(w_):
                    total = 0
                    for f in range(f_group):
                        for u in range(kh):
                            for v in range(kw):
                                total = total + (dyp[n, g * f_group + f, i * sh + u * dh, j * sw + v * dw_]
                                                 * w[c, f, u, v])
                    dx[n, c, i, j] = total

    dw = np.zeros(w.shape, dtype=dtype)
    for c in range(n_chan):
        g = c // c_group
        for f in range(f_group):
            for u in range(kh):
                for v in range(kw):
                    total = 0
                    for n in range(n_batch):
                        for i in range(h):
                            for j in range(w_):
                                total = total + (x[n, c, i, j]
                                                 * dyp[n, g * f_group + f, i * sh + u * dh, j * sw + v * dw_])
                    dw[c, f, u, v] = total

    db = _bias_grad_naive(dy, dtype)
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
