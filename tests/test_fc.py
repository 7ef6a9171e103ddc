"""Tests of cnnbook.fc: the dense layer y = x @ w + b and its loop reference."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from _helpers import rng_array
from cnnbook.fc import FCCache, fc_backward, fc_backward_naive, fc_forward, fc_forward_naive
from cnnbook.gradcheck import GradientCheckError, check_gradients

BOTH = pytest.mark.parametrize(
    "forward, backward", [(fc_forward, fc_backward), (fc_forward_naive, fc_backward_naive)], ids=["vectorized", "naive"]
)
dims = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4))  # N, D, M


def fc_inputs(data, n, d, m):
    return rng_array(data, (n, d)), rng_array(data, (d, m)), rng_array(data, (m,))


@BOTH
def test_small_example_by_hand(forward, backward):
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
    b = np.array([0.5, 0.0, 1.0])
    y, cache = forward(x, w, b)
    np.testing.assert_array_equal(y, [[5.5, 2.0, 1.0]])
    dx, dw, db = backward(np.array([[1.0, -1.0, 2.0]]), cache)
    np.testing.assert_array_equal(dx, [[1 - 0 - 2, 2 - 1 + 1]])  # sum_i delta_i w[k, i]
    np.testing.assert_array_equal(dw, [[1, -1, 2], [2, -2, 4]])  # x_k delta_i
    np.testing.assert_array_equal(db, [1, -1, 2])


@BOTH
def test_db_and_dw_sum_over_the_batch(forward, backward):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.ones((2, 1))
    _, cache = forward(x, w, np.zeros(1))
    dx, dw, db = backward(np.array([[1.0], [10.0]]), cache)
    np.testing.assert_array_equal(db, [11])
    np.testing.assert_array_equal(dw, [[31], [42]])
    np.testing.assert_array_equal(dx, [[1, 1], [10, 10]])


@BOTH
@given(dims=dims, data=st.data())
def test_backward_matches_numerical_gradient(forward, backward, dims, data):
    x, w, b = fc_inputs(data, *dims)
    errors = check_gradients(forward, backward, {"x": x, "w": w, "b": b})
    assert max(errors.values()) < 1e-7


@given(dims=dims, data=st.data())
def test_naive_equals_vectorized(dims, data):
    x, w, b = fc_inputs(data, *dims)
    y, cache = fc_forward(x, w, b)
    y_naive, cache_naive = fc_forward_naive(x, w, b)
    np.testing.assert_allclose(y, y_naive, rtol=1e-12, atol=1e-12)
    dy = rng_array(data, y.shape)
    for g, g_naive in zip(fc_backward(dy, cache), fc_backward_naive(dy, cache_naive)):
        np.testing.assert_allclose(g, g_naive, rtol=1e-12, atol=1e-12)


def test_naive_on_symbols_equals_sympy_differentiation():
    x = np.array([sp.symbols("x1 x2")], dtype=object)
    w = np.array(sp.symbols("w11 w12 w13 w21 w22 w23"), dtype=object).reshape(2, 3)
    b = np.array(sp.symbols("b1 b2 b3"), dtype=object)
    y, cache = fc_forward_naive(x, w, b)
    assert sp.expand(y[0, 1] - (x[0, 0] * w[0, 1] + x[0, 1] * w[1, 1] + b[1])) == 0
    delta = np.array([sp.symbols("d1 d2 d3")], dtype=object)
    energy = sum(delta[0, i] * y[0, i] for i in range(3))
    dx, dw, db = fc_backward_naive(delta, cache)
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        for idx in np.ndindex(arr.shape):
            assert sp.expand(grad[idx] - sp.diff(energy, arr[idx])) == 0


def test_cache_is_named():
    _, cache = fc_forward(np.ones((1, 2)), np.ones((2, 3)), np.zeros(3))
    assert isinstance(cache, FCCache) and cache.w.shape == (2, 3)


def test_wrong_backward_is_caught():
    def db_first_sample(dy, cache):
        dx, dw, db = fc_backward(dy, cache)
        return dx, dw, dy[0]  # db from the first sample only

    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((3, 2)), "w": rng.standard_normal((2, 4)), "b": rng.standard_normal(4)}
    with pytest.raises(GradientCheckError, match=r"gradient of 'b' is wrong"):
        check_gradients(fc_forward, db_first_sample, inputs)


# --------------------------------------------------------------------------- dtype


@BOTH
def test_float32_in_float32_out(forward, backward):
    x = np.ones((2, 3), np.float32)
    y, cache = forward(x, np.ones((3, 4), np.float32), np.ones(4, np.float32))
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in backward(np.ones_like(y), cache))


@BOTH
def test_int_inputs_become_float64(forward, backward):
    y, cache = forward(np.ones((2, 3), int), np.ones((3, 4), int), np.ones(4, int))
    assert y.dtype == np.float64
    assert all(g.dtype == np.float64 for g in backward(np.ones(y.shape, int), cache))


# --------------------------------------------------------------------------- bad input


@BOTH
@pytest.mark.parametrize(
    "override, match",
    [
        (dict(x=np.ones(3)), r"x must be a 2-D array of shape \(N, D\), got 1-D shape \(3,\)"),
        (dict(x=np.ones((1, 2, 3))), r"x must be a 2-D array.*got 3-D shape \(1, 2, 3\)"),
        (dict(w=np.ones(3)), r"w must be a 2-D array of shape \(D, M\), got 1-D shape \(3,\)"),
        (dict(b=np.ones((1, 4))), r"b must be a 1-D array of shape \(M,\), got 2-D shape \(1, 4\)"),
        (dict(w=np.ones((2, 4))), r"w must have shape \(D, M\) with D = x.shape\[1\] = 3, got w \(2, 4\) for x \(2, 3\)"),
        (dict(b=np.ones(3)), r"b must have shape \(M,\) = \(4,\) to match w \(3, 4\), got \(3,\)"),
        (dict(x=np.array([["a"]])), r"x must be a real numeric array"),
    ],
)
def test_forward_rejects_bad_input(forward, backward, override, match):
    kwargs = dict(x=np.ones((2, 3)), w=np.ones((3, 4)), b=np.ones(4))
    kwargs.update(override)
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


@BOTH
@pytest.mark.parametrize("dy_shape", [(2, 3), (4, 2), (2,), (2, 4, 1)])
def test_backward_rejects_dy_of_the_wrong_shape(forward, backward, dy_shape):
    _, cache = forward(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 4\).*got " + re.escape(str(dy_shape))):
        backward(np.ones(dy_shape), cache)
