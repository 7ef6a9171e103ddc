"""Tests of cnnbook.plotting.softmax: what each view shows, and its errors on bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook.plotting import softmax as psm
from cnnbook.plotting import HIGHLIGHT
from cnnbook.softmax import softmax, softmax_jacobian

Y = np.array([1 / 6, 1 / 3, 1 / 2])
J = np.array([[5, -2, -3], [-2, 8, -6], [-3, -6, 9]]) / 36


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="cnnbook-bar-row".*?</tr>', html)


def _bar_widths(html: str) -> list[float]:
    return [float(w) for w in re.findall(r'class="cnnbook-bar" style="width:([0-9.]+)px', html)]


# --------------------------------------------------------------------------- colours


def test_diverging_colour_white_at_zero_and_saturates():
    assert psm.diverging_colour(0.0, 1.0) == "rgb(255,255,255)"
    full_pos = psm.diverging_colour(1.0, 1.0)
    assert psm.diverging_colour(5.0, 1.0) == full_pos                    # clipped at vmax
    assert full_pos != psm.diverging_colour(-1.0, 1.0)                  # sign decides the hue
    r, g, b = map(int, re.findall(r"\d+", full_pos))
    assert r > b                                                         # positive is red
    r, g, b = map(int, re.findall(r"\d+", psm.diverging_colour(-1.0, 1.0)))
    assert b > r                                                         # negative is blue
    # half the value is half as far from white
    half = list(map(int, re.findall(r"\d+", psm.diverging_colour(0.5, 1.0))))
    full = list(map(int, re.findall(r"\d+", full_pos)))
    for c_half, c_full in zip(half, full):
        assert abs((255 - c_half) - (255 - c_full) / 2) <= 1


def test_diverging_colour_rejects_bad_vmax():
    with pytest.raises(ValueError, match="vmax must be > 0"):
        psm.diverging_colour(0.3, 0.0)


# --------------------------------------------------------------------------- bars


def test_probability_bars_lengths_values_and_target():
    html = psm.probability_bars_html(Y, target=2, width=120)
    rows = _rows(html)
    assert len(rows) == 3
    np.testing.assert_allclose(_bar_widths(html), Y * 120, atol=0.06)
    for p, row in zip(Y, rows):
        assert f"{p:.3f}" in row
    assert HIGHLIGHT in rows[2] and "target" in rows[2]
    assert HIGHLIGHT not in rows[0] + rows[1]


def test_probability_bars_without_target_highlights_nothing():
    html = psm.probability_bars_html(Y)
    assert HIGHLIGHT not in html and "target" not in html


@pytest.mark.parametrize(
    "y, kwargs, message",
    [
        (np.array([0.5, 1.5]), {}, "probabilities"),
        (np.ones((2, 2)) / 4, {}, "1-D"),
        (Y, {"target": 3}, "class index"),
        (Y, {"target": -1}, "class index"),
        (Y, {"labels": ["a", "b"]}, "3 entries"),
        (np.array([np.nan, 1.0]), {}, "finite"),
    ],
)
def test_probability_bars_errors(y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        psm.probability_bars_html(y, **kwargs)


def test_signed_bars_direction_scale_and_cut():
    g = np.array([0.5, -0.25, 0.0, 3.0])
    html = psm.signed_bars_html(g, lim=1.0, half_width=100)
    rows = _rows(html)
    assert len(rows) == 4
    # positive bars sit in the right-hand cell (after the centre line), negative in the left one
    cells = [re.findall(r"<td.*?</td>", row) for row in rows]
    assert "cnnbook-bar" in cells[0][2] and "cnnbook-bar" not in cells[0][1]
    assert "cnnbook-bar" in cells[1][1] and "cnnbook-bar" not in cells[1][2]
    assert "cnnbook-bar" not in cells[2][1] + cells[2][2]
    np.testing.assert_allclose(_bar_widths(html), [50.0, 25.0, 100.0])   # 3.0 is cut at lim
    assert "+3.000&#8230;" in rows[3] and "&#8230;" not in rows[0]
    assert "-0.250" in rows[1]


def test_signed_bars_errors():
    with pytest.raises(ValueError, match="lim must be > 0"):
        psm.signed_bars_html([1.0], lim=0)
    with pytest.raises(ValueError, match="1-D"):
        psm.signed_bars_html([[1.0]], lim=1)


# --------------------------------------------------------------------------- heatmap


def test_jacobian_heatmap_values_headers_and_colours():
    html = psm.jacobian_heatmap_html(J, vmax=0.25)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert len(cells) == 16                                            # 3x3 plus a header row and column
    assert cells[:4] == ["i\\j", "z0", "z1", "z2"]
    assert [cells[4 * k] for k in (1, 2, 3)] == ["y0", "y1", "y2"]
    numbers = [float(cells[4 * (i + 1) + j + 1]) for i in range(3) for j in range(3)]
    np.testing.assert_allclose(np.reshape(numbers, (3, 3)), J, atol=5e-4)
    # cell colours follow the sign: diagonal red, off-diagonal blue
    styles = re.findall(r'<td style="([^"]*)"', html)
    assert psm.diverging_colour(J[0, 0], 0.25) in styles[5]
    assert psm.diverging_colour(J[0, 1], 0.25) in styles[6]
    assert psm.diverging_colour(J[2, 2], 0.25) in styles[15]


def test_jacobian_heatmap_default_scale_and_all_zero():
    html = psm.jacobian_heatmap_html(J)                                # vmax = max |J| = 9/36
    strongest_red = psm.diverging_colour(1.0, 1.0)
    assert html.count(strongest_red) == 1                              # only J[2, 2] is at full colour
    zero = psm.jacobian_heatmap_html(np.zeros((2, 2)))
    assert zero.count("rgb(255,255,255)") == 4


def test_values_that_round_to_zero_have_no_sign():
    html = psm.jacobian_heatmap_html(np.array([[-3e-5, 2e-5], [0.25, -0.25]]))
    assert "-0.000" not in html and "+0.000" not in html
    assert html.count(">0.000<") == 2 and "+0.250" in html and "-0.250" in html
    bars = psm.signed_bars_html([-1e-6, 0.5], lim=1.0)
    assert "-0.000" not in bars and ">0.000<" in bars and "+0.500" in bars


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros(3), np.zeros((0, 0))])
def test_jacobian_heatmap_rejects_non_square(bad):
    with pytest.raises(ValueError, match="square"):
        psm.jacobian_heatmap_html(bad)


# --------------------------------------------------------------------------- the explorer view


def _view(z=np.array([0.0, 1.0, -1.0]), target=1, T=1.0):
    y = softmax(z / T)
    return psm.softmax_view_html(
        z, y, softmax_jacobian(z / T) / T, (y - np.eye(3)[target]) / T,
        target=target, temperature=T, jac_vmax=0.5, grad_lim=1.0,
    )


def test_softmax_view_has_three_parts_and_states_its_inputs():
    html = _view()
    assert html.count('class="cnnbook-bars"') == 2                     # probabilities, gradient
    assert html.count('class="cnnbook-matrix"') == 1                   # Jacobian
    assert "z = [+0.00 +1.00 -1.00], T = 1, target class = 1" in html
    assert len(_rows(html)) == 6


def test_softmax_view_changes_with_every_input():
    base = _view()
    assert _view(z=np.array([2.0, 1.0, -1.0])) != base
    assert _view(target=2) != base
    assert _view(T=4.0) != base


def test_softmax_view_shape_errors():
    z = np.zeros(3)
    y = softmax(z)
    good = dict(target=0, temperature=1.0, jac_vmax=0.5, grad_lim=1.0)
    with pytest.raises(ValueError, match="grad must have shape"):
        psm.softmax_view_html(z, y, softmax_jacobian(z), np.zeros(2), **good)
    with pytest.raises(ValueError, match="jac must have shape"):
        psm.softmax_view_html(z, y, np.zeros((2, 2)), y, **good)
    with pytest.raises(ValueError, match="class index"):
        psm.softmax_view_html(z, y, softmax_jacobian(z), y, **{**good, "target": 3})


# --------------------------------------------------------------------------- the figure


def _curves(m=21):
    z0 = np.linspace(-3, 3, m)
    zs = np.column_stack([z0, np.ones(m), -np.ones(m)])
    ys = np.array([softmax(z) for z in zs])
    jacs = np.array([softmax_jacobian(z) for z in zs])
    return z0, ys, jacs


def test_plot_jacobian_along_draws_the_curves():
    z0, ys, jacs = _curves()
    fig = psm.plot_jacobian_along(z0, ys, jacs, mark=1.0, title="t")
    assert isinstance(fig, Figure)
    ax_y, ax_j = fig.axes
    assert len(ax_y.lines) == 3 + 1                                    # y_0..y_2 and the mark
    # 3 diagonal + 2 off-diagonal curves, the 1/4 guide, the zero line and the mark
    assert len(ax_j.lines) == 3 + 2 + 3
    np.testing.assert_allclose(ax_j.lines[0].get_ydata(), jacs[:, 0, 0])
    np.testing.assert_allclose(ax_y.lines[2].get_ydata(), ys[:, 2])
    assert ax_y.lines[-1].get_xdata()[0] == 1.0                        # the marked z_0


def test_plot_jacobian_along_errors():
    z0, ys, jacs = _curves()
    with pytest.raises(ValueError, match="z0_values"):
        psm.plot_jacobian_along(z0[:1], ys[:1], jacs[:1])
    with pytest.raises(ValueError, match="ys must have shape"):
        psm.plot_jacobian_along(z0, ys[:-1], jacs)
    with pytest.raises(ValueError, match="jacs must have shape"):
        psm.plot_jacobian_along(z0, ys, jacs[:, :2])
