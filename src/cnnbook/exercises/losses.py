"""Checkers for the chapter "Loss functions".

* :data:`check_mse_sum` -- ``fn(y, t) -> (E, dy)`` for the SUM reduction.
* :data:`check_mse_grad_flat_targets` -- ``fn(y, t) -> dy`` for the batch-mean MSE
  with predictions y (N, 1) and targets t (N,) as a data set stores them.
* :data:`check_bce_with_logit` -- ``fn(z, t) -> (E, dz)``, element-wise and stable.
* :data:`check_label_smoothing` -- ``check_label_smoothing(smooth_targets, z_star)``, with
  ``smooth_targets(labels, K, gamma)`` and the smoothing amount gamma.
* :data:`check_softmax_mse_grad` -- ``fn(z, t) -> dz`` for MSE (batch mean) after softmax.
"""

from __future__ import annotations

import numpy as np

from .. import losses
from .. import softmax as sm
from ._core import Case, Checker, Mutant

EXTRA_1_OVER_N = (
    "extra 1/N: that is the batch MEAN; with the sum reduction E = sum_n E_n there is no 1/N, and "
    "the gradient is N times the mean's."
)
MISSING_1_OVER_N = (
    "missing 1/N: the loss is the mean over the batch, E = (1/N) sum_n E_n, so dE/dy = (y - t)/N."
)
NO_HALF = "the loss lacks the 1/2: E_n = 1/2 sum_i (t_i - y_i)^2 (the 1/2 cancels the 2 of the derivative)."
GRAD_SIGN = "the sign of the gradient is flipped: dE/dy = y - t (the loss grows as y moves away from t)."
GRAD_TWICE = "the gradient is doubled: with the 1/2 in E_n, dE/dy = y - t, not 2 (y - t)."
BROADCAST = (
    "a shape error hidden by broadcasting: y has shape (N, 1) and t shape (N,), so y - t broadcasts "
    "to an (N, N) matrix of every prediction minus every target. Reshape t to (N, 1) first "
    "(t[:, None] or t.reshape(y.shape))."
)
BCE_SIGN = "the sign of dE/dz is flipped: dE/dz = sigma(z) - t."
BCE_WRT_P = (
    "that is dE/dp with p = sigma(z); the exercise asks for dE/dz = dE/dp * sigma'(z) = sigma(z) - t."
)
SMOOTH_K_MINUS_1 = (
    "gamma/(K-1) on the other classes is another smoothing; here t = (1 - gamma) onehot + gamma/K, so "
    "every class gets gamma/K and the label gets 1 - gamma + gamma/K."
)
SMOOTH_NO_SUBTRACT = (
    "the label's share was not reduced: t = (1 - gamma) onehot + gamma/K; adding gamma/K to a one-hot "
    "target gives rows that sum to 1 + gamma, not 1."
)
ZSTAR_IS_T = (
    "z_star = t uses the probabilities as logits; softmax(z) = t needs z = ln t (plus any constant)."
)
ZSTAR_NEG = "z_star = -ln t has the wrong sign: softmax(ln t) = t / sum(t) = t."


def _sum_ref(y, t):
    loss, dy = losses.mse(y, t)
    return loss * len(y), dy * len(y)


def _mse_case(label, shape, seed):
    r = np.random.default_rng(seed)
    return Case(label, (r.integers(-3, 4, size=shape).astype(float), r.integers(-3, 4, size=shape).astype(float)))


check_mse_sum = Checker(
    title="MSE with the sum reduction",
    reference=_sum_ref,
    outputs=("E", "dy"),
    arg_names=("y", "t"),
    cases=[
        Case("N=2, K=1: y = (1, 3), t = (0, 1)", (np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))),
        _mse_case("N=3, K=2", (3, 2), 1),
        _mse_case("N=5, K=4", (5, 4), 2),
    ],
    mutants=[
        Mutant("extra_1_over_n", EXTRA_1_OVER_N, lambda y, t: losses.mse(y, t)),
        Mutant("no_half", NO_HALF, lambda y, t: (np.sum((y - t) ** 2), y - t), ("E",)),
        Mutant("grad_sign", GRAD_SIGN, lambda y, t: (0.5 * np.sum((y - t) ** 2), t - y), ("dy",)),
        Mutant("grad_twice", GRAD_TWICE, lambda y, t: (0.5 * np.sum((y - t) ** 2), 2 * (y - t)), ("dy",)),
    ],
)


def _flat_ref(y, t):
    return losses.mse(y, t.reshape(y.shape))[1]


check_mse_grad_flat_targets = Checker(
    title="MSE gradient, targets of shape (N,)",
    reference=_flat_ref,
    outputs=("dy",),
    arg_names=("y", "t"),
    cases=[
        Case("N=1: y = [[2]], t = [0.5]", (np.array([[2.0]]), np.array([0.5]))),
        Case("N=2: y = [[1], [3]], t = [0.5, 1]", (np.array([[1.0], [3.0]]), np.array([0.5, 1.0]))),
        Case("N=4", (np.array([[0.0], [1.5], [-2.0], [4.0]]), np.array([1.0, 1.0, -1.0, 2.5]))),
    ],
    mutants=[
        Mutant("broadcast", BROADCAST, lambda y, t: (y - t) / len(y)),
        Mutant("missing_1_over_n", MISSING_1_OVER_N, lambda y, t: y - t[:, None]),
        Mutant("grad_sign", GRAD_SIGN, lambda y, t: (t[:, None] - y) / len(y)),
    ],
)


def _bce_ref(z, t):
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return np.maximum(z, 0) - t * z + np.log1p(e), sig - t


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


check_bce_with_logit = Checker(
    title="binary cross-entropy from a logit",
    reference=_bce_ref,
    outputs=("E", "dz"),
    arg_names=("z", "t"),
    cases=[
        Case("z = (-2, 0, 1.5), t = (1, 0, 1)", (np.array([-2.0, 0.0, 1.5]), np.array([1.0, 0.0, 1.0]))),
        Case("z = (-1, 0.5, 3, -4), soft targets", (np.array([-1.0, 0.5, 3.0, -4.0]), np.array([0.3, 0.7, 0.5, 0.1]))),
        Case("z = (-1000, 1000, -1000, 1000): must be finite, no warning",
             (np.array([-1000.0, 1000.0, -1000.0, 1000.0]), np.array([1.0, 1.0, 0.0, 0.0]))),
        Case("33 points in [-8, 8], t = 0.3", (np.linspace(-8, 8, 33), np.full(33, 0.3))),
    ],
    mutants=[
        Mutant("grad_sign", BCE_SIGN, lambda z, t: (_bce_ref(z, t)[0], t - _sigmoid(z)), ("dz",)),
        Mutant("grad_wrt_p", BCE_WRT_P,
               lambda z, t: (_bce_ref(z, t)[0], -(t / _sigmoid(z) - (1 - t) / (1 - _sigmoid(z)))), ("dz",)),
    ],
)


def _smooth_ref(labels, k, gamma, t_ref):
    return t_ref, t_ref


def _compose_smoothing(smooth_targets, z_star):
    def fn(labels, k, gamma, t_ref):
        # z_star is checked on the right targets, so that one mistake is not blamed on the other
        return smooth_targets(labels, k, gamma), sm.softmax(np.asarray(z_star(t_ref), dtype=float), axis=1)
    return fn


def _smooth_case(labels, k, gamma):
    labels = np.array(labels)
    t = np.full((len(labels), k), gamma / k)
    t[np.arange(len(labels)), labels] += 1 - gamma
    return Case(f"labels {labels.tolist()}, K = {k}, gamma = {gamma}", (labels, k, gamma, t))


def _smooth_variant(kind):
    def fn(labels, k, gamma, t_ref):
        n = len(labels)
        if kind == "k_minus_1":
            t = np.full((n, k), gamma / (k - 1))
            t[np.arange(n), labels] = 1 - gamma
        else:
            t = np.eye(k)[labels] + gamma / k
        return t, t_ref
    return fn


check_label_smoothing = Checker(
    title="label smoothing",
    reference=_smooth_ref,
    outputs=("targets", "softmax(z_star(t))"),
    arg_names=("labels", "K", "gamma", "_t"),
    compose=_compose_smoothing,
    cases=[_smooth_case([2, 0, 1], 4, 0.1), _smooth_case([0, 3, 3, 1, 2], 5, 0.2)],
    mutants=[
        Mutant("k_minus_1", SMOOTH_K_MINUS_1, _smooth_variant("k_minus_1"), ("targets",)),
        Mutant("no_subtract", SMOOTH_NO_SUBTRACT, _smooth_variant("no_subtract"), ("targets",)),
        Mutant("zstar_is_t", ZSTAR_IS_T, lambda labels, k, gamma, t: (t, sm.softmax(t, axis=1)),
               ("softmax(z_star(t))",)),
        Mutant("zstar_neg", ZSTAR_NEG, lambda labels, k, gamma, t: (t, sm.softmax(-np.log(t), axis=1)),
               ("softmax(z_star(t))",)),
    ],
)


# --------------------------------------------------------------------------- softmax + MSE

COLLAPSED = (
    "the cross-entropy shortcut (y - t)/N does not hold for MSE: only -sum t log y cancels the "
    "softmax Jacobian; for MSE, dE/dy = (y - t)/N must go through the full Jacobian."
)
MISSING_1_OVER_N_SOFTMAX = (
    "missing 1/N: the loss is the mean over the batch, so dE/dy = (y - t)/N before the Jacobian."
)
DIAGONAL_ONLY_MSE = (
    "only the diagonal of the softmax Jacobian was used: g * y * (1 - y) with g = (y - t)/N; the "
    "full backward is y * (g - sum_i g_i y_i)."
)


def _ref_softmax_mse(z, t):
    y, cache = sm.softmax_forward(z)
    _, g = losses.mse(y, t)
    return sm.softmax_backward(g, cache)


def _mse_variant(kind):
    def fn(z, t):
        y = sm.softmax(z, axis=1)
        g = (y - t) if kind == "missing_1_over_n" else (y - t) / len(z)
        if kind == "collapsed":
            return g
        if kind == "diagonal_only":
            return g * y * (1 - y)
        return y * (g - np.sum(g * y, axis=1, keepdims=True))
    return fn


def _onehot(labels, k):
    return np.eye(k)[labels]


check_softmax_mse_grad = Checker(
    title="softmax + MSE gradient",
    reference=_ref_softmax_mse,
    outputs=("dz",),
    arg_names=("z", "t"),
    cases=[
        Case("N=1: confidently wrong, z = (10, 0, 0), target class 1",
             (np.array([[10.0, 0.0, 0.0]]), _onehot([1], 3))),
        Case("N=2, K=3", (np.array([[0.5, -1.0, 1.0], [2.0, 0.0, -0.5]]), _onehot([2, 0], 3))),
        Case("N=5, K=4", (np.random.default_rng(6).normal(size=(5, 4)) * 2, _onehot([0, 3, 1, 1, 2], 4))),
    ],
    mutants=[
        Mutant("collapsed", COLLAPSED, _mse_variant("collapsed")),
        Mutant("missing_1_over_n", MISSING_1_OVER_N_SOFTMAX, _mse_variant("missing_1_over_n")),
        Mutant("diagonal_only", DIAGONAL_ONLY_MSE, _mse_variant("diagonal_only")),
    ],
)
