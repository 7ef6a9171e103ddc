r"""Numerical gradients, and a checker that compares them with a backward.

Central difference (error O(h^2)) and one-sided forward difference (error O(h)):

.. math::
    \frac{\partial f}{\partial x_k} \approx \frac{f(x + h e_k) - f(x - h e_k)}{2h}
    \qquad
    \frac{\partial f}{\partial x_k} \approx \frac{f(x + h e_k) - f(x)}{h}
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def numerical_gradient(f: Callable, x: np.ndarray, *, h: float = 1e-5, method: str = "central"):
    """Gradient of the scalar function ``f`` at ``x`` by finite differences.

    f: maps an array of x's shape to a scalar.  x: a float ndarray of any
    shape; it is perturbed one entry at a time *in place* and restored
    afterwards (also if f raises).  method: "central" (default) or
    "forward" (one-sided).  Returns an array of x's shape.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(f"x must be a float ndarray (it is perturbed in place), got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    if method not in ("central", "forward"):
        raise ValueError(f"method must be 'central' or 'forward', got {method!r}")

    def scalar(value):
        if np.ndim(value) != 0:
            raise ValueError(f"f must return a scalar, got an array of shape {np.shape(value)}")
        return float(value)

    grad = np.zeros(x.shape, dtype=np.float64)
    f0 = scalar(f(x)) if method == "forward" else None
    for idx in np.ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            f_plus = scalar(f(x))
            if method == "central":
                x[idx] = old - h
                grad[idx] = (f_plus - scalar(f(x))) / (2 * h)
            else:
                grad[idx] = (f_plus - f0) / h
        finally:
            x[idx] = old
    return grad.astype(x.dtype, copy=False)


def rel_error(a, b) -> float:
    """Largest absolute difference divided by the largest magnitude of a or b.

    0 for identical arrays; about 1 when one is wrong by a factor of order
    one, whatever the scale of the numbers.  a, b: the same shape.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    # np.maximum, not max(): max(0.0, nan) is 0.0, which would make a NaN look exact
    scale = np.maximum(np.max(np.abs(a)), np.max(np.abs(b)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def check_gradients(
    forward: Callable,
    backward: Callable,
    inputs: Mapping[str, np.ndarray],
    *,
    dout: np.ndarray | None = None,
    seed: int = 0,
    h: float = 1e-6,
    tol: float = 1e-6,
) -> dict[str, float]:
    """Compare every gradient of a forward/backward pair with a numerical one.

    forward(**inputs) -> (out, cache); backward(dout, cache) -> the gradient
    of each input, in the order of ``inputs`` (a single array if there is
    one input).  The checked scalar is L = sum(out * dout), so the exact
    gradients are what backward(dout, cache) should return.  dout defaults
    to standard normal numbers drawn with ``seed``.

    Returns {name: rel_error}.  Raises GradientCheckError naming the input,
    the relative error and the worst index when an error exceeds ``tol``
    (or when a gradient has the wrong shape).  Use float64 inputs.
    """
    inputs = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    out, cache = forward(**inputs)
    out = np.asarray(out)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"dout must have the output's shape {out.shape}, got {dout.shape}")
    grads = backward(dout, cache)
    if len(inputs) == 1 and not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(inputs):
        raise GradientCheckError(
            f"backward returned {len(grads)} gradients for {len(inputs)} inputs {list(inputs)}"
        )

    errors = {}
    for (name, value), analytic in zip(inputs.items(), grads):
        analytic = np.asarray(analytic)
        if analytic.shape != value.shape:
            raise GradientCheckError(
                f"gradient of {name!r} has shape {analytic.shape}, expected {value.shape}"
            )

        def loss(v, name=name):
            return float(np.sum(forward(**{**inputs, name: v})[0] * dout))

        numeric = numerical_gradient(loss, value.copy(), h=h)
        err = rel_error(analytic, numeric)
        errors[name] = err
        if not err <= tol:
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), value.shape)
            raise GradientCheckError(
                f"gradient of {name!r} is wrong: relative error {err:.3g} > tol {tol:g}; "
                f"worst at index {tuple(int(i) for i in worst)}: "
                f"analytic {analytic[worst]:.6g}, numerical {numeric[worst]:.6g}"
            )
    return errors
