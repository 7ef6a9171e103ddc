"""Checkers for the chapter "Fully-connected layers".

* :data:`check_fc_backward` -- ``fn(dy, cache) -> (dx, dw, db)`` in the book's row
  convention (cache from :func:`cnnbook.fc.fc_forward`).
* :data:`check_column_fc_backward` -- ``fn(delta, X, W) -> (dX, dW, db)`` in the
  column convention Y = W X + b (X (D, N), W (M, D), delta (M, N)).
* :data:`check_largest_stable_lr` -- ``fn(x) -> float``, the learning rate above
  which gradient descent on one linear neuron diverges.
* :data:`check_mlp2_backward` -- ``fn(X, T, W1, b1, W2, b2) -> {"W1", "b1", "W2", "b2"}``.

The first case of each layer checker has a square weight matrix (D = M), so a
missing transpose gives wrong numbers instead of a shape error, and the later
cases have D != M.
"""

from __future__ import annotations

import numpy as np

from .. import fc, losses
from ._core import Case, Checker, Mutant

TRANSPOSED_W = (
    "the weight matrix is used untransposed: dE/dx = delta W^T in the row convention (W^T delta in the "
    "column convention), because dE/dx_k = sum_i delta_i w_ki sums over the OUTPUT index of w. "
    "(With D = M the shapes cannot tell you; with D != M this raises a shape error.)"
)
TRANSPOSED_DW = (
    "dW is transposed: a gradient has the shape of its variable; dE/dw_ki = sum_n x_nk delta_ni is "
    "X^T delta (row convention) or delta X^T (column convention)."
)
DB_NOT_SUMMED = (
    "db was not summed over the batch: the bias is shared by every sample, so dE/db_i = "
    "sum_n delta_ni, a vector of shape (M,)."
)
DB_WRONG_AXIS = (
    "db was summed over the wrong axis: sum over the batch axis (the samples), keeping one entry per "
    "output unit, shape (M,)."
)
EXTRA_1_OVER_N = (
    "extra 1/N: you averaged over the batch, but delta already contains the 1/N of the batch-mean "
    "loss; the parameter gradients are plain sums over the batch."
)
MISSING_1_OVER_N = (
    "missing 1/N: the loss is the MEAN over the batch, E = (1/N) sum_n E_n, so dE/dy = (y - t)/N; "
    "every gradient below inherits this factor."
)
TANH_ON_OUTPUT = (
    "tanh' evaluated at the output a = tanh(z) instead of at z: you computed 1 - tanh(a)^2 = "
    "1 - tanh(tanh(z))^2; with the cached output the derivative is simply 1 - a^2."
)
OUTPUT_ACTIVATION = (
    "an activation derivative was applied at the linear output layer: there f(z) = z, f'(z) = 1, so "
    "delta2 = dE/dy_hat unchanged."
)
ONE_STEP = (
    "that is the one-step learning rate 1/|x|^2 (the error vanishes after one step); the step stops "
    "converging at twice that, 2/|x|^2, where |1 - eta |x|^2| reaches 1."
)
NORM_NOT_SQUARED = (
    "|x| is not squared: each step multiplies y - t by 1 - eta * (x . x) = 1 - eta |x|^2, so the "
    "bound is 2 / |x|^2."
)
SUM_NOT_SQUARES = (
    "you used the sum of the inputs; the factor per step is 1 - eta * sum_k x_k^2 (the gradient "
    "(y - t) x is multiplied by x again in the change of y), so the bound is 2 / sum_k x_k^2."
)


# --------------------------------------------------------------------------- row convention


def _ref_fc(dy, cache):
    return fc.fc_backward(dy, cache)


def _fc_variant(**flags):
    def fn(dy, cache):
        x, w = cache.x, cache.w
        dx = dy @ w if flags.get("w_untransposed") else dy @ w.T
        dw = (dy.T @ x) if flags.get("dw_transposed") else x.T @ dy
        db = {"sum": dy.sum(axis=0), "none": dy, "axis1": dy.sum(axis=1),
              "mean": dy.mean(axis=0)}[flags.get("db", "sum")]
        if flags.get("dw_mean"):
            dw = dw / len(x)
        return dx, dw, db
    return fn


def _fc_case(label, n, d, m, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, size=(n, d)).astype(float)
    w = r.integers(-3, 4, size=(d, m)).astype(float)
    w[0, -1], w[-1, 0] = 2.0, -1.0  # never symmetric
    b = r.integers(-2, 3, size=m).astype(float)
    _, cache = fc.fc_forward(x, w, b)
    dy = r.integers(-3, 4, size=(n, m)).astype(float)
    dy[0, 0], dy[-1, -1] = 1.0, 2.0
    return Case(label, (dy, cache))


check_fc_backward = Checker(
    title="fully-connected backward",
    reference=_ref_fc,
    outputs=("dx", "dw", "db"),
    arg_names=("dy", "cache"),
    cases=[
        _fc_case("N=3, D=M=2 (square w)", 3, 2, 2, 1),
        _fc_case("N=2, D=3, M=2", 2, 3, 2, 2),
        _fc_case("N=4, D=2, M=5", 4, 2, 5, 3),
    ],
    mutants=[
        Mutant("w_untransposed", TRANSPOSED_W, _fc_variant(w_untransposed=True), ("dx",)),
        Mutant("dw_transposed", TRANSPOSED_DW, _fc_variant(dw_transposed=True), ("dw",)),
        Mutant("db_not_summed", DB_NOT_SUMMED, _fc_variant(db="none"), ("db",)),
        Mutant("db_wrong_axis", DB_WRONG_AXIS, _fc_variant(db="axis1"), ("db",)),
        Mutant("db_extra_1_over_n", EXTRA_1_OVER_N, _fc_variant(db="mean"), ("db",)),
        Mutant("dw_extra_1_over_n", EXTRA_1_OVER_N, _fc_variant(dw_mean=True), ("dw",)),
    ],
)


# --------------------------------------------------------------------------- column convention


def _ref_column(delta, X, W):
    dx, dw, db = fc.fc_backward(delta.T, fc.fc_forward(X.T, W.T, np.zeros(W.shape[0]))[1])
    return dx.T, dw.T, db


def _col_variant(**flags):
    def fn(delta, X, W):
        dX = W @ delta if flags.get("w_untransposed") else W.T @ delta
        dW = X @ delta.T if flags.get("dw_transposed") else delta @ X.T
        db = {"sum": delta.sum(axis=1), "none": delta, "axis0": delta.sum(axis=0),
              "mean": delta.mean(axis=1)}[flags.get("db", "sum")]
        return dX, dW, db
    return fn


def _col_case(label, d, m, n, seed):
    case = _fc_case(label, n, d, m, seed)
    dy, cache = case.args
    return Case(label, (dy.T.copy(), cache.x.T.copy(), cache.w.T.copy()))


check_column_fc_backward = Checker(
    title="fully-connected backward, column convention",
    reference=_ref_column,
    outputs=("dX", "dW", "db"),
    arg_names=("delta", "X", "W"),
    cases=[
        _col_case("D=M=2 (square W), N=3", 2, 2, 3, 4),
        _col_case("D=3, M=2, N=4", 3, 2, 4, 5),
        _col_case("D=4, M=5, N=3", 4, 5, 3, 6),
    ],
    mutants=[
        Mutant("w_untransposed", TRANSPOSED_W, _col_variant(w_untransposed=True), ("dX",)),
        Mutant("dw_transposed", TRANSPOSED_DW, _col_variant(dw_transposed=True), ("dW",)),
        Mutant("db_not_summed", DB_NOT_SUMMED, _col_variant(db="none"), ("db",)),
        Mutant("db_wrong_axis", DB_WRONG_AXIS, _col_variant(db="axis0"), ("db",)),
        Mutant("db_extra_1_over_n", EXTRA_1_OVER_N, _col_variant(db="mean"), ("db",)),
    ],
)


# --------------------------------------------------------------------------- learning rate


def _ref_lr(x):
    x = np.asarray(x, dtype=float)
    return 2.0 / np.sum(x**2)


check_largest_stable_lr = Checker(
    title="largest stable learning rate",
    reference=_ref_lr,
    outputs=("eta",),
    arg_names=("x",),
    cases=[
        Case("x = (1, 2, 3): the source's neuron, bound 1/7", ((1, 2, 3),)),
        Case("x = (10, 20, 30): bound 1/700", ((10, 20, 30),)),
        Case("x = (0.5, -1.5)", ((0.5, -1.5),)),
        Case("x = (2, -1, 0.5, 3, -2)", ((2.0, -1.0, 0.5, 3.0, -2.0),)),
    ],
    mutants=[
        Mutant("one_step_rate", ONE_STEP, lambda x: 1.0 / np.sum(np.asarray(x, float) ** 2)),
        Mutant("norm_not_squared", NORM_NOT_SQUARED, lambda x: 2.0 / np.linalg.norm(np.asarray(x, float))),
        Mutant("sum_not_squares", SUM_NOT_SQUARES, lambda x: 2.0 / np.sum(np.asarray(x, float))),
    ],
)


# --------------------------------------------------------------------------- two-layer MLP


def _ref_mlp2(X, T, W1, b1, W2, b2):
    z1, c1 = fc.fc_forward(X, W1, b1)
    a1 = np.tanh(z1)
    y, c2 = fc.fc_forward(a1, W2, b2)
    _, dy = losses.mse(y, T)
    da1, dW2, db2 = fc.fc_backward(dy, c2)
    _, dW1, db1 = fc.fc_backward(da1 * (1 - a1**2), c1)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _mlp_variant(**flags):
    def fn(X, T, W1, b1, W2, b2):
        a1 = np.tanh(X @ W1 + b1)
        y = a1 @ W2 + b2
        d2 = (y - T) if flags.get("missing_1_over_n") else (y - T) / len(X)
        if flags.get("output_activation"):
            d2 = d2 * (1 - y**2)
        back = d2 @ W2 if flags.get("w_untransposed") else d2 @ W2.T
        slope = 1 - np.tanh(a1) ** 2 if flags.get("tanh_on_output") else 1 - a1**2
        d1 = back * slope
        return {"W1": X.T @ d1, "b1": d1.sum(axis=0), "W2": a1.T @ d2, "b2": d2.sum(axis=0)}
    return fn


def _mlp_case(label, n, d, h, m, seed):
    r = np.random.default_rng(seed)
    args = (r.normal(size=(n, d)), r.normal(size=(n, m)), r.normal(size=(d, h)), r.normal(size=h),
            r.normal(size=(h, m)), r.normal(size=m))
    return Case(label, args)


check_mlp2_backward = Checker(
    title="two-layer MLP backward",
    reference=_ref_mlp2,
    outputs=("W1", "b1", "W2", "b2"),
    arg_names=("X", "T", "W1", "b1", "W2", "b2"),
    cases=[
        _mlp_case("N=2, D=2, H=2, M=2 (square W2)", 2, 2, 2, 2, 7),
        _mlp_case("N=3, D=2, H=3, M=1", 3, 2, 3, 1, 8),
        _mlp_case("N=4, D=3, H=4, M=2", 4, 3, 4, 2, 9),
    ],
    mutants=[
        Mutant("missing_1_over_n", MISSING_1_OVER_N, _mlp_variant(missing_1_over_n=True)),
        Mutant("tanh_on_output", TANH_ON_OUTPUT, _mlp_variant(tanh_on_output=True), ("W1", "b1")),
        Mutant("output_activation", OUTPUT_ACTIVATION, _mlp_variant(output_activation=True)),
        Mutant("w_untransposed", TRANSPOSED_W, _mlp_variant(w_untransposed=True), ("W1", "b1")),
    ],
)
