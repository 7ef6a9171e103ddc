"""Tests of cnnbook.plotting.fc: the fully-connected chapter's rendering functions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook.plotting import HIGHLIGHT, HIGHLIGHT_2
from cnnbook.plotting.fc import fc_gradient_tables, plot_lr_run, plot_mlp_training

# The chapter's hand-worked example: N = 2, D = 3, M = 2.
X = np.array([[1.0, 2.0, 0.0], [-1.0, 0.0, 3.0]])
W = np.array([[1.0, -1.0], [0.0, 2.0], [1.0, 1.0]])
DY = np.array([[1.0, 0.0], [2.0, -1.0]])


def tables(html: str) -> list[list[list[tuple[str, str]]]]:
    """Parse the tables of an HTML string: per table, rows of (cell text, cell style)."""
    out = []
    for table in re.findall(r"<table.*?</table>", html, flags=re.S):
        rows = []
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S):
            rows.append(re.findall(r'<td style="([^"]*)">(.*?)</td>', row))
        out.append([[(text, style) for style, text in row] for row in rows])
    return out


def coloured(table, colour):
    return {(i, j) for i, row in enumerate(table) for j, (_, style) in enumerate(row) if colour in style}


def values(table):
    return np.array([[float(text) for text, _ in row] for row in table])


# --------------------------------------------------------------------------- fc_gradient_tables


@pytest.mark.parametrize("k, i", [(0, 0), (1, 1), (2, 0)])
def test_dw_entry_highlights_row_of_xT_column_of_delta_and_the_result(k, i):
    xt, delta, dw = tables(fc_gradient_tables(X, W, DY, ("dW", k, i)))
    np.testing.assert_array_equal(values(xt), X.T)
    np.testing.assert_array_equal(values(delta), DY)
    np.testing.assert_array_equal(values(dw), X.T @ DY)
    assert coloured(xt, HIGHLIGHT) == {(k, n) for n in range(2)}
    assert coloured(delta, HIGHLIGHT) == {(n, i) for n in range(2)}
    assert coloured(dw, HIGHLIGHT_2) == {(k, i)}
    assert coloured(dw, HIGHLIGHT) == set()


def test_dw_written_out_sum_is_the_hand_worked_one():
    html = fc_gradient_tables(X, W, DY, ("dW", 2, 1))
    # dW[2, 1] = x[0,2] d[0,1] + x[1,2] d[1,1] = 0*0 + 3*(-1) = -3
    assert "dW[2, 1] =" in html
    assert "= 0&middot;0 + 3&middot;(-1) = <b>-3</b>" in html


def test_db_entry_highlights_a_column_of_delta():
    delta, db = tables(fc_gradient_tables(X, W, DY, ("db", 1)))
    assert coloured(delta, HIGHLIGHT) == {(0, 1), (1, 1)}
    np.testing.assert_array_equal(values(db), [[3, -1]])
    assert coloured(db, HIGHLIGHT_2) == {(0, 1)}
    assert "= 0 + (-1) = <b>-1</b>" in fc_gradient_tables(X, W, DY, ("db", 1))


@pytest.mark.parametrize("n, k", [(0, 0), (1, 2), (1, 0)])
def test_dx_entry_highlights_row_of_delta_and_column_of_wT(n, k):
    delta, wt, dx = tables(fc_gradient_tables(X, W, DY, ("dx", n, k)))
    np.testing.assert_array_equal(values(wt), W.T)
    np.testing.assert_array_equal(values(dx), DY @ W.T)
    assert coloured(delta, HIGHLIGHT) == {(n, i) for i in range(2)}
    assert coloured(wt, HIGHLIGHT) == {(i, k) for i in range(2)}
    assert coloured(dx, HIGHLIGHT_2) == {(n, k)}


def test_every_entry_gives_a_different_view():
    entries = ([("dW", k, i) for k in range(3) for i in range(2)] + [("db", i) for i in range(2)]
               + [("dx", n, k) for n in range(2) for k in range(3)])
    assert len({fc_gradient_tables(X, W, DY, e) for e in entries}) == len(entries)


@pytest.mark.parametrize("entry", [("dW", 3, 0), ("dW", 0), ("db", 2), ("dx", 0, 3), ("dz", 0, 0), (), ("dx", 0.0, 1)])
def test_bad_entries_are_rejected(entry):
    with pytest.raises(ValueError):
        fc_gradient_tables(X, W, DY, entry)


def test_inconsistent_shapes_are_rejected():
    with pytest.raises(ValueError, match="dy"):
        fc_gradient_tables(X, W, DY[:, :1], ("dW", 0, 0))
    with pytest.raises(ValueError, match="2-D"):
        fc_gradient_tables(X[0], W, DY, ("dW", 0, 0))


# --------------------------------------------------------------------------- plot_lr_run


def run(eta, steps=10, norm_sq=14.0, r0=10.0):
    return r0 * (1 - eta * norm_sq) ** np.arange(steps + 1)


@pytest.mark.parametrize("eta, verdict", [(0.04, "converges"), (1 / 7, "oscillates"), (0.16, "diverges")])
def test_lr_run_has_two_axes_and_says_what_happens(eta, verdict):
    fig = plot_lr_run(eta, run(eta), x_norm_sq=14)
    assert isinstance(fig, Figure)
    ax_loss, ax_fac = fig.axes
    assert ax_loss.get_yscale() == "log"
    assert verdict in ax_loss.get_title()
    # the run's dot on the factor curve sits at (eta, |1 - 14 eta|)
    dot = [line for line in ax_fac.get_lines() if line.get_marker() == "o"]
    assert len(dot) == 1
    np.testing.assert_allclose(dot[0].get_xydata(), [[eta, abs(1 - 14 * eta)]])
    # the two marked learning rates are 1/|x|^2 and 2/|x|^2
    vlines = sorted(line.get_xdata()[0] for line in ax_fac.get_lines() if line.get_linestyle() in (":", "--"))
    np.testing.assert_allclose(vlines, [1 / 14, 2 / 14])


def test_lr_run_loss_is_half_the_squared_residual_with_sign_markers():
    eta = 0.1                                   # factor -0.4: the sign alternates
    r = run(eta, steps=6)
    ax_loss = plot_lr_run(eta, r, x_norm_sq=14).axes[0]
    filled, hollow = [line for line in ax_loss.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(filled.get_xdata(), [0, 2, 4, 6])
    np.testing.assert_allclose(hollow.get_xdata(), [1, 3, 5])
    np.testing.assert_allclose(filled.get_ydata(), 0.5 * r[::2] ** 2)
    constant = ax_loss.get_lines()[0]            # the boundary case eta = 2/|x|^2
    np.testing.assert_allclose(constant.get_ydata(), 50.0)


def test_lr_run_draws_exact_zeros_on_the_floor_and_honours_ylim():
    r = np.array([10.0, 0.0, 0.0])
    ax_loss = plot_lr_run(1 / 14, r, x_norm_sq=14, ylim=(1e-30, 1e15)).axes[0]
    assert ax_loss.get_ylim() == pytest.approx((1e-30, 1e15))
    line = ax_loss.get_lines()[1]
    np.testing.assert_allclose(line.get_ydata(), [50, 1e-30, 1e-30])


def test_lr_run_views_differ_per_rate():
    from cnnbook.widgets import figure_to_png

    pngs = {figure_to_png(plot_lr_run(e, run(e), x_norm_sq=14, eta_max=0.17)) for e in (0.02, 0.1, 0.15)}
    assert len(pngs) == 3


@pytest.mark.parametrize("kwargs", [
    {"eta": 0.1, "residuals": [1.0], "x_norm_sq": 14},
    {"eta": 0.1, "residuals": [[1.0, 2.0]], "x_norm_sq": 14},
    {"eta": 0.1, "residuals": [1.0, 2.0], "x_norm_sq": 0},
    {"eta": 0.0, "residuals": [1.0, 2.0], "x_norm_sq": 14},
    {"eta": 0.1, "residuals": [1.0, 2.0], "x_norm_sq": 14, "ylim": (1.0, 1e-3)},
])
def test_lr_run_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        plot_lr_run(**kwargs)


# --------------------------------------------------------------------------- plot_mlp_training


def test_mlp_training_figure():
    grid = np.linspace(0, 1, 5)
    out = np.add.outer(grid, grid) / 2              # out[i, j] = (x2 + x1) / 2
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    fig = plot_mlp_training(np.arange(4), [1.0, 0.5, 0.2, 0.1], grid, out, x, np.array([[0.0], [1.0]]))
    ax_loss, ax_map, ax_bar = fig.axes
    assert ax_loss.get_yscale() == "log"
    np.testing.assert_allclose(ax_loss.get_lines()[0].get_ydata(), [1.0, 0.5, 0.2, 0.1])
    image = ax_map.get_images()[0]
    np.testing.assert_allclose(image.get_array(), out)
    assert image.get_clim() == (0, 1)
    np.testing.assert_allclose(ax_map.collections[-1].get_offsets(), x)   # the data points


@pytest.mark.parametrize("args", [
    (np.arange(3), [1.0, 2.0], np.linspace(0, 1, 3), np.zeros((3, 3)), np.zeros((2, 2)), np.zeros(2)),
    (np.arange(2), [1.0, 2.0], np.linspace(0, 1, 3), np.zeros((3, 4)), np.zeros((2, 2)), np.zeros(2)),
    (np.arange(2), [1.0, 2.0], np.linspace(0, 1, 3), np.zeros((3, 3)), np.zeros((2, 3)), np.zeros(2)),
    (np.arange(2), [1.0, 2.0], np.linspace(0, 1, 3), np.zeros((3, 3)), np.zeros((2, 2)), np.zeros(3)),
])
def test_mlp_training_rejects_bad_shapes(args):
    with pytest.raises(ValueError):
        plot_mlp_training(*args)
