"""Tests of cnnbook.activations: ReLU, sigmoid and tanh forward/backward pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import rng_array, strict_numerics
from cnnbook.activations import (
    ReluCache,
    SigmoidCache,
    TanhCache,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from cnnbook.gradcheck import check_gradients, numerical_gradient

PAIRS = pytest.mark.parametrize(
    "forward, backward",
    [(relu_forward, relu_backward), (sigmoid_forward, sigmoid_backward), (tanh_forward, tanh_backward)],
    ids=["relu", "sigmoid", "tanh"],
)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def away_from_zero(data, shape):
    """Values with |x| >= 0.05, so central differences never straddle ReLU's kink."""
    x = rng_array(data, shape, low=0.05, high=3.0)
    return x * np.where(rng_array(data, shape) < 0, -1.0, 1.0)


@PAIRS
@given(shape=shapes, data=st.data())
def test_backward_matches_numerical_gradient(forward, backward, shape, data):
    x = away_from_zero(data, shape)
    errors = check_gradients(forward, backward, {"x": x}, seed=data.draw(st.integers(0, 99)))
    assert errors["x"] < 1e-7


@given(shape=shapes, data=st.data())
def test_sigmoid_derivative_vs_numerical_and_closed_form(shape, data):
    x = rng_array(data, shape, low=-6, high=6)
    s = sigmoid(x)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x)), rtol=1e-14)
    # h = 1e-4: truncation error ~ h**2/6 * max|third derivative| and rounding error
    # ~ eps * x.size / h are both far below 1e-8
    numeric = numerical_gradient(lambda v: float(sigmoid(v).sum()), x.copy(), h=1e-4)
    np.testing.assert_allclose(numeric, s * (1 - s), atol=1e-8)
    _, cache = sigmoid_forward(x)
    np.testing.assert_allclose(sigmoid_backward(np.ones_like(x), cache), s * (1 - s), rtol=1e-14)


@given(shape=shapes, data=st.data())
def test_tanh_derivative_is_one_minus_tanh_squared(shape, data):
    x = rng_array(data, shape, low=-4, high=4)
    y, cache = tanh_forward(x)
    np.testing.assert_array_equal(y, np.tanh(x))
    dx = tanh_backward(np.ones_like(x), cache)
    np.testing.assert_allclose(dx, 1 - np.tanh(x) ** 2, rtol=1e-14)
    np.testing.assert_allclose(dx, 1 / np.cosh(x) ** 2, rtol=1e-12)


def test_relu_examples_and_subgradient_zero_at_zero():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    y, cache = relu_forward(x)
    np.testing.assert_array_equal(y, [0, 0, 0, 1e-300, 3])
    dx = relu_backward(np.array([5.0, 5.0, 5.0, 5.0, 5.0]), cache)
    np.testing.assert_array_equal(dx, [0, 0, 0, 5, 5])
    assert relu_backward(np.ones(1), relu_forward(np.zeros(1))[1])[0] == 0


def test_sigmoid_and_tanh_special_values():
    assert sigmoid(np.array(0.0)) == 0.5
    np.testing.assert_allclose(sigmoid(np.array([2.0])) + sigmoid(np.array([-2.0])), 1)
    _, cache = sigmoid_forward(np.zeros(1))
    assert sigmoid_backward(np.ones(1), cache)[0] == 0.25
    _, cache = tanh_forward(np.zeros(1))
    assert tanh_backward(np.ones(1), cache)[0] == 1.0


def test_caches_are_named():
    assert isinstance(relu_forward(np.ones(2))[1], ReluCache)
    assert isinstance(sigmoid_forward(np.ones(2))[1], SigmoidCache)
    assert isinstance(tanh_forward(np.ones(2))[1], TanhCache)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("big", [1000.0, 1e4])
def test_stable_at_huge_inputs(big):
    x = np.array([big, -big])
    with strict_numerics():
        np.testing.assert_array_equal(sigmoid(x), [1.0, 0.0])
        y, cache = sigmoid_forward(x)
        np.testing.assert_array_equal(sigmoid_backward(np.ones(2), cache), [0.0, 0.0])
        y, cache = tanh_forward(x)
        np.testing.assert_array_equal(y, [1.0, -1.0])
        np.testing.assert_array_equal(tanh_backward(np.ones(2), cache), [0.0, 0.0])
        y, cache = relu_forward(x)
        np.testing.assert_array_equal(y, [big, 0.0])
        np.testing.assert_array_equal(relu_backward(np.ones(2), cache), [1.0, 0.0])
    with strict_numerics():
        s32 = sigmoid(x.astype(np.float32))
    np.testing.assert_array_equal(s32, [1.0, 0.0])


# --------------------------------------------------------------------------- dtype


@PAIRS
def test_float32_in_float32_out(forward, backward):
    x = np.array([[-1.0, 0.5], [2.0, -3.0]], np.float32)
    y, cache = forward(x)
    assert y.dtype == np.float32
    assert backward(np.ones_like(y), cache).dtype == np.float32


@PAIRS
def test_int_inputs_become_float64(forward, backward):
    y, cache = forward(np.array([-1, 0, 2]))
    assert y.dtype == np.float64
    assert backward(np.ones(3, int), cache).dtype == np.float64


def test_sigmoid_dtypes():
    assert sigmoid(np.ones(2, np.float32)).dtype == np.float32
    assert sigmoid(np.ones(2, int)).dtype == np.float64


# --------------------------------------------------------------------------- bad input


@PAIRS
@pytest.mark.parametrize("dy_shape", [(2, 3), (3,), (3, 2, 1)])
def test_backward_rejects_dy_of_the_wrong_shape(forward, backward, dy_shape):
    _, cache = forward(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"dy and the forward output must have the same shape.*\(3, 2\)"):
        backward(np.ones(dy_shape), cache)


@pytest.mark.parametrize("func", [relu_forward, sigmoid_forward, tanh_forward, sigmoid])
def test_forward_rejects_non_numeric_input(func):
    with pytest.raises(ValueError, match=r"x must be a real numeric array.*<U1"):
        func(np.array(["a"]))


@PAIRS
def test_backward_rejects_non_numeric_dy(forward, backward):
    _, cache = forward(np.ones(2))
    with pytest.raises(ValueError, match=r"dy must be a real numeric array"):
        backward(np.array(["a", "b"]), cache)
