"""Tests of cnnbook.plotting.losses: the figures carry the data they were given."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook.plotting import losses as pl
from cnnbook.widgets import figure_to_png


def _lines(ax, label):
    return [ln for ln in ax.get_lines() if ln.get_label() == label]


def _marker_points(ax):
    """(x, y) of the single-point lines: the marked dots."""
    return [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in ax.get_lines() if len(ln.get_xdata()) == 1]


X = np.linspace(-2, 2, 9)
PANELS = {"f": {"a": X**2, "b": X**3}, "f'": {"a": 2 * X}}


def test_plot_curves_one_axes_per_panel_with_the_data():
    fig = pl.plot_curves(X, PANELS, xlabel="z")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax0, ax1 = fig.axes
    assert ax0.get_title() == "f" and ax1.get_title() == "f'"
    np.testing.assert_array_equal(_lines(ax0, "b")[0].get_ydata(), X**3)
    np.testing.assert_array_equal(_lines(ax1, "a")[0].get_ydata(), 2 * X)
    assert ax0.get_xlabel() == "z"
    assert _marker_points(ax0) == []  # nothing marked without mark


def test_plot_curves_marks_the_current_point_on_every_curve():
    fig = pl.plot_curves(X, PANELS, mark=X[6])
    ax0, ax1 = fig.axes
    assert sorted(_marker_points(ax0)) == sorted([(X[6], X[6] ** 2), (X[6], X[6] ** 3)])
    assert _marker_points(ax1) == [(X[6], 2 * X[6])]
    texts = [t.get_text() for t in ax0.texts]
    assert f"{X[6] ** 2:.4g}" in texts and f"{X[6] ** 3:.4g}" in texts


def test_plot_curves_yscale_and_errors():
    fig = pl.plot_curves(X, {"p": {"a": np.exp(X)}}, yscale={"p": "log"})
    assert fig.axes[0].get_yscale() == "log"
    fig = pl.plot_curves(X, {"p": {"a": X}}, yscale={"p": "symlog"})
    assert fig.axes[0].get_yscale() == "symlog"
    with pytest.raises(ValueError, match="must be one of the x values"):
        pl.plot_curves(X, PANELS, mark=0.1234)
    with pytest.raises(ValueError, match="length 9"):
        pl.plot_curves(X, {"p": {"a": X[:-1]}})
    with pytest.raises(ValueError, match="do not exist"):
        pl.plot_curves(X, PANELS, yscale={"nope": "log"})
    with pytest.raises(ValueError, match="yscale of panel"):
        pl.plot_curves(X, PANELS, yscale={"f": "cubic"})
    with pytest.raises(ValueError, match="at least one panel"):
        pl.plot_curves(X, {})


def test_plot_prediction_losses_bars_then_panels():
    p = np.array([0.1, 0.5, 0.9])
    panels = {"loss": {"MSE": (1 - p) ** 2, "cross-entropy": -np.log(p)}, "grad": {"MSE": p - 1}}
    pred, tgt = np.array([0.5, 0.25, 0.25]), np.array([1.0, 0.0, 0.0])
    fig = pl.plot_prediction_losses(p, panels, prediction=pred, target=tgt, mark=0.5, title="hello")
    assert len(fig.axes) == 3
    bars = fig.axes[0].patches
    assert len(bars) == 6  # 3 prediction bars + 3 target outlines
    np.testing.assert_allclose([b.get_height() for b in bars[:3]], pred)
    np.testing.assert_allclose([b.get_height() for b in bars[3:]], tgt)
    assert sorted(_marker_points(fig.axes[1])) == sorted([(0.5, 0.25), (0.5, -np.log(0.5))])
    assert fig._suptitle.get_text() == "hello"
    with pytest.raises(ValueError, match="length 3"):
        pl.plot_prediction_losses(p, panels, prediction=pred, target=tgt[:2], mark=0.5)
    with pytest.raises(ValueError, match="must be one of the x values"):
        pl.plot_prediction_losses(p, panels, prediction=pred, target=tgt, mark=0.3)


def test_plot_layer_gradients_draws_zeros_at_the_floor_and_bounds():
    mags = {"sigmoid": [1e-6, 1e-4, 1e-2], "ReLU": [0.0, 0.5, 1.0]}
    fig = pl.plot_layer_gradients(mags, bounds={"sigmoid": [1e-5, 1e-3, 1e-1]}, floor=1e-12,
                                  ylim=(1e-13, 10), max_layer=5)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    relu = _lines(ax, "ReLU")[0]
    np.testing.assert_array_equal(relu.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(relu.get_ydata(), [1e-12, 0.5, 1.0])
    # the zero is also marked with a hollow marker at the floor
    assert (1, 1e-12) in _marker_points(ax)
    bound = _lines(ax, "bound (sigmoid)")[0]
    assert bound.get_linestyle() == "--"
    np.testing.assert_array_equal(bound.get_ydata(), [1e-5, 1e-3, 1e-1])
    assert ax.get_xlim() == (0.5, 5.5)
    assert ax.get_ylim() == pytest.approx((1e-13, 10))
    assert figure_to_png(fig)[:4] == b"\x89PNG"


def test_plot_layer_gradients_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one curve"):
        pl.plot_layer_gradients({})
    with pytest.raises(ValueError, match="finite and >= 0"):
        pl.plot_layer_gradients({"a": [1.0, -1.0]})
    with pytest.raises(ValueError, match="finite and >= 0"):
        pl.plot_layer_gradients({"a": [1.0, np.inf]})
    with pytest.raises(ValueError, match="floor must be > 0"):
        pl.plot_layer_gradients({"a": [1.0]}, floor=0)
    with pytest.raises(ValueError, match="1-D"):
        pl.plot_layer_gradients({"a": [[1.0]]})
