"""Tests of cnnbook.plotting.conv: the links, the recipe steps and the HTML views."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnbook import conv
from cnnbook.plotting import conv as pc
from cnnbook.plotting import HIGHLIGHT, HIGHLIGHT_2


def _cells(html_table: str) -> list[list[tuple[str, str]]]:
    """[(style, text)] per row of the first table in html_table."""
    rows = re.findall(r"<tr>(.*?)</tr>", html_table)
    return [re.findall(r'<td style="([^"]*)">(.*?)</td>', r) for r in rows]


def _tables(view: str) -> list[str]:
    return re.findall(r"<table.*?</table>", view)


def _coloured(table: str, colour: str) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, row in enumerate(_cells(table))
        for j, (style, _) in enumerate(row)
        if f"background:{colour}" in style
    }


# --------------------------------------------------------------------------- fanout


@given(
    h=st.integers(2, 6), w=st.integers(2, 6), kh=st.integers(1, 3), kw=st.integers(1, 3),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 1), pw=st.integers(0, 1),
    data=st.data(),
)
def test_fanout_links_are_the_nonzero_entries_of_the_jacobian(h, w, kh, kw, sh, sw, ph, pw, data):
    """A link (i, j) <- (p, q) with entry (u, v) exists iff dy_ij/dx_pq = w_uv."""
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    p = data.draw(st.integers(0, h - 1))
    q = data.draw(st.integers(0, w - 1))
    links = pc.fanout(h, w, kh, kw, stride=(sh, sw), pad=(ph, pw), pixel=(p, q))
    # kernel of distinct powers of two: each dy/dx entry identifies its kernel entry
    kern = 2.0 ** np.arange(kh * kw).reshape(kh, kw)
    x = np.zeros((h, w))
    x[p, q] = 1.0
    y = conv.correlate2d(x, kern, stride=(sh, sw), pad=(ph, pw))
    expected = {
        (i, j): tuple(int(k) for k in np.argwhere(kern == y[i, j])[0])
        for i, j in zip(*np.nonzero(y))
    }
    assert dict(links) == expected
    assert [ij for ij, _ in links] == sorted(ij for ij, _ in links)


def test_fanout_known_cases():
    # 5x5, 3x3 kernel, stride 2: the centre pixel feeds all four outputs
    assert pc.fanout(5, 5, 3, 3, stride=2, pad=0, pixel=(2, 2)) == [
        ((0, 0), (2, 2)), ((0, 1), (2, 0)), ((1, 0), (0, 2)), ((1, 1), (0, 0))
    ]
    # stride 3 with a 2x2 kernel skips row 2 and column 2
    assert pc.fanout(5, 5, 2, 2, stride=3, pad=0, pixel=(2, 2)) == []
    assert pc.fanout(5, 5, 2, 2, stride=3, pad=0, pixel=(3, 4)) == [((1, 1), (0, 1))]


def test_fanout_rejects_bad_arguments():
    with pytest.raises(ValueError, match="outside"):
        pc.fanout(5, 5, 2, 2, stride=1, pad=0, pixel=(5, 0))
    with pytest.raises(ValueError, match="does not fit"):
        pc.fanout(2, 2, 3, 3, stride=1, pad=0, pixel=(0, 0))
    with pytest.raises(ValueError, match="stride"):
        pc.fanout(5, 5, 2, 2, stride=0, pad=0, pixel=(0, 0))


def test_reached():
    np.testing.assert_array_equal(
        pc.reached(5, 2, stride=3, pad=0), [True, True, False, True, True]
    )
    np.testing.assert_array_equal(pc.reached(5, 3, stride=2, pad=1), [True] * 7)
    np.testing.assert_array_equal(pc.reached(6, 3, stride=2, pad=0), [True] * 5 + [False])


def test_fanout_html_highlights_the_links():
    view = pc.fanout_html(5, 5, 3, 3, stride=2, pad=1, pixel=(2, 2))
    t_in, t_out, t_k, t_d = _tables(view)
    assert _coloured(t_in, HIGHLIGHT) == {(3, 3)}  # padded coordinates
    links = pc.fanout(5, 5, 3, 3, stride=2, pad=1, pixel=(2, 2))
    assert _coloured(t_out, HIGHLIGHT) == {ij for ij, _ in links}
    assert _coloured(t_k, HIGHLIGHT) == {uv for _, uv in links}
    out_cells = _cells(t_out)
    for (i, j), (u, v) in links:
        assert out_cells[i][j][1] == pc.sub("w", u, v)
    # the dilated delta: contributing entries in HIGHLIGHT, the rest of the window in HIGHLIGHT_2
    window = _coloured(t_d, HIGHLIGHT) | _coloured(t_d, HIGHLIGHT_2)
    assert window == {(3 + u, 3 + v) for u in range(3) for v in range(3)}
    assert _coloured(t_d, HIGHLIGHT) == {(2 + 2 * i, 2 + 2 * j) for (i, j), _ in links}
    assert "∂E/∂x₂₂ = " in view and view.count("·w") == len(links)


def test_fanout_html_unreached_pixel():
    view = pc.fanout_html(5, 5, 2, 2, stride=3, pad=0, pixel=(2, 2))
    t_in, t_out, t_k, _ = _tables(view)
    assert "no window reaches this pixel" in view
    assert _coloured(t_out, HIGHLIGHT) == set() and _coloured(t_k, HIGHLIGHT) == set()
    grey = _coloured(t_in, pc.UNREACHED)
    assert grey == {(r, c) for r in range(5) for c in range(5) if r == 2 or c == 2} - {(2, 2)}


# --------------------------------------------------------------------------- full convolution


@given(
    oh=st.integers(1, 3), ow=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
    sh=st.integers(1, 3), sw=st.integers(1, 3), rh=st.integers(0, 2), rw=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_full_conv_steps_assemble_the_input_gradient(oh, ow, kh, kw, sh, sw, rh, rw, seed):
    rh, rw = rh % sh, rw % sw
    h, w_ = (oh - 1) * sh + kh + rh, (ow - 1) * sw + kw + rw
    rng = np.random.default_rng(seed)
    delta, kern, x = rng.normal(size=(oh, ow)), rng.normal(size=(kh, kw)), rng.normal(size=(h, w_))
    D, r, steps = pc.full_conv_steps(delta, kern, stride=(sh, sw))
    assert D.shape == ((oh - 1) * sh + 2 * kh - 1, (ow - 1) * sw + 2 * kw - 1)
    np.testing.assert_array_equal(r, kern[::-1, ::-1])
    dx = np.zeros((h, w_))
    for s in steps:
        dx[s.row, s.col] = s.value
    _, cache = conv.conv2d_forward(x[None, None], kern[None, None], np.zeros(1), stride=(sh, sw))
    expected = conv.conv2d_backward(delta[None, None], cache)[0][0, 0]
    np.testing.assert_allclose(dx, expected, atol=1e-12)
    assert len(steps) == ((oh - 1) * sh + kh) * ((ow - 1) * sw + kw)


def test_full_conv_step_html():
    delta, kern = np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]])
    view = pc.full_conv_step_html(delta, kern, stride=2, input_shape=(5, 5), step=5)
    t_d, t_r, t_x = _tables(view)
    # step 5 of a 4x4 grid of positions is (1, 1): window rows/cols 1..2 of D
    window = _coloured(t_d, HIGHLIGHT) | _coloured(t_d, HIGHLIGHT_2)
    assert window == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert _coloured(t_d, HIGHLIGHT) == {(1, 1)}  # the only nonzero delta in the window
    assert [c[1] for c in _cells(t_r)[0]] == ["4", "3"]
    cells = _cells(t_x)
    assert cells[1][1][1] == "4" and f"background:{HIGHLIGHT}" in cells[1][1][0]
    assert cells[1][2][1] == pc.NOT_YET and cells[0][3][1] != pc.NOT_YET  # not yet / already computed
    assert _coloured(t_x, pc.UNREACHED) == {(4, j) for j in range(5)} | {(i, 4) for i in range(4)}
    assert "step 6/16" in view and "= 4</p>" in view
    with pytest.raises(ValueError, match="step"):
        pc.full_conv_step_html(delta, kern, stride=2, input_shape=(5, 5), step=16)
    with pytest.raises(ValueError, match="delta must have shape"):
        pc.full_conv_step_html(delta, kern, stride=1, input_shape=(5, 5), step=0)


@pytest.mark.parametrize("stride, input_shape, delta_shape", [(1, (4, 4), (3, 3)), (2, (4, 4), (2, 2)),
                                                         (2, (5, 5), (2, 2))])
def test_dx_so_far_keeps_every_row_as_tall_as_a_row_of_numbers(stride, input_shape, delta_shape):
    """The cases of the chapter's explorer, every step: no cell of the "∂E/∂x so far" table is empty
    (an empty cell has no line box, and a row of them collapses to a thin line). Not computed yet
    means blank (a no-break space), and every entry shown is the step's value or 0 (unreached)."""
    delta, kern = np.arange(1.0, 1.0 + np.prod(delta_shape)).reshape(delta_shape), np.array([[1.0, 2.0], [3.0, 4.0]])
    _, _, steps = pc.full_conv_steps(delta, kern, stride=stride)
    for step in range(len(steps)):
        t_x = _tables(pc.full_conv_step_html(delta, kern, stride=stride, input_shape=input_shape, step=step))[2]
        texts = [[text for _, text in row] for row in _cells(t_x)]
        assert len(texts) == input_shape[0] and all(len(row) == input_shape[1] for row in texts)
        assert all(text != "" for row in texts for text in row)
        done = {(s.row, s.col): s.value for s in steps[:step + 1]}
        for p, row in enumerate(texts):
            for q, text in enumerate(row):
                if (p, q) in done:
                    assert text == f"{done[(p, q)]:g}"
                else:
                    assert text in (pc.NOT_YET, "0")   # not computed yet, or no window reaches it
    assert pc.NOT_YET == "\u00a0"


def test_sub():
    assert pc.sub("w", 1, 0) == "w₁₀"
    assert pc.sub("δ", 12) == "δ₁₂"
