"""Tests for the pure rendering functions of cnnbook.plotting used by the chain-rule chapter:
plot_graph, plot_operation_counts and plot_difference_step."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.text import Annotation

from cnnbook import plotting, widgets

NODES = {"x1": (0.0, 1.0), "x2": (0.0, 0.0), "y": (2.0, 0.5)}
EDGES = [("x1", "y", "a"), ("x2", "y", "b")]


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if not isinstance(t, Annotation)]


# --------------------------------------------------------------------------- plot_graph


def test_plot_graph_draws_nodes_edges_values_and_grads():
    fig = plotting.plot_graph(NODES, EDGES, values={"x1": 2, "y": 30}, grads={"x2": 16.5}, title="g")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert sorted(c.center for c in circles) == sorted(NODES.values())
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == len(EDGES)
    shown = texts(fig)
    for expected in ["x1", "x2", "y", "a", "b", "2", "30", "16.5"]:
        assert expected in shown
    assert ax.get_title() == "g"


def test_plot_graph_arrows_end_on_the_circles_and_labels_sit_at_label_pos():
    fig = plotting.plot_graph({"u": (0.0, 0.0), "v": (2.0, 0.0)}, [("u", "v", "L")], label_pos=0.25)
    ax = fig.axes[0]
    (arrow,) = [t for t in ax.texts if isinstance(t, Annotation)]
    radius = [p for p in ax.patches if isinstance(p, Circle)][0].radius
    start, end = np.array(arrow.xyann), np.array(arrow.xy)
    assert start[0] == pytest.approx(radius * 1.05) and end[0] == pytest.approx(2 - radius * 1.05)
    (label,) = [t for t in ax.texts if t.get_text() == "L"]
    assert label.get_position() == pytest.approx((0.5, 0.0))


def test_plot_graph_key_only_for_what_is_shown():
    assert not any("forward value" in t for t in texts(plotting.plot_graph(NODES, EDGES)))
    shown = texts(plotting.plot_graph(NODES, EDGES, grads={"y": 1}))
    assert any("gradient" in t for t in shown) and not any("forward value" in t for t in shown)


@pytest.mark.parametrize(
    "edges, kwargs, message",
    [
        ([("x1", "z")], {}, "unknown node 'z'"),
        ([("x1",)], {}, "an edge must be"),
        ([("x1", "x1")], {}, "same position"),
        (EDGES, {"values": {"q": 1.0}}, "values name nodes"),
        (EDGES, {"grads": {"q": 1.0}}, "grads name nodes"),
    ],
)
def test_plot_graph_rejects_bad_input(edges, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_graph(NODES, edges, **kwargs)


# --------------------------------------------------------------------------- plot_operation_counts


def test_plot_operation_counts_one_line_per_method_on_a_log_axis():
    depths = [1, 2, 3]
    fig = plotting.plot_operation_counts(depths, {"paths": [4, 16, 48], "reverse": [6, 10, 14]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["paths", "reverse"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [4, 16, 48])
    assert ax.get_yscale() == "log"
    assert plotting.plot_operation_counts(depths, {"a": [1, 2, 3]}, logy=False).axes[0].get_yscale() == "linear"


def test_plot_operation_counts_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"counts\['a'\] must have the shape of depths"):
        plotting.plot_operation_counts([1, 2, 3], {"a": [1, 2]})


# --------------------------------------------------------------------------- plot_difference_step

STEPS = 10.0 ** -np.arange(0, 5)
ERRORS = {"central": 10.0 ** -(2.0 * np.arange(0, 5)), "forward": 10.0 ** -np.arange(0, 5.0)}


def test_plot_difference_step_highlights_method_and_marks_h():
    fig = plotting.plot_difference_step(STEPS, ERRORS, h=1e-2, method="forward", estimate=0.5, exact=0.52)
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    assert by_label["forward"].get_linewidth() > by_label["central"].get_linewidth()
    # the circle sits on the forward curve at h = 1e-2, where its error is 1e-2
    marker = [line for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata()) == 1][0]
    assert marker.get_xdata()[0] == 1e-2 and marker.get_ydata()[0] == pytest.approx(1e-2)
    (box,) = [t for t in ax.texts]
    assert "forward" in box.get_text() and "0.5000000000" in box.get_text() and "2.0e-02" in box.get_text()


def test_plot_difference_step_interpolates_between_steps_in_log_coordinates():
    fig = plotting.plot_difference_step(STEPS, ERRORS, h=10**-1.5, method="central", estimate=1.0, exact=1.0)
    marker = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 1][0]
    assert marker.get_ydata()[0] == pytest.approx(1e-3)   # halfway between 1e-2 and 1e-4 in log scale


def test_plot_difference_step_is_deterministic():
    def png():
        return widgets.figure_to_png(
            plotting.plot_difference_step(STEPS, ERRORS, h=1e-3, method="central", estimate=1.0, exact=1.0)
        )

    assert png() == png()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "backward"}, "method 'backward' is not one of the curves"),
        ({"h": 0.0}, "h must be > 0"),
        ({"errors": {"central": [1.0, 2.0]}, "method": "central"}, r"errors\['central'\] must have the shape"),
    ],
)
def test_plot_difference_step_rejects_bad_input(kwargs, message):
    args = {"errors": ERRORS, "h": 1e-2, "method": "central", "estimate": 1.0, "exact": 1.0, **kwargs}
    errors = args.pop("errors")
    with pytest.raises(ValueError, match=message):
        plotting.plot_difference_step(STEPS, errors, **args)


# --------------------------------------------------------------------------- purity


def test_new_plotting_functions_leave_pyplot_alone():
    before = Gcf.get_num_fig_managers()
    plotting.plot_graph(NODES, EDGES)
    plotting.plot_operation_counts([1, 2], {"a": [1, 2]})
    plotting.plot_difference_step(STEPS, ERRORS, h=1e-2, method="central", estimate=1.0, exact=1.0)
    assert Gcf.get_num_fig_managers() == before
