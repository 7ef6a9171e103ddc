r"""Max- and average-pooling over (KH, KW) windows moved by a stride, with PyTorch's options
(padding, ``ceil_mode``, ``count_include_pad``), and global average pooling.

Window (i, j) covers rows ``i*sh - ph .. i*sh - ph + KH - 1`` and columns
``j*sw - pw .. j*sw - pw + KW - 1`` of each channel (negative rows, and rows >= H, are
padding).  Without ``ceil_mode``, ``OH = (H + 2*pad - KH) // sh + 1``; with it the division
rounds up, ``OH = ceil((H + 2*pad - KH) / sh) + 1``, except that a last window starting in the
right/bottom padding or beyond is dropped (PyTorch's rule: every window starts inside the input
or in its left/top padding).  ``pad`` may be at most half the window, ``pad <= size // 2``.

* max-pool: :math:`y_{ij} = \max_{u,v} x_{i s_h - p_h + u,\, j s_w - p_w + v}`, over the offsets
  :math:`0 \le u < K_H` (row) and :math:`0 \le v < K_W` (column) that fall inside the input
  (padding is :math:`-\infty`); the backward routes :math:`\delta_{ij}` to the position of that
  maximum and nothing elsewhere.  A tie goes to the *first* maximum in row-major window order
  (the rule PyTorch uses); any choice is a valid subgradient.
* average-pool: :math:`y_{ij} = \frac{1}{D_{ij}}\sum_{u,v} x_{i s_h - p_h + u,\, j s_w - p_w + v}`,
  the sum over the window's positions inside the input (padding is 0); every input of the
  window receives :math:`\delta_{ij} / D_{ij}`.  The divisor :math:`D_{ij}` is the number of
  window positions inside the *padded* input (``count_include_pad=True``, the default) or inside
  the input (``count_include_pad=False``); positions of a ``ceil_mode`` window beyond the padded
  input never count.  Without padding and ``ceil_mode``, :math:`D_{ij} = K_H K_W`.
* global average pooling: :math:`y_{nc} = \frac{1}{HW}\sum_{p,q} x_{ncpq}`, (N, C, H, W) -> (N, C).

When windows overlap (stride < size) an input gets a contribution from every
window it belongs to, so the backward *adds* (``+=``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_array, check_ndim, check_shape, flag, pair


class PoolCache(NamedTuple):
    """x: the input; size, stride, pad: (h, w); argmax: (N, C, OH, OW) flat index
    u*KW + v of the chosen maximum inside each window, u its row and v its column
    offset from the window's top-left corner (which may lie in the padding); None for
    average-pool.  ceil_mode, count_include_pad: the forward's flags (count_include_pad
    matters for average-pool only)."""

    x: np.ndarray
    size: tuple[int, int]
    stride: tuple[int, int]
    argmax: np.ndarray | None
    pad: tuple[int, int] = (0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = True


class GlobalPoolCache(NamedTuple):
    """x: the input (N, C, H, W) of global_avgpool_forward."""

    x: np.ndarray


def pool_output_size(size: int, kernel: int, *, stride: int | None = None, pad: int = 0,
                     ceil_mode: bool = False) -> int:
    """OH for one spatial axis: (H + 2*pad - KH) // stride + 1, or with ceil_mode
    ceil((H + 2*pad - KH) / stride) + 1, minus 1 if that last window would start at or beyond
    H + pad (in the right padding or past it).  stride defaults to the kernel size.
    The result may be < 1 (no window fits); the layers refuse such inputs."""
    stride = kernel if stride is None else stride
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                                 ("pad", pad, 0)):
        if isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be an int (one spatial axis), got {value!r}")
        pair(value, name, minimum=minimum)
    ceil_mode = flag(ceil_mode, "ceil_mode")
    num = size + 2 * pad - kernel
    out = (num + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _check_forward(x, size, stride, pad=0, ceil_mode=False, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    size = pair(size, "size", minimum=1)
    stride = size if stride is None else pair(stride, "stride", minimum=1)
    pad = pair(pad, "pad", minimum=0)
    ceil_mode = flag(ceil_mode, "ceil_mode")
    if pad[0] > size[0] // 2 or pad[1] > size[1] // 2:
        raise ValueError(
            f"pad {pad} is more than half the pooling window size {size}; "
            f"expected pad <= size // 2 on each axis (a window could otherwise lie entirely in the padding)"
        )
    h, w = x.shape[2:]
    oh, ow = _out_hw(x.shape, size, stride, pad, ceil_mode)
    if oh < 1 or ow < 1:
        if pad == (0, 0) and not ceil_mode:
            raise ValueError(
                f"pooling window size {size} is larger than the input of x {x.shape} "
                f"(H, W) = ({h}, {w}); expected KH <= H and KW <= W"
            )
        if not ceil_mode:
            raise ValueError(
                f"pooling window size {size} is larger than the padded input of x {x.shape}: "
                f"(H + 2*pad, W + 2*pad) = ({h + 2 * pad[0]}, {w + 2 * pad[1]}); "
                f"expected KH <= H + 2*pad and KW <= W + 2*pad"
            )
        raise ValueError(
            f"pooling window size {size} with stride {stride}, pad {pad} and ceil_mode gives no window "
            f"on x {x.shape}: (OH, OW) = ({oh}, {ow}); expected KH <= H + 2*pad + stride - 1 "
            f"and KW <= W + 2*pad + stride - 1"
        )
    return x, size, stride, pad, ceil_mode


def _out_hw(x_shape, size, stride, pad=(0, 0), ceil_mode=False):
    return tuple(pool_output_size(n, k, stride=s, pad=p, ceil_mode=ceil_mode)
                 for n, k, s, p in zip(x_shape[2:], size, stride, pad))


def _check_dy(dy, cache: PoolCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    n, c = cache.x.shape[:2]
    check_shape(dy, "dy", (n, c, *_out_hw(cache.x.shape, cache.size, cache.stride, cache.pad, cache.ceil_mode)),
                "(N, C, OH, OW), the forward output")
    return dy


def _windows(x, size, stride):
    return sliding_window_view(x, size, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def _buffer_hw(x_shape, size, stride, pad, out_hw):
    """(Hb, Wb) of the array the windows slide over: the padded input, extended at the bottom
    and right where a ceil_mode window passes it; None if that is the input itself."""
    hb, wb = (max(n + 2 * p, (o - 1) * s + k) for n, k, s, p, o in zip(x_shape[2:], size, stride, pad, out_hw))
    if pad == (0, 0) and (hb, wb) == tuple(x_shape[2:]):
        return None
    return hb, wb


def _padded(x, buffer_hw, pad, fill):
    """x copied into a (N, C, Hb, Wb) array of ``fill`` at offset (ph, pw); x itself without buffer."""
    if buffer_hw is None:
        return x
    n, c, h, w = x.shape
    (ph, pw) = pad
    xp = np.full((n, c, *buffer_hw), fill, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _crop(dxp, x_shape, pad):
    (ph, pw), (h, w) = pad, x_shape[2:]
    return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + w])


def _scatter_by_offset(dy, shape, size, stride, weight_of_offset, dtype):
    """dxp[..., i*sh + u, j*sw + v] += weight(u, v) * dy[..., i, j], one offset (u, v) at a time."""
    (kh, kw), (sh, sw) = size, stride
    _, _, oh, ow = dy.shape
    dxp = np.zeros(shape, dtype=dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += weight_of_offset(u, v) * dy
    return dxp


def _axis_counts(n, k, s, p, out, include_pad):
    """How many rows of each window (one axis) count towards the average's divisor."""
    starts = np.arange(out) * s - p
    ends = np.minimum(starts + k, n + p)  # a ceil_mode window is clipped at the padded input's end
    if include_pad:
        return ends - starts
    return np.minimum(ends, n) - np.maximum(starts, 0)


def _divisor(x_shape, size, stride, pad, out_hw, count_include_pad):
    """(OH, OW) divisors of the average, or None when every window divides by KH*KW."""
    rows, cols = (_axis_counts(n, k, s, p, o, count_include_pad)
                  for n, k, s, p, o in zip(x_shape[2:], size, stride, pad, out_hw))
    if (rows == size[0]).all() and (cols == size[1]).all():
        return None
    return np.multiply.outer(rows, cols)


# --------------------------------------------------------------------------- max-pool


def _offset_view(x, u, v, size, stride, out_hw):
    """x[:, :, u + i*sh, v + j*sw] for all windows (i, j): a strided view (N, C, OH, OW)."""
    (sh, sw), (oh, ow) = stride, out_hw
    return x[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw]


def _first_offset(views, y, invalid=None):
    """The first offset k (row-major) with views[k] == y: from the flags n_k = (view k != y),
    argmax = n_0 * (1 + n_1 * (1 + n_2 * (... (1 + n_{K-2})))), built from the inside out.
    ``invalid``: per-offset masks of positions that must never be chosen (the padding)."""
    argmax = np.zeros(y.shape, dtype=np.intp)
    for k in reversed(range(len(views) - 1)):
        argmax += 1
        if invalid is None:
            argmax *= views[k] != y
        else:
            argmax *= (views[k] != y) | invalid[k]
    return argmax


def maxpool2d_forward(x, *, size=2, stride=None, pad=0, ceil_mode=False):
    """x: (N, C, H, W) -> y: (N, C, OH, OW) and a PoolCache.

    size, stride, pad: int or (h, w); stride defaults to size; pad <= size // 2 (the input is
    padded with -inf); ceil_mode: round the output size up (see the module docstring).  The
    KH*KW offsets (u, v) of every window are visited at once, each a strided view of the
    (padded) input: y is their element-wise maximum, and argmax the first offset (in
    row-major window order) equal to it, which is the tie rule.  (An input with NaNs takes
    the argmax route, where the first NaN wins.)
    """
    x, size, stride, pad, ceil_mode = _check_forward(x, size, stride, pad, ceil_mode)
    out_hw = _out_hw(x.shape, size, stride, pad, ceil_mode)
    buffer_hw = _buffer_hw(x.shape, size, stride, pad, out_hw)
    xp = _padded(x, buffer_hw, pad, -np.inf)
    (kh, kw) = size
    if np.isnan(x).any():  # rare: let argmax apply its rule (the first NaN wins)
        flat = _windows(xp, size, stride)[:, :, : out_hw[0], : out_hw[1]]
        flat = flat.reshape(*flat.shape[:4], -1)
        argmax = flat.argmax(axis=-1)
        y = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
        return y, PoolCache(x, size, stride, argmax, pad, ceil_mode)
    views = [_offset_view(xp, u, v, size, stride, out_hw) for u in range(kh) for v in range(kw)]
    y = views[0].copy()
    for view in views[1:]:
        np.maximum(y, view, out=y)
    if buffer_hw is not None and np.isneginf(y).any():
        # a window of -inf inputs: its maximum must be an input position, never the padding
        outside = np.ones((1, 1, *buffer_hw), dtype=bool)
        outside[:, :, pad[0] : pad[0] + x.shape[2], pad[1] : pad[1] + x.shape[3]] = False
        invalid = [_offset_view(outside, u, v, size, stride, out_hw) for u in range(kh) for v in range(kw)]
        argmax = _first_offset(views, y, invalid)
    else:
        argmax = _first_offset(views, y)
    return y, PoolCache(x, size, stride, argmax, pad, ceil_mode)


def maxpool2d_backward(dy, cache: PoolCache):
    """dy: (N, C, OH, OW) -> dx: (N, C, H, W); each delta goes to its window's maximum."""
    dy = _check_dy(dy, cache)
    (kh, kw), (sh, sw) = cache.size, cache.stride
    out_hw = dy.shape[2:]
    buffer_hw = _buffer_hw(cache.x.shape, cache.size, cache.stride, cache.pad, out_hw)
    shape = cache.x.shape if buffer_hw is None else (*cache.x.shape[:2], *buffer_hw)
    dtype = np.result_type(dy, cache.x)
    if sh >= kh and sw >= kw:  # windows do not overlap: each input gets at most one delta
        dxp = np.zeros(shape, dtype=dtype)
        for u in range(kh):
            for v in range(kw):  # each input lies in one view at most: write, don't add
                np.multiply(dy, cache.argmax == u * kw + v,
                            out=_offset_view(dxp, u, v, cache.size, cache.stride, out_hw))
    else:
        dxp = _scatter_by_offset(dy, shape, cache.size, cache.stride,
                                 lambda u, v: cache.argmax == u * kw + v, dtype)
    return dxp if buffer_hw is None else _crop(dxp, cache.x.shape, cache.pad)


def _first_max_naive(x, n, c, i, j, size, stride, pad=(0, 0)):
    """The offsets (u, v) of the first maximum of window (i, j) in row-major order, by loops,
    over the window positions inside the input (the padding never wins)."""
    (kh, kw), (sh, sw), (ph, pw) = size, stride, pad
    best, best_uv = None, (0, 0)
    for u in range(kh):
        for v in range(kw):
            p, q = i * sh - ph + u, j * sw - pw + v
            if not (0 <= p < x.shape[2] and 0 <= q < x.shape[3]):
                continue  # padding: -inf, never above an input value
            value = x[n, c, p, q]
            if best is None or value > best:  # strict '>': the first maximum wins a tie
                best, best_uv = value, (u, v)
    return best_uv


def maxpool2d_forward_naive(x, *, size=2, stride=None, pad=0, ceil_mode=False):
    """Loop reference of maxpool2d_forward (same arguments, shapes and cache).

    y[n, c, i, j] = max over u, v of x[n, c, i*sh - ph + u, j*sw - pw + v] (positions inside x).
    """
    x, size, stride, pad, ceil_mode = _check_forward(x, size, stride, pad, ceil_mode, allow_object=True)
    (kh, kw), (sh, sw), (ph, pw) = size, stride, pad
    n_batch, n_chan = x.shape[:2]
    oh, ow = _out_hw(x.shape, size, stride, pad, ceil_mode)
    y = np.zeros((n_batch, n_chan, oh, ow), dtype=x.dtype)
    argmax = np.zeros((n_batch, n_chan, oh, ow), dtype=np.intp)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    u, v = _first_max_naive(x, n, c, i, j, size, stride, pad)
                    y[n, c, i, j] = x[n, c, i * sh - ph + u, j * sw - pw + v]
                    argmax[n, c, i, j] = u * kw + v
    return y, PoolCache(x, size, stride, argmax, pad, ceil_mode)


def maxpool2d_backward_naive(dy, cache: PoolCache):
    """Loop reference: dx[n, c, i*sh - ph + u*, j*sw - pw + v*] += dy[n, c, i, j] at each window's
    argmax (u*, v*)."""
    dy = _check_dy(dy, cache, allow_object=True)
    (sh, sw), (ph, pw) = cache.stride, cache.pad
    x = cache.x
    dx = np.zeros(x.shape, dtype=np.result_type(dy, x))
    n_batch, n_chan, oh, ow = dy.shape
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    # the reference finds the maximum again from x, not from the cache
                    u, v = _first_max_naive(x, n, c, i, j, cache.size, cache.stride, cache.pad)
                    dx[n, c, i * sh - ph + u, j * sw - pw + v] += dy[n, c, i, j]
    return dx


# --------------------------------------------------------------------------- average-pool


def avgpool2d_forward(x, *, size=2, stride=None, pad=0, ceil_mode=False, count_include_pad=True):
    """x: (N, C, H, W) -> y: (N, C, OH, OW) (window averages) and a PoolCache.

    size, stride, pad: int or (h, w); stride defaults to size; pad <= size // 2 (the input is
    padded with 0); ceil_mode: round the output size up; count_include_pad: divide by the
    window positions inside the padded input (True) or inside the input (False) -- see the
    module docstring.
    """
    x, size, stride, pad, ceil_mode = _check_forward(x, size, stride, pad, ceil_mode)
    count_include_pad = flag(count_include_pad, "count_include_pad")
    (kh, kw), out_hw = size, _out_hw(x.shape, size, stride, pad, ceil_mode)
    xp = _padded(x, _buffer_hw(x.shape, size, stride, pad, out_hw), pad, 0)
    total = _offset_view(xp, 0, 0, size, stride, out_hw).copy()
    for u in range(kh):
        for v in range(kw):
            if u or v:
                total += _offset_view(xp, u, v, size, stride, out_hw)
    divisor = _divisor(x.shape, size, stride, pad, out_hw, count_include_pad)
    y = total / (kh * kw) if divisor is None else total / divisor.astype(x.dtype)
    return (y.astype(x.dtype, copy=False),
            PoolCache(x, size, stride, None, pad, ceil_mode, count_include_pad))


def avgpool2d_backward(dy, cache: PoolCache):
    """dy: (N, C, OH, OW) -> dx: (N, C, H, W); each window input gets dy / D (D = KH*KW
    without padding and ceil_mode, else the window's divisor)."""
    dy = _check_dy(dy, cache)
    out_hw = dy.shape[2:]
    dtype = np.result_type(dy, cache.x)
    divisor = _divisor(cache.x.shape, cache.size, cache.stride, cache.pad, out_hw, cache.count_include_pad)
    scaled = dy / (cache.size[0] * cache.size[1]) if divisor is None else dy / divisor.astype(dtype)
    buffer_hw = _buffer_hw(cache.x.shape, cache.size, cache.stride, cache.pad, out_hw)
    shape = cache.x.shape if buffer_hw is None else (*cache.x.shape[:2], *buffer_hw)
    dxp = _scatter_by_offset(scaled, shape, cache.size, cache.stride, lambda u, v: 1, dtype)
    return dxp if buffer_hw is None else _crop(dxp, cache.x.shape, cache.pad)


def _divisor_naive(x_shape, i, j, size, stride, pad, count_include_pad):
    """D_ij by counting: the window positions inside the padded input (or inside the input)."""
    (kh, kw), (sh, sw), (ph, pw), (h, w) = size, stride, pad, x_shape[2:]
    count = 0
    for u in range(kh):
        for v in range(kw):
            p, q = i * sh - ph + u, j * sw - pw + v
            if count_include_pad:
                inside = -ph <= p < h + ph and -pw <= q < w + pw
            else:
                inside = 0 <= p < h and 0 <= q < w
            count += inside
    return count


def avgpool2d_forward_naive(x, *, size=2, stride=None, pad=0, ceil_mode=False, count_include_pad=True):
    """Loop reference of avgpool2d_forward.

    y[n, c, i, j] = (sum over u, v of x[n, c, i*sh - ph + u, j*sw - pw + v], positions inside x) / D_ij
    """
    x, size, stride, pad, ceil_mode = _check_forward(x, size, stride, pad, ceil_mode, allow_object=True)
    count_include_pad = flag(count_include_pad, "count_include_pad")
    (kh, kw), (sh, sw), (ph, pw) = size, stride, pad
    n_batch, n_chan, h, w = x.shape
    oh, ow = _out_hw(x.shape, size, stride, pad, ceil_mode)
    y = np.zeros((n_batch, n_chan, oh, ow), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    total = 0
                    for u in range(kh):
                        for v in range(kw):
                            p, q = i * sh - ph + u, j * sw - pw + v
                            if 0 <= p < h and 0 <= q < w:
                                total = total + x[n, c, p, q]
                    y[n, c, i, j] = total / _divisor_naive(x.shape, i, j, size, stride, pad, count_include_pad)
    return y, PoolCache(x, size, stride, None, pad, ceil_mode, count_include_pad)


def avgpool2d_backward_naive(dy, cache: PoolCache):
    """Loop reference: dx[n, c, i*sh - ph + u, j*sw - pw + v] += dy[n, c, i, j] / D_ij
    for the window positions inside x."""
    dy = _check_dy(dy, cache, allow_object=True)
    (kh, kw), (sh, sw), (ph, pw) = cache.size, cache.stride, cache.pad
    dx = np.zeros(cache.x.shape, dtype=np.result_type(dy, cache.x))
    n_batch, n_chan, oh, ow = dy.shape
    h, w = cache.x.shape[2:]
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    d = _divisor_naive(cache.x.shape, i, j, cache.size, cache.stride, cache.pad,
                                       cache.count_include_pad)
                    for u in range(kh):
                        for v in range(kw):
                            p, q = i * sh - ph + u, j * sw - pw + v
                            if 0 <= p < h and 0 <= q < w:
                                dx[n, c, p, q] += dy[n, c, i, j] / d
    return dx


# --------------------------------------------------------------------------- global average pool


def global_avgpool_forward(x):
    """x: (N, C, H, W) -> y: (N, C), the mean of each channel's map, and a GlobalPoolCache.

    The average-pool with one window of the whole map: avgpool2d_forward(x, size=(H, W))[:, :, 0, 0].
    """
    x = as_array(x, "x")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    y = x.sum(axis=(2, 3)) / (x.shape[2] * x.shape[3])
    return y.astype(x.dtype, copy=False), GlobalPoolCache(x)


def _check_global_dy(dy, cache: GlobalPoolCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    check_shape(dy, "dy", cache.x.shape[:2], "(N, C), the forward output")
    return dy


def global_avgpool_backward(dy, cache: GlobalPoolCache):
    """dy: (N, C) -> dx: (N, C, H, W), every pixel of channel c gets dy[n, c] / (H*W)."""
    dy = _check_global_dy(dy, cache)
    h, w = cache.x.shape[2:]
    dtype = np.result_type(dy, cache.x)
    share = (dy / (h * w)).astype(dtype, copy=False)
    return np.ascontiguousarray(np.broadcast_to(share[:, :, None, None], cache.x.shape))


def global_avgpool_forward_naive(x):
    """Loop reference: y[n, c] = sum over p, q of x[n, c, p, q] / (H*W)."""
    x = as_array(x, "x", allow_object=True)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    n_batch, n_chan, h, w = x.shape
    y = np.zeros((n_batch, n_chan), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            total = 0
            for p in range(h):
                for q in range(w):
                    total = total + x[n, c, p, q]
            y[n, c] = total / (h * w)
    return y, GlobalPoolCache(x)


def global_avgpool_backward_naive(dy, cache: GlobalPoolCache):
    """Loop reference: dx[n, c, p, q] = dy[n, c] / (H*W)."""
    dy = _check_global_dy(dy, cache, allow_object=True)
    x = cache.x
    n_batch, n_chan, h, w = x.shape
    dx = np.zeros(x.shape, dtype=np.result_type(dy, x))
    for n in range(n_batch):
        for c in range(n_chan):
            for p in range(h):
                for q in range(w):
                    dx[n, c, p, q] = dy[n, c] / (h * w)
    return dx
