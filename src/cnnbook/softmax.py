r"""Softmax, log-softmax and the softmax Jacobian.

.. math::
    y_i = \frac{e^{z_i}}{\sum_k e^{z_k}}, \qquad
    \frac{\partial y_i}{\partial z_j} = y_i(\delta_{ij} - y_j), \qquad
    J = \operatorname{diag}(y) - y^\top y \quad (y \text{ a row vector; } J_{ij} = y_i \delta_{ij} - y_i y_j)

With row vectors the backward is a row vector times the Jacobian,
``dz = dy @ J``, which simplifies to ``y * (dy - (dy . y))``: every output
depends on every input, so each dz_j is a sum over all outputs.

Numerically stable: the maximum is subtracted before exponentiating, which
leaves softmax unchanged and keeps every exp argument <= 0.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ._validate import as_array, check_ndim, check_same_shape


class SoftmaxCache(NamedTuple):
    y: np.ndarray


def _check_axis(z: np.ndarray, axis: int) -> None:
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension, got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"axis must be an int, got {axis!r}")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis {axis} is out of range for z of shape {z.shape}")


def softmax(z, axis: int = -1):
    """Softmax of z along ``axis`` (default the last).  z: any shape, >= 1-D."""
    z = as_array(z, "z")
    _check_axis(z, axis)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis: int = -1):
    """log(softmax(z)) computed as z - logsumexp(z), finite for any finite z."""
    z = as_array(z, "z")
    _check_axis(z, axis)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_jacobian(z):
    """Jacobian dy/dz of softmax for one vector z of K logits, shape (K,): (K, K).

    Entry (i, j) is dy_i/dz_j = y_i * (1 - y_i) if i == j, else -y_i * y_j.
    """
    z = as_array(z, "z")
    check_ndim(z, "z", 1, "(K,) -- one vector; use softmax_backward for a batch")
    y = softmax(z)
    return np.diag(y) - np.outer(y, y)


def softmax_forward(z):
    """Softmax over the last axis of a batch.  z: (N, K).  Returns (y, SoftmaxCache(y))."""
    z = as_array(z, "z")
    check_ndim(z, "z", 2, "(N, K)")
    y = softmax(z, axis=1)
    return y, SoftmaxCache(y)


def softmax_backward(dy, cache: SoftmaxCache):
    """dz = dy @ J row by row, computed as y * (dy - sum_j dy_j y_j).  dy: (N, K)."""
    dy = as_array(dy, "dy")
    y = cache.y
    check_same_shape(dy, "dy", y, "the softmax output")
    return y * (dy - np.sum(dy * y, axis=1, keepdims=True))
