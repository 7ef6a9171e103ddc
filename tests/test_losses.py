"""Tests of cnnbook.losses: MSE, cross-entropy and softmax + cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import rng_array, strict_numerics
from cnnbook.gradcheck import numerical_gradient
from cnnbook.losses import cross_entropy, mse, softmax_cross_entropy
from cnnbook.softmax import softmax, softmax_backward, softmax_forward

batches = st.tuples(st.integers(1, 5), st.integers(2, 5))  # N, K


def one_hot(labels, k):
    t = np.zeros((len(labels), k))
    t[np.arange(len(labels)), labels] = 1
    return t


def draw_labels(data, n, k):
    return np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n), label="labels"))


def probabilities(data, shape):
    return softmax(rng_array(data, shape, low=-2, high=2), axis=1)


# --------------------------------------------------------------------------- hand examples


def test_mse_by_hand():
    loss, dy = mse(np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.0], [3.0, 3.0]]))
    assert loss == pytest.approx((0.5 * 1 + 0.5 * 4) / 2)
    np.testing.assert_array_equal(dy, [[0.5, 0.0], [0.0, 1.0]])


def test_cross_entropy_by_hand():
    p = np.array([[0.25, 0.75], [0.5, 0.5]])
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss, dp = cross_entropy(p, t)
    assert loss == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2)
    np.testing.assert_allclose(dp, [[0, -1 / 0.75 / 2], [-1 / 0.5 / 2, 0]])


def test_softmax_cross_entropy_by_hand():
    z = np.array([[0.0, np.log(3.0)]])  # softmax = [0.25, 0.75]
    loss, dz = softmax_cross_entropy(z, np.array([1]))
    assert loss == pytest.approx(-np.log(0.75))
    np.testing.assert_allclose(dz, [[0.25, -0.25]])


# --------------------------------------------------------------------------- gradients


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_mse_gradient_matches_numerical(shape, data):
    y, t = rng_array(data, shape), rng_array(data, shape)
    _, dy = mse(y, t)
    np.testing.assert_allclose(dy, numerical_gradient(lambda v: mse(v, t)[0], y.copy()), atol=1e-9)
    np.testing.assert_allclose(dy, (y - t) / shape[0], rtol=1e-15)


@given(shape=batches, data=st.data())
def test_cross_entropy_gradient_matches_numerical(shape, data):
    p = probabilities(data, shape)
    for t in (one_hot(draw_labels(data, *shape), shape[1]), probabilities(data, shape)):
        _, dp = cross_entropy(p, t)
        numeric = numerical_gradient(lambda v: cross_entropy(v, t)[0], p.copy(), h=1e-7)
        np.testing.assert_allclose(dp, numeric, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dp, -t / p / shape[0], rtol=1e-15)


@given(shape=batches, data=st.data())
def test_softmax_cross_entropy_gradient(shape, data):
    z = rng_array(data, shape, low=-4, high=4)
    labels = draw_labels(data, *shape)
    t = one_hot(labels, shape[1])
    loss, dz = softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(dz, numerical_gradient(lambda v: softmax_cross_entropy(v, labels)[0], z.copy()),
                               atol=1e-9)
    np.testing.assert_allclose(dz, (softmax(z, axis=1) - t) / shape[0], atol=1e-15)
    # integer labels == one-hot labels
    loss_oh, dz_oh = softmax_cross_entropy(z, t)
    assert loss_oh == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(dz_oh, dz, atol=1e-16)
    # soft targets: gradient is softmax - t over N as well
    soft = probabilities(data, shape)
    _, dz_soft = softmax_cross_entropy(z, soft)
    np.testing.assert_allclose(dz_soft, (softmax(z, axis=1) - soft) / shape[0], atol=1e-15)
    np.testing.assert_allclose(
        dz_soft, numerical_gradient(lambda v: softmax_cross_entropy(v, soft)[0], z.copy()), atol=1e-9
    )


@given(shape=batches, data=st.data())
def test_cross_entropy_of_softmax_equals_softmax_cross_entropy(shape, data):
    z = rng_array(data, shape, low=-10, high=10)
    labels = draw_labels(data, *shape)
    t = one_hot(labels, shape[1])
    loss_ce, dp = cross_entropy(softmax(z, axis=1), t)
    loss_sce, dz = softmax_cross_entropy(z, labels)
    assert loss_ce == pytest.approx(loss_sce, rel=1e-10, abs=1e-12)
    # chain rule through the softmax Jacobian gives the fused gradient
    _, cache = softmax_forward(z)
    np.testing.assert_allclose(softmax_backward(dp, cache), dz, atol=1e-12)


# --------------------------------------------------------------------------- batch reduction


@pytest.mark.parametrize("loss_name", ["mse", "cross_entropy", "softmax_cross_entropy"])
@given(shape=batches, data=st.data())
def test_batch_loss_is_the_mean_of_per_sample_losses(loss_name, shape, data):
    n, k = shape
    if loss_name == "mse":
        a, b = rng_array(data, shape), rng_array(data, shape)
        fn = mse
    elif loss_name == "cross_entropy":
        a, b = probabilities(data, shape), one_hot(draw_labels(data, n, k), k)
        fn = cross_entropy
    else:
        a, b = rng_array(data, shape), draw_labels(data, n, k)
        fn = softmax_cross_entropy
    loss, grad = fn(a, b)
    per_sample = [fn(a[i : i + 1], b[i : i + 1]) for i in range(n)]
    assert loss == pytest.approx(np.mean([ls for ls, _ in per_sample]), rel=1e-12)
    # the gradient of sample i is its single-sample gradient times 1/N
    np.testing.assert_allclose(grad, np.concatenate([g for _, g in per_sample]) / n, rtol=1e-12, atol=1e-15)


def test_batch_of_copies_has_the_same_loss_and_a_gradient_over_n():
    y, t = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    loss1, g1 = mse(y, t)
    loss3, g3 = mse(np.repeat(y, 3, axis=0), np.repeat(t, 3, axis=0))
    assert loss3 == loss1
    np.testing.assert_allclose(g3, np.repeat(g1, 3, axis=0) / 3)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("big", [1000.0, 1e4])
def test_softmax_cross_entropy_stable_at_huge_logits(big):
    z = np.array([[big, -big], [big, -big]])
    with strict_numerics():
        loss, dz = softmax_cross_entropy(z, np.array([0, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx((0 + 2 * big) / 2)
    np.testing.assert_array_equal(dz, [[0, 0], [0.5, -0.5]])
    with strict_numerics():
        loss_oh, dz_oh = softmax_cross_entropy(z, np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert loss_oh == loss
    np.testing.assert_array_equal(dz_oh, dz)


def test_cross_entropy_with_exact_zero_and_one():
    p = np.array([[0.0, 1.0], [1.0, 0.0]])
    with strict_numerics():
        loss, dp = cross_entropy(p, np.array([[0.0, 1.0], [1.0, 0.0]]))  # perfect predictions
    assert loss == 0
    np.testing.assert_array_equal(dp, [[0, -0.5], [-0.5, 0]])
    with strict_numerics():
        loss, dp = cross_entropy(p, np.array([[1.0, 0.0], [1.0, 0.0]]))  # p = 0 on the true class
    assert np.isfinite(loss) and np.all(np.isfinite(dp))
    assert loss == pytest.approx(-np.log(1e-12) / 2)
    # the clipped loss is flat in p[0, 0]: its derivative is 0 (not -1 / p_min / N)
    np.testing.assert_array_equal(dp, [[0, 0], [-0.5, 0]])


@pytest.mark.parametrize("p_min", [1e-12, 1e-6, 0.05])
def test_cross_entropy_gradient_is_the_derivative_of_the_clipped_loss(p_min):
    """Below p_min the returned loss is -t ln p_min, flat in p: the gradient there is 0; at and
    above p_min it is -t / p / N.  Central differences of the returned loss agree on both sides."""
    t = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    for below in (0.0, p_min / 10, p_min * 0.9):
        p = np.array([[below, 1 - below - 0.25, 0.25], [0.2, 0.8 - below, below]])
        with strict_numerics():
            loss, dp = cross_entropy(p, t, p_min=p_min)
        assert loss == pytest.approx((-np.log(p_min) - 0.5 * np.log(0.8 - below) - 0.5 * np.log(max(below, p_min))) / 2,
                                     rel=1e-12)
        assert dp[0, 0] == 0 and dp[1, 2] == 0                      # clipped entries with t > 0
        np.testing.assert_allclose(dp[1, 1], -0.5 / (0.8 - below) / 2, rtol=1e-14)
    # above the threshold, against central differences of the returned (clipped) loss
    p = np.array([[3 * p_min, 1 - 3 * p_min]])
    t1 = np.array([[1.0, 0.0]])
    loss_of = lambda v: cross_entropy(np.clip(v, 0, 1), t1, p_min=p_min)[0]
    h = p_min / 1000
    _, dp = cross_entropy(p, t1, p_min=p_min)
    num = (loss_of(p + [[h, 0]]) - loss_of(p - [[h, 0]])) / (2 * h)
    assert dp[0, 0] == pytest.approx(-1 / (3 * p_min), rel=1e-14)
    assert num == pytest.approx(dp[0, 0], rel=1e-5)
    # ... and below it the returned loss really is flat
    q = np.array([[p_min / 2, 1 - p_min / 2]])
    assert loss_of(q + [[p_min / 10, 0]]) == loss_of(q - [[p_min / 10, 0]])
    assert cross_entropy(q, t1, p_min=p_min)[1][0, 0] == 0


def test_cross_entropy_keyword_is_p_min():
    p, t = np.array([[1e-9, 1 - 1e-9]]), np.array([[1.0, 0.0]])
    assert cross_entropy(p, t, p_min=1e-6)[0] == pytest.approx(-np.log(1e-6))
    assert cross_entropy(p, t)[0] == pytest.approx(-np.log(1e-9))
    with pytest.raises(TypeError):
        cross_entropy(p, t, eps=1e-6)


# --------------------------------------------------------------------------- dtype


def test_float32_gradients_stay_float32():
    y32 = np.array([[0.2, 0.8]], np.float32)
    t32 = np.array([[0.0, 1.0]], np.float32)
    assert mse(y32, t32)[1].dtype == np.float32
    assert cross_entropy(y32, t32)[1].dtype == np.float32
    assert softmax_cross_entropy(y32, np.array([1]))[1].dtype == np.float32
    assert softmax_cross_entropy(y32, t32)[1].dtype == np.float32


def test_int_inputs_become_float64():
    assert mse(np.array([[1, 2]]), np.array([[0, 0]]))[1].dtype == np.float64
    assert cross_entropy(np.array([[0, 1]]), np.array([[0, 1]]))[1].dtype == np.float64
    assert softmax_cross_entropy(np.array([[1, 2]]), np.array([1]))[1].dtype == np.float64
    assert softmax_cross_entropy(np.array([[1, 2]]), np.array([[0, 1]]))[1].dtype == np.float64


# --------------------------------------------------------------------------- bad input


P = np.array([[0.5, 0.5]])
T = np.array([[0.0, 1.0]])
BAD = [
    (mse, dict(y=np.ones((2, 3)), t=np.ones((3, 2))), r"y and t must have the same shape.*y \(2, 3\) and t \(3, 2\)"),
    (mse, dict(y=np.ones((2, 3)), t=np.ones(3)), r"y and t must have the same shape.*\(no broadcasting\)"),
    (mse, dict(y=np.float64(1.0), t=np.float64(1.0)), r"y must have a non-empty batch axis first, got shape \(\)"),
    (mse, dict(y=np.ones((0, 2)), t=np.ones((0, 2))), r"y must have a non-empty batch axis.*\(0, 2\)"),
    (mse, dict(y=np.array(["a"]), t=np.ones(1)), r"y must be a real numeric array"),
    (cross_entropy, dict(p=np.ones(2) / 2, t=np.array([0.0, 1.0])), r"p must be a 2-D array of shape \(N, K\), got 1-D"),
    (cross_entropy, dict(p=P, t=np.array([[0.0, 0.0, 1.0]])), r"p and t must have the same shape.*\(1, 2\).*\(1, 3\)"),
    (cross_entropy, dict(p=np.array([[1.5, -0.5]]), t=T), r"p must hold probabilities in \[0, 1\].*-0\.5.*1\.5"),
    (cross_entropy, dict(p=np.array([[np.nan, 0.5]]), t=T), r"p must hold probabilities in \[0, 1\]"),
    (cross_entropy, dict(p=P, t=np.array([[1.0, 1.0]])), r"each row of t must sum to 1.*\[2, 2\]"),
    (cross_entropy, dict(p=P, t=np.array([[-1.0, 2.0]])), r"t must be one-hot or probabilities \(>= 0\)"),
    (cross_entropy, dict(p=np.ones((0, 2)), t=np.ones((0, 2))), r"p must have a non-empty batch axis"),
    (cross_entropy, dict(p=P, t=T, p_min=0.0), r"p_min must be > 0 \(a probability threshold\), got 0\.0"),
    (softmax_cross_entropy, dict(logits=np.ones(3), labels=np.array([0])), r"logits must be a 2-D array of shape \(N, K\), got 1-D"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array([0, 3])), r"labels must lie in \[0, 3\).*K=3.*\[0, 3\]"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array([-1, 0])), r"labels must lie in \[0, 3\).*\[-1, 0\]"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array([0, 1, 2])), r"labels must have shape \(2,\) to match logits \(2, 3\), got \(3,\)"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array([0.0, 1.0])), r"labels of shape \(N,\) must be integer class indices, got dtype float64"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array([True, False])), r"labels .* must be integer class indices, got dtype bool"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.array(["a", "b"])), r"labels .* must be integer class indices, got dtype <U1"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.ones((2, 2)) / 2), r"labels and logits must have the same shape.*\(2, 2\).*\(2, 3\)"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.ones((2, 3))), r"each row of labels must sum to 1"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.ones((2, 3, 1))), r"labels must be class indices \(N,\) or targets \(N, K\), got shape \(2, 3, 1\)"),
    (softmax_cross_entropy, dict(logits=np.ones((2, 3)), labels=np.int64(1)), r"labels must be class indices .* got shape \(\)"),
    (softmax_cross_entropy, dict(logits=np.ones((0, 3)), labels=np.array([], dtype=int)), r"logits must have a non-empty batch axis"),
]


@pytest.mark.parametrize("func, kwargs, match", BAD, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD)])
def test_rejects_bad_input(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)
