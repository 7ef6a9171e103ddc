"""Checkers for the chapter "Softmax".

* :data:`check_softmax_backward` -- ``fn(dy, y) -> dz`` for a batch (N, K), with y
  the softmax output.
* :data:`check_log_softmax_jacobian` -- ``fn(z) -> (K, K)``, d log y_i / d z_j.

The first softmax-backward case is square (N = K = 2): a row sum taken without
``keepdims=True`` then broadcasts along the wrong axis and gives wrong numbers
instead of a shape error.
"""

from __future__ import annotations

import numpy as np

from .. import softmax as sm
from ._core import Case, Checker, Mutant

DIAGONAL_ONLY = (
    "only the diagonal of the Jacobian was used: dz_j = dy_j y_j (1 - y_j) ignores that every output "
    "depends on every logit; the full row-vector-times-Jacobian gives dz = y * (dy - sum_i dy_i y_i)."
)
NO_KEEPDIMS = (
    "a shape error hidden by broadcasting: the row sums sum_i dy_i y_i have shape (N,) without "
    "keepdims=True, and (N, K) - (N,) broadcasts them along the K axis (it only runs at all when "
    "N = K or N = 1). Use np.sum(dy * y, axis=1, keepdims=True), shape (N, 1)."
)
WRONG_AXIS = (
    "the sum runs over the batch (axis 0) instead of over the outputs of each sample (axis 1): "
    "dz_j = y_j (dy_j - sum_i dy_i y_i) sums over the softmax outputs i of the same sample."
)
TRANSPOSED_LOGSM = (
    "the Jacobian is transposed: d log y_i / d z_j = delta_ij - y_j, so every ROW is e_i - y "
    "(row i = output i, column j = logit j); yours has y_i in row i. (Dividing dy_i/dz_j by y_j "
    "instead of y_i gives this same wrong matrix.)"
)
FORGOT_LOG = (
    "that is the Jacobian of softmax itself: for log-softmax divide row i by y_i "
    "(d log y_i = dy_i / y_i), which gives delta_ij - y_j."
)


# --------------------------------------------------------------------------- backward


def _ref_backward(dy, y):
    return sm.softmax_backward(dy, sm.SoftmaxCache(y))


def _y(z):
    return sm.softmax(np.asarray(z, dtype=float), axis=1)


check_softmax_backward = Checker(
    title="softmax backward",
    reference=_ref_backward,
    outputs=("dz",),
    arg_names=("dy", "y"),
    cases=[
        Case("N = n = 2", (np.array([[1.0, -2.0], [0.5, 3.0]]), _y([[0.0, 1.0], [2.0, -1.0]]))),
        Case("N=2, n=3; row 0 is the worked example y = (1/6, 1/3, 1/2), dy = (1, 0, 0)",
             (np.array([[1.0, 0.0, 0.0], [-1.0, 2.0, 0.5]]), _y([[0.0, np.log(2), np.log(3)], [1.0, 0.0, -2.0]]))),
        Case("N=3, n=5", (np.random.default_rng(1).normal(size=(3, 5)),
                          _y(np.random.default_rng(2).normal(size=(3, 5))))),
        Case("N=2, n=10000 (too large for a Jacobian per sample)",
             (np.random.default_rng(3).normal(size=(2, 10_000)),
              _y(np.random.default_rng(4).normal(size=(2, 10_000))))),
    ],
    mutants=[
        Mutant("diagonal_only", DIAGONAL_ONLY, lambda dy, y: dy * y * (1 - y)),
        Mutant("no_keepdims", NO_KEEPDIMS, lambda dy, y: y * (dy - np.sum(dy * y, axis=1))),
        Mutant("wrong_axis", WRONG_AXIS, lambda dy, y: y * (dy - np.sum(dy * y, axis=0, keepdims=True))),
    ],
)


# --------------------------------------------------------------------------- log-softmax Jacobian


def _ref_logsm_jac(z):
    return sm.softmax_jacobian(z) / sm.softmax(z)[:, None]


check_log_softmax_jacobian = Checker(
    title="log-softmax Jacobian",
    reference=_ref_logsm_jac,
    outputs=("J",),
    arg_names=("z",),
    cases=[
        Case("the worked example z = (0, ln 2, ln 3)", (np.array([0.0, np.log(2), np.log(3)]),)),
        Case("n = 4", (np.array([0.5, -1.0, 2.0, 0.0]),)),
        Case("n = 6, large logits", (np.random.default_rng(5).normal(size=6) * 5,)),
    ],
    mutants=[
        Mutant("transposed", TRANSPOSED_LOGSM, lambda z: np.eye(len(z)) - sm.softmax(z)[:, None]),
        Mutant("forgot_log", FORGOT_LOG, lambda z: sm.softmax_jacobian(z)),
    ],
)
