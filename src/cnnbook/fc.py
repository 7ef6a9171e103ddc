r"""Fully-connected (dense) layer with row vectors: ``y = x @ w + b``.

Index form for one sample, with :math:`\delta_i = \partial E/\partial y_i`:

.. math::
    y_i = \sum_k x_k w_{ki} + b_i, \qquad
    \frac{\partial E}{\partial w_{ki}} = x_k \delta_i, \qquad
    \frac{\partial E}{\partial b_i} = \delta_i, \qquad
    \frac{\partial E}{\partial x_k} = \sum_i \delta_i w_{ki}

Matrix form over a batch: ``dw = x.T @ dy``, ``db = dy.sum(axis=0)``,
``dx = dy @ w.T``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import as_array, check_ndim, check_shape


class FCCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray


def _check(x, w, b, *, allow_object=False):
    x = as_array(x, "x", allow_object=allow_object)
    w = as_array(w, "w", allow_object=allow_object)
    b = as_array(b, "b", allow_object=allow_object)
    check_ndim(x, "x", 2, "(N, D)")
    check_ndim(w, "w", 2, "(D, M)")
    check_ndim(b, "b", 1, "(M,)")
    if w.shape[0] != x.shape[1]:
        raise ValueError(
            f"w must have shape (D, M) with D = x.shape[1] = {x.shape[1]}, got w {w.shape} "
            f"for x {x.shape}"
        )
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"b must have shape (M,) = ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
    return x, w, b


def _check_dy(dy, cache: FCCache, *, allow_object=False):
    dy = as_array(dy, "dy", allow_object=allow_object)
    check_shape(dy, "dy", (cache.x.shape[0], cache.w.shape[1]), "(N, M), the forward output")
    return dy


def fc_forward(x, w, b):
    """y = x @ w + b.  x: (N, D), w: (D, M), b: (M,) -> y: (N, M); returns (y, FCCache)."""
    x, w, b = _check(x, w, b)
    return x @ w + b, FCCache(x, w, b)


def fc_backward(dy, cache: FCCache):
    """dy: (N, M) -> (dx (N, D), dw (D, M), db (M,))."""
    dy = _check_dy(dy, cache)
    return dy @ cache.w.T, cache.x.T @ dy, dy.sum(axis=0)


def fc_forward_naive(x, w, b):
    """Loop reference of fc_forward: y[n, i] = sum_k x[n, k] w[k, i] + b[i]."""
    x, w, b = _check(x, w, b, allow_object=True)
    (n_batch, d), m = x.shape, w.shape[1]
    y = np.zeros((n_batch, m), dtype=np.result_type(x, w, b))
    for n in range(n_batch):
        for i in range(m):
            total = b[i]
            for k in range(d):
                total = total + x[n, k] * w[k, i]
            y[n, i] = total
    return y, FCCache(x, w, b)


def fc_backward_naive(dy, cache: FCCache):
    """Loop reference of fc_backward, one formula per gradient entry:

    dw[k, i] = sum_n x[n, k] dy[n, i];  db[i] = sum_n dy[n, i];
    dx[n, k] = sum_i dy[n, i] w[k, i].
    """
    dy = _check_dy(dy, cache, allow_object=True)
    x, w = cache.x, cache.w
    (n_batch, d), m = x.shape, w.shape[1]
    dtype = np.result_type(dy, x, w)
    dx = np.zeros((n_batch, d), dtype=dtype)
    dw = np.zeros((d, m), dtype=dtype)
    db = np.zeros(m, dtype=dtype)
    for k in range(d):
        for i in range(m):
            for n in range(n_batch):
                dw[k, i] = dw[k, i] + x[n, k] * dy[n, i]
    for i in range(m):
        for n in range(n_batch):
            db[i] = db[i] + dy[n, i]
    for n in range(n_batch):
        for k in range(d):
            for i in range(m):
                dx[n, k] = dx[n, k] + dy[n, i] * w[k, i]
    return dx, dw, db
