"""The fast paths of cnnbook.conv and cnnbook.pooling: each branch of the vectorized code
agrees with the loop references on shapes chosen to take that branch."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import spy_on

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
    ((2, 2, 19, 18), (2, 2, 3, 2), (2, 1), (1, 0), True),  # strided, 90 positions, C > 1
    ((2, 2, 21, 22), (2, 2, 5, 5), 2, 1, True),         # strided, 100 positions, 25 kernel offsets
    ((1, 1, 20, 17), (2, 1, 2, 3), 2, 2, False),        # strided, C = 1
])
def test_both_input_gradient_paths_match_the_loops(rng, x_shape, w_shape, stride, pad, batch_last):
    x, w, b, y, cache, dy = case(rng, x_shape, w_shape, stride, pad)
    oh, ow = y.shape[2:]
    assert conv._batch_last_pays(x_shape[1], (oh, ow)) == batch_last
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


# --------------------------------------------------------------------------- dilation, groups, transposed


def _spy(monkeypatch, name):
    return spy_on(monkeypatch, conv, name)


# (x_shape, w_shape, stride, pad, dilation, groups, the helper the input gradient takes)
FAMILY_BRANCHES = [
    ((1, 4, 18, 17), (4, 1, 3, 3), 1, 1, 1, 4, "_input_grad_full"),       # depthwise, stride 1, large
    ((1, 4, 18, 17), (8, 2, 3, 2), 1, (2, 1), 2, 2, "_input_grad_full"),  # grouped, dilated
    ((1, 2, 22, 24), (2, 2, 3, 3), 1, 0, (2, 3), 1, "_input_grad_full"),  # dilation only, pad 0
    ((2, 4, 9, 9), (4, 1, 3, 3), 2, 1, 1, 4, "_input_grad_depthwise"),    # depthwise, strided
    ((1, 3, 8, 8), (6, 1, 3, 3), 1, 1, 2, 3, "_input_grad_depthwise"),    # 2 filters per channel, small
    ((1, 3, 18, 18), (3, 1, 2, 2), 1, 3, 1, 3, "_input_grad_depthwise"),  # pad > dilation*(K - 1)
    ((2, 4, 7, 7), (2, 2, 3, 3), 1, 1, 1, 2, "_dx_batch_last"),           # small output, F = groups
    ((1, 1, 21, 19), (4, 1, 2, 3), 2, 1, 2, 1, "col2im"),                 # large, strided, dilated, C = 1
    ((1, 6, 20, 20), (6, 2, 5, 5), 2, 2, 1, 3, "_dx_batch_last"),         # 25 kernel offsets
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, dilation, groups, helper", FAMILY_BRANCHES)
def test_each_input_gradient_branch_matches_the_loops(rng, monkeypatch, x_shape, w_shape, stride, pad, dilation,
                                                      groups, helper):
    x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
    b = rng.normal(size=w_shape[0])
    hyper = dict(stride=stride, pad=pad, dilation=dilation, groups=groups)
    y, cache = conv.conv2d_forward(x, w, b, **hyper)
    y_ref, cache_ref = conv.conv2d_forward_naive(x, w, b, **hyper)
    np.testing.assert_allclose(y, y_ref, atol=1e-12)
    dy = rng.normal(size=y.shape)
    calls = _spy(monkeypatch, helper)
    got = conv.conv2d_backward(dy, cache)
    assert calls, f"the input gradient did not take {helper}"
    for g, want in zip(got, conv.conv2d_backward_naive(dy, cache_ref)):
        np.testing.assert_allclose(g, want, atol=1e-11)


# (x_shape, w_shape, stride, pad, output_padding, dilation, groups, helper of the forward)
TRANSPOSE_BRANCHES = [
    ((1, 2, 18, 17), (2, 3, 3, 3), 1, 1, 0, 1, 1, "_input_grad_full"),
    ((1, 4, 17, 17), (4, 1, 3, 2), 1, (2, 1), 1, 2, 4, "_input_grad_full"),   # output_padding < dilation
    ((2, 4, 6, 5), (4, 1, 3, 3), 2, 1, 1, 1, 4, "_input_grad_depthwise"),
    ((1, 4, 10, 10), (4, 1, 3, 3), 2, 1, 1, 1, 1, "col2im"),                  # one output channel
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, output_padding, dilation, groups, helper", TRANSPOSE_BRANCHES)
def test_each_transposed_forward_branch_matches_the_loops(rng, monkeypatch, x_shape, w_shape, stride, pad,
                                                          output_padding, dilation, groups, helper):
    x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
    b = rng.normal(size=w_shape[1] * groups)
    hyper = dict(stride=stride, pad=pad, output_padding=output_padding, dilation=dilation, groups=groups)
    calls = _spy(monkeypatch, helper)
    y, cache = conv.conv_transpose2d_forward(x, w, b, **hyper)
    assert calls, f"the forward did not take {helper}"
    y_ref, cache_ref = conv.conv_transpose2d_forward_naive(x, w, b, **hyper)
    np.testing.assert_allclose(y, y_ref, atol=1e-12)
    dy = rng.normal(size=y.shape)
    for g, want in zip(conv.conv_transpose2d_backward(dy, cache), conv.conv_transpose2d_backward_naive(dy, cache_ref)):
        np.testing.assert_allclose(g, want, atol=1e-11)


def test_depthwise_products_take_the_weighted_sum(rng):
    """One filter per group, at least 16 positions and 512 column entries per group: the forward
    and dw use the einsum branch of _grouped_matmul/_grouped_dw; the results match the loops."""
    x, w, b = rng.normal(size=(2, 3, 12, 12)), rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3)
    y, cache = conv.conv2d_forward(x, w, b, pad=1, groups=3)
    assert cache.cols[-1].shape[1] // 3 * cache.cols[-1].shape[2] >= 512
    y_ref, cache_ref = conv.conv2d_forward_naive(x, w, b, pad=1, groups=3)
    np.testing.assert_allclose(y, y_ref, atol=1e-12)
    dy = rng.normal(size=y.shape)
    for g, want in zip(conv.conv2d_backward(dy, cache), conv.conv2d_backward_naive(dy, cache_ref)):
        np.testing.assert_allclose(g, want, atol=1e-11)


def test_the_plain_layer_keeps_its_own_path(monkeypatch, rng):
    """dilation 1, groups 1: conv2d_backward never enters the code of the convolution family."""
    x, w, b = rng.normal(size=(2, 3, 9, 9)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    y, cache = conv.conv2d_forward(x, w, b, pad=1)
    calls = _spy(monkeypatch, "_input_grad") + _spy(monkeypatch, "_grouped_dw")
    conv.conv2d_backward(rng.normal(size=y.shape), cache)
    assert calls == []


def test_stale_cached_columns_are_not_used_with_another_dilation(rng):
    x, w, b = rng.normal(size=(1, 2, 7, 7)), rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2)
    y, cache = conv.conv2d_forward(x, w, b)
    dy = rng.normal(size=(1, 2, 3, 3))
    other = cache._replace(dilation=(2, 2))          # the forward's matrix belongs to dilation 1
    for got, want in zip(conv.conv2d_backward(dy, other), conv.conv2d_backward_naive(dy, other)):
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("size, stride, pad, ceil_mode", [
    (3, 2, 1, True), ((3, 2), (1, 2), (1, 1), False), (2, 2, 1, True), (4, 3, 2, True),
])
def test_pooling_with_padding_matches_the_loops_with_ties(rng, size, stride, pad, ceil_mode):
    x = rng.integers(0, 3, size=(2, 2, 9, 8)).astype(float)
    y, cache = pooling.maxpool2d_forward(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    y_ref, cache_ref = pooling.maxpool2d_forward_naive(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(cache.argmax, cache_ref.argmax)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(pooling.maxpool2d_backward(dy, cache), pooling.maxpool2d_backward_naive(dy, cache_ref),
                               atol=1e-12)
    x[0, 0, 0, 0] = np.nan                              # the NaN route with padding
    y, cache = pooling.maxpool2d_forward(x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[1]).any()


@pytest.mark.parametrize("x_shape, w_shape, pad, full", [
    ((2, 3, 18, 17), (2, 3, 3, 3), 1, True),     # stride 1, F <= C, more than 256 positions
    ((2, 3, 18, 17), (3, 3, 3, 2), (2, 1), True),  # F = C, pad = KH - 1, pad = KW - 1
    ((2, 2, 18, 17), (3, 2, 3, 3), 1, False),    # F > C: delta's im2col matrix would be larger
    ((2, 3, 18, 17), (2, 3, 3, 3), 3, False),    # pad > K - 1: delta would have to be cropped
    ((2, 3, 12, 12), (2, 3, 3, 3), 1, False),    # 144 positions: the extra copy does not pay
])
def test_the_plain_layers_full_correlation_branch_matches_the_loops(rng, monkeypatch, x_shape, w_shape, pad, full):
    x, w, b, y, cache, dy = case(rng, x_shape, w_shape, 1, pad)
    calls = _spy(monkeypatch, "_input_grad_full")
    got = conv.conv2d_backward(dy, cache)
    assert bool(calls) == full
    for g, want in zip(got, conv.conv2d_backward_naive(dy, cache)):
        np.testing.assert_allclose(g, want, atol=1e-11)
    got32 = conv.conv2d_backward(dy.astype(np.float32), cache._replace(x=x.astype(np.float32),
                                                                        w=w.astype(np.float32), cols=None))
    assert all(g.dtype == np.float32 for g in got32)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((5, 3, 8, 8), (4, 3, 3, 3), 1, 1),            # 64 positions: the last folded size
    ((3, 2, 9, 7), (3, 2, 2, 3), (2, 1), (1, 0)),  # strided, unequal axes
    ((4, 1, 6, 6), (2, 1, 5, 5), 1, 1),            # C = 1, 4 positions
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_folded_layout_matches_the_loops(rng, x_shape, w_shape, stride, pad, dtype):
    """At most 64 output positions: one product for the whole batch, the batch folded into the
    columns; the cached matrix is (C*KH*KW, OH*OW*N) and holds xp[n, c, i*sh + u, j*sw + v]."""
    x, w, b, y, cache, dy = case(rng, x_shape, w_shape, stride, pad, dtype=dtype)
    n, c = x_shape[:2]
    oh, ow = y.shape[2:]
    assert conv._folded_pays((oh, ow))
    folded = cache.cols[-1]
    assert folded.shape == (c * w_shape[2] * w_shape[3], oh * ow * n) and folded.dtype == dtype
    per_image = conv.im2col(conv._pad(x, cache.pad), w_shape[2:], cache.stride)     # (N, K, P)
    np.testing.assert_array_equal(folded, per_image.transpose(1, 2, 0).reshape(folded.shape))
    tol = 1e-11 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(y, conv.conv2d_forward_naive(x, w, b, stride=stride, pad=pad)[0], atol=tol)
    for cached in (cache, cache._replace(cols=None)):                 # with and without the matrix
        got = conv.conv2d_backward(dy, cached)
        assert all(g.dtype == dtype for g in got)
        for g, want in zip(got, conv.conv2d_backward_naive(dy, cache)):
            np.testing.assert_allclose(g, want, atol=tol * 10)
