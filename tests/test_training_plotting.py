"""Views of the training lab (cnnbook.plotting.training): right series, right marks, errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook.plotting.training import LN10, kernel_run_label, plot_kernel_recovery, plot_runs, smooth


def test_smooth_is_a_running_mean_that_skips_nan():
    np.testing.assert_allclose(smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    out = smooth([2.0, np.nan, 4.0], 2)
    assert out[0] == 2 and np.isnan(out[1]) and out[2] == 4
    with pytest.raises(ValueError, match="window"):
        smooth([1.0], 0)


def runs():
    steps = {"base": np.linspace(2, 0.1, 6), "other": np.linspace(2, 0.2, 6),
             "big": np.array([2.5, 9.0, np.nan, np.nan, np.nan, np.nan])}
    acc = {"base": [0.5, 0.8, 0.9], "other": [0.4, 0.8, 0.85], "big": [0.1, np.nan, np.nan]}
    return steps, acc


def test_runs_panels_styles_and_labels():
    steps, acc = runs()
    fig = plot_runs(steps, acc, steps_per_epoch=2, reference="base", noise="other", title="t")
    assert isinstance(fig, Figure)
    ax_loss, ax_acc = fig.axes[:2]
    assert ax_loss.get_yscale() == "log"
    labels = [line.get_label() for line in ax_acc.lines if not line.get_label().startswith("_")]
    assert labels == ["base: 90.0%", "other: 85.0%", "big: stopped"]
    base = [line for line in ax_acc.lines if line.get_label() == "base: 90.0%"][0]
    assert base.get_linestyle() == "--" and base.get_color() == "black"
    np.testing.assert_allclose(base.get_ydata(), [50, 80, 90])
    crosses = [line for line in ax_loss.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_xdata()[0] == 2      # the last finite step of "big"
    assert any(np.allclose(line.get_ydata(), LN10) for line in ax_loss.lines)     # the ln 10 line
    assert len(fig.legends) == 1


@pytest.mark.parametrize("kw, match", [
    ({"steps_per_epoch": 3}, "entries"),
    ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ({"steps_per_epoch": 2, "reference": "nope"}, "nope"),
])
def test_runs_bad_input(kw, match):
    steps, acc = runs()
    with pytest.raises(ValueError, match=match):
        plot_runs(steps, acc, **kw)
    with pytest.raises(ValueError, match="same runs"):
        plot_runs(steps, {"base": [0.5, 0.8, 0.9]}, steps_per_epoch=2)


def test_kernel_recovery_one_panel_per_data_set_coloured_by_pool_dashed_for_average():
    runs = {(1, "max"): [2, 1, 0.5], (2, "max"): [2, 1.5, 1], (2, "avg"): [2, 1.8, 1.6], (4, "max"): [2, 2, 2]}
    fig = plot_kernel_recovery({"1 digit": runs, "32 digits": dict(runs)},
                               settled={"1 digit": {(2, "max"): 1, (4, "max"): 3}})
    left, right = fig.axes[:2]
    lines = {line.get_label(): line for line in left.lines if not line.get_label().startswith("_")}
    assert set(lines) == {"no pooling", "max 2×2", "average 2×2", "max 4×4"} and left.get_yscale() == "log"
    assert lines["max 2×2"].get_color() == lines["average 2×2"].get_color() != lines["max 4×4"].get_color()
    assert lines["max 2×2"].get_linestyle() == "-" and lines["average 2×2"].get_linestyle() == "--"
    dots = [line for line in left.lines if line.get_marker() == "o"]
    assert len(dots) == 1 and list(dots[0].get_xdata()) == [2] and list(dots[0].get_ydata()) == [1.5]
    assert not [line for line in right.lines if line.get_marker() == "o"]
    assert [left.get_title(), right.get_title()] == ["1 digit", "32 digits"]
    assert "from here on, the max passes on w*'s patches" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert kernel_run_label(1, "avg") == "no pooling" and kernel_run_label(4, "avg") == "average 4×4"


@pytest.mark.parametrize("errors, match", [
    ({}, "at least one"),
    ({"a": {}}, "at least one"),
    ({"a": {(3, "max"): [1.0]}}, "run keys"),
    ({"a": {(2, "mean"): [1.0]}}, "run keys"),
    ({"a": {(2, "max"): []}}, "non-empty"),
])
def test_kernel_recovery_bad_input(errors, match):
    with pytest.raises(ValueError, match=match):
        plot_kernel_recovery(errors)
