"""cnnbook's hand-derived layers against the independent JAX reference (float64), over random
shapes, strides and paddings, forward and backward; and max pooling's tie rule in both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnbook import activations, conv, fc, losses, pooling, reference
from cnnbook import softmax as sm

TOL = dict(rtol=1e-10, atol=1e-12)


def close(a, b):
    np.testing.assert_allclose(a, b, **TOL)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_fc(n, d, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b, dy = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m), rng.normal(size=(n, m))
    y, cache = fc.fc_forward(x, w, b)
    close(y, reference.forward("fc", x, w, b))
    for mine, ref in zip(fc.fc_backward(dy, cache), reference.vjp("fc", dy, x, w, b)):
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
    close(y, reference.forward(f"{kind}pool2d", x, size=size, stride=stride))
    dy = rng.normal(size=y.shape)
    close(getattr(pooling, f"{kind}pool2d_backward")(dy, cache),
          reference.vjp(f"{kind}pool2d", dy, x, size=size, stride=stride)[0])


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
    close(y, reference.forward("conv2d", x, k, b, stride=stride, pad=pad))
    dy = rng.normal(size=y.shape)
    for mine, ref in zip(conv.conv2d_backward(dy, cache),
                         reference.vjp("conv2d", dy, x, k, b, stride=stride, pad=pad)):
        close(mine, ref)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="layer must be one of"):
        reference.forward("dense", np.ones(2))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 3\)"):
        reference.vjp("fc", np.ones((3, 2)), np.ones((2, 2)), np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="stride must be"):
        reference.forward("conv2d", np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.ones(1), stride=-1)
