"""Tests of cnnbook.matrices (a layer as the matrix A or S) and cnnbook.plotting.matrices (its views).

The matrices must be the layers: y = A x and dx = A^T delta against conv2d_forward/backward (with
stride, padding, dilation and groups), y = S x and dx = S^T delta against the pooling layers
(padding, ceil_mode, count_include_pad, ties), A equal to the matrix of the layer built column by
column, the sizes against cnnbook's and JAX's; the views must highlight exactly the links of the
chosen pixel and state the gradient the matrix gives.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from cnnbook import conv, matrices, pooling
from cnnbook.plotting import matrices as pm

# --------------------------------------------------------------------------- strategies


@st.composite
def conv_setups(draw):
    """(C, F, G, (H, W), (KH, KW), stride, pad, dilation) with the dilated kernel fitting the padded input."""
    g = draw(st.integers(1, 3))
    c, f = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4)) for k, p, d in zip(kernel, pad, dilation))
    return c, f, g, hw, kernel, stride, pad, dilation


@st.composite
def pool_setups(draw):
    """((H, W), size, stride, pad, ceil_mode, count_include_pad) within PyTorch's rules (pad <= size/2)."""
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, k // 2)) for k in size)
    hw = tuple(k + draw(st.integers(0, 5)) for k in size)
    return hw, size, stride, pad, draw(st.booleans()), draw(st.booleans())


# --------------------------------------------------------------------------- convolution


def test_the_small_matrices_of_the_chapter():
    w = np.array(sp.symbols("w0:3"), dtype=object)
    w0, w1, w2 = w
    assert sp.Matrix(matrices.conv1d_matrix(5, w)) == sp.Matrix(
        [[w0, w1, w2, 0, 0], [0, w0, w1, w2, 0], [0, 0, w0, w1, w2]])
    assert sp.Matrix(matrices.conv1d_matrix(5, w, stride=2, pad=1, padded=True)) == sp.Matrix(
        [[w0, w1, w2, 0, 0, 0, 0], [0, 0, w0, w1, w2, 0, 0], [0, 0, 0, 0, w0, w1, w2]])
    # dilation 2: the taps two columns apart
    assert sp.Matrix(matrices.conv1d_matrix(5, w, dilation=2)) == sp.Matrix([[w0, 0, w1, 0, w2]])


def test_the_hand_example_of_the_input_gradient():
    ap = matrices.conv1d_matrix(10, np.array([1.0, 2.0, 3.0, 4.0]), stride=3, pad=1, padded=True)
    np.testing.assert_array_equal(ap.T @ np.array([1.0, 10.0, 100.0]), [1, 2, 3, 14, 20, 30, 140, 200, 300, 400, 0, 0])


@given(conv_setups(), st.integers(0, 2**31 - 1))
def test_conv_matrix_is_the_layer(setup, seed):
    c, f, g, hw, kernel, stride, pad, dilation = setup
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(2, c, *hw)), rng.normal(size=(f, c // g, *kernel))
    hyper = dict(stride=stride, pad=pad, dilation=dilation, groups=g)
    y, cache = conv.conv2d_forward(x, w, np.zeros(f), **hyper)
    delta = rng.normal(size=y.shape)
    dx = conv.conv2d_backward(delta, cache)[0]
    a = matrices.conv2d_matrix((c, *hw), w, **hyper)
    assert a.shape == (y[0].size, x[0].size)
    for n in range(2):
        np.testing.assert_allclose(a @ x[n].ravel(), y[n].ravel(), atol=1e-12)
        np.testing.assert_allclose(a.T @ delta[n].ravel(), dx[n].ravel(), atol=1e-12)
    layer = lambda v: conv.conv2d_forward(v[None], w, np.zeros(f), **hyper)[0]
    np.testing.assert_allclose(matrices.matrix_of(layer, (c, *hw)), a, atol=1e-14)
    # A is A^p with the padding columns removed
    ap = matrices.conv2d_matrix((c, *hw), w, padded=True, **hyper)
    hp, wp = hw[0] + 2 * pad[0], hw[1] + 2 * pad[1]
    inner = ap.reshape(-1, c, hp, wp)[:, :, pad[0]:pad[0] + hw[0], pad[1]:pad[1] + hw[1]]
    np.testing.assert_array_equal(inner.reshape(a.shape), a)


@given(conv_setups(), st.integers(0, 2**31 - 1))
def test_transposed_convolution_is_the_transpose(setup, seed):
    c, f, g, hw, kernel, stride, pad, dilation = setup
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(f, c // g, *kernel))
    a = matrices.conv2d_matrix((c, *hw), w, stride=stride, pad=pad, dilation=dilation, groups=g)
    oh, ow = (matrices.conv_output_size(n, k, stride=s, pad=p, dilation=d)
              for n, k, s, p, d in zip(hw, kernel, stride, pad, dilation))
    op = tuple(matrices.unreached(n, k, stride=s, pad=p, dilation=d)
               for n, k, s, p, d in zip(hw, kernel, stride, pad, dilation))
    x = rng.normal(size=(1, f, oh, ow))
    y, _ = conv.conv_transpose2d_forward(x, w, np.zeros(c), stride=stride, pad=pad, output_padding=op,
                                         dilation=dilation, groups=g)
    assert y.shape[2:] == hw
    np.testing.assert_allclose(y.ravel(), a.T @ x.ravel(), atol=1e-12)


@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_sizes_and_unreached_rows(size, kernel, stride, pad, dilation):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * pad:
        with pytest.raises(ValueError, match="dilated kernel spans"):
            matrices.conv_output_size(size, kernel, stride=stride, pad=pad, dilation=dilation)
        return
    n_out = matrices.conv_output_size(size, kernel, stride=stride, pad=pad, dilation=dilation)
    assert n_out == conv.output_size(size, kernel, stride=stride, pad=pad, dilation=dilation)
    r = matrices.unreached(size, kernel, stride=stride, pad=pad, dilation=dilation)
    assert 0 <= r < stride and (n_out - 1) * stride + span + r == size + 2 * pad
    # the last r columns of A^p, and only they after the last tap, are zero
    ap = matrices.conv1d_matrix(size, np.ones(kernel), stride=stride, pad=pad, dilation=dilation, padded=True)
    nonzero_cols = np.flatnonzero(ap.any(axis=0))
    assert ap.shape[1] - 1 - nonzero_cols[-1] == r
    # output_padding = r gives the input size back
    assert conv.transpose_output_size(n_out, kernel, stride=stride, pad=pad, output_padding=r,
                                      dilation=dilation) == size


def test_kernel_matrix_gives_the_kernel_gradient(rng):
    for (h, w_), k, s, p, d in [((6, 7), (3, 2), (2, 1), (1, 0), 1), ((9, 8), (2, 3), 3, 2, (2, 1))]:
        x, w = rng.normal(size=(h, w_)), rng.normal(size=k)
        y, cache = conv.conv2d_forward(x[None, None], w[None, None], np.zeros(1), stride=s, pad=p, dilation=d)
        delta = rng.normal(size=y.shape)
        big_x = matrices.kernel_matrix(x, k, stride=s, pad=p, dilation=d)
        np.testing.assert_allclose(big_x @ w.ravel(), y.ravel(), atol=1e-12)
        np.testing.assert_allclose(big_x.T @ delta.ravel(), conv.conv2d_backward(delta, cache)[1].ravel(), atol=1e-12)


def test_matrix_of_a_linear_map():
    m = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(matrices.matrix_of(lambda v: m @ v, (3,)), m)
    np.testing.assert_array_equal(matrices.matrix_of(lambda v: v.T, (2, 3)),
                                  np.eye(6).reshape(2, 3, 6).transpose(1, 0, 2).reshape(6, 6))


@pytest.mark.parametrize("call, match", [
    (lambda: matrices.conv1d_matrix(5, np.ones((2, 2))), "1-D kernel"),
    (lambda: matrices.conv2d_matrix((4, 5, 5), np.ones((2, 2, 3, 3)), groups=3), "groups = 3 must divide"),
    (lambda: matrices.conv2d_matrix((4, 5, 5), np.ones((2, 4, 3, 3)), groups=2), r"w must have shape \(F, C/groups"),
    (lambda: matrices.conv2d_matrix((5, 5), np.ones((3, 3)), dilation=0), "dilation must be >= 1"),
    (lambda: matrices.conv2d_matrix((5, 5), np.ones((3, 3)), stride=(1, 2, 3)), "stride must be an int or"),
    (lambda: matrices.conv2d_matrix((5,), np.ones((3, 3))), "expected input_shape"),
    (lambda: matrices.conv1d_matrix(4, np.ones(3), dilation=2), "dilated kernel spans"),
    (lambda: matrices.conv_output_size(5, 3, stride=0), "stride must be an int >= 1"),
    (lambda: matrices.pool_output_size(5, 2, pad=2), "pad must be at most window / 2"),
    (lambda: matrices.pool_matrix((4, 4), mode="median"), "mode must be 'avg' or 'max'"),
    (lambda: matrices.pool_matrix((4, 4), mode="max"), "needs the input x"),
    (lambda: matrices.pool_matrix((4, 4), mode="max", x=np.ones((3, 4))), r"x must have input_shape \(4, 4\)"),
    (lambda: matrices.kernel_matrix(np.ones((1, 4, 4)), (2, 2)), "one channel"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- pooling


def test_the_worked_pooling_example():
    windows = matrices.pool_windows(6, 3, stride=2, pad=1, ceil_mode=True)
    assert windows == [(0, 2, 3), (1, 4, 3), (3, 6, 3), (5, 6, 2)]
    assert [d for *_, d in matrices.pool_windows(6, 3, stride=2, pad=1, ceil_mode=True,
                                                  count_include_pad=False)] == [2, 3, 3, 1]
    x = np.arange(1.0, 7.0)[None]
    s_avg = matrices.pool_matrix((1, 6), size=(1, 3), stride=(1, 2), pad=(0, 1), ceil_mode=True)
    np.testing.assert_allclose(s_avg @ x.ravel(), [1, 3, 5, 3])
    s_max = matrices.pool_matrix((1, 6), size=(1, 3), stride=(1, 2), pad=(0, 1), ceil_mode=True, mode="max", x=x)
    np.testing.assert_array_equal(s_max @ x.ravel(), [2, 4, 6, 6])
    np.testing.assert_array_equal(s_max.T @ np.ones(4), [0, 1, 0, 1, 0, 2])
    # the ceil_mode rule: a window may not start in the right padding
    assert matrices.pool_output_size(7, 2, stride=2, pad=1, ceil_mode=True) == 4
    assert matrices.pool_output_size(7, 2, stride=2, pad=0, ceil_mode=True) == 4
    assert matrices.pool_output_size(7, 2, stride=2, pad=0) == 3


@given(pool_setups(), st.booleans(), st.integers(0, 2**31 - 1))
def test_pool_matrix_is_the_layer(setup, ties, seed):
    hw, size, stride, pad, ceil, cip = setup
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=hw).astype(float) if ties else rng.normal(size=hw)
    hyper = dict(size=size, stride=stride, pad=pad, ceil_mode=ceil)
    for mode, fwd, bwd, extra in [("max", pooling.maxpool2d_forward, pooling.maxpool2d_backward, {}),
                                  ("avg", pooling.avgpool2d_forward, pooling.avgpool2d_backward,
                                   dict(count_include_pad=cip))]:
        y, cache = fwd(x[None, None], **hyper, **extra)
        delta = rng.normal(size=y.shape)
        s = matrices.pool_matrix(hw, mode=mode, x=x, **hyper, **extra)
        np.testing.assert_allclose(s @ x.ravel(), y.ravel(), atol=1e-12)
        np.testing.assert_allclose(s.T @ delta.ravel(), bwd(delta, cache).ravel(), atol=1e-12)
    n_out = tuple(matrices.pool_output_size(n, k, stride=st_, pad=p, ceil_mode=ceil)
                  for n, k, st_, p in zip(hw, size, stride, pad))
    assert n_out == tuple(pooling.pool_output_size(n, k, stride=st_, pad=p, ceil_mode=ceil)
                          for n, k, st_, p in zip(hw, size, stride, pad))


def test_pool_matrix_against_jax():
    from cnnbook import reference

    rng = np.random.default_rng(5)
    for hw, size, stride, pad, ceil, cip in [((6, 7), 3, 2, 1, True, True), ((7, 5), (2, 3), (2, 3), (1, 1), True, False)]:
        x = rng.normal(size=hw)
        for mode, kind, extra in [("max", "maxpool2d", {}), ("avg", "avgpool2d", dict(count_include_pad=cip))]:
            hyper = dict(size=size, stride=stride, pad=pad, ceil_mode=ceil, **extra)
            y = reference.forward(kind, x[None, None], **hyper)
            delta = rng.normal(size=y.shape)
            (dx,) = reference.vjp(kind, delta, x[None, None], **hyper)
            s = matrices.pool_matrix(hw, mode=mode, x=x, **hyper)
            np.testing.assert_allclose(s @ x.ravel(), y.ravel(), atol=1e-12)
            np.testing.assert_allclose(s.T @ delta.ravel(), dx.ravel(), atol=1e-12)


def test_average_pooling_is_a_depthwise_convolution(rng):
    s = matrices.pool_matrix((7, 7), size=3, stride=2, pad=1)
    np.testing.assert_allclose(s, matrices.conv2d_matrix((7, 7), np.full((3, 3), 1 / 9), stride=2, pad=1), atol=1e-15)
    assert not np.allclose(matrices.pool_matrix((7, 7), size=3, stride=2, pad=1, count_include_pad=False), s)


# --------------------------------------------------------------------------- the views


def _cells(table_html: str) -> list[list[tuple[str, str]]]:
    """[(class, text)] for the body cells of one table (the header row and column left out)."""
    rows = re.findall(r"<tr>(.*?)</tr>", table_html)[1:]
    return [re.findall(r'<td(?: class="([^"]*)")?>(.*?)</td>', r) for r in rows]


def _tables(view: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", view)


@given(st.integers(2, 3), st.integers(1, 3), st.integers(0, 1), st.integers(1, 2), st.integers(0, 6))
def test_conv_view_highlights_the_links_of_the_pixel(kernel, stride, pad, dilation, pixel):
    view = pm.conv_matrix_view_html(7, kernel, stride=stride, pad=pad, dilation=dilation, pixel=pixel)
    a_table, at_table = _tables(view)
    labels = pm.conv_matrix_entries(7, kernel, stride=stride, pad=pad, dilation=dilation)
    hits_a = {(i, j) for i, row in enumerate(_cells(a_table)) for j, (cls, _) in enumerate(row) if "hit" in cls}
    links = {(i, pixel + pad) for i in range(labels.shape[0]) if labels[i, pixel + pad] != 0}
    assert hits_a == links
    hits_at = {(j, i) for j, row in enumerate(_cells(at_table)) for i, (cls, _) in enumerate(row) if "hit" in cls}
    assert hits_at == {(j, i) for i, j in links}
    # the texts of A's cells are its labels
    assert [[t for _, t in row] for row in _cells(a_table)] == [[str(v) if v != 0 else pm.ZERO for v in row]
                                                               for row in labels]
    # the formula under the tables is (A^T delta)_q with these links, in the order of i
    if links:
        terms = " + ".join(f"δ{chr(0x2080 + i)}·{labels[i, j]}" for i, j in sorted(links))
        assert terms in view
    else:
        assert "no window reaches it" in view


def test_conv_view_marks_the_pixels_no_window_reaches():
    view = pm.conv_matrix_view_html(7, 2, stride=3, pad=0, dilation=1, pixel=0)
    head = re.findall(r"<tr>(.*?)</tr>", _tables(view)[0])[0]
    classes = re.findall(r'<th(?: class="([^"]*)")?>', head)[1:]
    assert [k for k, c in enumerate(classes) if "un" in c.split()] == [2, 5, 6]
    assert "3 input pixel(s) that no window reaches" in view
    with pytest.raises(ValueError, match="pixel must be in"):
        pm.conv_matrix_view_html(7, 2, pixel=7)


@pytest.mark.parametrize("kind", list(pm.POOL_MODES))
@pytest.mark.parametrize("size, stride, pad, ceil", [(2, 2, 1, True), (3, 3, 0, True), (3, 2, 1, False),
                                                      (2, 3, 1, True)])
def test_pool_view_shows_s_and_the_passes(kind, size, stride, pad, ceil):
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    n_out = matrices.pool_output_size(7, size, stride=stride, pad=pad, ceil_mode=ceil)
    dy = np.arange(1.0, n_out + 1)
    view = pm.pool_matrix_view_html(x, dy, size=size, stride=stride, pad=pad, ceil_mode=ceil, kind=kind)
    s = matrices.pool_matrix((1, 7), size=(1, size), stride=(1, stride), pad=(0, pad), ceil_mode=ceil, x=x[None],
                             **pm.POOL_MODES[kind])
    s_table, _ = _tables(view)
    hits = {(i, j - pad) for i, row in enumerate(_cells(s_table)) for j, (cls, _) in enumerate(row) if "hit" in cls}
    assert hits == {(int(i), int(j)) for i, j in zip(*np.nonzero(s))}
    assert f"y = S x = [{', '.join(f'{v:g}' for v in s @ x)}]" in view
    assert f"Sᵀδ = [{', '.join(f'{v:g}' for v in s.T @ dy)}]" in view
    with pytest.raises(ValueError, match="one entry per window"):
        pm.pool_matrix_view_html(x, np.ones(n_out + 1), size=size, stride=stride, pad=pad, ceil_mode=ceil, kind=kind)


def test_labelled_table_and_patterns():
    with pytest.raises(ValueError, match="must match"):
        pm.labelled_table_html(np.zeros((2, 2)), row_labels=["a"], col_labels=["b", "c"])
    html = pm.labelled_table_html(np.array([["w₀", 0]], dtype=object), row_labels=["y₀"], col_labels=["x₀", "x₁"],
                                  classes={(0, 0): "hit"})
    assert '<td class="hit">w₀</td>' in html and f'<td class="z">{pm.ZERO}</td>' in html
    fig = pm.plot_matrix_patterns({"A": np.eye(4), "B": np.ones((2, 3))})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(ValueError, match="at least one"):
        pm.plot_matrix_patterns({})
