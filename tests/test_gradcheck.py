"""Tests of cnnbook.gradcheck: numerical_gradient, rel_error and check_gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import rng_array
from cnnbook.activations import tanh_backward, tanh_forward
from cnnbook.conv import conv2d_backward, conv2d_forward
from cnnbook.fc import fc_backward, fc_forward
from cnnbook.gradcheck import GradientCheckError, check_gradients, numerical_gradient, rel_error

# --------------------------------------------------------------------------- numerical_gradient


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-9)


def test_numerical_gradient_restores_x():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    seen = []
    numerical_gradient(lambda v: (seen.append(v.copy()), float(v.sum()))[1], x)
    np.testing.assert_array_equal(x, before)
    # x really is perturbed in place, one entry at a time
    assert any(not np.array_equal(s, before) for s in seen)
    assert all(np.count_nonzero(s != before) <= 1 for s in seen)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # in the middle of the second entry
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)

    for method in ("central", "forward"):
        with pytest.raises(ZeroDivisionError):
            numerical_gradient(lambda v: 1 / 0 if v[0] != 1.0 else 0.0, x, method=method)
        np.testing.assert_array_equal(x, before)


def test_central_difference_beats_forward_difference():
    """Error O(h^2) against O(h): on exp at x = 1 with h = 1e-4 the central error
    is about h^2/6 * e and the forward one about h/2 * e."""
    x = np.array([1.0])
    h = 1e-4
    central = numerical_gradient(lambda v: float(np.exp(v[0])), x, h=h)
    forward = numerical_gradient(lambda v: float(np.exp(v[0])), x, h=h, method="forward")
    err_c, err_f = abs(central[0] - np.e), abs(forward[0] - np.e)
    assert err_c < err_f / 100
    assert err_f == pytest.approx(h / 2 * np.e, rel=1e-2)
    assert err_c < h**2 * np.e  # ~ h^2/6 * e plus rounding
    # halving h quarters the central error (until rounding dominates) and halves the forward one
    forward_half = numerical_gradient(lambda v: float(np.exp(v[0])), x, h=h / 2, method="forward")
    assert abs(forward_half[0] - np.e) == pytest.approx(err_f / 2, rel=1e-2)


def test_numerical_gradient_keeps_dtype_and_shape():
    x32 = np.ones((2, 3), np.float32)
    g = numerical_gradient(lambda v: float(v.sum()), x32, h=1e-2)
    assert g.dtype == np.float32 and g.shape == (2, 3)
    np.testing.assert_allclose(g, 1, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=np.array([1, 2])), r"x must be a float ndarray.*ndarray of dtype int64"),
        (dict(x=[1.0, 2.0]), r"x must be a float ndarray.*got list"),
        (dict(x=np.ones(2), h=0.0), r"h must be > 0, got 0\.0"),
        (dict(x=np.ones(2), h=-1e-5), r"h must be > 0"),
        (dict(x=np.ones(2), method="backward"), r"method must be 'central' or 'forward', got 'backward'"),
    ],
)
def test_numerical_gradient_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        numerical_gradient(lambda v: float(np.sum(v)), **kwargs)


def test_numerical_gradient_rejects_a_non_scalar_f():
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"f must return a scalar, got an array of shape \(3,\)"):
        numerical_gradient(lambda v: v * 2, x)
    np.testing.assert_array_equal(x, 1)


# --------------------------------------------------------------------------- rel_error


arrays = st.tuples(st.integers(1, 5), st.integers(1, 5))


@given(shape=arrays, data=st.data())
def test_rel_error_properties(shape, data):
    a, b = rng_array(data, shape), rng_array(data, shape)
    assert rel_error(a, a) == 0
    assert rel_error(a, b) == rel_error(b, a)  # symmetric
    assert 0 <= rel_error(a, b) <= 2  # |a - b| <= |a| + |b| <= 2 max
    scale = data.draw(st.sampled_from([1e-8, 1e-3, 7.0, 1e6]))
    assert rel_error(scale * a, scale * b) == pytest.approx(rel_error(a, b), rel=1e-12)  # scale-free
    if np.max(np.abs(a)) > 0:
        assert rel_error(a, 2 * a) == pytest.approx(0.5)  # wrong by a factor of two
        assert rel_error(a, -a) == pytest.approx(2.0)
        assert rel_error(a, np.zeros_like(a)) == pytest.approx(1.0)


def test_rel_error_special_cases():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0
    assert rel_error([1.0, 2.0], [1.0, 2.0 + 1e-9]) == pytest.approx(5e-10)
    assert rel_error(1e-20, 2e-20) == pytest.approx(0.5)  # no absolute floor hides tiny numbers
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(2,\) and \(3,\)"):
        rel_error(np.ones(2), np.ones(3))


def test_rel_error_is_never_small_when_an_entry_is_nan():
    """A NaN gradient must never look right, whichever argument holds it."""
    nan = np.full(3, np.nan)
    for a, b in [(np.zeros(3), nan), (nan, np.zeros(3)), (np.ones(3), nan), (nan, np.ones(3))]:
        err = rel_error(a, b)
        assert not err <= 1e-6, (a, b, err)


# --------------------------------------------------------------------------- check_gradients


def _conv_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((2, 2, 5, 4)), "w": rng.standard_normal((3, 2, 2, 2)),
            "b": rng.standard_normal(3)}


def _conv_forward(x, w, b):
    return conv2d_forward(x, w, b, stride=2, pad=1)


def test_check_gradients_passes_for_the_right_backward():
    errors = check_gradients(_conv_forward, conv2d_backward, _conv_inputs())
    assert set(errors) == {"x", "w", "b"}
    assert all(e < 1e-8 for e in errors.values())


def test_check_gradients_single_input_without_tuple():
    errors = check_gradients(tanh_forward, tanh_backward, {"x": np.linspace(-2, 2, 7)})
    assert list(errors) == ["x"]


def test_check_gradients_with_explicit_dout():
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    check_gradients(fc_forward, fc_backward, inputs, dout=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"dout must have the output's shape \(2, 4\), got \(4, 2\)"):
        check_gradients(fc_forward, fc_backward, inputs, dout=np.ones((4, 2)))


def _kernel_not_rotated(dy, cache):
    _, dw, db = conv2d_backward(dy, cache)
    dx = conv2d_backward(dy, cache._replace(w=cache.w[:, :, ::-1, ::-1]))[0]
    return dx, dw, db


def _dx_doubled(dy, cache):
    dx, dw, db = conv2d_backward(dy, cache)
    return 2 * dx, dw, db


def _db_not_summed_over_batch(dy, cache):
    dx, dw, _ = conv2d_backward(dy, cache)
    return dx, dw, dy[0].sum(axis=(1, 2))


def _dw_wrong_in_one_entry(dy, cache):
    dx, dw, db = conv2d_backward(dy, cache)
    dw = dw.copy()
    dw[1, 0, 1, 0] += 5.0
    return dx, dw, db


@pytest.mark.parametrize(
    "broken, name",
    [(_kernel_not_rotated, "x"), (_dx_doubled, "x"), (_db_not_summed_over_batch, "b"), (_dw_wrong_in_one_entry, "w")],
)
def test_check_gradients_names_the_wrong_input(broken, name):
    with pytest.raises(GradientCheckError, match=rf"gradient of '{name}' is wrong: relative error .* > tol") as info:
        check_gradients(_conv_forward, broken, _conv_inputs())
    assert "worst at index (" in str(info.value)
    assert isinstance(info.value, AssertionError)  # a failed check reads as a failed assertion


def test_check_gradients_reports_the_worst_index():
    with pytest.raises(GradientCheckError, match=r"worst at index \(1, 0, 1, 0\): analytic .*, numerical"):
        check_gradients(_conv_forward, _dw_wrong_in_one_entry, _conv_inputs())


def test_check_gradients_rejects_wrong_shapes_and_counts():
    inputs = {"x": np.ones((2, 3)), "w": np.ones((3, 4)), "b": np.ones(4)}
    with pytest.raises(GradientCheckError, match=r"backward returned 2 gradients for 3 inputs \['x', 'w', 'b'\]"):
        check_gradients(fc_forward, lambda dy, c: fc_backward(dy, c)[:2], inputs)
    with pytest.raises(GradientCheckError, match=r"gradient of 'w' has shape \(4, 3\), expected \(3, 4\)"):
        check_gradients(fc_forward, lambda dy, c: (lambda g: (g[0], g[1].T, g[2]))(fc_backward(dy, c)), inputs)


def test_check_gradients_fails_on_nan_gradients():
    inputs = {"x": np.ones(3)}

    def forward(x):
        return x * 2, None

    with pytest.raises(GradientCheckError, match=r"gradient of 'x' is wrong"):
        check_gradients(forward, lambda dy, cache: np.full(3, np.nan), inputs)
    with pytest.raises(GradientCheckError, match=r"gradient of 'x' is wrong"):
        # the numerical gradient is NaN (forward returns NaN) and the analytic is 0
        check_gradients(lambda x: (x * np.nan, None), lambda dy, cache: np.zeros(3), inputs)
