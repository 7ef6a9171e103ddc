"""Checkers for the chapter "Chain rule, computational graphs and numerical gradients".

* :data:`check_tanh_neuron` -- ``fn(x, w, b, t) -> (dE_dw, dE_db)`` for
  y = tanh(w . x + b), E = (t - y)^2 / 2.
* :data:`check_five_point` -- ``fn(f, x, h) -> float``, the fourth-order difference.
"""

from __future__ import annotations

import numpy as np

from ._core import Case, Checker, Mutant

TANH_ON_OUTPUT = (
    "tanh' was evaluated at the output: you computed 1 - tanh(y)^2 = 1 - tanh(tanh(s))^2; the local "
    "derivative is 1 - tanh(s)^2 = 1 - y^2, from the output y directly."
)
SIGMOID_SLOPE = "that is the sigmoid's local derivative y (1 - y); for tanh it is 1 - y^2."
NO_LOCAL = (
    "the activation's local derivative is missing: delta = dE/ds = (y - t) * tanh'(s), not y - t."
)
SIGN = "the sign is flipped: dE/dy = y - t (from E = (t - y)^2 / 2, the inner derivative is -1)."


def _neuron(kind):
    def fn(x, w, b, t):
        s = x @ w + b
        y = np.tanh(s)
        slope = {"ok": 1 - y**2, "tanh_on_output": 1 - np.tanh(y) ** 2, "sigmoid_slope": y * (1 - y),
                 "no_local": 1.0, "sign": -(1 - y**2)}[kind]
        delta = (y - t) * slope
        return delta * x, delta
    return fn


check_tanh_neuron = Checker(
    title="tanh neuron",
    reference=_neuron("ok"),
    outputs=("dE_dw", "dE_db"),
    arg_names=("x", "w", "b", "t"),
    cases=[
        Case("the hand-check point: x = (1, 2), w = (0.5, 0.25), b = ln(3)/2 - 1, t = 1 (y = 1/2)",
             (np.array([1.0, 2.0]), np.array([0.5, 0.25]), np.log(3) / 2 - 1, 1.0)),
        Case("x = (0.5, -1, 2), w = (1, 0.5, -0.25), b = 0.1, t = -0.5",
             (np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, -0.25]), 0.1, -0.5)),
        Case("x = (-2, 1, 0.3, 1.2), w = (0.2, -0.7, 1.1, 0.4), b = -0.3, t = 0.8",
             (np.array([-2.0, 1.0, 0.3, 1.2]), np.array([0.2, -0.7, 1.1, 0.4]), -0.3, 0.8)),
    ],
    mutants=[Mutant(k, d, _neuron(k)) for k, d in [("tanh_on_output", TANH_ON_OUTPUT),
                                                   ("sigmoid_slope", SIGMOID_SLOPE),
                                                   ("no_local", NO_LOCAL), ("sign", SIGN)]],
)


def quartic(x):
    """x^4 - 2 x^3 + x; its derivative at 1.5 is 1."""
    return x**4 - 2 * x**3 + x


def _d4(f, x, h):
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


check_five_point = Checker(
    title="five-point derivative",
    reference=_d4,
    outputs=("D4",),
    arg_names=("f", "x", "h"),
    cases=[Case("f = quartic (x^4 - 2x^3 + x), x = 1.5, h = 0.1: exactly 1", (quartic, 1.5, 0.1)),
           Case("f = sin, x = 1, h = 0.05", (np.sin, 1.0, 0.05)),
           Case("f = exp, x = -0.5, h = 0.2", (np.exp, -0.5, 0.2))],
    mutants=[
        Mutant("denominator_6h", "the denominator is 6h: the weights (-1, 8, -8, 1) of steps (2h, h, -h, -2h) "
               "add up to 12h in the Taylor expansion's first-order term, so divide by 12h.",
               lambda f, x, h: _d4(f, x, h) * 2),
        Mutant("signs_swapped", "the signs are swapped: +8 f(x + h) and -8 f(x - h), -f(x + 2h) and +f(x - 2h).",
               lambda f, x, h: -_d4(f, x, h)),
        Mutant("central", "that is the ordinary central difference (f(x + h) - f(x - h)) / 2h, not the "
               "five-point formula.", lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h)),
    ],
)
