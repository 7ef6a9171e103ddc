import itertools

import ipywidgets as W
import numpy as np
import pytest
from ipywidgets.widgets.widget_link import Link
from matplotlib.figure import Figure

from cnnbook import plotting, widgets


def render_html(a, b):
    return plotting.matrix_html(np.array([[a, b]]), caption=f"a={a} b={b}")


def render_figure(h):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [0, h])
    return fig


def test_every_combination_of_controls_shows_its_own_view():
    grid = {"a": [1, 2, 3], "b": [10, 20]}
    ex = widgets.explorer(render_html, grid)
    seen = set()
    for a, b in itertools.product(*grid.values()):
        ex.select(a=a, b=b)
        html = ex.visible_view().value
        assert html == render_html(a, b)
        seen.add(html)
    assert len(seen) == 6


def test_links_are_javascript_links_from_control_index_to_stack():
    ex = widgets.explorer(render_html, {"a": [1, 2, 3], "b": [10, 20]})
    # one outer stack for a, three inner stacks for b
    assert len(ex.links) == 1 + 3
    for link in ex.links:
        assert isinstance(link, Link)  # jslink: linked in the browser, not in Python
        (src, src_trait), (dst, dst_trait) = link.source, link.target
        assert src_trait == "index" and dst_trait == "selected_index"
        assert isinstance(dst, W.Stack)
        assert src in ex.controls.values()


def test_moving_one_control_keeps_the_other():
    ex = widgets.explorer(render_html, {"a": [1, 2, 3], "b": [10, 20]})
    ex.select(a=3, b=20)
    ex.controls["a"].index = 0
    ex.sync_links()
    assert ex.visible_view().value == render_html(1, 20)


def test_figures_become_png_images_and_differ_per_value():
    ex = widgets.explorer(render_figure, {"h": [0.5, 1.0, 2.0]})
    pngs = []
    for h in [0.5, 1.0, 2.0]:
        ex.select(h=h)
        view = ex.visible_view()
        assert isinstance(view, W.Image)
        assert view.value[:8] == b"\x89PNG\r\n\x1a\n"
        assert view.value == widgets.figure_to_png(render_figure(h))
        pngs.append(view.value)
    assert len(set(pngs)) == 3


def test_initial_values_and_dropdown():
    ex = widgets.explorer(
        render_html, {"a": [1, 2, 3], "b": [10, 20]}, initial={"a": 2}, dropdown=["b"], title="<b>t</b>"
    )
    assert isinstance(ex.controls["b"], W.Dropdown)
    assert isinstance(ex.controls["a"], W.SelectionSlider)
    assert ex.visible_view().value == render_html(2, 10)
    assert ex.children[0].value == "<b>t</b>"


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="controls"):
        widgets.explorer(render_html, {})
    with pytest.raises(ValueError, match="'b' has no values"):
        widgets.explorer(render_html, {"a": [1], "b": []})
    ex = widgets.explorer(render_html, {"a": [1, 2], "b": [10]})
    with pytest.raises(ValueError, match="unknown control 'c'"):
        ex.select(c=1)
    with pytest.raises(ValueError, match="a=5 is not on the grid"):
        ex.select(a=5)
    with pytest.raises(ValueError, match="render must return"):
        widgets.explorer(lambda a: 42, {"a": [1]})


def test_figure_to_png_is_deterministic():
    assert widgets.figure_to_png(render_figure(1.0)) == widgets.figure_to_png(render_figure(1.0))


def test_reset_returns_to_the_initial_view():
    ex = widgets.explorer(render_html, {"a": [1, 2, 3], "b": [10, 20]}, initial={"a": 2, "b": 20})
    ex.select(a=3, b=10)
    ex.reset()
    assert ex.visible_view().value == render_html(2, 20)
    assert ex.controls["a"].index == 1


def test_views_and_controls_carry_dom_classes_for_the_browser_test():
    ex = widgets.explorer(render_html, {"a": [1, 2, 3], "b": [10, 20]})
    assert ex.views[(3, 10)]._dom_classes == ("cnnbook-view", "cnnbook-view-2-0")
    assert all("cnnbook-control" in c._dom_classes for c in ex.controls.values())
    assert "cnnbook-explorer" in ex._dom_classes
