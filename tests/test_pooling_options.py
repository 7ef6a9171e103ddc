"""Pooling with PyTorch's options in cnnbook.pooling: padding (max pads with -inf, average with
0), ceil_mode (partial windows at the bottom/right, and the rule that drops a last window
starting in the padding), count_include_pad (the average's divisor), and global average
pooling.  Vectorized == loop reference over random cases, central-difference gradient checks,
hand-checked divisors, PyTorch when it is importable (the JAX comparison is in
test_reference.py), and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import hw, pair

from cnnbook import conv
from cnnbook.gradcheck import check_gradients
from cnnbook.pooling import (
    GlobalPoolCache,
    PoolCache,
    avgpool2d_backward,
    avgpool2d_backward_naive,
    avgpool2d_forward,
    avgpool2d_forward_naive,
    global_avgpool_backward,
    global_avgpool_backward_naive,
    global_avgpool_forward,
    global_avgpool_forward_naive,
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
    pool_output_size,
)

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # PyTorch is optional: its comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
TIGHT = dict(rtol=1e-12, atol=1e-12)
MAX = [(maxpool2d_forward, maxpool2d_backward), (maxpool2d_forward_naive, maxpool2d_backward_naive)]
AVG = [(avgpool2d_forward, avgpool2d_backward), (avgpool2d_forward_naive, avgpool2d_backward_naive)]
BOTH_MAX = pytest.mark.parametrize("forward, backward", MAX, ids=["vectorized", "naive"])
BOTH_AVG = pytest.mark.parametrize("forward, backward", AVG, ids=["vectorized", "naive"])


@st.composite
def pool_cases(draw, *, max_size=4, max_in=8):
    """(x_shape, size, stride, pad, ceil_mode, count_include_pad) that PyTorch accepts:
    pad <= size // 2 and at least one window (with ceil_mode, windows that pass the input)."""
    size = pair(draw(hw(1, max_size)))
    stride = draw(st.one_of(st.none(), hw(1, 3)))
    pad = tuple(draw(st.integers(0, k // 2)) for k in size)
    ceil_mode, count_include_pad = draw(st.booleans()), draw(st.booleans())
    s = size if stride is None else pair(stride)
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    for k, st_, p in zip(size, s, pad):
        low = max(1, k - 2 * p - (st_ - 1 if ceil_mode else 0))
        shape.append(draw(st.integers(low, max(low, max_in))))
    return tuple(shape), size, stride, pad, ceil_mode, count_include_pad


def distinct(seed, shape):
    """Distinct values 0.1 apart (no ties, no kink within a finite-difference step)."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape)
    return values / 10.0 - values.size / 20.0


# --------------------------------------------------------------------------- vectorized == loops


@settings(max_examples=60)
@given(case=pool_cases(), seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_vectorized_equals_naive(case, seed, ties):
    shape, size, stride, pad, ceil_mode, cip = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape).astype(float) if ties else rng.normal(size=shape)
    hyper = dict(size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    y, cache = maxpool2d_forward(x, **hyper)
    y_n, cache_n = maxpool2d_forward_naive(x, **hyper)
    np.testing.assert_array_equal(y, y_n)
    np.testing.assert_array_equal(cache.argmax, cache_n.argmax)
    assert y.shape[2:] == tuple(pool_output_size(h, k, stride=s, pad=p, ceil_mode=ceil_mode)
                                for h, k, s, p in zip(shape[2:], size, pair(stride or size), pad))
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(maxpool2d_backward(dy, cache), maxpool2d_backward_naive(dy, cache_n), **TIGHT)
    # every window reaches an input: each delta lands somewhere, none is lost in the padding
    np.testing.assert_allclose(maxpool2d_backward(dy, cache).sum(), dy.sum(), rtol=1e-12, atol=1e-12)
    y, cache = avgpool2d_forward(x, **hyper, count_include_pad=cip)
    y_n, cache_n = avgpool2d_forward_naive(x, **hyper, count_include_pad=cip)
    np.testing.assert_allclose(y, y_n, **TIGHT)
    np.testing.assert_allclose(avgpool2d_backward(dy, cache), avgpool2d_backward_naive(dy, cache_n), **TIGHT)


@settings(max_examples=15)
@given(case=pool_cases(max_size=3, max_in=5), seed=st.integers(0, 2**32 - 1))
def test_gradient_check_random(case, seed):
    shape, size, stride, pad, ceil_mode, cip = case
    x = distinct(seed, shape)
    hyper = dict(size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    for forward, backward in (MAX[0], MAX[1]):
        check_gradients(lambda x: forward(x, **hyper), backward, {"x": x}, seed=seed % 1000)
    for forward, backward in (AVG[0], AVG[1]):
        check_gradients(lambda x: forward(x, **hyper, count_include_pad=cip), backward, {"x": x}, seed=seed % 1000)


# --------------------------------------------------------------------------- by hand


def test_output_size_rules():
    assert pool_output_size(5, 2) == 2                                 # floor: the last row is dropped
    assert pool_output_size(5, 2, ceil_mode=True) == 3                 # ceil: a 1-row window at the end
    assert pool_output_size(6, 3, stride=2, pad=1, ceil_mode=True) == 4
    # ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at 3*2 - 1 = 5 = H, in the right
    # padding: PyTorch drops it
    assert pool_output_size(5, 2, stride=2, pad=1, ceil_mode=True) == 3
    assert pool_output_size(5, 2, stride=2, pad=1) == 3
    assert pool_output_size(2, 3, stride=3, ceil_mode=True) == 1       # a window larger than the input
    assert pool_output_size(2, 3, stride=1, ceil_mode=True) == 0       # no window (the layers refuse it)


@BOTH_AVG
def test_ceil_mode_divisor_on_a_5x5_input(forward, backward):
    """x = 0..24 (5x5), size 2, stride 2, ceil_mode: a 3x3 output whose last row and column of
    windows hold 2 and 1 inputs; without padding they divide by those counts, whatever
    count_include_pad says (the positions beyond the input are not padding)."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    for cip in (True, False):
        y, cache = forward(x, size=2, ceil_mode=True, count_include_pad=cip)
        np.testing.assert_array_equal(y[0, 0], [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]])
        dx = backward(np.ones((1, 1, 3, 3)), cache)
        np.testing.assert_array_equal(dx[0, 0], [[0.25] * 4 + [0.5]] * 4 + [[0.5] * 4 + [1.0]])


@BOTH_AVG
def test_padding_divisor_with_and_without_count_include_pad(forward, backward):
    """5x5 ones, size 3, stride 2, pad 1: corner windows hold 4 inputs and 5 padding zeros,
    edge windows 6 inputs; count_include_pad=True divides by 9 (4/9, 6/9 = 2/3), False by the
    inputs (1 everywhere)."""
    x = np.ones((1, 1, 5, 5))
    y, _ = forward(x, size=3, stride=2, pad=1)
    np.testing.assert_allclose(y[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, **TIGHT)
    y, _ = forward(x, size=3, stride=2, pad=1, count_include_pad=False)
    np.testing.assert_allclose(y[0, 0], np.ones((3, 3)), **TIGHT)


@BOTH_AVG
def test_ceil_mode_window_beyond_the_padded_input(forward, backward):
    """6 rows, size 3, stride 2, pad 1, ceil_mode: 4 windows starting at rows -1, 1, 3, 5; the last
    covers rows 5, 6 (padding) and 7 (beyond the padded input): with count_include_pad it
    divides by 2 rows (row 7 never counts), without by 1 (the input row only)."""
    x = np.ones((1, 1, 6, 1))
    size, stride, pad = (3, 1), (2, 1), (1, 0)
    y, cache = forward(x, size=size, stride=stride, pad=pad, ceil_mode=True)
    np.testing.assert_allclose(y[0, 0, :, 0], [2 / 3, 1, 1, 1 / 2], **TIGHT)
    dx = backward(np.ones((1, 1, 4, 1)), cache)
    np.testing.assert_allclose(dx[0, 0, :, 0], [1 / 3, 1 / 3 + 1 / 3, 1 / 3, 1 / 3 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2],
                               **TIGHT)
    y, _ = forward(x, size=size, stride=stride, pad=pad, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(y[0, 0, :, 0], [1, 1, 1, 1], **TIGHT)


@BOTH_MAX
def test_maxpool_pads_with_minus_infinity(forward, backward):
    """All inputs negative: a zero-padded max would return 0 at the border; -inf padding keeps
    the window's own maximum, and the gradient goes to that input."""
    x = -1.0 - np.arange(16.0).reshape(1, 1, 4, 4)
    y, cache = forward(x, size=3, stride=2, pad=1)
    np.testing.assert_array_equal(y[0, 0], [[-1, -2], [-5, -6]])
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 1], expected[1, 0], expected[1, 1] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx[0, 0], expected)


@BOTH_MAX
def test_maxpool_ties_and_minus_infinity_go_to_the_first_input(forward, backward):
    """A tie with padding goes to the first maximum in row-major window order; a window of -inf
    inputs sends its delta to its first *input* position, never to the padding (PyTorch's rule)."""
    x = np.array([[[[5.0, 5.0], [5.0, 1.0]]]])
    y, cache = forward(x, size=2, stride=1, pad=1)
    assert y.shape == (1, 1, 3, 3) and (y == 5).sum() == 8
    dx = backward(np.ones(y.shape), cache)
    np.testing.assert_array_equal(dx[0, 0], [[4, 2], [2, 1]])
    x = np.full((1, 1, 3, 3), -np.inf)
    x[0, 0, 2, 2] = 1.0
    y, cache = forward(x, size=2, stride=2, pad=1)
    np.testing.assert_array_equal(y[0, 0], [[-np.inf, -np.inf], [-np.inf, 1]])
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 0, 0], [0, 0, 4]])


@BOTH_AVG
def test_average_pool_is_a_fixed_depthwise_convolution(forward, backward):
    """Without ceil_mode, count_include_pad=True: the average pool is conv2d with groups = C and
    every kernel entry 1/(KH*KW); its backward is that convolution's input gradient."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 6))
    y, cache = forward(x, size=(3, 2), stride=(2, 1), pad=(1, 1))
    w = np.full((3, 1, 3, 2), 1 / 6)
    y_conv, conv_cache = conv.conv2d_forward(x, w, np.zeros(3), stride=(2, 1), pad=(1, 1), groups=3)
    np.testing.assert_allclose(y, y_conv, **TIGHT)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(backward(dy, cache), conv.conv2d_backward(dy, conv_cache)[0], **TIGHT)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_no_padding_no_ceil_mode_is_todays_layer(kind):
    """pad=0 and ceil_mode=False give exactly the results of the plain call (same cache fields)."""
    x = np.random.default_rng(2).normal(size=(2, 2, 7, 5))
    fwd = maxpool2d_forward if kind == "max" else avgpool2d_forward
    bwd = maxpool2d_backward if kind == "max" else avgpool2d_backward
    y0, c0 = fwd(x, size=2, stride=(2, 1))
    y1, c1 = fwd(x, size=2, stride=(2, 1), pad=0, ceil_mode=False)
    np.testing.assert_array_equal(y0, y1)
    assert c0.pad == (0, 0) and c0.ceil_mode is False and isinstance(c0, PoolCache)
    dy = np.ones(y0.shape)
    np.testing.assert_array_equal(bwd(dy, c0), bwd(dy, c1))


# --------------------------------------------------------------------------- global average pooling


def test_global_average_pool():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5))
    y, cache = global_avgpool_forward(x)
    assert y.shape == (2, 3) and isinstance(cache, GlobalPoolCache)
    y_naive, cache_naive = global_avgpool_forward_naive(x)
    np.testing.assert_allclose(y, y_naive, **TIGHT)
    np.testing.assert_allclose(y, avgpool2d_forward(x, size=(4, 5))[0][:, :, 0, 0], **TIGHT)
    dy = rng.normal(size=(2, 3))
    dx = global_avgpool_backward(dy, cache)
    assert dx.shape == x.shape and dx.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(dx, global_avgpool_backward_naive(dy, cache_naive), **TIGHT)
    np.testing.assert_allclose(dx, np.broadcast_to(dy[:, :, None, None] / 20, x.shape), **TIGHT)
    for forward, backward in ((global_avgpool_forward, global_avgpool_backward),
                              (global_avgpool_forward_naive, global_avgpool_backward_naive)):
        check_gradients(forward, backward, {"x": x})
    x32 = x.astype(np.float32)
    y32, c32 = global_avgpool_forward(x32)
    assert y32.dtype == np.float32 and global_avgpool_backward(np.ones((2, 3), np.float32), c32).dtype == np.float32


@pytest.mark.parametrize("forward", [global_avgpool_forward, global_avgpool_forward_naive])
def test_global_average_pool_rejects_bad_input(forward):
    with pytest.raises(ValueError, match=r"x must be a 4-D array of shape \(N, C, H, W\), got 2-D shape \(2, 3\)"):
        forward(np.zeros((2, 3)))
    _, cache = forward(np.zeros((2, 3, 4, 4)))
    backward = global_avgpool_backward if forward is global_avgpool_forward else global_avgpool_backward_naive
    match = r"dy must have shape \(2, 3\) \(\(N, C\), the forward output\), got \(2, 3, 1, 1\)"
    with pytest.raises(ValueError, match=match):
        backward(np.zeros((2, 3, 1, 1)), cache)


# --------------------------------------------------------------------------- PyTorch


@needs_torch
@settings(max_examples=60)
@given(case=pool_cases(), seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_matches_pytorch(case, seed, ties):
    shape, size, stride, pad, ceil_mode, cip = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape).astype(float) if ties else rng.normal(size=shape)
    for kind in ("max", "avg"):
        xt = torch.tensor(x, requires_grad=True)
        if kind == "max":
            y, cache = maxpool2d_forward(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
            yt = TF.max_pool2d(xt, size, stride, pad, ceil_mode=ceil_mode)
        else:
            y, cache = avgpool2d_forward(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode,
                                         count_include_pad=cip)
            yt = TF.avg_pool2d(xt, size, stride, pad, ceil_mode=ceil_mode, count_include_pad=cip)
        np.testing.assert_allclose(y, yt.detach().numpy(), **TIGHT)
        dy = rng.normal(size=y.shape)
        yt.backward(torch.tensor(dy))
        dx = (maxpool2d_backward if kind == "max" else avgpool2d_backward)(dy, cache)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TIGHT)


@needs_torch
@pytest.mark.parametrize("h, size, stride, pad, ceil_mode", [
    (4, 3, 1, 2, False), (2, 3, 1, 0, True), (2, 3, 3, 0, True), (4, 5, 1, 0, False), (1, 3, 2, 1, True),
])
def test_accepts_and_refuses_what_pytorch_does(h, size, stride, pad, ceil_mode):
    x = np.zeros((1, 1, h, h))
    try:
        TF.max_pool2d(torch.tensor(x), size, stride, pad, ceil_mode=ceil_mode)
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    try:
        maxpool2d_forward(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
        avgpool2d_forward_naive(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
        ours_ok = True
    except ValueError:
        ours_ok = False
    assert ours_ok == torch_ok


# --------------------------------------------------------------------------- bad input


BAD = [
    (dict(pad=2, size=3),
     r"pad \(2, 2\) is more than half the pooling window size \(3, 3\); expected pad <= size // 2"),
    (dict(pad=(0, 2), size=(2, 3)), r"pad \(0, 2\) is more than half the pooling window size \(2, 3\)"),
    (dict(pad=-1), r"pad must be >= 0, got -1"),
    (dict(pad=1.0), r"pad must be an int.*1\.0"),
    (dict(ceil_mode=1), r"ceil_mode must be True or False, got 1"),
    (dict(ceil_mode="yes"), r"ceil_mode must be True or False, got 'yes'"),
    (dict(size=5, pad=1, x=np.zeros((1, 1, 2, 2))),
     r"pooling window size \(5, 5\) is larger than the padded input of x \(1, 1, 2, 2\): "
     r"\(H \+ 2\*pad, W \+ 2\*pad\) = \(4, 4\)"),
    (dict(size=3, stride=1, ceil_mode=True, x=np.zeros((1, 1, 2, 2))),
     r"pooling window size \(3, 3\) with stride \(1, 1\), pad \(0, 0\) and ceil_mode gives no window on x "
     r"\(1, 1, 2, 2\): \(OH, OW\) = \(0, 0\)"),
    (dict(size=5), r"pooling window size \(5, 5\) is larger than the input of x \(1, 1, 4, 4\) \(H, W\) = \(4, 4\)"),
]


@pytest.mark.parametrize("forward", [maxpool2d_forward, maxpool2d_forward_naive, avgpool2d_forward,
                                     avgpool2d_forward_naive])
@pytest.mark.parametrize("override, match", BAD)
def test_rejects_bad_input(forward, override, match):
    kwargs = dict(x=np.zeros((1, 1, 4, 4)), size=2)
    kwargs.update(override)
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


@pytest.mark.parametrize("forward", [avgpool2d_forward, avgpool2d_forward_naive])
def test_count_include_pad_must_be_a_bool(forward):
    with pytest.raises(ValueError, match=r"count_include_pad must be True or False, got 0"):
        forward(np.zeros((1, 1, 4, 4)), count_include_pad=0)


@BOTH_MAX
def test_backward_checks_dy_against_the_padded_output(forward, backward):
    _, cache = forward(np.zeros((1, 1, 5, 5)), size=2, pad=1, ceil_mode=True)
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 1, 3, 3\).*got \(1, 1, 2, 2\)"):
        backward(np.zeros((1, 1, 2, 2)), cache)


@pytest.mark.parametrize("fwd, bwd", [MAX[0], AVG[0]], ids=["max", "avg"])
def test_float32_stays_float32_with_padding_and_ceil_mode(fwd, bwd):
    x = np.random.default_rng(4).normal(size=(2, 2, 5, 5)).astype(np.float32)
    y, cache = fwd(x, size=3, stride=2, pad=1, ceil_mode=True)
    assert y.dtype == np.float32 and bwd(np.ones_like(y), cache).dtype == np.float32
