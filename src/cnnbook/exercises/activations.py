"""Checkers for the chapter "Activations".

* :data:`check_sigmoid_backward` -- ``fn(dy, cache) -> dx`` with ``cache.y`` the
  sigmoid OUTPUT (cache from :func:`cnnbook.activations.sigmoid_forward`).
* :data:`check_tanh_grad_via_sigmoid` -- ``fn(x) -> tanh'(x)`` computed from the sigmoid.
* :data:`check_leaky_relu` -- ``check_leaky_relu(forward, backward)`` with
  ``forward(x, alpha) -> (y, cache)`` and ``backward(dy, cache) -> dx``.
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ._core import Case, Checker, Mutant

SIGMOID_OF_OUTPUT = (
    "the sigmoid derivative was evaluated on the output: cache.y is already sigma(x), and you applied "
    "the sigmoid to it again, computing sigma(sigma(x)) (1 - sigma(sigma(x))). Use y (1 - y) with the "
    "cached y directly."
)
FORGOT_DY = (
    "the upstream gradient dy is missing: dx = dy * f'(x), element by element (chain rule); you "
    "returned f'(x) alone."
)
HALF_DERIVATIVE = "a factor is missing: sigma'(x) = y (1 - y), not (1 - y)."
MISSING_INNER_2 = (
    "the inner derivative of sigma(2x) is missing: d/dx sigma(2x) = 2 sigma'(2x), so "
    "d/dx [2 sigma(2x) - 1] = 4 sigma(2x)(1 - sigma(2x)); you have only the outer factor 2."
)
SIGMA_AT_X = (
    "the sigmoid is evaluated at x instead of 2x: tanh x = 2 sigma(2x) - 1, so its derivative "
    "involves sigma(2x)."
)
NO_FACTORS = (
    "both factors 2 of the chain rule are missing: d/dx [2 sigma(2x) - 1] = 2 * 2 * sigma'(2x)."
)
LEAKY_AS_RELU = (
    "the backward has slope 0 for x <= 0, as plain ReLU: the leaky ReLU's slope there is alpha, "
    "which is what keeps a unit that is negative for every input alive."
)
LEAKY_FORGOT_DY = FORGOT_DY
LEAKY_FORWARD_RELU = "the forward is plain ReLU: for x <= 0 the leaky ReLU gives alpha * x, not 0."
LEAKY_SLOPE_TIMES_X = (
    "the backward multiplies by the forward value alpha * x (or x) instead of by the slope: "
    "f'(x) = alpha for x <= 0 and 1 for x > 0."
)


def _ref_sigmoid(dy, cache):
    return activations.sigmoid_backward(dy, cache)


def _sig_case(label, x, dy):
    x = np.asarray(x, dtype=float)
    return Case(label, (np.asarray(dy, dtype=float), activations.sigmoid_forward(x)[1]))


check_sigmoid_backward = Checker(
    title="sigmoid backward",
    reference=_ref_sigmoid,
    outputs=("dx",),
    arg_names=("dy", "cache"),
    cases=[
        _sig_case("x = 0, dy = 1 (by hand: 1/4)", [0.0], [1.0]),
        _sig_case("x = (-2, 0.5, 3), dy = (2, -1, 0.5)", [-2.0, 0.5, 3.0], [2.0, -1.0, 0.5]),
        _sig_case("4x5 batch", np.random.default_rng(3).normal(size=(4, 5)) * 2,
                  np.random.default_rng(4).normal(size=(4, 5))),
    ],
    mutants=[
        Mutant("sigmoid_of_output", SIGMOID_OF_OUTPUT,
               lambda dy, c: dy * activations.sigmoid(c.y) * (1 - activations.sigmoid(c.y))),
        Mutant("forgot_dy", FORGOT_DY, lambda dy, c: c.y * (1 - c.y)),
        Mutant("half_derivative", HALF_DERIVATIVE, lambda dy, c: dy * (1 - c.y)),
    ],
)


def _ref_tanh_grad(x):
    return 1 - np.tanh(x) ** 2


def _sig_prime(x):
    sig = activations.sigmoid(x)
    return sig * (1 - sig)


check_tanh_grad_via_sigmoid = Checker(
    title="tanh' through the sigmoid",
    reference=_ref_tanh_grad,
    outputs=("dtanh",),
    arg_names=("x",),
    cases=[
        Case("x = 0 (tanh'(0) = 1)", (np.array([0.0]),)),
        Case("x = (-1, 0.5, 2)", (np.array([-1.0, 0.5, 2.0]),)),
        Case("large |x|: (-800, -40, 40, 800)", (np.array([-800.0, -40.0, 40.0, 800.0]),)),
        Case("41 points in [-5, 5]", (np.linspace(-5, 5, 41),)),
    ],
    mutants=[
        Mutant("missing_inner_2", MISSING_INNER_2, lambda x: 2 * _sig_prime(2 * x)),
        Mutant("sigma_at_x", SIGMA_AT_X, lambda x: 4 * _sig_prime(x)),
        Mutant("no_factors", NO_FACTORS, lambda x: _sig_prime(2 * x)),
    ],
)


def _leaky_ref(x, alpha, dy):
    return np.where(x > 0, x, alpha * x), dy * np.where(x > 0, 1.0, alpha)


def _compose_leaky(forward, backward):
    def fn(x, alpha, dy):
        y, cache = forward(x, alpha)
        return y, backward(dy, cache)
    return fn


check_leaky_relu = Checker(
    title="leaky ReLU",
    reference=_leaky_ref,
    outputs=("y", "dx"),
    arg_names=("x", "alpha", "dy"),
    compose=_compose_leaky,
    cases=[
        Case("x = (-1, 2), alpha = 0.2, dy = (3, -2)", (np.array([-1.0, 2.0]), 0.2, np.array([3.0, -2.0]))),
        Case("x = (-2, 0, 3), alpha = 0.1, dy = 1 (by hand: y = (-0.2, 0, 3), dx = (0.1, 0.1, 1))",
             (np.array([-2.0, 0.0, 3.0]), 0.1, np.ones(3))),
        Case("3x4x5 input, alpha = 0.01", (np.random.default_rng(4).normal(size=(3, 4, 5)), 0.01,
                                            np.random.default_rng(5).normal(size=(3, 4, 5)))),
    ],
    mutants=[
        Mutant("backward_relu", LEAKY_AS_RELU, lambda x, a, dy: (_leaky_ref(x, a, dy)[0], dy * (x > 0)), ("dx",)),
        Mutant("forgot_dy", LEAKY_FORGOT_DY, lambda x, a, dy: (_leaky_ref(x, a, dy)[0], np.where(x > 0, 1.0, a)),
               ("dx",)),
        Mutant("slope_times_x", LEAKY_SLOPE_TIMES_X,
               lambda x, a, dy: (_leaky_ref(x, a, dy)[0], dy * np.where(x > 0, x, a * x)), ("dx",)),
        Mutant("forward_relu", LEAKY_FORWARD_RELU, lambda x, a, dy: (np.maximum(x, 0), _leaky_ref(x, a, dy)[1]),
               ("y",)),
    ],
)
