import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Rectangle

from cnnbook import pooling
from cnnbook.plotting import HIGHLIGHT, HIGHLIGHT_2
from cnnbook.plotting.pooling import (
    UNCOVERED,
    plot_gradient_coverage,
    plot_pool_windows,
    pooling_view_html,
    window_routing,
)


def tables(html):
    """The <table> fragments of an HTML string, in order."""
    return re.findall(r"<table.*?</table>", html, flags=re.S)


def cells(table):
    return re.findall(r'<td style="([^"]*)">([^<]*)</td>', table)


def coloured(table, colour):
    return [k for k, (style, _) in enumerate(cells(table)) if f"background:{colour}" in style]


# --------------------------------------------------------------------------- window_routing


def test_window_routing_first_maximum_tie_and_coverage():
    x = np.array([[3, 7, 0], [7, 1, 0]], dtype=float)
    chosen, tied, count, covered = window_routing(x, size=2, stride=1)
    # window (0,0) = [[3,7],[7,1]] ties; first in row-major order is (0,1)
    assert chosen[0, 0].tolist() == [0, 1]
    assert chosen[0, 1].tolist() == [0, 1]  # [[7,0],[1,0]]
    assert tied == {(1, 0)}
    assert count.tolist() == [[0, 2, 0], [0, 0, 0]]
    assert covered.tolist() == [[1, 2, 1], [1, 2, 1]]


def test_window_routing_agrees_with_package_argmax():
    x = np.random.default_rng(0).integers(0, 5, (7, 7)).astype(float)
    for size, stride in [(2, 2), (3, 1), ((2, 3), (1, 2))]:
        chosen, _, count, _ = window_routing(x, size=size, stride=stride)
        y, cache = pooling.maxpool2d_forward(x[None, None], size=size, stride=stride)
        dx = pooling.maxpool2d_backward(np.ones_like(y), cache)[0, 0]
        np.testing.assert_array_equal(dx, count)
        np.testing.assert_array_equal(x[chosen[..., 0], chosen[..., 1]], y[0, 0])


# --------------------------------------------------------------------------- pooling_view_html


def test_view_html_max_highlights_chosen_tied_and_uncovered_cells():
    x = np.array([[3, 7, 0, 9, 9], [7, 1, 2, 5, 1], [0, 0, 0, 0, 0]], dtype=float)
    html = pooling_view_html(x, size=2, stride=3, mode="max")
    t_x, t_y, t_dy, t_count, t_dx = tables(html)
    width = x.shape[1]
    # windows at columns 0-1 and 3-4 of rows 0-1; column 2 and row 2 are in no window
    assert coloured(t_x, HIGHLIGHT) == [0 * width + 1, 0 * width + 3]
    assert coloured(t_x, HIGHLIGHT_2) == [0 * width + 4, 1 * width + 0]
    assert coloured(t_x, UNCOVERED) == [2, 7] + list(range(10, 15))
    assert [v for _, v in cells(t_y)] == ["7", "9"]
    assert [v for _, v in cells(t_dy)] == ["1", "2"]  # default delta 1..OH*OW
    dx_values = [v for _, v in cells(t_dx)]
    assert dx_values[1] == "1" and dx_values[3] == "2"
    assert sum(float(v) for v in dx_values) == 3
    assert "&Sigma; dx = 3" in html and "&Sigma; &delta; = 3" in html
    assert "tied, not chosen" in html and "in no window" in html


def test_view_html_average_spreads_delta_over_window():
    x = np.arange(16.0).reshape(4, 4)
    html = pooling_view_html(x, size=2, mode="average", dy=np.array([[4.0, 8.0], [12.0, 16.0]]))
    t_x, _, _, t_cover, t_dx = tables(html)
    assert coloured(t_x, HIGHLIGHT) == []  # no maxima in average mode
    assert "in no window" not in html and "tied" not in html  # keys only for what is on show
    assert [v for _, v in cells(t_cover)] == ["1"] * 16
    dx = np.array([float(v) for _, v in cells(t_dx)]).reshape(4, 4)
    np.testing.assert_array_equal(dx, np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


def test_view_html_overlap_counts_windows():
    x = np.array([[6, 1, 2], [0, 4, 9], [3, 8, 5]], dtype=float)
    *_, t_count, t_dx = tables(pooling_view_html(x, size=2, stride=1))
    assert [int(v) for _, v in cells(t_count)] == [1, 0, 0, 0, 0, 2, 0, 1, 0]
    assert [float(v) for _, v in cells(t_dx)] == [1, 0, 0, 0, 0, 6, 0, 3, 0]


def test_view_html_average_default_format_keeps_four_digits():
    html = pooling_view_html(np.arange(16.0).reshape(4, 4), size=2, mode="average", dy=np.array([[2.5, 4.5], [10.5, 12.5]]))
    t_dx = tables(html)[-1]
    assert [v for _, v in cells(t_dx)][:4] == ["0.625", "0.625", "1.125", "1.125"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=np.zeros((2, 2, 2)), size=2), "2-D map"),
        (dict(x=np.zeros((4, 4)), size=2, mode="min"), "mode"),
        (dict(x=np.zeros((4, 4)), size=5), "does not fit"),
        (dict(x=np.zeros((4, 4)), size=2, dy=np.zeros((3, 3))), "output shape"),
        (dict(x=np.zeros((4, 4)), size=0), "positive"),
    ],
)
def test_view_html_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pooling_view_html(**kwargs)


# --------------------------------------------------------------------------- figures


def test_plot_pool_windows_draws_every_window_and_maximum():
    x = np.array([[6, 1, 2], [0, 4, 9], [3, 8, 5]], dtype=float)
    fig = plot_pool_windows(x, size=2, stride=1)
    assert isinstance(fig, Figure)
    ax_x, ax_dx = fig.axes
    assert len([p for p in ax_x.patches if isinstance(p, Rectangle)]) == 4
    circles = [p for p in ax_x.patches if isinstance(p, Circle)]
    # centres are (col, row): maxima at (row, col) (0,0), (1,2) twice, (2,1)
    assert sorted(tuple(int(v) for v in c.center) for c in circles) == [(0, 0), (1, 2), (2, 1), (2, 1)]
    assert sorted(t.get_text() for t in ax_dx.texts) == sorted(["1", "0", "0", "0", "0", "6", "0", "3", "0"])


def test_plot_pool_windows_average_has_no_maximum_markers():
    fig = plot_pool_windows(np.arange(16.0).reshape(4, 4), size=2, mode="average")
    ax_x, _ = fig.axes
    assert not [p for p in ax_x.patches if isinstance(p, Circle)]
    assert len(ax_x.patches) == 4


def test_plot_gradient_coverage_lines_and_errors():
    fig = plot_gradient_coverage([1, 2, 4], {"max": [1, 0.25, 0.0625], "average": [1, 1, 1]})
    (ax,) = fig.axes
    lines = [a for a in ax.get_children() if isinstance(a, Line2D) and a.get_label() in ("max", "average", "$1/k^2$")]
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[0].get_ydata(), [1, 0.25, 0.0625])
    with pytest.raises(ValueError, match="shape of sizes"):
        plot_gradient_coverage([1, 2], {"max": [1]})
    with pytest.raises(ValueError, match="sizes"):
        plot_gradient_coverage([], {})
