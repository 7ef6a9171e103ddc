"""The convolution family in cnnbook.conv: dilation and groups in conv2d, and the transposed
convolution.  Vectorized == loop reference over random shapes, strides, paddings, dilations,
groups and output paddings; central-difference gradient checks; the transposed convolution is
the convolution's input gradient (and its backward is the convolution); hand-checkable cases;
PyTorch, when it is importable, as a second outside opinion (the JAX comparison is in
test_reference.py); and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import hw, pair

from cnnbook import conv, fc
from cnnbook.conv import (
    ConvCache,
    ConvTransposeCache,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    conv_transpose2d_backward,
    conv_transpose2d_backward_naive,
    conv_transpose2d_forward,
    conv_transpose2d_forward_naive,
    output_size,
    transpose_output_size,
)
from cnnbook.gradcheck import check_gradients

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # PyTorch is optional: its comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
FAST = settings(max_examples=30)
TIGHT = dict(rtol=1e-12, atol=1e-12)


@st.composite
def conv_cases(draw, *, max_out=3, max_kernel=3, max_groups=3, max_per_group=2, max_batch=2):
    """(x_shape, w_shape, stride, pad, dilation, groups) of a convolution whose dilated kernel fits.

    H = (OH - 1)*s + d*(KH - 1) + 1 - 2*pad + r with r in [0, s): inputs whose last rows no
    window reaches occur, and groups from 1 to C (depthwise) and channel multipliers F/C > 1."""
    n = draw(st.integers(1, max_batch))
    groups = draw(st.integers(1, max_groups))
    c = groups * draw(st.integers(1, max_per_group))
    f = groups * draw(st.integers(1, max_per_group))
    stride, pad, dilation = draw(hw(1, 3)), draw(hw(0, 2)), draw(hw(1, 3))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    sizes = []
    for k, s, p, d in zip(kernel, pair(stride), pair(pad), pair(dilation)):
        size = (draw(st.integers(1, max_out)) - 1) * s + d * (k - 1) + 1 - 2 * p + draw(st.integers(0, s - 1))
        sizes.append(max(size, 1, d * (k - 1) + 1 - 2 * p))
    return (n, c, *sizes), (f, c // groups, *kernel), stride, pad, dilation, groups


@st.composite
def transpose_cases(draw, *, max_in=3, max_kernel=3, max_groups=3, max_per_group=2, max_batch=2):
    """(x_shape, w_shape, stride, pad, output_padding, dilation, groups) with an output of >= 1 row,
    output_padding < max(stride, dilation); w has PyTorch's layout (C, F/groups, KH, KW)."""
    n = draw(st.integers(1, max_batch))
    groups = draw(st.integers(1, max_groups))
    c = groups * draw(st.integers(1, max_per_group))
    f = groups * draw(st.integers(1, max_per_group))
    stride, dilation = pair(draw(hw(1, 3))), pair(draw(hw(1, 3)))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    size = (draw(st.integers(1, max_in)), draw(st.integers(1, max_in)))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    pad = []
    for h, s, d, k, op in zip(size, stride, dilation, kernel, out_pad):
        largest = ((h - 1) * s + d * (k - 1) + op) // 2   # keeps the output >= 1 row
        pad.append(draw(st.integers(0, min(largest, 2))))
    return (n, c, *size), (c, f // groups, *kernel), stride, tuple(pad), out_pad, dilation, groups


def arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, size=s) for s in shapes]


def conv_hyper(stride, pad, dilation, groups):
    return dict(stride=stride, pad=pad, dilation=dilation, groups=groups)


def transpose_hyper(stride, pad, output_padding, dilation, groups):
    return dict(stride=stride, pad=pad, output_padding=output_padding, dilation=dilation, groups=groups)


# --------------------------------------------------------------------------- vectorized == loops


@FAST
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_vectorized_equals_naive(case, seed):
    x_shape, w_shape, *hyper = case
    hyper = conv_hyper(*hyper)
    x, w, b = arrays(seed, x_shape, w_shape, (w_shape[0],))
    y, cache = conv2d_forward(x, w, b, **hyper)
    y_naive, cache_naive = conv2d_forward_naive(x, w, b, **hyper)
    np.testing.assert_allclose(y, y_naive, **TIGHT)
    assert y.shape[2:] == tuple(output_size(h, k, stride=s, pad=p, dilation=d) for h, k, s, p, d in zip(
        x_shape[2:], w_shape[2:], pair(hyper["stride"]), pair(hyper["pad"]), pair(hyper["dilation"])))
    assert cache.dilation == cache_naive.dilation == pair(hyper["dilation"])
    assert cache.groups == cache_naive.groups == hyper["groups"]
    dy = arrays(seed + 1, y.shape)[0]
    for got, want in zip(conv2d_backward(dy, cache), conv2d_backward_naive(dy, cache_naive)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **TIGHT)


@FAST
@given(case=transpose_cases(), seed=st.integers(0, 2**32 - 1))
def test_transpose_vectorized_equals_naive(case, seed):
    x_shape, w_shape, *hyper = case
    hyper = transpose_hyper(*hyper)
    f = w_shape[1] * hyper["groups"]
    x, w, b = arrays(seed, x_shape, w_shape, (f,))
    y, cache = conv_transpose2d_forward(x, w, b, **hyper)
    y_naive, cache_naive = conv_transpose2d_forward_naive(x, w, b, **hyper)
    assert y.shape == (x_shape[0], f, *(transpose_output_size(
        h, k, stride=s, pad=p, output_padding=op, dilation=d) for h, k, s, p, op, d in zip(
        x_shape[2:], w_shape[2:], hyper["stride"], hyper["pad"], hyper["output_padding"], hyper["dilation"])))
    np.testing.assert_allclose(y, y_naive, **TIGHT)
    dy = arrays(seed + 1, y.shape)[0]
    for got, want in zip(conv_transpose2d_backward(dy, cache), conv_transpose2d_backward_naive(dy, cache_naive)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **TIGHT)


# --------------------------------------------------------------------------- the transpose relation


@FAST
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_transposed_convolution_is_the_convolutions_input_gradient(case, seed):
    """dx of conv2d_backward == conv_transpose2d_forward(delta, w, 0) with output_padding =
    (H + 2p - d(K - 1) - 1) mod s, the rows no window reaches; and the transposed layer's dx is
    the convolution's forward (without bias): the two layers are each other's adjoint."""
    x_shape, w_shape, stride, pad, dilation, groups = case
    x, w, b = arrays(seed, x_shape, w_shape, (w_shape[0],))
    y, cache = conv2d_forward(x, w, b, stride=stride, pad=pad, dilation=dilation, groups=groups)
    delta = arrays(seed + 1, y.shape)[0]
    dx = conv2d_backward(delta, cache)[0]
    unreached = tuple((h + 2 * p - d * (k - 1) - 1) % s for h, k, s, p, d in zip(
        x_shape[2:], w_shape[2:], pair(stride), pair(pad), pair(dilation)))
    hyper = dict(stride=stride, pad=pad, output_padding=unreached, dilation=dilation, groups=groups)
    as_transpose, t_cache = conv_transpose2d_forward(delta, w, np.zeros(x_shape[1]), **hyper)
    np.testing.assert_allclose(as_transpose, dx, **TIGHT)
    # backwards: the transposed layer's input gradient is the convolution's output (minus b)
    d_delta, _, _ = conv_transpose2d_backward(x, t_cache)
    np.testing.assert_allclose(d_delta, y - b[:, None, None], **TIGHT)
    # <A x, delta> = <x, A^T delta>
    assert np.isclose(np.sum((y - b[:, None, None]) * delta), np.sum(x * as_transpose), rtol=1e-12)


def test_output_padding_picks_among_the_inputs_of_one_output_size():
    """Stride 2, kernel 3: inputs of 5 and 6 rows both give 2 output rows; the transpose of the
    convolution on 6 rows needs output_padding = (6 - 3) % 2 = 1, the row no window reaches."""
    assert output_size(5, 3, stride=2) == output_size(6, 3, stride=2) == 2
    assert transpose_output_size(2, 3, stride=2) == 5
    assert transpose_output_size(2, 3, stride=2, output_padding=1) == 6
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3))
    y, cache = conv2d_forward(x, w, np.zeros(3), stride=2)
    delta = rng.normal(size=y.shape)
    dx = conv2d_backward(delta, cache)[0]
    y_t, _ = conv_transpose2d_forward(delta, w, np.zeros(2), stride=2, output_padding=1)
    np.testing.assert_allclose(y_t, dx, **TIGHT)
    # the last row and column of x are reached by no window: they get no gradient, and the
    # transposed convolution leaves them at zero (the bias only)
    np.testing.assert_array_equal(dx[:, :, 5], 0)
    np.testing.assert_array_equal(dx[:, :, :, 5], 0)
    assert np.abs(dx[:, :, 4, :5]).min() > 0


# --------------------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("forward, backward", [(conv2d_forward, conv2d_backward),
                                               (conv2d_forward_naive, conv2d_backward_naive)],
                         ids=["vectorized", "naive"])
@pytest.mark.parametrize("x_shape, w_shape, hyper", [
    ((2, 2, 7, 8), (3, 2, 2, 3), dict(stride=(2, 1), pad=(1, 0), dilation=(2, 3))),
    ((2, 4, 5, 5), (4, 2, 3, 2), dict(stride=1, pad=1, dilation=1, groups=2)),
    ((1, 3, 6, 5), (6, 1, 2, 2), dict(stride=2, pad=(0, 1), dilation=2, groups=3)),   # depthwise, 2 per channel
    ((2, 3, 4, 4), (3, 1, 3, 3), dict(stride=1, pad=2, dilation=2, groups=3)),        # depthwise
])
def test_conv_gradient_check(forward, backward, x_shape, w_shape, hyper):
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape),
              "b": rng.standard_normal(w_shape[0])}
    errors = check_gradients(lambda x, w, b: forward(x, w, b, **hyper), backward, inputs)
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize("forward, backward", [(conv_transpose2d_forward, conv_transpose2d_backward),
                                               (conv_transpose2d_forward_naive, conv_transpose2d_backward_naive)],
                         ids=["vectorized", "naive"])
@pytest.mark.parametrize("x_shape, w_shape, hyper", [
    ((2, 2, 3, 2), (2, 3, 3, 2), dict(stride=2, pad=1, output_padding=1)),
    ((1, 4, 3, 3), (4, 1, 2, 3), dict(stride=(1, 2), pad=(0, 1), output_padding=(1, 0), dilation=(2, 1),
                                      groups=2)),
    ((2, 3, 2, 3), (3, 2, 3, 3), dict(stride=3, pad=2, output_padding=2, dilation=2, groups=3)),
])
def test_transpose_gradient_check(forward, backward, x_shape, w_shape, hyper):
    rng = np.random.default_rng(2)
    f = w_shape[1] * hyper.get("groups", 1)
    inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape), "b": rng.standard_normal(f)}
    errors = check_gradients(lambda x, w, b: forward(x, w, b, **hyper), backward, inputs)
    assert max(errors.values()) < 1e-7


@settings(max_examples=8)
@given(case=transpose_cases(max_in=2, max_kernel=2, max_per_group=1), seed=st.integers(0, 1000))
def test_transpose_gradient_check_random(case, seed):
    x_shape, w_shape, *hyper = case
    hyper = transpose_hyper(*hyper)
    x, w, b = arrays(seed, x_shape, w_shape, (w_shape[1] * hyper["groups"],))
    errors = check_gradients(lambda x, w, b: conv_transpose2d_forward(x, w, b, **hyper),
                             conv_transpose2d_backward, {"x": x, "w": w, "b": b}, seed=seed)
    assert max(errors.values()) < 1e-7


# --------------------------------------------------------------------------- by hand


def test_dilation_by_hand():
    """One row x = 0..6, kernel [1, 10], dilation 3: y[j] = x[j] + 10 x[j + 3]."""
    x = np.arange(7.0).reshape(1, 1, 1, 7)
    w = np.array([1.0, 10.0]).reshape(1, 1, 1, 2)
    for forward in (conv2d_forward, conv2d_forward_naive):
        y, cache = forward(x, w, np.zeros(1), dilation=(1, 3))
        np.testing.assert_array_equal(y[0, 0, 0], [30, 41, 52, 63])
    # the kernel gradient of a stride-s convolution is a dilation-s correlation of x with delta
    x = np.random.default_rng(3).normal(size=(1, 1, 7, 7))
    y, cache = conv2d_forward(x, np.ones((1, 1, 3, 3)), np.zeros(1), stride=2)
    delta = np.random.default_rng(4).normal(size=y.shape)
    dw = conv2d_backward(delta, cache)[1]
    as_dilated, _ = conv2d_forward(x, delta, np.zeros(1), dilation=2)
    np.testing.assert_allclose(dw, as_dilated, **TIGHT)


def test_groups_are_separate_convolutions_side_by_side():
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(2, 6, 5, 4)), rng.normal(size=(4, 3, 2, 2)), rng.normal(size=4)
    y, cache = conv2d_forward(x, w, b, pad=1, groups=2)
    halves = [conv2d_forward(x[:, 3 * g : 3 * g + 3], w[2 * g : 2 * g + 2], b[2 * g : 2 * g + 2], pad=1)
              for g in range(2)]
    np.testing.assert_allclose(y, np.concatenate([h[0] for h in halves], axis=1), **TIGHT)
    dy = rng.normal(size=y.shape)
    dx, dw, db = conv2d_backward(dy, cache)
    parts = [conv2d_backward(dy[:, 2 * g : 2 * g + 2], halves[g][1]) for g in range(2)]
    for k, got in enumerate((dx, dw, db)):
        np.testing.assert_allclose(got, np.concatenate([p[k] for p in parts], axis=0 if k else 1), **TIGHT)


def test_depthwise_is_one_correlation_per_channel():
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(1, 3, 5, 5)), rng.normal(size=(3, 1, 3, 3))
    y, _ = conv2d_forward(x, w, np.zeros(3), pad=1, groups=3)
    for c in range(3):
        np.testing.assert_allclose(y[0, c], conv.correlate2d(x[0, c], w[c, 0], pad=1), **TIGHT)


def test_one_by_one_convolution_is_a_dense_layer_per_pixel():
    """A 1x1 convolution is the FC layer applied to the N*H*W rows of channel vectors, with the
    FC weight W = w[:, :, 0, 0].T; so are its gradients (dW sums over all N*H*W rows)."""
    rng = np.random.default_rng(7)
    x, w, b = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(6, 3, 1, 1)), rng.normal(size=6)
    y, cache = conv2d_forward(x, w, b)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 3)           # (N*H*W, C)
    y_fc, fc_cache = fc.fc_forward(rows, w[:, :, 0, 0].T, b)
    np.testing.assert_allclose(y, y_fc.reshape(2, 4, 5, 6).transpose(0, 3, 1, 2), **TIGHT)
    dy = rng.normal(size=y.shape)
    dx, dw, db = conv2d_backward(dy, cache)
    dx_fc, dw_fc, db_fc = fc.fc_backward(dy.transpose(0, 2, 3, 1).reshape(-1, 6), fc_cache)
    np.testing.assert_allclose(dx, dx_fc.reshape(2, 4, 5, 3).transpose(0, 3, 1, 2), **TIGHT)
    np.testing.assert_allclose(dw[:, :, 0, 0], dw_fc.T, **TIGHT)
    np.testing.assert_allclose(db, db_fc, **TIGHT)


def test_transposed_convolution_by_hand():
    """One 2x2 input, a 2x2 kernel, stride 2: each pixel stamps a scaled copy of the kernel into
    its own 2x2 block; pad 1 crops a row and a column on each side; output_padding 1 adds a row
    and a column that only the bias reaches."""
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    for forward in (conv_transpose2d_forward, conv_transpose2d_forward_naive):
        y, _ = forward(x, w, np.zeros(1), stride=2)
        np.testing.assert_array_equal(y[0, 0], np.kron(x[0, 0], w[0, 0]))
        y, _ = forward(x, w, np.zeros(1), stride=2, pad=1)
        np.testing.assert_array_equal(y[0, 0], np.kron(x[0, 0], w[0, 0])[1:-1, 1:-1])
        y, _ = forward(x, w, np.array([0.5]), stride=2, output_padding=1)
        assert y.shape == (1, 1, 5, 5)
        np.testing.assert_array_equal(y[0, 0, :4, :4], np.kron(x[0, 0], w[0, 0]) + 0.5)
        np.testing.assert_array_equal(y[0, 0, 4], 0.5)
        np.testing.assert_array_equal(y[0, 0, :, 4], 0.5)
        # stride 1: overlapping stamps add up
        y, _ = forward(x, np.ones((1, 1, 2, 2)), np.zeros(1))
        np.testing.assert_array_equal(y[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_transposed_naive_on_symbols_is_differentiated_by_its_backward():
    """The loop reference runs on sympy symbols: each gradient of conv_transpose2d_backward_naive
    is sp.diff of E = sum_ij delta_ij y_ij (stride 2, pad 1, output_padding 1, dilation 1)."""
    x = np.array([[sp.Symbol(f"x{i}{j}") for j in range(2)] for i in range(2)], dtype=object)[None, None]
    w = np.array([[sp.Symbol(f"w{i}{j}") for j in range(3)] for i in range(3)], dtype=object)[None, None]
    bias = sp.Symbol("b")
    y, cache = conv_transpose2d_forward_naive(x, w, np.array([bias], dtype=object), stride=2, pad=1,
                                              output_padding=1)
    assert y.shape == (1, 1, 4, 4)
    delta = np.array([[sp.Symbol(f"d{i}{j}") for j in range(4)] for i in range(4)], dtype=object)[None, None]
    energy = sum(delta[0, 0, i, j] * y[0, 0, i, j] for i in range(4) for j in range(4))
    dx, dw, db = conv_transpose2d_backward_naive(delta, cache)
    for grad, var in ((dx, x), (dw, w)):
        for idx in np.ndindex(var.shape):
            assert sp.expand(grad[idx] - sp.diff(energy, var[idx])) == 0, idx
    assert sp.expand(db[0] - sp.diff(energy, bias)) == 0


# --------------------------------------------------------------------------- PyTorch


@needs_torch
@FAST
@given(case=conv_cases(max_out=4, max_per_group=3), seed=st.integers(0, 2**32 - 1))
def test_conv_matches_pytorch(case, seed):
    x_shape, w_shape, stride, pad, dilation, groups = case
    x, w, b = arrays(seed, x_shape, w_shape, (w_shape[0],))
    y, cache = conv2d_forward(x, w, b, stride=stride, pad=pad, dilation=dilation, groups=groups)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = TF.conv2d(xt, wt, bt, stride=stride, padding=pad, dilation=dilation, groups=groups)
    dy = arrays(seed + 1, y.shape)[0]
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for got, t in zip(conv2d_backward(dy, cache), (xt, wt, bt)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@FAST
@given(case=transpose_cases(max_in=4, max_per_group=3), seed=st.integers(0, 2**32 - 1))
def test_transpose_matches_pytorch(case, seed):
    x_shape, w_shape, *hyper = case
    hyper = transpose_hyper(*hyper)
    x, w, b = arrays(seed, x_shape, w_shape, (w_shape[1] * hyper["groups"],))
    y, cache = conv_transpose2d_forward(x, w, b, **hyper)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = TF.conv_transpose2d(xt, wt, bt, stride=hyper["stride"], padding=hyper["pad"],
                             output_padding=hyper["output_padding"], dilation=hyper["dilation"],
                             groups=hyper["groups"])
    dy = arrays(seed + 1, y.shape)[0]
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for got, t in zip(conv_transpose2d_backward(dy, cache), (xt, wt, bt)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("hyper, ok", [
    (dict(stride=2, output_padding=1), True),
    (dict(stride=2, output_padding=2), False),
    (dict(stride=1, dilation=3, output_padding=2), True),     # smaller than the dilation is enough
    (dict(stride=2, dilation=3, output_padding=3), False),
])
def test_output_padding_rule_is_pytorchs(hyper, ok):
    x, w, b = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1)
    try:
        TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=hyper["stride"],
                            output_padding=hyper["output_padding"], dilation=hyper.get("dilation", 1))
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    assert torch_ok == ok
    if ok:
        conv_transpose2d_forward(x, w, b, **hyper)
    else:
        with pytest.raises(ValueError, match="output_padding .* must be smaller than max\\(stride, dilation\\)"):
            conv_transpose2d_forward(x, w, b, **hyper)


# --------------------------------------------------------------------------- dtype and cache


@pytest.mark.parametrize("groups, dilation", [(1, 2), (2, 1), (4, 1)])
def test_float32_stays_float32(groups, dilation):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    w = rng.normal(size=(4, 4 // groups, 3, 3)).astype(np.float32)
    b = np.zeros(4, np.float32)
    y, cache = conv2d_forward(x, w, b, pad=1, dilation=dilation, groups=groups)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in conv2d_backward(np.ones_like(y), cache))
    y, cache = conv_transpose2d_forward(x, w, b, stride=2, dilation=dilation, groups=groups)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_transpose2d_backward(np.ones_like(y), cache))


def test_caches_are_named_and_the_plain_cache_keeps_its_defaults():
    x, w, b = np.ones((1, 2, 5, 5)), np.ones((4, 1, 2, 2)), np.zeros(4)
    _, cache = conv2d_forward(x, w, b, stride=(1, 2), dilation=(2, 1), groups=2)
    assert isinstance(cache, ConvCache) and cache.dilation == (2, 1) and cache.groups == 2
    # a cache built with the five fields of the plain layer (as the exercises do) is the plain layer
    plain = ConvCache(x, np.ones((3, 2, 2, 2)), np.zeros(3), (1, 1), (0, 0))
    assert plain.dilation == (1, 1) and plain.groups == 1 and plain.cols is None
    conv2d_backward(np.ones((1, 3, 4, 4)), plain)
    _, cache = conv_transpose2d_forward(x, np.ones((2, 3, 2, 2)), np.zeros(6), stride=2, output_padding=1, groups=2)
    assert isinstance(cache, ConvTransposeCache)
    assert (cache.stride, cache.pad, cache.output_padding, cache.dilation, cache.groups) == (
        (2, 2), (0, 0), (1, 1), (1, 1), 2)


# --------------------------------------------------------------------------- bad input

X, W, B = np.zeros((1, 4, 5, 5)), np.zeros((2, 2, 2, 2)), np.zeros(2)

CONV_BAD = [
    (dict(groups=3), r"groups = 3 must divide the channels of x: x has shape \(1, 4, 5, 5\) \(C = 4\)"),
    (dict(w=np.zeros((3, 2, 2, 2)), b=np.zeros(3), groups=2), r"groups = 2 must divide the filters F = 3"),
    (dict(w=np.zeros((2, 4, 2, 2)), groups=2), r"w must have C/groups = 4/2 = 2 channels per filter.*\(2, 4, 2, 2\)"),
    (dict(w=np.zeros((2, 3, 2, 2))), r"channels of w and x must agree.*C = 3.*C = 4"),
    (dict(groups=0), r"groups must be >= 1, got 0"),
    (dict(groups=2.0), r"groups must be an int >= 1, got 2\.0"),
    (dict(groups=True), r"groups must be an int >= 1, got True"),
    (dict(groups=(2, 2)), r"groups must be an int >= 1, got \(2, 2\)"),
    (dict(dilation=0), r"dilation must be >= 1, got 0"),
    (dict(dilation=(1, -1)), r"dilation must be >= 1, got \(1, -1\)"),
    (dict(dilation=1.5), r"dilation must be an int.*1\.5"),
    (dict(dilation=5), r"kernel of w \(2, 2\) with dilation \(5, 5\) spans \(6, 6\), which is larger than the "
                       r"padded input of x: \(5 \+ 2\*0, 5 \+ 2\*0\) = \(5, 5\)"),
    (dict(w=np.zeros((2, 2, 2, 2)), groups=2, dilation=(1, 5), pad=(0, 0)), r"spans \(2, 6\)"),
    (dict(w=np.zeros((2, 2, 3)), groups=2), r"w must be a 4-D array of shape \(F, C/groups, KH, KW\)"),
]


@pytest.mark.parametrize("forward", [conv2d_forward, conv2d_forward_naive], ids=["vectorized", "naive"])
@pytest.mark.parametrize("override, match", CONV_BAD)
def test_conv_rejects_bad_input(forward, override, match):
    kwargs = dict(x=X, w=W, b=B, groups=2)
    kwargs.update(override)
    if "w" in override and "groups" not in override:
        kwargs["groups"] = 1
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


TRANSPOSE_BAD = [
    (dict(w=np.zeros((3, 2, 2, 2))),
     r"channels of w and x must agree: w has shape \(3, 2, 2, 2\) \(C = w\.shape\[0\] = 3"),
    (dict(groups=3), r"groups = 3 must divide the channels of x"),
    (dict(b=np.zeros(3)), r"b must have shape \(F,\) = \(4,\) with F = w\.shape\[1\]\*groups = 2\*2"),
    (dict(output_padding=2, stride=2),
     r"output_padding \(2, 2\) must be smaller than max\(stride, dilation\).*"
     r"axis 0 has output_padding 2, stride 2, dilation 1; expected output_padding < 2"),
    (dict(output_padding=(0, 1)), r"axis 1 has output_padding 1, stride 1, dilation 1"),
    (dict(output_padding=-1), r"output_padding must be >= 0, got -1"),
    (dict(dilation=0), r"dilation must be >= 1, got 0"),
    (dict(pad=4), r"pad \(4, 4\) is too large for x \(1, 4, 5, 5\) and w \(4, 2, 2, 2\).*\(-2, -2\); expected >= 1"),
    (dict(groups=-1), r"groups must be >= 1, got -1"),
    (dict(w=np.zeros((4, 2, 2))), r"w must be a 4-D array of shape \(C, F/groups, KH, KW\)"),
]


@pytest.mark.parametrize("forward", [conv_transpose2d_forward, conv_transpose2d_forward_naive],
                         ids=["vectorized", "naive"])
@pytest.mark.parametrize("override, match", TRANSPOSE_BAD)
def test_transpose_rejects_bad_input(forward, override, match):
    kwargs = dict(x=X, w=np.zeros((4, 2, 2, 2)), b=np.zeros(4), groups=2)
    kwargs.update(override)
    with pytest.raises(ValueError, match=match):
        forward(**kwargs)


@pytest.mark.parametrize("backward, forward", [(conv_transpose2d_backward, conv_transpose2d_forward),
                                               (conv_transpose2d_backward_naive, conv_transpose2d_forward_naive)])
def test_transpose_backward_rejects_dy_of_the_wrong_shape(backward, forward):
    _, cache = forward(np.zeros((1, 2, 3, 3)), np.zeros((2, 3, 2, 2)), np.zeros(3), stride=2)
    match = r"dy must have shape \(1, 3, 6, 6\) \(\(N, F, OH, OW\), the forward output\), got \(1, 3, 5, 5\)"
    with pytest.raises(ValueError, match=match):
        backward(np.zeros((1, 3, 5, 5)), cache)


def test_output_size_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"kernel 3 with dilation 3 \(span 7\) is larger than the padded input size 5"):
        output_size(5, 3, dilation=3)
    with pytest.raises(ValueError, match=r"dilation must be >= 1, got 0"):
        output_size(5, 3, dilation=0)
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than max\(stride, dilation\)"):
        transpose_output_size(3, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"pad 3 is too large.*= -3; expected >= 1"):
        transpose_output_size(2, 2, stride=1, pad=3, output_padding=0)
    assert output_size(7, 3, stride=2, pad=1, dilation=2) == 3
    assert transpose_output_size(3, 3, stride=2, pad=1, dilation=2) == 7
