r"""Element-wise activations: ReLU, sigmoid and tanh.

Each is a forward/backward pair.  The backward multiplies the upstream
gradient by the local derivative, element by element:

.. math::
    \frac{\partial E}{\partial x_i} = \frac{\partial E}{\partial y_i} f'(x_i)

* ReLU: :math:`f'(x) = 1` for :math:`x > 0`, else 0 (the subgradient 0 is
  chosen at :math:`x = 0`, as frameworks do).
* sigmoid: :math:`\sigma'(x) = \sigma(x)(1 - \sigma(x))`, computed from the
  cached output.
* tanh: :math:`\tanh'(x) = 1 - \tanh^2(x)`, computed from the cached output.

All shapes are free: x has any shape and y, dy, dx have the same shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import as_array, check_same_shape


class ReluCache(NamedTuple):
    x: np.ndarray


class SigmoidCache(NamedTuple):
    y: np.ndarray


class TanhCache(NamedTuple):
    y: np.ndarray


def _check_dy(dy, reference: np.ndarray) -> np.ndarray:
    dy = as_array(dy, "dy")
    check_same_shape(dy, "dy", reference, "the forward output")
    return dy


def relu_forward(x):
    """y = max(0, x).  x: any shape.  Returns (y, ReluCache(x))."""
    x = as_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False), ReluCache(x)


def relu_backward(dy, cache: ReluCache):
    """dx = dy where x > 0, else 0 (subgradient 0 at x = 0).  dy: shape of x."""
    dy = _check_dy(dy, cache.x)
    return np.where(cache.x > 0, dy, 0).astype(np.result_type(dy, cache.x), copy=False)


def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), without overflow for any x.

    exp is only ever taken of -|x| (<= 0), so it lies in (0, 1]: for x >= 0,
    sigma = 1 / (1 + e), and for x < 0, sigma = e / (1 + e), with e = exp(-|x|).
    """
    x = as_array(x, "x")
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_forward(x):
    """y = sigmoid(x).  x: any shape.  Returns (y, SigmoidCache(y))."""
    y = sigmoid(x)
    return y, SigmoidCache(y)


def sigmoid_backward(dy, cache: SigmoidCache):
    """dx = dy * y * (1 - y), with y the cached sigmoid output."""
    dy = _check_dy(dy, cache.y)
    y = cache.y
    return dy * y * (1 - y)


def tanh_forward(x):
    """y = tanh(x).  x: any shape.  Returns (y, TanhCache(y))."""
    x = as_array(x, "x")
    y = np.tanh(x)
    return y, TanhCache(y)


def tanh_backward(dy, cache: TanhCache):
    """dx = dy * (1 - y**2), with y the cached tanh output."""
    dy = _check_dy(dy, cache.y)
    return dy * (1 - cache.y**2)
