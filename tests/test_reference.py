"""cnnbook's hand-derived layers against the independent JAX reference (float64), over random
shapes, strides and paddings, forward and backward; and max pooling's tie rule in both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnbook import activations, conv, fc, losses, pooling, reference
from cnnbook import softmax as sm

TOL = dict(rtol=1e-10, atol=1e-12)


def close(a, b):
    np.testing.assert_allclose(a, b, **TOL)


def jax_pass(layer, dy, *arrays, **hyper):
    """(y, *gradients) of the JAX reference in one compiled call (reference.jit_vjp), as NumPy
    arrays: compiling dominates the time of these tests, and one compilation per case is half
    the cost of a forward and a vjp compiled operation by operation."""
    return [np.asarray(a) for a in reference.jit_vjp(layer, **hyper)(*reference.as_jax(dy, *arrays))]


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_fc(n, d, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b, dy = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m), rng.normal(size=(n, m))
    y, cache = fc.fc_forward(x, w, b)
    for mine, ref in zip((y, *fc.fc_backward(dy, cache)), jax_pass("fc", dy, x, w, b)):
        close(mine, ref)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations(name):
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(3, 7)) * 3, rng.normal(size=(3, 7))
    y, cache = getattr(activations, f"{name}_forward")(x)
    close(y, reference.forward(name, x))
    close(getattr(activations, f"{name}_backward")(dy, cache), reference.vjp(name, dy, x)[0])


def test_softmax_and_losses():
    rng = np.random.default_rng(2)
    z, dy = rng.normal(size=(4, 5)) * 4, rng.normal(size=(4, 5))
    y, cache = sm.softmax_forward(z)
    close(y, reference.forward("softmax", z))
    close(sm.softmax_backward(dy, cache), reference.vjp("softmax", dy, z)[0])
    labels = np.array([0, 3, 4, 1])
    t = np.eye(5)[labels]
    loss, dz = losses.softmax_cross_entropy(z, labels)
    close(loss, reference.forward("softmax_cross_entropy", z, t))
    close(dz, reference.vjp("softmax_cross_entropy", 1.0, z, t)[0])
    yhat = rng.normal(size=(4, 5))
    loss, dyhat = losses.mse(yhat, t)
    close(loss, reference.forward("mse", yhat, t))
    close(dyhat, reference.vjp("mse", 1.0, yhat, t)[0])


@given(st.integers(1, 2), st.integers(1, 3), st.integers(3, 7), st.integers(3, 7),
       st.integers(1, 3), st.integers(1, 3), st.sampled_from(["max", "avg"]), st.integers(0, 2**31 - 1))
def test_pooling(n, c, h, w, size, stride, kind, seed):
    if size > min(h, w):
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    y, cache = getattr(pooling, f"{kind}pool2d_forward")(x, size=size, stride=stride)
    dy = rng.normal(size=y.shape)
    y_ref, dx_ref = jax_pass(f"{kind}pool2d", dy, x, size=size, stride=stride)
    close(y, y_ref)
    close(getattr(pooling, f"{kind}pool2d_backward")(dy, cache), dx_ref)


def test_maxpool_ties_go_to_the_first_maximum_in_both():
    x = np.array([[[[1.0, 1.0], [1.0, 0.0]]]])
    dy = np.ones((1, 1, 1, 1))
    mine = pooling.maxpool2d_backward(dy, pooling.maxpool2d_forward(x, size=2)[1])
    close(mine, [[[[1.0, 0.0], [0.0, 0.0]]]])
    close(reference.vjp("maxpool2d", dy, x, size=2)[0], mine)


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(3, 8), st.integers(3, 8),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2),
       st.integers(0, 2**31 - 1))
def test_conv2d(n, c, f, h, w, kh, kw, stride, pad, seed):
    if kh > h + 2 * pad or kw > w + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    x, k, b = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)
    y, cache = conv.conv2d_forward(x, k, b, stride=stride, pad=pad)
    dy = rng.normal(size=y.shape)
    ref = jax_pass("conv2d", dy, x, k, b, stride=stride, pad=pad)
    for mine, want in zip((y, *conv.conv2d_backward(dy, cache)), ref):
        close(mine, want)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="layer must be one of"):
        reference.forward("dense", np.ones(2))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 3\)"):
        reference.vjp("fc", np.ones((3, 2)), np.ones((2, 2)), np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="stride must be"):
        reference.forward("conv2d", np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.ones(1), stride=-1)


# --------------------------------------------------------------------------- the convolution family

from test_conv_family_layers import conv_cases, transpose_cases  # noqa: E402
from test_pooling_options import pool_cases  # noqa: E402


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


@settings(max_examples=6)
@given(case=conv_cases(), seed=st.integers(0, 2**31 - 1))
def test_conv2d_dilation_groups(case, seed):
    x_shape, w_shape, stride, pad, dilation, groups = case
    hyper = dict(stride=_hashable(stride), pad=_hashable(pad), dilation=_hashable(dilation), groups=groups)
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    y, cache = conv.conv2d_forward(x, w, b, **hyper)
    dy = rng.normal(size=y.shape)
    ref = jax_pass("conv2d", dy, x, w, b, **hyper)
    for mine, want in zip((y, *conv.conv2d_backward(dy, cache)), ref):
        close(mine, want)
    naive_y, naive_cache = conv.conv2d_forward_naive(x, w, b, **hyper)
    for mine, want in zip((naive_y, *conv.conv2d_backward_naive(dy, naive_cache)), ref):
        close(mine, want)


@settings(max_examples=6)
@given(case=transpose_cases(), seed=st.integers(0, 2**31 - 1))
def test_conv_transpose2d(case, seed):
    x_shape, w_shape, stride, pad, output_padding, dilation, groups = case
    hyper = dict(stride=stride, pad=pad, output_padding=output_padding, dilation=dilation, groups=groups)
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[1] * groups)
    y, cache = conv.conv_transpose2d_forward(x, w, b, **hyper)
    dy = rng.normal(size=y.shape)
    ref = jax_pass("conv_transpose2d", dy, x, w, b, **hyper)
    for mine, want in zip((y, *conv.conv_transpose2d_backward(dy, cache)), ref):
        close(mine, want)
    naive_y, naive_cache = conv.conv_transpose2d_forward_naive(x, w, b, **hyper)
    for mine, want in zip((naive_y, *conv.conv_transpose2d_backward_naive(dy, naive_cache)), ref):
        close(mine, want)


@settings(max_examples=5)
@given(case=pool_cases(), seed=st.integers(0, 2**31 - 1))
def test_pooling_padding_ceil_mode_count_include_pad(case, seed):
    shape, size, stride, pad, ceil_mode, count_include_pad = case
    hyper = dict(size=size, stride=_hashable(stride), pad=pad, ceil_mode=ceil_mode)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    y, cache = pooling.maxpool2d_forward(x, **hyper)
    dy = rng.normal(size=y.shape)
    y_ref, dx_ref = jax_pass("maxpool2d", dy, x, **hyper)
    close(y, y_ref)
    close(pooling.maxpool2d_backward(dy, cache), dx_ref)
    hyper["count_include_pad"] = count_include_pad
    y, cache = pooling.avgpool2d_forward(x, **hyper)
    y_ref, dx_ref = jax_pass("avgpool2d", dy, x, **hyper)
    close(y, y_ref)
    close(pooling.avgpool2d_backward(dy, cache), dx_ref)
    close(pooling.avgpool2d_backward_naive(dy, pooling.avgpool2d_forward_naive(x, **hyper)[1]), dx_ref)


def test_pooling_hand_case_in_the_reference():
    """The 5x5 ceil_mode case of test_pooling_options, by JAX: the last windows divide by 2 and 1."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    for cip in (True, False):
        close(reference.forward("avgpool2d", x, size=2, ceil_mode=True, count_include_pad=cip)[0, 0],
              [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]])
    close(reference.forward("avgpool2d", np.ones((1, 1, 5, 5)), size=3, stride=2, pad=1)[0, 0],
          np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9)


def test_global_avgpool():
    rng = np.random.default_rng(4)
    x, dy = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3))
    y, cache = pooling.global_avgpool_forward(x)
    y_ref, dx_ref = jax_pass("global_avgpool", dy, x)
    close(y, y_ref)
    close(pooling.global_avgpool_backward(dy, cache), dx_ref)
