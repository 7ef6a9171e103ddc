"""The stride-1 tall layout of cnnbook.conv (conv._tall_forward / conv._tall_backward): every
image placed on one zero grid, the images one under another, so that each kernel offset is a
shift along one long row.  Checked against the loop reference on the shapes that choose it."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import spy_on

from cnnbook import conv


def _spy(monkeypatch, name):
    return spy_on(monkeypatch, conv, name)


def test_the_tall_buffer_puts_every_pixel_where_the_shifts_expect_it():
    # 2 images, 2 channels, 2x3 pixels, on a 4x5 grid at row 1, column 2, with 3 zeros before, 2 after
    x = np.arange(1, 25, dtype=float).reshape(2, 2, 2, 3)
    buf = conv._tall(x, (4, 5), (1, 2), np.float64, lead=3, tail=2)
    assert buf.shape == (2, 3 + 2 * 4 * 5 + 2)
    for n in range(2):
        for c in range(2):
            for i in range(2):
                for j in range(3):
                    assert buf[c, 3 + n * 20 + (1 + i) * 5 + (2 + j)] == x[n, c, i, j]
    assert np.count_nonzero(buf) == x.size                       # everything else is zero padding


@pytest.mark.parametrize("x_shape, w_shape, pad, dilation, groups", [
    ((1, 8, 16, 16), (5, 8, 3, 3), 1, 1, 1),              # plain
    ((1, 8, 10, 10), (9, 8, 5, 5), 2, 1, 1),              # F > C
    ((1, 8, 19, 21), (4, 8, 2, 3), (1, 0), 1, 1),         # unequal kernel and padding
    ((1, 8, 12, 12), (6, 8, 3, 3), 3, 1, 1),              # pad > K - 1: the padded grid is cropped
    ((2, 8, 10, 10), (4, 4, 1, 1), 0, 1, 2),              # 1x1, grouped
    ((1, 8, 17, 18), (4, 8, 3, 3), 2, (2, 3), 1),         # dilation
    ((2, 8, 11, 11), (6, 4, 3, 3), 1, 1, 2),              # groups
    ((2, 8, 11, 11), (8, 1, 3, 3), 1, 1, 8),              # depthwise
    ((2, 8, 11, 11), (16, 1, 3, 2), (1, 0), 2, 8),        # depthwise with two filters per channel
    ((2, 12, 10, 10), (8, 3, 3, 3), 1, 1, 4),             # groups, F/G < C/G
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_tall_layout_matches_the_loops(rng, monkeypatch, x_shape, w_shape, pad, dilation, groups, dtype):
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype)
    forward, backward = _spy(monkeypatch, "_tall_forward"), _spy(monkeypatch, "_tall_backward")
    y, cache = conv.conv2d_forward(x, w, b, pad=pad, dilation=dilation, groups=groups)
    dy = rng.normal(size=y.shape).astype(dtype)
    got = conv.conv2d_backward(dy, cache)
    assert forward and backward and y.dtype == dtype and all(g.dtype == dtype for g in got)
    y_ref, cache_ref = conv.conv2d_forward_naive(x.astype(float), w.astype(float), b.astype(float), pad=pad,
                                                 dilation=dilation, groups=groups)
    want = conv.conv2d_backward_naive(dy.astype(float), cache_ref)
    tol = 1e-11 if dtype == np.float64 else 2e-4
    for g, r in zip((y, *got), (y_ref, *want)):
        assert g.shape == r.shape and g.flags.c_contiguous
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())


def test_the_tall_layout_is_chosen_by_its_measured_rule(monkeypatch, rng):
    assert conv._tall_pays(8, 2, (3, 3), (1, 1), (9, 9))              # grouped: more than 64 positions
    assert not conv._tall_pays(8, 2, (3, 3), (1, 1), (8, 8))          # 64 positions: not
    assert conv._tall_pays(8, 1, (3, 3), (1, 1), (16, 16))            # plain: 256 * 9 >= 2048
    assert not conv._tall_pays(8, 1, (3, 3), (1, 1), (15, 15))        # 225 * 9 < 2048
    assert conv._tall_pays(8, 1, (5, 5), (1, 1), (10, 10))            # 100 * 25 >= 2048
    assert not conv._tall_pays(7, 2, (3, 3), (1, 1), (28, 28))        # few channels
    assert not conv._tall_pays(16, 1, (3, 3), (2, 1), (28, 28))       # stride 2
    calls = _spy(monkeypatch, "_tall_forward")
    conv.conv2d_forward(rng.normal(size=(1, 8, 33, 33)), rng.normal(size=(4, 8, 3, 3)), np.zeros(4), stride=2)
    conv.conv2d_forward(rng.normal(size=(1, 1, 30, 30)), rng.normal(size=(4, 1, 3, 3)), np.zeros(4))
    conv.conv2d_forward(rng.normal(size=(1, 8, 12, 12)), rng.normal(size=(4, 8, 3, 3)), np.zeros(4))
    assert not calls


def test_blocks_smaller_than_the_batch_give_the_same_sums(rng, monkeypatch):
    """With the smallest blocks (256 positions) a block ends inside an image and inside a row."""
    x, w, b = rng.normal(size=(3, 8, 13, 11)), rng.normal(size=(6, 4, 3, 2)), rng.normal(size=6)
    whole = conv.conv2d_forward(x, w, b, pad=1, groups=2)
    dy = rng.normal(size=whole[0].shape)
    want = conv.conv2d_backward(dy, whole[1])
    monkeypatch.setattr(conv, "TALL_BLOCK_BYTES", 1)
    assert conv._tall_block(40, 8) == 256
    y, cache = conv.conv2d_forward(x, w, b, pad=1, groups=2)
    np.testing.assert_allclose(y, whole[0], atol=1e-12)
    for g, r in zip(conv.conv2d_backward(dy, cache), want):
        np.testing.assert_allclose(g, r, atol=1e-11)
