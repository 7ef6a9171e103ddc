r"""Max- and average-pooling over (KH, KW) windows moved by a stride.

Window (i, j) covers rows ``i*sh .. i*sh + KH - 1`` and columns
``j*sw .. j*sw + KW - 1`` of each channel; OH = (H - KH) // sh + 1.

* max-pool: :math:`y_{ij} = \max_{u,v} x_{i s_h + u,\, j s_w + v}`, over the offsets
  :math:`0 \le u < K_H` (row) and :math:`0 \le v < K_W` (column); the backward
  routes :math:`\delta_{ij}` to the position of that maximum and nothing
  elsewhere.  A tie goes to the *first* maximum in row-major window order
  (the rule PyTorch uses); any choice is a valid subgradient.
* average-pool: :math:`y_{ij} = \frac{1}{KH\,KW}\sum_{u,v} x_{i s_h + u,\, j s_w + v}`;
  every input of the window receives :math:`\delta_{ij} / (KH\,KW)`.

When windows overlap (stride < size) an input gets a contribution from every
window it belongs to, so the backward *adds* (``+=``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_array, check_ndim, check_shape, pair


class PoolCache(NamedTuple):
    """x: the input; size, stride: (h, w); argmax: (N, C, OH, OW) flat index
    u*KW + v of the chosen maximum inside each window, u its row and v its column
    offset (None for average-pool)."""

    x: np.ndarray
    size: tuple[int, int]
    stride: tuple[int, int]
    argmax: np.ndarray | None


def _check_forward(x, size, stride, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    size = pair(size, "size", minimum=1)
    stride = size if stride is None else pair(stride, "stride", minimum=1)
    h, w = x.shape[2:]
    if size[0] > h or size[1] > w:
        raise ValueError(
            f"pooling window size {size} is larger than the input of x {x.shape} "
            f"(H, W) = ({h}, {w}); expected KH <= H and KW <= W"
        )
    return x, size, stride


def _out_hw(x_shape, size, stride):
    return (x_shape[2] - size[0]) // stride[0] + 1, (x_shape[3] - size[1]) // stride[1] + 1


def _check_dy(dy, cache: PoolCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    n, c = cache.x.shape[:2]
    check_shape(dy, "dy", (n, c, *_out_hw(cache.x.shape, cache.size, cache.stride)),
                "(N, C, OH, OW), the forward output")
    return dy


def _windows(x, size, stride):
    return sliding_window_view(x, size, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def _scatter_by_offset(dy, cache: PoolCache, weight_of_offset):
    """dx[..., i*sh + u, j*sw + v] += weight(u, v) * dy[..., i, j], one offset (u, v) at a time."""
    (kh, kw), (sh, sw) = cache.size, cache.stride
    _, _, oh, ow = dy.shape
    dx = np.zeros(cache.x.shape, dtype=np.result_type(dy, cache.x))
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += weight_of_offset(u, v) * dy
    return dx


# --------------------------------------------------------------------------- max-pool


def _offset_view(x, u, v, size, stride, out_hw):
    """x[:, :, u + i*sh, v + j*sw] for all windows (i, j): a strided view (N, C, OH, OW)."""
    (sh, sw), (oh, ow) = stride, out_hw
    return x[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw]


def maxpool2d_forward(x, *, size=2, stride=None):
    """x: (N, C, H, W) -> y: (N, C, OH, OW) and a PoolCache.

    size, stride: int or (h, w); stride defaults to size.  The KH*KW offsets
    (u, v) of every window are visited at once, each a strided view of x:
    y is their element-wise maximum, and argmax the first offset (in
    row-major window order) equal to it, which is the tie rule.  (An input
    with NaNs takes the argmax route, where the first NaN wins.)
    """
    x, size, stride = _check_forward(x, size, stride)
    if np.isnan(x).any():  # rare: let argmax apply its rule (the first NaN wins)
        flat = _windows(x, size, stride)
        flat = flat.reshape(*flat.shape[:4], -1)
        argmax = flat.argmax(axis=-1)
        y = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
        return y, PoolCache(x, size, stride, argmax)
    (kh, kw) = size
    out_hw = _out_hw(x.shape, size, stride)
    views = [_offset_view(x, u, v, size, stride, out_hw) for u in range(kh) for v in range(kw)]
    y = views[0].copy()
    for view in views[1:]:
        np.maximum(y, view, out=y)
    # the first offset k holding the maximum, from the flags n_k = (view k != y):
    # argmax = n_0 * (1 + n_1 * (1 + n_2 * (... (1 + n_{K-2})))), built from the inside out
    argmax = np.zeros(y.shape, dtype=np.intp)
    for view in reversed(views[:-1]):
        argmax += 1
        argmax *= view != y
    return y, PoolCache(x, size, stride, argmax)


def maxpool2d_backward(dy, cache: PoolCache):
    """dy: (N, C, OH, OW) -> dx: (N, C, H, W); each delta goes to its window's maximum."""
    dy = _check_dy(dy, cache)
    (kh, kw), (sh, sw) = cache.size, cache.stride
    if sh >= kh and sw >= kw:  # windows do not overlap: each input gets at most one delta
        out_hw = dy.shape[2:]
        dx = np.zeros(cache.x.shape, dtype=np.result_type(dy, cache.x))
        for u in range(kh):
            for v in range(kw):  # each input lies in one view at most: write, don't add
                np.multiply(dy, cache.argmax == u * kw + v,
                            out=_offset_view(dx, u, v, cache.size, cache.stride, out_hw))
        return dx
    return _scatter_by_offset(dy, cache, lambda u, v: cache.argmax == u * kw + v)


def _first_max_naive(x, n, c, i, j, size, stride):
    """The offsets (u, v) of the first maximum of window (i, j) in row-major order, by loops."""
    (kh, kw), (sh, sw) = size, stride
    best, best_uv = None, (0, 0)
    for u in range(kh):
        for v in range(kw):
            value = x[n, c, i * sh + u, j * sw + v]
            if best is None or value > best:  # strict '>': the first maximum wins a tie
                best, best_uv = value, (u, v)
    return best_uv


def maxpool2d_forward_naive(x, *, size=2, stride=None):
    """Loop reference of maxpool2d_forward (same arguments, shapes and cache)."""
    x, size, stride = _check_forward(x, size, stride, allow_object=True)
    (kh, kw), (sh, sw) = size, stride
    n_batch, n_chan = x.shape[:2]
    oh, ow = _out_hw(x.shape, size, stride)
    y = np.zeros((n_batch, n_chan, oh, ow), dtype=x.dtype)
    argmax = np.zeros((n_batch, n_chan, oh, ow), dtype=np.intp)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    u, v = _first_max_naive(x, n, c, i, j, size, stride)
                    y[n, c, i, j] = x[n, c, i * sh + u, j * sw + v]
                    argmax[n, c, i, j] = u * kw + v
    return y, PoolCache(x, size, stride, argmax)


def maxpool2d_backward_naive(dy, cache: PoolCache):
    """Loop reference: dx[n, c, i*sh + u*, j*sw + v*] += dy[n, c, i, j] at each window's argmax (u*, v*)."""
    dy = _check_dy(dy, cache, allow_object=True)
    (kh, kw), (sh, sw) = cache.size, cache.stride
    x = cache.x
    dx = np.zeros(x.shape, dtype=np.result_type(dy, x))
    n_batch, n_chan, oh, ow = dy.shape
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    # the reference finds the maximum again from x, not from the cache
                    u, v = _first_max_naive(x, n, c, i, j, cache.size, cache.stride)
                    dx[n, c, i * sh + u, j * sw + v] += dy[n, c, i, j]
    return dx


# --------------------------------------------------------------------------- average-pool


def avgpool2d_forward(x, *, size=2, stride=None):
    """x: (N, C, H, W) -> y: (N, C, OH, OW) (window means) and a PoolCache."""
    x, size, stride = _check_forward(x, size, stride)
    (kh, kw), out_hw = size, _out_hw(x.shape, size, stride)
    total = _offset_view(x, 0, 0, size, stride, out_hw).copy()
    for u in range(kh):
        for v in range(kw):
            if u or v:
                total += _offset_view(x, u, v, size, stride, out_hw)
    y = total / (kh * kw)
    return y.astype(x.dtype, copy=False), PoolCache(x, size, stride, None)


def avgpool2d_backward(dy, cache: PoolCache):
    """dy: (N, C, OH, OW) -> dx: (N, C, H, W); each window input gets dy / (KH*KW)."""
    dy = _check_dy(dy, cache)
    area = cache.size[0] * cache.size[1]
    return _scatter_by_offset(dy / area, cache, lambda u, v: 1)


def avgpool2d_forward_naive(x, *, size=2, stride=None):
    """Loop reference of avgpool2d_forward."""
    x, size, stride = _check_forward(x, size, stride, allow_object=True)
    (kh, kw), (sh, sw) = size, stride
    n_batch, n_chan = x.shape[:2]
    oh, ow = _out_hw(x.shape, size, stride)
    y = np.zeros((n_batch, n_chan, oh, ow), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    total = 0
                    for u in range(kh):
                        for v in range(kw):
                            total = total + x[n, c, i * sh + u, j * sw + v]
                    y[n, c, i, j] = total / (kh * kw)
    return y, PoolCache(x, size, stride, None)


def avgpool2d_backward_naive(dy, cache: PoolCache):
    """Loop reference: dx[n, c, i*sh + u, j*sw + v] += dy[n, c, i, j] / (KH*KW)."""
    dy = _check_dy(dy, cache, allow_object=True)
    (kh, kw), (sh, sw) = cache.size, cache.stride
    dx = np.zeros(cache.x.shape, dtype=np.result_type(dy, cache.x))
    n_batch, n_chan, oh, ow = dy.shape
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(oh):
                for j in range(ow):
                    for u in range(kh):
                        for v in range(kw):
                            dx[n, c, i * sh + u, j * sw + v] += dy[n, c, i, j] / (kh * kw)
    return dx
