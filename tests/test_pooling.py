"""Tests of cnnbook.pooling: max- and average-pooling and their loop references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import as_pair, pool_cases, rng_array
from cnnbook.gradcheck import check_gradients
from cnnbook.pooling import (
    PoolCache,
    avgpool2d_backward,
    avgpool2d_backward_naive,
    avgpool2d_forward,
    avgpool2d_forward_naive,
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
)

MAX = [(maxpool2d_forward, maxpool2d_backward), (maxpool2d_forward_naive, maxpool2d_backward_naive)]
AVG = [(avgpool2d_forward, avgpool2d_backward), (avgpool2d_forward_naive, avgpool2d_backward_naive)]
IDS = ["vectorized", "naive"]
BOTH_MAX = pytest.mark.parametrize("forward, backward", MAX, ids=IDS)
BOTH_AVG = pytest.mark.parametrize("forward, backward", AVG, ids=IDS)
ALL = pytest.mark.parametrize(
    "forward, backward", MAX + AVG, ids=["max-vectorized", "max-naive", "avg-vectorized", "avg-naive"]
)


def distinct_input(data, shape):
    """Random values with distinct entries in every window (a permutation of a grid),
    so that the maximum is unique and finite differences never cross a kink."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    values = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    return values / 10 - values.size / 20  # spacing 0.1 >> h = 1e-6


# --------------------------------------------------------------------------- worked examples


@BOTH_MAX
def test_maxpool_worked_example_from_the_source(forward, backward):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y, cache = forward(x, size=2, stride=2)
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])
    dx = backward(y, cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0], [0, 5, 0, 7], [0, 0, 0, 0], [0, 13, 0, 15]])


@BOTH_AVG
def test_avgpool_worked_example_from_the_source(forward, backward):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y, cache = forward(x, size=2, stride=2)
    np.testing.assert_array_equal(y[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    dx = backward(y, cache)
    np.testing.assert_array_equal(
        dx[0, 0],
        [[0.625, 0.625, 1.125, 1.125], [0.625, 0.625, 1.125, 1.125],
         [2.625, 2.625, 3.125, 3.125], [2.625, 2.625, 3.125, 3.125]],
    )


@ALL
def test_stride_defaults_to_size(forward, backward):
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    y_default, cache = forward(x, size=(3, 2))
    y_explicit, _ = forward(x, size=(3, 2), stride=(3, 2))
    assert cache.stride == (3, 2) and y_default.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(y_default, y_explicit)


# --------------------------------------------------------------------------- max-pool ties


@BOTH_MAX
def test_tie_in_all_equal_windows_goes_to_the_first_position(forward, backward):
    x = np.ones((1, 1, 4, 4))
    y, cache = forward(x, size=2)
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


@BOTH_MAX
def test_tie_between_01_and_10_goes_to_01(forward, backward):
    """Row-major window order is (0,0), (0,1), (1,0), (1,1): (0,1) comes first."""
    x = np.array([[[[0.0, 5.0], [5.0, 1.0]]]])
    y, cache = forward(x, size=2)
    assert y[0, 0, 0, 0] == 5
    dx = backward(np.array([[[[7.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 7], [0, 0]])
    # the same tie in a 3x3 window, with the maximum at (0, 2) and (2, 0)
    x = np.array([[[[1.0, 0, 9], [2, 3, 4], [9, 0, 9]]]])
    y, cache = forward(x, size=3)
    dx = backward(np.array([[[[1.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


@BOTH_MAX
def test_tie_first_in_row_major_not_column_major(forward, backward):
    """Maxima at (1, 0) and (1, 1) of a 2x2 window -> (1, 0); maxima at (0, 1)
    and (1, 0) of a 2x3 window -> (0, 1), not the column-major first (1, 0)."""
    x = np.array([[[[0.0, 1.0], [4.0, 4.0]]]])
    _, cache = forward(x, size=2)
    np.testing.assert_array_equal(backward(np.ones((1, 1, 1, 1)), cache)[0, 0], [[0, 0], [1, 0]])
    x = np.array([[[[0.0, 4.0, 1.0], [4.0, 2.0, 3.0]]]])
    _, cache = forward(x, size=(2, 3))
    np.testing.assert_array_equal(backward(np.ones((1, 1, 1, 1)), cache)[0, 0], [[0, 1, 0], [0, 0, 0]])


@BOTH_MAX
def test_overlapping_windows_accumulate(forward, backward):
    """Size 2, stride 1 on a 2x3 input: x[0, 1] = 9 is the maximum of both
    windows and receives the sum of both deltas."""
    x = np.array([[[[1.0, 9.0, 2.0], [0.0, 3.0, 4.0]]]])
    y, cache = forward(x, size=2, stride=1)
    np.testing.assert_array_equal(y[0, 0], [[9, 9]])
    dx = backward(np.array([[[[2.0, 5.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 7, 0], [0, 0, 0]])


@BOTH_MAX
def test_overlapping_windows_with_ties_accumulate_at_the_first_maximum(forward, backward):
    """3x3 all-equal input, 2x2 windows, stride 1: window (i, j) picks (i, j) itself."""
    x = np.zeros((1, 1, 3, 3))
    _, cache = forward(x, size=2, stride=1)
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])
    x = np.array([[[[0.0, 0, 0], [0, 8, 0], [0, 0, 0]]]])
    _, cache = forward(x, size=2, stride=1)
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


@BOTH_AVG
def test_avgpool_overlapping_windows_accumulate(forward, backward):
    x = np.zeros((1, 1, 3, 3))
    _, cache = forward(x, size=2, stride=1)
    dx = backward(np.full((1, 1, 2, 2), 4.0), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@BOTH_MAX
@pytest.mark.parametrize("size, stride", [(2, 1), ((2, 3), (1, 2)), (3, 2)])
def test_tie_rule_naive_and_vectorized_agree_on_integer_grids(forward, backward, size, stride):
    """Inputs full of ties (values 0..2): both implementations pick the same maxima."""
    x = np.random.default_rng(11).integers(0, 3, size=(2, 2, 6, 7)).astype(float)
    y, cache = forward(x, size=size, stride=stride)
    y_ref, cache_ref = maxpool2d_forward(x, size=size, stride=stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(cache.argmax, cache_ref.argmax)
    dy = np.random.default_rng(12).integers(-9, 10, size=y.shape).astype(float)  # exact sums
    np.testing.assert_array_equal(backward(dy, cache), maxpool2d_backward(dy, cache_ref))
    # each window sends its delta to exactly one position: the total is conserved
    np.testing.assert_allclose(backward(dy, cache).sum(), dy.sum())


# --------------------------------------------------------------------------- gradient checks


@ALL
@settings(max_examples=25)
@given(case=pool_cases(), data=st.data())
def test_backward_matches_numerical_gradient(forward, backward, case, data):
    x_shape, size, stride = case
    x = distinct_input(data, x_shape)
    errors = check_gradients(lambda x: forward(x, size=size, stride=stride), backward, {"x": x},
                             seed=data.draw(st.integers(0, 1000)))
    assert errors["x"] < 1e-6


@pytest.mark.parametrize("forward, backward", MAX + AVG, ids=["max-vectorized", "max-naive", "avg-vectorized", "avg-naive"])
@pytest.mark.parametrize("size, stride", [(2, 1), (3, (1, 2)), ((2, 3), (2, 1))])
def test_gradient_check_overlapping_fixed(forward, backward, size, stride):
    x = np.random.default_rng(3).permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) / 10.0
    check_gradients(lambda x: forward(x, size=size, stride=stride), backward, {"x": x})


# --------------------------------------------------------------------------- naive == vectorized


@given(case=pool_cases(max_batch=3, max_chan=3, max_out=4), data=st.data())
def test_naive_equals_vectorized(case, data):
    x_shape, size, stride = case
    x = rng_array(data, x_shape)
    dy = None
    for vec, naive in (MAX, AVG):
        y, cache = vec[0](x, size=size, stride=stride)
        y_naive, cache_naive = naive[0](x, size=size, stride=stride)
        assert y.shape == y_naive.shape
        np.testing.assert_allclose(y, y_naive, rtol=1e-12, atol=1e-12)
        assert cache.size == cache_naive.size == as_pair(size)
        assert cache.stride == cache_naive.stride
        if dy is None:
            dy = rng_array(data, y.shape)
        np.testing.assert_allclose(vec[1](dy, cache), naive[1](dy, cache_naive), rtol=1e-12, atol=1e-12)


def test_cache_is_named():
    _, cache = maxpool2d_forward(np.zeros((1, 1, 4, 4)), size=(2, 1), stride=(1, 2))
    assert isinstance(cache, PoolCache)
    assert cache.size == (2, 1) and cache.stride == (1, 2) and cache.argmax.shape == (1, 1, 3, 2)
    _, cache = avgpool2d_forward(np.zeros((1, 1, 4, 4)))
    assert cache.argmax is None


# --------------------------------------------------------------------------- dtype


@ALL
def test_float32_in_float32_out(forward, backward):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    y, cache = forward(x, size=2, stride=1)
    assert y.dtype == np.float32
    assert backward(np.ones_like(y), cache).dtype == np.float32


@ALL
def test_int_inputs_become_float64(forward, backward):
    x = np.arange(16).reshape(1, 1, 4, 4)
    y, cache = forward(x)
    assert y.dtype == np.float64
    assert backward(np.ones(y.shape, dtype=int), cache).dtype == np.float64


# --------------------------------------------------------------------------- bad input


FORWARD_CASES = [
    (dict(x=np.zeros((1, 4, 4))), r"x must be a 4-D array.*\(N, C, H, W\).*got 3-D shape \(1, 4, 4\)"),
    (dict(x=np.zeros((4, 4))), r"x must be a 4-D array.*got 2-D shape \(4, 4\)"),
    (dict(size=5), r"pooling window size \(5, 5\) is larger than the input.*\(4, 4\)"),
    (dict(size=(2, 5)), r"pooling window size \(2, 5\) is larger"),
    (dict(size=0), r"size must be >= 1, got 0"),
    (dict(size=(2, -1)), r"size must be >= 1, got \(2, -1\)"),
    (dict(size=2.0), r"size must be an int.*got 2\.0"),
    (dict(size=True), r"size must be an int.*got True"),
    (dict(size=(2, 2, 2)), r"size must be an int or an \(h, w\) pair, got \(2, 2, 2\)"),
    (dict(stride=0), r"stride must be >= 1, got 0"),
    (dict(stride=(1, 0)), r"stride must be >= 1, got \(1, 0\)"),
    (dict(stride=1.5), r"stride must be an int.*got 1\.5"),
    (dict(stride=False), r"stride must be an int.*got False"),
    (dict(x=np.array([[[["a"]]]])), r"x must be a real numeric array.*<U1"),
]


@ALL
@pytest.mark.parametrize("override, match", FORWARD_CASES)
def test_forward_rejects_bad_input(forward, backward, override, match):
    kwargs = dict(x=np.zeros((1, 1, 4, 4)), size=2, stride=None)
    kwargs.update(override)
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


@ALL
@pytest.mark.parametrize(
    "dy_shape, match",
    [
        ((1, 1, 3, 3), r"dy must have shape \(1, 1, 2, 2\).*\(N, C, OH, OW\).*got \(1, 1, 3, 3\)"),
        ((1, 2, 2), r"dy must have shape \(1, 1, 2, 2\).*got \(1, 2, 2\)"),
        ((1, 2, 2, 2), r"dy must have shape \(1, 1, 2, 2\).*got \(1, 2, 2, 2\)"),
    ],
)
def test_backward_rejects_dy_of_the_wrong_shape(forward, backward, dy_shape, match):
    _, cache = forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=match):
        backward(np.zeros(dy_shape), cache)
