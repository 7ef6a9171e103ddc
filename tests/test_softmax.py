"""Tests of cnnbook.softmax: softmax, log-softmax, the Jacobian and the backward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import rng_array, strict_numerics
from cnnbook.gradcheck import check_gradients, numerical_gradient
from cnnbook.softmax import (
    SoftmaxCache,
    log_softmax,
    softmax,
    softmax_backward,
    softmax_forward,
    softmax_jacobian,
)

batches = st.tuples(st.integers(1, 4), st.integers(1, 6))


def test_small_example():
    y = softmax(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(y, [0.25, 0.75])
    np.testing.assert_allclose(log_softmax(np.array([0.0, np.log(3.0)])), np.log([0.25, 0.75]))


@given(shape=batches, data=st.data())
def test_rows_are_distributions_and_shift_invariant(shape, data):
    z = rng_array(data, shape, low=-5, high=5)
    y = softmax(z)
    assert np.all(y > 0)
    np.testing.assert_allclose(y.sum(axis=1), 1)
    np.testing.assert_allclose(softmax(z + 123.0), y, atol=1e-12)
    np.testing.assert_allclose(log_softmax(z), np.log(y), atol=1e-12)
    np.testing.assert_allclose(softmax(z.T, axis=0), y.T, atol=1e-15)
    np.testing.assert_allclose(softmax_forward(z)[0], y, atol=1e-15)


# --------------------------------------------------------------------------- Jacobian


@given(n=st.integers(1, 6), data=st.data())
def test_jacobian_two_case_formula_and_numerical(n, data):
    z = rng_array(data, (n,), low=-3, high=3)
    jac = softmax_jacobian(z)
    y = softmax(z)
    for i in range(n):
        for j in range(n):
            expected = y[i] * (1 - y[i]) if i == j else -y[i] * y[j]
            assert jac[i, j] == pytest.approx(expected, abs=1e-15)
    numeric = np.stack([numerical_gradient(lambda v, i=i: softmax(v)[i], z.copy()) for i in range(n)])
    np.testing.assert_allclose(jac, numeric, atol=1e-9)
    np.testing.assert_allclose(jac, jac.T, atol=1e-15)  # symmetric
    np.testing.assert_allclose(jac.sum(axis=0), 0, atol=1e-15)  # outputs sum to 1


@given(shape=batches, data=st.data())
def test_backward_is_dy_times_the_jacobian_row_by_row(shape, data):
    z = rng_array(data, shape, low=-3, high=3)
    dy = rng_array(data, shape)
    _, cache = softmax_forward(z)
    dz = softmax_backward(dy, cache)
    for n in range(shape[0]):
        np.testing.assert_allclose(dz[n], dy[n] @ softmax_jacobian(z[n]), atol=1e-14)


@given(shape=batches, data=st.data())
def test_backward_matches_numerical_gradient(shape, data):
    z = rng_array(data, shape, low=-3, high=3)
    errors = check_gradients(softmax_forward, softmax_backward, {"z": z}, seed=data.draw(st.integers(0, 99)))
    assert errors["z"] < 1e-7


def test_diagonal_only_backward_is_wrong():
    """Keeping only dy_i/dz_i (ignoring that every output depends on every input)
    gives a different gradient."""
    z = np.array([[0.5, -1.0, 2.0]])
    dy = np.array([[1.0, 0.0, 0.0]])
    y, cache = softmax_forward(z)
    full = softmax_backward(dy, cache)
    diagonal_only = dy * y * (1 - y)
    assert not np.allclose(full, diagonal_only)
    np.testing.assert_allclose(full[0], dy[0] @ softmax_jacobian(z[0]))
    # the off-diagonal part is what moves the other logits
    assert diagonal_only[0, 1] == 0 and full[0, 1] < 0


def test_cache_is_named():
    _, cache = softmax_forward(np.zeros((1, 3)))
    assert isinstance(cache, SoftmaxCache) and cache.y.shape == (1, 3)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("big", [1000.0, 1e4])
def test_stable_at_huge_logits(big):
    with strict_numerics():
        np.testing.assert_array_equal(softmax(np.array([big, -big])), [1.0, 0.0])
        np.testing.assert_array_equal(log_softmax(np.array([big, -big])), [0.0, -2 * big])
        np.testing.assert_array_equal(softmax(np.array([big, big])), [0.5, 0.5])
        np.testing.assert_allclose(log_softmax(np.array([-big, -big])), np.log([0.5, 0.5]))
        y, cache = softmax_forward(np.array([[big, -big, 0.0], [-big, -big, -big]]))
        assert np.all(np.isfinite(y))
        np.testing.assert_array_equal(y[0], [1, 0, 0])
        np.testing.assert_allclose(y[1], 1 / 3)
        dz = softmax_backward(np.ones_like(y), cache)
        assert np.all(np.isfinite(dz))
        np.testing.assert_allclose(softmax_jacobian(np.array([big, -big])), 0, atol=0)


# --------------------------------------------------------------------------- dtype


def test_float32_in_float32_out():
    z = np.array([[1.0, 2.0, 3.0]], np.float32)
    assert softmax(z).dtype == np.float32
    assert log_softmax(z).dtype == np.float32
    assert softmax_jacobian(z[0]).dtype == np.float32
    y, cache = softmax_forward(z)
    assert y.dtype == np.float32
    assert softmax_backward(np.ones_like(y), cache).dtype == np.float32


def test_int_inputs_become_float64():
    z = np.array([[1, 2, 3]])
    assert softmax(z).dtype == np.float64
    assert log_softmax(z).dtype == np.float64
    assert softmax_jacobian(z[0]).dtype == np.float64
    y, cache = softmax_forward(z)
    assert y.dtype == np.float64
    assert softmax_backward(np.ones(y.shape, int), cache).dtype == np.float64


# --------------------------------------------------------------------------- bad input


BAD = [
    (softmax, dict(z=np.float64(1.0)), r"z must have at least one dimension, got a scalar"),
    (softmax, dict(z=np.ones(3), axis=1), r"axis 1 is out of range for z of shape \(3,\)"),
    (softmax, dict(z=np.ones((2, 3)), axis=-3), r"axis -3 is out of range for z of shape \(2, 3\)"),
    (softmax, dict(z=np.ones((2, 3)), axis=0.5), r"axis must be an int, got 0\.5"),
    (softmax, dict(z=np.ones((2, 3)), axis=True), r"axis must be an int, got True"),
    (softmax, dict(z=np.array(["a", "b"])), r"z must be a real numeric array"),
    (log_softmax, dict(z=np.float64(1.0)), r"z must have at least one dimension"),
    (log_softmax, dict(z=np.ones(3), axis=2), r"axis 2 is out of range for z of shape \(3,\)"),
    (log_softmax, dict(z=np.ones(3), axis=1.0), r"axis must be an int, got 1\.0"),
    (softmax_jacobian, dict(z=np.ones((2, 3))), r"z must be a 1-D array of shape \(K,\).*got 2-D shape \(2, 3\)"),
    (softmax_forward, dict(z=np.ones(3)), r"z must be a 2-D array of shape \(N, K\), got 1-D shape \(3,\)"),
    (softmax_forward, dict(z=np.ones((1, 2, 3))), r"z must be a 2-D array.*got 3-D shape \(1, 2, 3\)"),
]


@pytest.mark.parametrize("func, kwargs, match", BAD, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD)])
def test_rejects_bad_input(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)


@pytest.mark.parametrize("dy_shape", [(2, 4), (3, 3), (3,)])
def test_backward_rejects_dy_of_the_wrong_shape(dy_shape):
    _, cache = softmax_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dy and the softmax output must have the same shape.*\(2, 3\)"):
        softmax_backward(np.ones(dy_shape), cache)
