"""The pooling chapter's claims about ties, on many random cases.

- After a ReLU, tied zeros are harmless: sending delta to every tied zero changes nothing of
  dE/dz (z the pre-activation, a = relu(z) the pooled input), because the ReLU's backward
  multiplies those entries by 0.
- On quantised values the loss is smooth in the parameters of an element-wise layer in front of
  the pooling (equal values stay equal), every valid tie rule (first, last, split) gives the
  gradient that central differences measure, and the "every tied maximum" recipe is off by
  sum over windows of (r - 1) * delta, r the number of tied maxima.
- Stacked pools: a stride-1 pool of width k1 followed by a pool of width k2 and stride s2 is one
  pool of width k1 + k2 - 1 and stride s2; on a tie-free input the first-maximum rule gives its
  exact gradient, while the recipe in the second pool counts an input once per copy.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import activations, pooling
from cnnbook.gradcheck import numerical_gradient, rel_error


def up(a, size):
    kh, kw = size
    return a.repeat(kh, axis=2).repeat(kw, axis=3)


def every_tie_backward(dy, x, size):
    """The flawed recipe for non-overlapping windows: mask = (x == upsampled y)."""
    y, _ = pooling.maxpool2d_forward(x, size=size)
    return (x == up(y, size)) * up(dy, size)


def last_max_backward(dy, x, size):
    """Ties to the last maximum in row-major order: flip both axes (windows tile the map)."""
    _, cache = pooling.maxpool2d_forward(x[..., ::-1, ::-1], size=size)
    return pooling.maxpool2d_backward(dy[..., ::-1, ::-1], cache)[..., ::-1, ::-1]


def split_backward(dy, x, size):
    """Ties split equally among the tied maxima."""
    y, _ = pooling.maxpool2d_forward(x, size=size)
    mask = x == up(y, size)
    r = up(pooling.avgpool2d_forward(mask * 1.0, size=size)[0] * (size[0] * size[1]), size)
    return mask * up(dy, size) / r


def tied_counts(x, size):
    """(N, C, OH, OW): how many entries of each non-overlapping window equal its maximum."""
    y, _ = pooling.maxpool2d_forward(x, size=size)
    mask = (x == up(y, size)) * 1.0
    return np.rint(pooling.avgpool2d_forward(mask, size=size)[0] * size[0] * size[1])


def tie_free(shape, rng):
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - np.prod(shape) / 2) * 0.01


@pytest.mark.parametrize("seed", range(6))
def test_relu_zero_ties_are_harmless(seed):
    rng = np.random.default_rng(seed)
    size = [(2, 2), (3, 2), (2, 4)][seed % 3]
    z = rng.standard_normal((2, 2, 6, 8)) - 0.8                      # many windows entirely negative
    a, relu_cache = activations.relu_forward(z)
    y, pool_cache = pooling.maxpool2d_forward(a, size=size)
    dy = rng.standard_normal(y.shape)
    zero_windows = y == 0
    assert zero_windows.any() and (tied_counts(a, size)[zero_windows] > 1).all()
    dz_first = activations.relu_backward(pooling.maxpool2d_backward(dy, pool_cache), relu_cache)
    # the recipe restricted to the all-zero windows: the ReLU erases every share it sends
    da_every = every_tie_backward(np.where(zero_windows, dy, 0.0), a, size)
    assert da_every.sum() != 0
    np.testing.assert_array_equal(activations.relu_backward(da_every, relu_cache), 0.0)
    # and on the other windows (continuous values, no ties) the recipe is the first-maximum rule
    da_rest = every_tie_backward(np.where(zero_windows, 0.0, dy), a, size)
    np.testing.assert_array_equal(activations.relu_backward(da_rest, relu_cache), dz_first)


@pytest.mark.parametrize("seed", range(8))
def test_quantised_values_every_valid_rule_gives_the_parameter_gradient(seed):
    rng = np.random.default_rng(100 + seed)
    size = [(2, 2), (3, 3), (2, 3), (1, 4)][seed % 4]
    x = rng.integers(0, 4, (2, 2, 6, 12)).astype(float)             # 2-bit values: ties everywhere
    t = rng.standard_normal((2, 2, 6 // size[0], 12 // size[1]))
    while True:                                                      # keep z away from the ReLU kink
        w, b = rng.uniform(0.5, 1.5), rng.uniform(-2.0, 0.5)
        if np.min(np.abs(w * x + b)) > 1e-3:
            break

    def layer(w, b, backward):
        # z = w x + b, a = relu(z), y = maxpool(a), E = 1/2 sum (y - t)^2
        a, relu_cache = activations.relu_forward(w * x + b)
        y, _ = pooling.maxpool2d_forward(a, size=size)
        delta = y - t
        dz = activations.relu_backward(backward(delta, a, size), relu_cache)
        return 0.5 * np.sum(delta**2), np.array([np.sum(dz * x), np.sum(dz)]), delta, a, y

    def first(dy, a, size):
        return pooling.maxpool2d_backward(dy, pooling.maxpool2d_forward(a, size=size)[1])

    numeric = numerical_gradient(lambda p: layer(p[0], p[1], first)[0], np.array([w, b]), h=1e-6)
    _, g_first, delta, a, y = layer(w, b, first)
    assert rel_error(g_first, numeric) < 1e-6
    for rule in (last_max_backward, split_backward):
        np.testing.assert_allclose(layer(w, b, rule)[1], g_first, rtol=1e-10, atol=1e-10)
    # the recipe: each window with a positive maximum passes on r * delta instead of delta
    r = tied_counts(a, size)
    positive = y > 0
    assert (r[positive] > 1).any()
    _, g_every, *_ = layer(w, b, every_tie_backward)
    excess_b = np.sum(((r - 1) * delta)[positive])
    # the tied entries of a window share one value of x, so dE/dw's excess is that value times the same
    top_x = (y - b) / w
    excess_w = np.sum(((r - 1) * delta * top_x)[positive])
    np.testing.assert_allclose(g_every - g_first, [excess_w, excess_b], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k1,k2,s2,shape", [(3, 2, 2, (8, 8)), (2, 2, 2, (1, 9)), (2, 3, 3, (7, 10)),
                                             (3, 3, 3, (8, 11)), (4, 2, 2, (9, 9))])
def test_stacked_pools_are_one_pool_and_the_recipe_counts_copies(k1, k2, s2, shape):
    rng = np.random.default_rng(k1 * 10 + k2)
    kh1 = 1 if shape[0] == 1 else k1
    kh2 = 1 if shape[0] == 1 else k2
    sh2 = 1 if shape[0] == 1 else s2
    x = tie_free((2, 1, *shape), rng)
    y1, cache1 = pooling.maxpool2d_forward(x, size=(kh1, k1), stride=1)
    y2, cache2 = pooling.maxpool2d_forward(y1, size=(kh2, k2), stride=(sh2, s2))
    big = (kh1 + kh2 - 1, k1 + k2 - 1)
    y_big, cache_big = pooling.maxpool2d_forward(x, size=big, stride=(sh2, s2))
    np.testing.assert_array_equal(y2, y_big)
    dy = rng.standard_normal(y2.shape)
    dx_first = pooling.maxpool2d_backward(pooling.maxpool2d_backward(dy, cache2), cache1)
    np.testing.assert_array_equal(dx_first, pooling.maxpool2d_backward(dy, cache_big))
    numeric = numerical_gradient(
        lambda v: np.sum(pooling.maxpool2d_forward(
            pooling.maxpool2d_forward(v, size=(kh1, k1), stride=1)[0], size=(kh2, k2), stride=(sh2, s2))[0] * dy),
        x.copy(), h=1e-6)
    assert rel_error(dx_first, numeric) < 1e-8
    if (kh2, k2) == (sh2, s2):                                       # the recipe needs tiling windows
        oh, ow = y2.shape[2] * kh2, y2.shape[3] * k2
        y1c = y1[..., :oh, :ow]
        r = tied_counts(y1c, (kh2, k2))
        dy1 = np.zeros_like(y1)
        dy1[..., :oh, :ow] = every_tie_backward(dy, y1c, (kh2, k2))
        dx_every = pooling.maxpool2d_backward(dy1, cache1)
        # one share per copy, all of them routed to the same input
        np.testing.assert_allclose(dx_every.sum(), np.sum(r * dy), rtol=1e-12)
        assert (r > 1).any() and rel_error(dx_every, numeric) > 0.1


def test_copies_of_a_block_maximum():
    """3x3 stride 1 then 2x2 stride 2: the 4x4 block's maximum has 1, 2 or 4 copies (3/4 ties, 2.25 on average)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 1, 4, 4))
    y1, _ = pooling.maxpool2d_forward(x, size=3, stride=1)
    r = tied_counts(y1, (2, 2)).ravel()
    assert set(np.unique(r)) <= {1, 2, 4}
    assert abs(np.mean(r > 1) - 0.75) < 0.03 and abs(np.mean(r) - 2.25) < 0.06
