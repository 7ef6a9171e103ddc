"""Explorers: controls wired to precomputed views, so they also work without a kernel.

The static HTML book runs no Python, so a slider whose callback recomputes a
plot would freeze there.  An explorer therefore renders every view of a small
discrete grid of control values up front and links the controls to the views
on the JavaScript side: each control's ``index`` is ``jslink``-ed to the
``selected_index`` of ``Stack`` widgets holding the views.  With several
controls the stacks nest, one level per control.  The same widget responds in
Jupyter and in the built page.

Views come from pure functions in :mod:`cnnbook.plotting` (a matplotlib
Figure becomes a PNG image, a string becomes HTML); this module only wires.

Example::

    ex = explorer(lambda h: plotting.some_plot(h=h), {"h": [1e-1, 1e-3, 1e-5]})
    ex            # display it
    ex.select(h=1e-3); ex.visible_view()   # what the page shows for h = 1e-3
"""

from __future__ import annotations

import io
from typing import Callable, Mapping, Sequence

import ipywidgets as W
from matplotlib.figure import Figure


def figure_to_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib Figure (deterministic: no timestamp metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def to_widget(view) -> W.Widget:
    """Figure -> Image, str -> HTML, a Widget stays as it is."""
    if isinstance(view, W.Widget):
        return view
    if isinstance(view, Figure):
        return W.Image(value=figure_to_png(view), format="png", layout=W.Layout(max_width="100%"))
    if isinstance(view, str):
        return W.HTML(value=view)
    raise ValueError(
        f"render must return a matplotlib Figure, an HTML string or a widget, got {type(view).__name__}"
    )


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Explorer(W.VBox):
    """A VBox of controls above nested Stacks of precomputed views.

    Attributes: ``controls`` {name: SelectionSlider or Dropdown}, ``values``
    {name: list of values}, ``views`` {tuple of values: view widget},
    ``links`` the jslink objects that do the switching.  A page built from a
    notebook shows the state the notebook left, so a cell that moves the
    controls with :meth:`select` should end with :meth:`reset`.
    """

    def select(self, **values) -> None:
        """Set controls to values, then apply the links as the browser would."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r}; controls are {list(self.controls)}")
            options = self.values[name]
            if value not in options:
                raise ValueError(f"{name}={value!r} is not on the grid {options}")
            self.controls[name].index = options.index(value)
        self.sync_links()

    def reset(self) -> None:
        """Back to the initial values: the static page shows the state a cell leaves."""
        for name, index in self.initial_index.items():
            self.controls[name].index = index
        self.sync_links()

    def sync_links(self) -> None:
        """Copy every link's source trait to its target, as jslink does in JavaScript."""
        for link in self.links:
            (src, src_trait), (dst, dst_trait) = link.source, link.target
            setattr(dst, dst_trait, getattr(src, src_trait))

    def visible_view(self) -> W.Widget:
        """The view the stacks show now (follow selected_index from the outer stack)."""
        node = self.children[-1]
        while isinstance(node, W.Stack):
            node = node.children[node.selected_index]
        return node


def explorer(
    render: Callable[..., object],
    controls: Mapping[str, Sequence],
    *,
    labels: Mapping[str, str] | None = None,
    dropdown: Sequence[str] = (),
    initial: Mapping[str, object] | None = None,
    title: str | None = None,
) -> Explorer:
    """Build an explorer over the grid of ``controls``.

    render: called as render(**values) for every combination of control
    values; returns a Figure, an HTML string or a widget.
    controls: {name: list of values}, in display order (keep the product small:
    every combination is rendered and stored in the page).
    labels: slider descriptions (default: the names).  dropdown: names shown
    as a Dropdown instead of a slider.  initial: starting values (default
    the first of each list).  title: an HTML heading above the controls.
    """
    if not controls:
        raise ValueError("controls must name at least one control")
    names = list(controls)
    values = {name: list(controls[name]) for name in names}
    for name, opts in values.items():
        if not opts:
            raise ValueError(f"control {name!r} has no values")
    labels = dict(labels or {})
    initial = dict(initial or {})

    widgets = {}
    for name in names:
        options = [(_format(v), i) for i, v in enumerate(values[name])]
        start = values[name].index(initial[name]) if name in initial else 0
        cls = W.Dropdown if name in dropdown else W.SelectionSlider
        kw = {} if cls is W.Dropdown else {"continuous_update": True}
        widgets[name] = cls(
            options=options,
            index=start,
            description=labels.get(name, name),
            style={"description_width": "initial"},
            # the right margin keeps a control clear of the next control's label in a row
            layout=W.Layout(width="auto" if cls is W.Dropdown else "420px", margin="2px 24px 2px 0"),
            **kw,
        )
        widgets[name].add_class("cnnbook-control")

    views: dict[tuple, W.Widget] = {}
    stacks_per_level: list[list[W.Stack]] = [[] for _ in names]

    def build(level: int, prefix: tuple) -> W.Widget:
        name = names[level]
        children = []
        for v in values[name]:
            key = prefix + (v,)
            if level + 1 == len(names):
                view = to_widget(render(**dict(zip(names, key))))
                # Which combination a view belongs to, readable in the page's DOM: the browser
                # test checks that moving the controls shows the view made for their values.
                indices = [values[n].index(v) for n, v in zip(names, key)]
                view.add_class("cnnbook-view")
                view.add_class("cnnbook-view-" + "-".join(map(str, indices)))
                views[key] = view
                children.append(view)
            else:
                children.append(build(level + 1, key))
        stack = W.Stack(children=children, selected_index=widgets[name].index)
        stacks_per_level[level].append(stack)
        return stack

    root = build(0, ())
    links = [
        W.jslink((widgets[name], "index"), (stack, "selected_index"))
        for name, stacks in zip(names, stacks_per_level)
        for stack in stacks
    ]
    header = [W.HTML(value=title)] if title else []
    box = Explorer(children=[*header, W.HBox(list(widgets.values()), layout=W.Layout(flex_flow="row wrap")), root])
    box.controls, box.values, box.views, box.links = widgets, values, views, links
    box.initial_index = {name: w.index for name, w in widgets.items()}
    box.add_class("cnnbook-explorer")
    return box

