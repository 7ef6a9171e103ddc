r"""Convolution and pooling written as matrices: the layer is :math:`y = A x`.

A convolution (bias left out) and an average-pooling layer are linear maps of their input, and a
max-pooling layer is one too as long as its choice of maxima stays the same. Flatten the input
and the output in C order (``x.ravel()``, ``y.ravel()``) and the layer is a matrix-vector
product :math:`y = A x`, with one row of :math:`A` per output and one column per input pixel.
The backward pass of every such layer is then the same formula,

.. math::
    \frac{\partial E}{\partial x} = A^\top \delta ,

the fully-connected layer's :math:`\delta W^\top` with :math:`W = A^\top` (the book's dense
layers multiply row vectors, :math:`y = xW`).

Index conventions (0-based, one spatial axis; the 2-D matrices combine two of them): output
:math:`i` of a convolution with stride :math:`s`, padding :math:`p` and dilation :math:`d` reads
the padded input at :math:`P = is + ud` for the kernel offsets :math:`u = 0, \dots, K-1`, so

.. math::
    A_{i,\,P} = w_u \quad\text{if } P = is + ud, \qquad 0 \text{ otherwise},

where :math:`P` indexes the padded input (``padded=True``); the unpadded input's column
:math:`k` is the padded column :math:`k + p` (``padded=False``, the default, drops the columns of
the padding: that is the crop of the backward pass).

The builders only *place* the kernel entries (an entry of :math:`A` receives at most one kernel
entry), so ``w`` may be an object array of labels or sympy symbols; the zeros are then the int 0.

Shapes: N batch, C input channels, F filters, H/W input size, KH/KW kernel, OH/OW output.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._validate import pair


def _int_at_least(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} (one spatial axis), got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- one axis


def conv_output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1 for one spatial axis.

    The dilated kernel spans dilation*(KH - 1) + 1 input rows; it must fit the padded input.
    """
    size, kernel = _int_at_least(size, "size", 1), _int_at_least(kernel, "kernel", 1)
    stride, pad = _int_at_least(stride, "stride", 1), _int_at_least(pad, "pad", 0)
    dilation = _int_at_least(dilation, "dilation", 1)
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * pad:
        raise ValueError(
            f"the dilated kernel spans dilation*(kernel - 1) + 1 = {dilation}*({kernel} - 1) + 1 = {span} rows, "
            f"more than the padded input size {size} + 2*{pad} = {size + 2 * pad}; expected span <= size + 2*pad"
        )
    return (size + 2 * pad - span) // stride + 1


def conv_taps(size: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1) -> list[tuple[int, int, int]]:
    """Every (i, P, u) with P = i*stride + u*dilation: output i reads padded position P through
    kernel offset u.  Positions P index the padded axis (0 .. size + 2*pad - 1)."""
    n_out = conv_output_size(size, kernel, stride=stride, pad=pad, dilation=dilation)
    return [(i, i * stride + u * dilation, u) for i in range(n_out) for u in range(kernel)]


def unreached(size: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """r = (H + 2*pad - dilation*(KH - 1) - 1) mod stride: the padded rows after the last window."""
    conv_output_size(size, kernel, stride=stride, pad=pad, dilation=dilation)  # validates
    return (size + 2 * pad - dilation * (kernel - 1) - 1) % stride


def pool_output_size(size: int, window: int, *, stride: int | None = None, pad: int = 0,
                     ceil_mode: bool = False) -> int:
    """Number of pooling windows along one axis, by PyTorch's rule.

    floor((H + 2*pad - K) / stride) + 1, or with ``ceil_mode`` the ceiling instead, minus one if
    that last window would start in the right padding (it must start inside the input or its left
    padding).  ``pad`` may be at most window // 2 (so that every window holds an input position).
    """
    size, window = _int_at_least(size, "size", 1), _int_at_least(window, "window", 1)
    stride = window if stride is None else _int_at_least(stride, "stride", 1)
    pad = _int_at_least(pad, "pad", 0)
    if 2 * pad > window:
        raise ValueError(f"pad must be at most window / 2 = {window}/2, got pad = {pad}")
    if window > size + 2 * pad:
        raise ValueError(
            f"window {window} is larger than the padded input size {size} + 2*{pad} = {size + 2 * pad}"
        )
    span = size + 2 * pad - window
    n_out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n_out - 1) * stride >= size + pad:
        n_out -= 1
    return n_out


def pool_windows(size: int, window: int, *, stride: int | None = None, pad: int = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> list[tuple[int, int, int]]:
    """(start, stop, divisor) of every window along one axis, in *unpadded* input coordinates.

    The window of output i covers the unpadded positions start .. stop - 1 (clipped to the input);
    its average divides by ``divisor``: with ``count_include_pad`` the number of its positions
    inside the *padded* input (the padding counts, a part hanging past the padding in ceil_mode
    does not), without it the number inside the input (PyTorch's rule).
    """
    stride = window if stride is None else stride
    n_out = pool_output_size(size, window, stride=stride, pad=pad, ceil_mode=ceil_mode)
    out = []
    for i in range(n_out):
        start = i * stride - pad
        stop_padded = min(start + window, size + pad)
        lo, hi = max(start, 0), min(stop_padded, size)
        out.append((lo, hi, (stop_padded - start) if count_include_pad else (hi - lo)))
    return out


def _conv_taps_2d(input_hw, kernel_hw, stride, pad, dilation):
    rows = conv_taps(input_hw[0], kernel_hw[0], stride=stride[0], pad=pad[0], dilation=dilation[0])
    cols = conv_taps(input_hw[1], kernel_hw[1], stride=stride[1], pad=pad[1], dilation=dilation[1])
    return rows, cols


# --------------------------------------------------------------------------- convolution


def conv1d_matrix(length: int, w, *, stride: int = 1, pad: int = 0, dilation: int = 1,
                  padded: bool = False) -> np.ndarray:
    """The matrix A of a one-channel 1-D convolution (cross-correlation, no bias): y = A @ x.

    length: L, the input size; w: (K,) the kernel (numbers or objects such as sympy symbols).
    Returns A of shape (OL, L), or (OL, L + 2*pad) acting on the padded input if ``padded``, with
    A[i, i*stride + u*dilation] = w[u] in padded columns.
    """
    w = np.asarray(w)
    if w.ndim != 1:
        raise ValueError(f"w must be a 1-D kernel (K,), got shape {w.shape}")
    return conv2d_matrix((1, length), w[None, :], stride=(1, stride), pad=(0, pad), dilation=(1, dilation),
                         padded=padded)


def conv2d_matrix(input_shape, w, *, stride=1, pad=0, dilation=1, groups: int = 1,
                  padded: bool = False) -> np.ndarray:
    """The matrix A of a 2-D convolution layer (cross-correlation, no bias): y.ravel() = A @ x.ravel().

    input_shape: (H, W) with w (KH, KW) (one channel, one filter), or (C, H, W) with
    w (F, C // groups, KH, KW): filter f sees the channels of its group only, group
    f // (F // groups), channels g*C/groups .. (g+1)*C/groups - 1.
    stride, pad, dilation: int or (h, w) pair.  One sample: the rows run over (f, i, j) and the
    columns over (c, p, q) in C order, so A has shape (F*OH*OW, C*H*W); with ``padded`` the columns
    are those of the padded input, (C*(H + 2*ph)*(W + 2*pw)).  Entry
    A[(f, i, j), (c, i*sh + u*dh, j*sw + v*dw)] = w[f, c - g*C/groups, u, v].
    """
    w = np.asarray(w)
    shape = tuple(int(k) for k in input_shape)
    if w.ndim == 2 and len(shape) == 2:
        w, shape = w[None, None], (1, *shape)
    if w.ndim != 4 or len(shape) != 3:
        raise ValueError(
            f"expected input_shape (H, W) with w (KH, KW), or input_shape (C, H, W) with w (F, C/groups, KH, KW); "
            f"got input_shape {tuple(input_shape)} and w of shape {w.shape}"
        )
    stride, pad = pair(stride, "stride", minimum=1), pair(pad, "pad", minimum=0)
    dilation = pair(dilation, "dilation", minimum=1)
    groups = _int_at_least(groups, "groups", 1)
    (c_in, h, w_), (f_out, c_group, kh, kw) = shape, w.shape
    if c_in % groups or f_out % groups:
        raise ValueError(f"groups = {groups} must divide the channels C = {c_in} and the filters F = {f_out} "
                         f"(w of shape {w.shape})")
    if c_group != c_in // groups:
        raise ValueError(f"w must have shape (F, C/groups, KH, KW) = ({f_out}, {c_in // groups}, {kh}, {kw}) for "
                         f"C = {c_in} and groups = {groups}, got {w.shape}")
    rows, cols = _conv_taps_2d((h, w_), (kh, kw), stride, pad, dilation)
    oh, ow = rows[-1][0] + 1, cols[-1][0] + 1
    hp, wp = h + 2 * pad[0], w_ + 2 * pad[1]
    a = np.zeros((f_out, oh, ow, c_in, hp, wp), dtype=w.dtype)
    f_group = f_out // groups
    for f in range(f_out):
        g = f // f_group
        for c in range(c_group):
            for i, P, u in rows:
                for j, Q, v in cols:
                    a[f, i, j, g * c_group + c, P, Q] = w[f, c, u, v]
    if not padded:
        a = a[:, :, :, :, pad[0]:pad[0] + h, pad[1]:pad[1] + w_]
    return a.reshape(f_out * oh * ow, -1)


def kernel_matrix(x, kernel_shape, *, stride=1, pad=0, dilation=1) -> np.ndarray:
    """The other matrix of the same product: y.ravel() = X @ w.ravel() for one channel and one filter.

    x: (H, W); kernel_shape: (KH, KW).  Row (i, j) of X holds the padded pixels the window of
    output (i, j) multiplies, X[(i, j), (u, v)] = xp[i*sh + u*dh, j*sw + v*dw], so the kernel
    gradient is X.T @ delta.ravel() (the fully-connected layer's x^T delta).
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be one channel (H, W), got shape {x.shape}")
    stride, pad = pair(stride, "stride", minimum=1), pair(pad, "pad", minimum=0)
    dilation = pair(dilation, "dilation", minimum=1)
    kh, kw = (int(k) for k in kernel_shape)
    rows, cols = _conv_taps_2d(x.shape, (kh, kw), stride, pad, dilation)
    xp = np.pad(x, ((pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = rows[-1][0] + 1, cols[-1][0] + 1
    out = np.zeros((oh, ow, kh, kw), dtype=x.dtype)
    for i, P, u in rows:
        for j, Q, v in cols:
            out[i, j, u, v] = xp[P, Q]
    return out.reshape(oh * ow, kh * kw)


# --------------------------------------------------------------------------- pooling


def pool_matrix(input_shape, *, size=2, stride=None, pad=0, ceil_mode: bool = False, mode: str = "avg",
                count_include_pad: bool = True, x=None) -> np.ndarray:
    """The matrix S of a one-channel pooling layer: y.ravel() = S @ x.ravel().

    input_shape: (H, W); size, stride (default: size), pad: int or (h, w) pair, pad <= size/2.
    mode "avg": S[(i, j), (p, q)] = 1/divisor of window (i, j) for every input pixel (p, q) of the
    window (the padding holds zeros; the divisor follows ``count_include_pad``, see pool_windows).
    mode "max": S depends on the input x (H, W): S[(i, j), (p*, q*)] = 1 at the window's maximum,
    the padding being -inf, the first maximum in row-major window order on a tie (PyTorch's
    rule); ``count_include_pad`` does not apply.  Shape (OH*OW, H*W).
    """
    h, w_ = (int(k) for k in input_shape)
    (kh, kw), (ph, pw) = pair(size, "size", minimum=1), pair(pad, "pad", minimum=0)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", minimum=1)
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")
    rows = pool_windows(h, kh, stride=sh, pad=ph, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    cols = pool_windows(w_, kw, stride=sw, pad=pw, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    s = np.zeros((len(rows), len(cols), h, w_))
    if mode == "max":
        if x is None:
            raise ValueError("mode 'max' needs the input x (H, W): which entry is the maximum depends on it")
        x = np.asarray(x, dtype=float)
        if x.shape != (h, w_):
            raise ValueError(f"x must have input_shape {(h, w_)}, got {x.shape}")
    for i, (r0, r1, dr) in enumerate(rows):
        for j, (c0, c1, dc) in enumerate(cols):
            if mode == "avg":
                s[i, j, r0:r1, c0:c1] = 1.0 / (dr * dc)
            else:
                # the padding is -inf, so the maximum is the first maximum of the part inside the input
                k = int(np.argmax(x[r0:r1, c0:c1]))
                s[i, j, r0 + k // (c1 - c0), c0 + k % (c1 - c0)] = 1.0
    return s.reshape(len(rows) * len(cols), h * w_)


# --------------------------------------------------------------------------- any linear map


def matrix_of(f: Callable[[np.ndarray], np.ndarray], input_shape) -> np.ndarray:
    """The matrix of a linear map f, column by column: column k is f(e_k).ravel().

    input_shape: the shape f takes; e_k is the array of that shape with a 1 at flat index k.
    Returns (f(x).size, prod(input_shape)): f(x).ravel() == M @ x.ravel() for every x if f is linear.
    """
    shape = tuple(int(k) for k in input_shape)
    n = math.prod(shape)
    columns = []
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        columns.append(np.asarray(f(e.reshape(shape)), dtype=float).ravel())
    return np.stack(columns, axis=1)
