"""Tests of cnnbook.conv: the convolution layer, its loop reference and the
single-channel helpers that state the backward as a full convolution."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _helpers import as_pair, conv_cases, rng_array
from cnnbook.conv import (
    ConvCache,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    convolve2d,
    correlate2d,
    dilate,
    input_grad_full_convolution,
    output_size,
    rot180,
)
from cnnbook.gradcheck import GradientCheckError, check_gradients

VECTORIZED = (conv2d_forward, conv2d_backward)
NAIVE = (conv2d_forward_naive, conv2d_backward_naive)
BOTH = pytest.mark.parametrize("forward, backward", [VECTORIZED, NAIVE], ids=["vectorized", "naive"])


def conv_inputs(data, x_shape, w_shape):
    x = rng_array(data, x_shape)
    w = rng_array(data, w_shape)
    b = rng_array(data, (w_shape[0],))
    return x, w, b


# --------------------------------------------------------------------------- worked example


@BOTH
def test_worked_example_from_the_source(forward, backward):
    """x = 0..8 (3x3), w = 0..3 (2x2), b = 0, upstream gradient = the output y."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.arange(4.0).reshape(1, 1, 2, 2)
    b = np.zeros(1)
    y, cache = forward(x, w, b)
    np.testing.assert_array_equal(y[0, 0], [[19, 25], [37, 43]])
    dx, dw, db = backward(y, cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 19, 25], [38, 144, 118], [74, 197, 129]])
    np.testing.assert_array_equal(dw[0, 0], [[308, 432], [680, 804]])
    np.testing.assert_array_equal(db, [124])


@BOTH
def test_worked_example_batch_of_two_sums_db_and_dw_over_the_batch(forward, backward):
    """Two copies of the worked example: dw and db double, dx is per sample."""
    x = np.stack([np.arange(9.0).reshape(1, 3, 3)] * 2)
    w = np.arange(4.0).reshape(1, 1, 2, 2)
    y, cache = forward(x, w, np.zeros(1))
    dx, dw, db = backward(y, cache)
    np.testing.assert_array_equal(db, [248])
    np.testing.assert_array_equal(dw[0, 0], 2 * np.array([[308, 432], [680, 804]]))
    for n in range(2):
        np.testing.assert_array_equal(dx[n, 0], [[0, 19, 25], [38, 144, 118], [74, 197, 129]])


@BOTH
def test_stride_two_example_by_hand(forward, backward):
    """x = 0..15 (4x4), w = 0..3, stride 2: windows do not overlap, so
    dx[2i + a, 2j + b] = dy[i, j] * w[a, b] exactly."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.arange(4.0).reshape(1, 1, 2, 2)
    y, cache = forward(x, w, np.array([1.0]), stride=2)
    # y[i, j] = 1 + 0*x00 + 1*x01 + 2*x10 + 3*x11 of window (i, j)
    np.testing.assert_array_equal(y[0, 0], [[1 + 1 + 8 + 15, 1 + 3 + 12 + 21], [1 + 9 + 24 + 39, 1 + 11 + 28 + 45]])
    dy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    dx, dw, db = backward(dy, cache)
    expected = np.kron(dy[0, 0], w[0, 0])
    np.testing.assert_array_equal(dx[0, 0], expected)
    np.testing.assert_array_equal(db, [1111])
    xs = x[0, 0]
    np.testing.assert_array_equal(
        dw[0, 0], sum(dy[0, 0, i, j] * xs[2 * i : 2 * i + 2, 2 * j : 2 * j + 2] for i in range(2) for j in range(2))
    )


def test_output_size():
    assert output_size(3, 2) == 2
    assert output_size(5, 3, stride=2, pad=1) == 3
    assert output_size(6, 3, stride=2) == 2  # the last row is reached by no window
    assert output_size(1, 3, pad=1) == 1


# --------------------------------------------------------------------------- gradient checks


@given(case=conv_cases(), data=st.data())
def test_vectorized_backward_matches_numerical_gradient(case, data):
    x_shape, w_shape, stride, pad = case
    x, w, b = conv_inputs(data, x_shape, w_shape)
    errors = check_gradients(
        lambda x, w, b: conv2d_forward(x, w, b, stride=stride, pad=pad),
        conv2d_backward,
        {"x": x, "w": w, "b": b},
        seed=data.draw(st.integers(0, 1000)),
    )
    assert max(errors.values()) < 1e-6


@settings(max_examples=10)
@given(case=conv_cases(max_batch=2, max_chan=2, max_filt=2, max_out=2), data=st.data())
def test_naive_backward_matches_numerical_gradient(case, data):
    x_shape, w_shape, stride, pad = case
    x, w, b = conv_inputs(data, x_shape, w_shape)
    errors = check_gradients(
        lambda x, w, b: conv2d_forward_naive(x, w, b, stride=stride, pad=pad),
        conv2d_backward_naive,
        {"x": x, "w": w, "b": b},
    )
    assert max(errors.values()) < 1e-6


@BOTH
@pytest.mark.parametrize(
    "x_shape, w_shape, stride, pad",
    [
        ((2, 2, 5, 4), (3, 2, 2, 3), 2, 1),  # batch > 1, stride 2, non-square
        ((2, 1, 6, 7), (2, 1, 3, 2), (3, 2), (0, 1)),  # (h, w) pairs, unreached rows
        ((3, 2, 4, 4), (2, 2, 3, 3), 1, 2),  # padding larger than the kernel overlap
    ],
)
def test_gradient_check_fixed_cases(forward, backward, x_shape, w_shape, stride, pad):
    """Deterministic cases that a wrong stride, batch or padding rule cannot pass."""
    rng = np.random.default_rng(7)
    inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape),
              "b": rng.standard_normal(w_shape[0])}
    check_gradients(lambda x, w, b: forward(x, w, b, stride=stride, pad=pad), backward, inputs)


# --------------------------------------------------------------------------- naive == vectorized


@given(case=conv_cases(max_batch=3, max_chan=3, max_filt=3), data=st.data())
def test_naive_equals_vectorized(case, data):
    x_shape, w_shape, stride, pad = case
    x, w, b = conv_inputs(data, x_shape, w_shape)
    y, cache = conv2d_forward(x, w, b, stride=stride, pad=pad)
    y_naive, cache_naive = conv2d_forward_naive(x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(y, y_naive, rtol=1e-12, atol=1e-12)
    assert cache.stride == cache_naive.stride == as_pair(stride)
    assert cache.pad == cache_naive.pad == as_pair(pad)
    dy = rng_array(data, y.shape)
    for g, g_naive in zip(conv2d_backward(dy, cache), conv2d_backward_naive(dy, cache_naive)):
        assert g.shape == g_naive.shape
        np.testing.assert_allclose(g, g_naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pad", [0, 1])
def test_cache_is_named(pad):
    x, w, b = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1)
    _, cache = conv2d_forward(x, w, b, stride=(1, 2), pad=pad)
    assert isinstance(cache, ConvCache)
    assert cache.x is x or np.array_equal(cache.x, x)
    assert cache.stride == (1, 2) and cache.pad == (pad, pad)


# --------------------------------------------------------------------------- sympy: loops on symbols


def _symbol_grid(name, h, w):
    """Object array of symbols name11, name12, ... (1-based indices as in the text)."""
    return np.array([[sp.Symbol(f"{name}{i + 1}{j + 1}") for j in range(w)] for i in range(h)], dtype=object)


def test_symbolic_forward_is_the_written_out_sum():
    a = _symbol_grid("a", 3, 3)
    w = _symbol_grid("w", 2, 2)
    y, _ = conv2d_forward_naive(a[None, None], w[None, None], np.zeros(1, dtype=object))
    a11, a12, a21, a22 = sp.symbols("a11 a12 a21 a22")
    w11, w12, w21, w22 = sp.symbols("w11 w12 w21 w22")
    z11 = y[0, 0, 0, 0]
    assert sp.expand(z11 - (a11 * w11 + a12 * w12 + a21 * w21 + a22 * w22)) == 0
    assert z11.equals(a11 * w11 + a12 * w12 + a21 * w21 + a22 * w22)
    z22 = y[0, 0, 1, 1]
    expected = sum(sp.Symbol(f"a{2 + i}{2 + j}") * sp.Symbol(f"w{1 + i}{1 + j}") for i in range(2) for j in range(2))
    assert sp.expand(z22 - expected) == 0


@pytest.mark.parametrize(
    "h, w, stride, pad",
    [(3, 3, 1, 0), (4, 4, 2, 0), (5, 5, 2, 0), (5, 5, 2, 1), (4, 5, (2, 1), (1, 0))],
)
def test_symbolic_backward_equals_sympy_differentiation(h, w, stride, pad):
    """Each gradient of the loop reference is sp.diff of E = sum_ij delta_ij z_ij."""
    a = _symbol_grid("a", h, w)
    k = _symbol_grid("w", 2, 2)
    bias = sp.Symbol("b")
    y, cache = conv2d_forward_naive(a[None, None], k[None, None], np.array([bias], dtype=object),
                                    stride=stride, pad=pad)
    oh, ow = y.shape[2:]
    delta = _symbol_grid("d", oh, ow)
    energy = sum(delta[i, j] * y[0, 0, i, j] for i in range(oh) for j in range(ow))
    dx, dw, db = conv2d_backward_naive(delta[None, None], cache)
    assert dx.shape == (1, 1, h, w) and dw.shape == (1, 1, 2, 2)
    for p in range(h):
        for q in range(w):
            assert sp.expand(dx[0, 0, p, q] - sp.diff(energy, a[p, q])) == 0, (p, q)
    for p in range(2):
        for q in range(2):
            assert sp.expand(dw[0, 0, p, q] - sp.diff(energy, k[p, q])) == 0, (p, q)
    assert sp.expand(db[0] - sp.diff(energy, bias)) == 0


def test_symbolic_stride_two_unreached_row_gets_zero_gradient():
    """5x5 input, 2x2 kernel, stride 2: row 4 and column 4 are in no window."""
    a = _symbol_grid("a", 5, 5)
    k = _symbol_grid("w", 2, 2)
    y, cache = conv2d_forward_naive(a[None, None], k[None, None], np.zeros(1, dtype=object), stride=2)
    dx, _, _ = conv2d_backward_naive(_symbol_grid("d", *y.shape[2:])[None, None], cache)
    assert all(dx[0, 0, 4, q] == 0 for q in range(5))
    assert all(dx[0, 0, p, 4] == 0 for p in range(5))


# --------------------------------------------------------------------------- single-channel helpers


def test_rot180_examples():
    np.testing.assert_array_equal(rot180(np.array([[1, 2], [3, 4]])), [[4, 3], [2, 1]])
    np.testing.assert_array_equal(rot180(np.array([[1, 2, 3], [4, 5, 6]])), [[6, 5, 4], [3, 2, 1]])
    batched = np.arange(8).reshape(2, 1, 2, 2)
    np.testing.assert_array_equal(rot180(batched)[1, 0], [[7, 6], [5, 4]])
    w = np.arange(6.0).reshape(2, 3)
    out = rot180(w)
    out[0, 0] = -1  # a copy, not a view
    assert w[1, 2] == 5
    np.testing.assert_array_equal(rot180(rot180(w)), w)


def test_dilate_examples():
    dy = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(dilate(dy, 1), dy)
    np.testing.assert_array_equal(dilate(dy, 2), [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    np.testing.assert_array_equal(dilate(dy, (1, 3)), [[1, 0, 0, 2], [3, 0, 0, 4]])
    np.testing.assert_array_equal(dilate(dy, (2, 1)), [[1, 2], [0, 0], [3, 4]])
    np.testing.assert_array_equal(dilate(np.array([[5]]), 3), [[5]])
    assert dilate(np.ones((2, 3, 2, 2)), (3, 2)).shape == (2, 3, 4, 3)


def test_correlate2d_by_hand():
    x = np.array([[1.0, 2, 0], [0, 1, 3], [4, 0, 1]])
    w = np.array([[1.0, -1], [2, 0]])
    # out[i, j] = x[i, j] - x[i, j+1] + 2 x[i+1, j]
    np.testing.assert_array_equal(correlate2d(x, w), [[1 - 2 + 0, 2 - 0 + 2], [0 - 1 + 8, 1 - 3 + 0]])
    # pad 1: corner out[0, 0] only sees x[0, 0] through w[1, 1] = 0 -> 0
    out = correlate2d(x, w, pad=1)
    assert out.shape == (4, 4)
    assert out[0, 0] == 0 and out[0, 1] == 2 * 1  # 2*x[0,0]
    np.testing.assert_array_equal(correlate2d(x, w, stride=2), [[-1]])
    np.testing.assert_array_equal(correlate2d(x, w, stride=(1, 2)), [[-1], [7]])


def textbook_full_convolution(x, w):
    """(x * w)[p, q] = sum_{u, v} x[u, v] w[p - u, q - v] with the bounds written out."""
    (h, wd), (kh, kw) = x.shape, w.shape
    out = np.zeros((h + kh - 1, wd + kw - 1))
    for p in range(out.shape[0]):
        for q in range(out.shape[1]):
            for u in range(h):
                for v in range(wd):
                    if 0 <= p - u < kh and 0 <= q - v < kw:
                        out[p, q] += x[u, v] * w[p - u, q - v]
    return out


@given(h=st.integers(1, 5), w=st.integers(1, 5), kh=st.integers(1, 4), kw=st.integers(1, 4), data=st.data())
def test_convolve2d_is_the_textbook_full_convolution(h, w, kh, kw, data):
    x = rng_array(data, (h, w))
    k = rng_array(data, (kh, kw))
    full = convolve2d(x, k, pad=(kh - 1, kw - 1))
    np.testing.assert_allclose(full, textbook_full_convolution(x, k), rtol=1e-12, atol=1e-12)
    # true convolution commutes; cross-correlation does not
    np.testing.assert_allclose(full, textbook_full_convolution(k, x), rtol=1e-12, atol=1e-12)


def test_convolve2d_flips_the_kernel():
    x = np.arange(9.0).reshape(3, 3)
    w = np.array([[1.0, 2], [3, 4]])
    np.testing.assert_array_equal(convolve2d(x, w), correlate2d(x, rot180(w)))
    assert not np.array_equal(convolve2d(x, w), correlate2d(x, w))
    np.testing.assert_array_equal(convolve2d(x, w, stride=2, pad=1), correlate2d(x, rot180(w), stride=2, pad=1))


single_channel_cases = conv_cases(max_batch=1, max_chan=1, max_filt=1, max_out=4, max_kernel=4)


@given(case=single_channel_cases, seed=st.integers(0, 2**32 - 1))
@example(case=((1, 1, 6, 5), (1, 1, 3, 2), 2, 0), seed=0)  # (6 - 3) % 2 = 1 row unreached
@example(case=((1, 1, 7, 7), (1, 1, 2, 3), (3, 2), (1, 0)), seed=1)  # 7 + 2 - 2 = 7, 7 % 3 = 1
def test_input_grad_full_convolution_equals_conv_backward(case, seed):
    x_shape, w_shape, stride, pad = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(1)
    y, cache = conv2d_forward(x, w, b, stride=stride, pad=pad)
    delta = rng.standard_normal(y.shape)
    dx, _, _ = conv2d_backward(delta, cache)
    full = input_grad_full_convolution(delta[0, 0], w[0, 0], stride=stride, pad=pad, input_shape=x_shape[2:])
    assert full.shape == x_shape[2:]
    np.testing.assert_allclose(full, dx[0, 0], rtol=1e-12, atol=1e-12)


def test_input_grad_full_convolution_unreached_rows():
    """H = 6, KH = 3, stride 2: (6 - 3) % 2 = 1, so the last row gets no gradient."""
    x = np.random.default_rng(1).standard_normal((1, 1, 6, 6))
    w = np.random.default_rng(2).standard_normal((1, 1, 3, 3))
    y, cache = conv2d_forward(x, w, np.zeros(1), stride=2)
    delta = np.ones(y.shape)
    dx, _, _ = conv2d_backward(delta, cache)
    full = input_grad_full_convolution(delta[0, 0], w[0, 0], stride=2, input_shape=(6, 6))
    np.testing.assert_allclose(full, dx[0, 0])
    np.testing.assert_array_equal(full[5], 0)
    np.testing.assert_array_equal(full[:, 5], 0)


def test_both_steps_of_the_full_convolution_matter():
    """Without rot180 or without dilation the 'input gradient' is wrong."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 5, 5))
    w = np.array([[[[1.0, 2.0], [3.0, 5.0]]]])  # not symmetric under rot180
    # stride 1: rotation matters
    y, cache = conv2d_forward(x, w, np.zeros(1))
    delta = rng.standard_normal(y.shape)
    dx = conv2d_backward(delta, cache)[0][0, 0]
    np.testing.assert_allclose(input_grad_full_convolution(delta[0, 0], w[0, 0], input_shape=(5, 5)), dx)
    not_rotated = correlate2d(delta[0, 0], w[0, 0], pad=1)  # full correlation, kernel not flipped
    assert not_rotated.shape == dx.shape
    assert not np.allclose(not_rotated, dx)
    # stride 2: dilation matters
    y, cache = conv2d_forward(x, w, np.zeros(1), stride=2)
    delta = rng.standard_normal(y.shape)
    dx = conv2d_backward(delta, cache)[0][0, 0]
    np.testing.assert_allclose(input_grad_full_convolution(delta[0, 0], w[0, 0], stride=2, input_shape=(5, 5)), dx)
    not_dilated = convolve2d(delta[0, 0], w[0, 0], pad=1)  # (2 + 1) x (2 + 1)
    padded = np.zeros_like(dx)
    padded[: not_dilated.shape[0], : not_dilated.shape[1]] = not_dilated
    assert not np.allclose(padded, dx)
    dilated_not_rotated = correlate2d(dilate(delta[0, 0], 2), w[0, 0], pad=1)
    padded[:] = 0
    padded[: dilated_not_rotated.shape[0], : dilated_not_rotated.shape[1]] = dilated_not_rotated
    assert not np.allclose(padded, dx)


def test_single_channel_helpers_on_symbols():
    x = _symbol_grid("a", 2, 2)
    w = _symbol_grid("w", 2, 2)
    assert sp.expand(correlate2d(x, w)[0, 0] - (x * w).sum()) == 0
    assert sp.expand(convolve2d(x, w)[0, 0] - (x * w[::-1, ::-1]).sum()) == 0


# --------------------------------------------------------------------------- dtype


@BOTH
def test_float32_in_float32_out(forward, backward):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 4, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    y, cache = forward(x, w, b, stride=(2, 1), pad=1)
    assert y.dtype == np.float32
    for g in backward(np.ones_like(y), cache):
        assert g.dtype == np.float32


@BOTH
def test_int_inputs_become_float64(forward, backward):
    x = np.arange(9).reshape(1, 1, 3, 3)
    w = np.arange(4).reshape(1, 1, 2, 2)
    y, cache = forward(x, w, np.zeros(1, dtype=int))
    assert y.dtype == np.float64
    for g in backward(np.ones(y.shape, dtype=int), cache):
        assert g.dtype == np.float64


def test_single_channel_helpers_dtype():
    x32 = np.ones((3, 3), np.float32)
    w32 = np.ones((2, 2), np.float32)
    assert correlate2d(x32, w32).dtype == np.float32
    assert convolve2d(x32, w32).dtype == np.float32
    assert dilate(x32, 2).dtype == np.float32
    assert rot180(w32).dtype == np.float32
    assert correlate2d(np.ones((3, 3), int), np.ones((2, 2), int)).dtype == np.float64
    assert input_grad_full_convolution(np.ones((2, 2), np.float32), w32, input_shape=(3, 3)).dtype == np.float32


# --------------------------------------------------------------------------- bad input


X = np.zeros((1, 1, 3, 3))
W = np.zeros((1, 1, 2, 2))
B = np.zeros(1)


def _forward_cases():
    return [
        (dict(x=np.zeros((1, 3, 3))), r"x must be a 4-D array.*\(N, C, H, W\).*got 3-D shape \(1, 3, 3\)"),
        (dict(w=np.zeros((1, 2, 2))), r"w must be a 4-D array.*\(F, C, KH, KW\).*got 3-D shape \(1, 2, 2\)"),
        (dict(b=np.zeros((1, 1))), r"b must be a 1-D array.*\(F,\).*got 2-D shape \(1, 1\)"),
        (dict(w=np.zeros((1, 2, 2, 2))), r"channels of w and x must agree.*\(1, 2, 2, 2\).*\(1, 1, 3, 3\)"),
        (dict(b=np.zeros(2)), r"b must have shape \(F,\) = \(1,\).*got \(2,\)"),
        (dict(w=np.zeros((1, 1, 4, 2))), r"kernel of w \(4, 2\) is larger than the padded input of x.*\(3, 3\)"),
        (dict(w=np.zeros((1, 1, 2, 6)), pad=(2, 1)), r"kernel of w \(2, 6\).*\(7, 5\)"),
        (dict(stride=0), r"stride must be >= 1, got 0"),
        (dict(stride=-1), r"stride must be >= 1, got -1"),
        (dict(stride=(1, 0)), r"stride must be >= 1, got \(1, 0\)"),
        (dict(stride=1.0), r"stride must be an int.*got 1\.0"),
        (dict(stride=2.5), r"stride must be an int.*got 2\.5"),
        (dict(stride=True), r"stride must be an int.*got True"),
        (dict(stride=(1, 2, 3)), r"stride must be an int or an \(h, w\) pair, got \(1, 2, 3\)"),
        (dict(stride="2"), r"stride must be an int.*got '2'"),
        (dict(pad=-1), r"pad must be >= 0, got -1"),
        (dict(pad=(0, -2)), r"pad must be >= 0, got \(0, -2\)"),
        (dict(pad=0.5), r"pad must be an int.*got 0\.5"),
        (dict(pad=False), r"pad must be an int.*got False"),
        (dict(pad=np.float64(1.0)), r"pad must be an int"),
        (dict(x=np.array([["a"]])), r"x must be a real numeric array.*got dtype <U1"),
        (dict(w=np.zeros((1, 1, 2, 2), dtype=complex)), r"w must be a real numeric array.*complex"),
    ]


@BOTH
@pytest.mark.parametrize("override, match", _forward_cases())
def test_forward_rejects_bad_input(forward, backward, override, match):
    kwargs = dict(x=X, w=W, b=B, stride=1, pad=0)
    kwargs.update(override)
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


def test_vectorized_rejects_object_arrays():
    with pytest.raises(ValueError, match=r"x must be a real numeric array, got dtype object"):
        conv2d_forward(X.astype(object), W, B)


@BOTH
def test_numpy_integer_hyperparameters_are_accepted(forward, backward):
    y, cache = forward(X, W, B, stride=np.int64(1), pad=(np.int32(1), 0))
    assert cache.stride == (1, 1) and cache.pad == (1, 0) and y.shape == (1, 1, 4, 2)


@BOTH
@pytest.mark.parametrize(
    "dy_shape, match",
    [
        ((1, 1, 3, 3), r"dy must have shape \(1, 1, 2, 2\).*\(N, F, OH, OW\).*got \(1, 1, 3, 3\)"),
        ((1, 2, 2), r"dy must have shape \(1, 1, 2, 2\).*got \(1, 2, 2\)"),
        ((2, 1, 2, 2), r"dy must have shape \(1, 1, 2, 2\).*got \(2, 1, 2, 2\)"),
    ],
)
def test_backward_rejects_dy_of_the_wrong_shape(forward, backward, dy_shape, match):
    _, cache = forward(X, W, B)
    with pytest.raises(ValueError, match=match):
        backward(np.zeros(dy_shape), cache)


HELPER_CASES = [
    (rot180, dict(w=np.zeros(3)), r"w must have at least 2 dimensions.*got shape \(3,\)"),
    (rot180, dict(w=np.array([["a", "b"]])), r"w must be a real numeric array"),
    (dilate, dict(dy=np.zeros(3), stride=2), r"dy must have at least 2 dimensions.*got shape \(3,\)"),
    (dilate, dict(dy=np.zeros((2, 2)), stride=0), r"stride must be >= 1, got 0"),
    (dilate, dict(dy=np.zeros((2, 2)), stride=1.5), r"stride must be an int.*1\.5"),
    (dilate, dict(dy=np.zeros((2, 2)), stride=(2, True)), r"stride must be an int.*True"),
    (correlate2d, dict(x=np.zeros((1, 3, 3)), w=np.zeros((2, 2))), r"x must be a 2-D array.*got 3-D shape \(1, 3, 3\)"),
    (correlate2d, dict(x=np.zeros((3, 3)), w=np.zeros(2)), r"w must be a 2-D array.*got 1-D shape \(2,\)"),
    (correlate2d, dict(x=np.zeros((3, 3)), w=np.zeros((4, 4))), r"kernel of w \(4, 4\) is larger than the padded input"),
    (correlate2d, dict(x=np.zeros((3, 3)), w=np.zeros((2, 2)), stride=0), r"stride must be >= 1, got 0"),
    (correlate2d, dict(x=np.zeros((3, 3)), w=np.zeros((2, 2)), pad=-1), r"pad must be >= 0, got -1"),
    (convolve2d, dict(x=np.zeros((3, 3)), w=np.zeros((2, 2, 1))), r"w must be a 2-D array.*got 3-D shape \(2, 2, 1\)"),
    (convolve2d, dict(x=np.zeros(3), w=np.zeros((2, 2))), r"x must be a 2-D array.*got 1-D shape \(3,\)"),
    (convolve2d, dict(x=np.zeros((3, 3)), w=np.zeros((2, 5))), r"kernel of w \(2, 5\) is larger"),
    (convolve2d, dict(x=np.zeros((3, 3)), w=np.zeros((2, 2)), stride=(1, 1.0)), r"stride must be an int"),
    (input_grad_full_convolution, dict(delta=np.zeros((3, 3)), w=np.zeros((2, 2)), input_shape=(3, 3)),
     r"delta must have shape \(2, 2\).*got \(3, 3\)"),
    (input_grad_full_convolution, dict(delta=np.zeros(2), w=np.zeros((2, 2)), input_shape=(3, 3)),
     r"delta must be a 2-D array.*got 1-D shape \(2,\)"),
    (input_grad_full_convolution, dict(delta=np.zeros((2, 2)), w=np.zeros((2, 2)), stride=0, input_shape=(3, 3)),
     r"stride must be >= 1, got 0"),
    (input_grad_full_convolution, dict(delta=np.zeros((2, 2)), w=np.zeros((2, 2)), pad=-1, input_shape=(3, 3)),
     r"pad must be >= 0, got -1"),
    (input_grad_full_convolution, dict(delta=np.zeros((2, 2)), w=np.zeros((2, 2)), input_shape=(3,)),
     r"input_shape must be an int or an \(h, w\) pair, got \(3,\)"),
    (input_grad_full_convolution, dict(delta=np.zeros((2, 2)), w=np.zeros((2, 2)), input_shape=(3.0, 3)),
     r"input_shape must be an int.*got \(3\.0, 3\)"),
    (input_grad_full_convolution, dict(delta=np.zeros((0, 0)), w=np.zeros((3, 3)), input_shape=(2, 2)),
     r"kernel of w \(3, 3\) is larger than the padded input of input_shape"),
    (output_size, dict(size=5, kernel=3, stride=0), r"stride must be >= 1, got 0"),
    (output_size, dict(size=5, kernel=3, stride=1.5), r"stride must be an int.*1\.5"),
    (output_size, dict(size=5, kernel=3, pad=-1), r"pad must be >= 0, got -1"),
    (output_size, dict(size=5, kernel=3, pad=True), r"pad must be an int.*True"),
    (output_size, dict(size=2, kernel=5), r"kernel 5 is larger than the padded input size 2 \+ 2\*0 = 2"),
    (output_size, dict(size=0, kernel=1), r"size must be >= 1, got 0"),
    (output_size, dict(size=4, kernel=2.0), r"kernel must be an int.*2\.0"),
]


@pytest.mark.parametrize(
    "func, kwargs, match", HELPER_CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(HELPER_CASES)]
)
def test_helpers_reject_bad_input(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)


# --------------------------------------------------------------------------- wrong backwards are caught


def _broken_backwards():
    """Backwards with one formula broken, as a reader might write them."""

    def not_rotated(dy, cache):
        dx, dw, db = conv2d_backward(dy, cache)
        flipped = cache._replace(w=cache.w[:, :, ::-1, ::-1])
        return conv2d_backward(dy, flipped)[0], dw, db

    def db_first_sample(dy, cache):
        dx, dw, _ = conv2d_backward(dy, cache)
        return dx, dw, dy[0].sum(axis=(1, 2))

    def dx_doubled(dy, cache):
        dx, dw, db = conv2d_backward(dy, cache)
        return 2 * dx, dw, db

    def not_dilated(dy, cache):
        _, dw, db = conv2d_backward(dy, cache)
        # scatter delta with stride-1 offsets, as if the stride were forgotten
        x, w = cache.x, cache.w
        ph, pw = cache.pad
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        dxp = np.zeros_like(xp)
        _, _, kh, kw = w.shape
        _, _, oh, ow = dy.shape
        for a in range(kh):
            for b in range(kw):
                dxp[:, :, a : a + oh, b : b + ow] += np.einsum("fc,nfij->ncij", w[:, :, a, b], dy)
        return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw, db

    return {"not_rotated": (not_rotated, "x"), "db_first_sample": (db_first_sample, "b"),
            "dx_doubled": (dx_doubled, "x"), "not_dilated": (not_dilated, "x")}


@pytest.mark.parametrize("name", ["not_rotated", "db_first_sample", "dx_doubled", "not_dilated"])
def test_check_gradients_catches_a_broken_conv_backward(name):
    broken, culprit = _broken_backwards()[name]
    rng = np.random.default_rng(5)
    inputs = {"x": rng.standard_normal((2, 1, 5, 5)), "w": rng.standard_normal((1, 1, 2, 2)),
              "b": rng.standard_normal(1)}

    def forward(x, w, b):
        return conv2d_forward(x, w, b, stride=2)

    check_gradients(forward, conv2d_backward, inputs)  # the right one passes
    with pytest.raises(GradientCheckError, match=rf"gradient of '{culprit}' is wrong.*worst at index \("):
        check_gradients(forward, broken, inputs)
