"""The fast paths of cnnbook.conv and cnnbook.pooling: each branch of the vectorized code
agrees with the loop references on shapes chosen to take that branch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import conv, pooling


def case(rng, x_shape, w_shape, stride, pad, dtype=np.float64):
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype)
    y, cache = conv.conv2d_forward(x, w, b, stride=stride, pad=pad)
    return x, w, b, y, cache, rng.normal(size=y.shape).astype(dtype)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, batch_last", [
    ((2, 3, 6, 5), (2, 3, 3, 2), 1, 1, True),          # small output
    ((2, 2, 10, 10), (3, 2, 3, 3), 1, 1, True),         # 100 positions, stride 1, C > 1
    ((2, 1, 10, 10), (3, 1, 3, 3), 1, 1, False),        # C = 1
    ((2, 2, 19, 18), (2, 2, 3, 2), (2, 1), (1, 0), False),  # strided, 90 positions
    ((2, 2, 21, 22), (2, 2, 5, 5), 2, 1, True),         # strided, 100 positions, 25 kernel offsets
    ((1, 2, 20, 17), (2, 2, 2, 3), 2, 2, False),
])
def test_both_input_gradient_paths_match_the_loops(rng, x_shape, w_shape, stride, pad, batch_last):
    x, w, b, y, cache, dy = case(rng, x_shape, w_shape, stride, pad)
    oh, ow = y.shape[2:]
    assert conv._batch_last_pays(x_shape[1], w_shape[2:], cache.stride, (oh, ow)) == batch_last
    np.testing.assert_allclose(y, conv.conv2d_forward_naive(x, w, b, stride=stride, pad=pad)[0], atol=1e-12)
    for got, want in zip(conv.conv2d_backward(dy, cache), conv.conv2d_backward_naive(dy, cache)):
        np.testing.assert_allclose(got, want, atol=1e-11)


def test_the_cached_im2col_matrix_is_used_only_for_its_own_input(rng):
    x, w, b, y, cache, dy = case(rng, (2, 2, 5, 5), (3, 2, 3, 3), 1, 1)
    assert cache.cols is not None and cache.cols[0] is cache.x
    other = rng.normal(size=x.shape)
    swapped = cache._replace(x=other)        # a stale matrix must not be reused
    want = conv.conv2d_backward_naive(dy, swapped)
    for got, ref in zip(conv.conv2d_backward(dy, swapped), want):
        np.testing.assert_allclose(got, ref, atol=1e-12)
    # without a cached matrix the backward builds it again
    for got, ref in zip(conv.conv2d_backward(dy, cache._replace(cols=None)), conv.conv2d_backward(dy, cache)):
        np.testing.assert_array_equal(got, ref)


def test_float32_stays_float32_and_im2col_col2im_are_adjoint(rng):
    x, w, b, y, cache, dy = case(rng, (3, 2, 9, 9), (4, 2, 3, 3), 1, 1, dtype=np.float32)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv.conv2d_backward(dy, cache))
    xp = rng.normal(size=(2, 3, 7, 6))
    cols = conv.im2col(xp, (3, 2), (2, 2))
    assert cols.shape == (2, 3 * 3 * 2, 3 * 3) and cols.flags["C_CONTIGUOUS"]
    z = rng.normal(size=cols.shape)
    back = conv.col2im(z, xp.shape, (3, 2), (2, 2), (3, 3))
    assert np.isclose(np.sum(cols * z), np.sum(xp * back))


@pytest.mark.parametrize("shape, size, stride", [
    ((2, 3, 8, 8), 2, None), ((2, 2, 7, 9), 3, 2), ((1, 2, 6, 7), (2, 3), (1, 2)), ((2, 1, 5, 5), 2, 3),
])
def test_maxpool_offset_loop_matches_the_loops_with_ties(rng, shape, size, stride):
    x = rng.integers(0, 3, size=shape).astype(float)      # many ties
    y, cache = pooling.maxpool2d_forward(x, size=size, stride=stride)
    y_ref, cache_ref = pooling.maxpool2d_forward_naive(x, size=size, stride=stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(cache.argmax, cache_ref.argmax)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(pooling.maxpool2d_backward(dy, cache),
                               pooling.maxpool2d_backward_naive(dy, cache_ref), atol=1e-12)
    ya, ca = pooling.avgpool2d_forward(x, size=size, stride=stride)
    np.testing.assert_allclose(ya, pooling.avgpool2d_forward_naive(x, size=size, stride=stride)[0], atol=1e-12)


def test_maxpool_with_nan_takes_the_argmax_route(rng):
    x = rng.normal(size=(1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    y, cache = pooling.maxpool2d_forward(x, size=2)
    assert np.isnan(y[0, 0, 0, 0]) and cache.argmax[0, 0, 0, 0] == 3
    assert not np.isnan(y[0, 0, 1, 1])
