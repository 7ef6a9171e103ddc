"""Helpers shared by the test modules: hypothesis strategies for layer shapes
and a context manager that turns every numerical warning into an error."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st


# --------------------------------------------------------------------------- helpers


@contextmanager
def strict_numerics():
    """Fail on any warning and on overflow / division by zero / invalid values.

    Underflow is allowed on purpose: exp(-2000) == 0 is exactly the value a
    stable softmax or sigmoid must produce, and NumPy reports it only as an
    IEEE underflow flag (ignored by NumPy's default error state).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def spy_on(monkeypatch, module, name):
    """Count the calls of module.<name> (a private helper that a branch uses): returns the list
    that each call appends its name to."""
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def rng_array(data, shape, *, low=-2.0, high=2.0):
    """A float64 array of ``shape`` drawn through hypothesis (seeded generator)."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return np.random.default_rng(seed).uniform(low, high, size=shape)


# --------------------------------------------------------------------------- strategies


@st.composite
def hw_pairs(draw, low, high):
    """An int or an (h, w) pair with entries in [low, high]."""
    if draw(st.booleans()):
        return draw(st.integers(low, high))
    return (draw(st.integers(low, high)), draw(st.integers(low, high)))


def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


@st.composite
def conv_cases(draw, *, max_batch=2, max_chan=2, max_filt=2, max_out=3, max_kernel=3):
    """(x_shape, w_shape, stride, pad) with a kernel that fits the padded input.

    Input sizes are built as H = (OH - 1)*s + KH - 2*pad + r with a remainder
    r in [0, s) -- so non-square inputs and kernels, inputs whose last rows
    no window reaches, and H >= 1 -- all occur.
    """
    n = draw(st.integers(1, max_batch), label="N")
    c = draw(st.integers(1, max_chan), label="C")
    f = draw(st.integers(1, max_filt), label="F")
    stride = draw(hw_pairs(1, 3), label="stride")
    pad = draw(hw_pairs(0, 2), label="pad")
    (sh, sw), (ph, pw) = as_pair(stride), as_pair(pad)
    kh = draw(st.integers(1, max_kernel), label="KH")
    kw = draw(st.integers(1, max_kernel), label="KW")
    sizes = []
    for k, s, p in ((kh, sh, ph), (kw, sw, pw)):
        out = draw(st.integers(1, max_out))
        r = draw(st.integers(0, s - 1))
        size = (out - 1) * s + k - 2 * p + r
        if size < 1:  # padding larger than needed: smallest input that still fits
            size = max(1, k - 2 * p)
        sizes.append(size)
    h, w = sizes
    assert kh <= h + 2 * ph and kw <= w + 2 * pw
    return (n, c, h, w), (f, c, kh, kw), stride, pad


@st.composite
def pool_cases(draw, *, max_batch=2, max_chan=2, max_out=3):
    """(x_shape, size, stride) with sizes 1-3, strides 1-3 (also stride < size)."""
    n = draw(st.integers(1, max_batch), label="N")
    c = draw(st.integers(1, max_chan), label="C")
    size = draw(hw_pairs(1, 3), label="size")
    stride = draw(st.one_of(hw_pairs(1, 3), st.none()), label="stride")
    (kh, kw) = as_pair(size)
    (sh, sw) = as_pair(size if stride is None else stride)
    shape = [n, c]
    for k, s in ((kh, sh), (kw, sw)):
        out = draw(st.integers(1, max_out))
        r = draw(st.integers(0, s - 1))
        shape.append((out - 1) * s + k + r)
    return tuple(shape), size, stride


def pair(v):
    """An int or an (h, w) pair, as the layers' keywords take them, as an (h, w) tuple."""
    return (v, v) if isinstance(v, int) else tuple(v)


@st.composite
def hw(draw, low, high):
    """An int or an (h, w) pair with entries in [low, high]."""
    if draw(st.booleans()):
        return draw(st.integers(low, high))
    return (draw(st.integers(low, high)), draw(st.integers(low, high)))
