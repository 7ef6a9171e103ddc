"""Pure rendering functions: arrays in, a matplotlib Figure or an HTML string out.

Nothing here keeps state or touches pyplot's current figure, so every function
can be called from a test, from a notebook cell, or by an explorer
(:mod:`cnnbook.widgets`) that renders all its views in advance.

This module holds what every chapter uses (tables of numbers, highlights, the
finite-difference and graph plots of the first chapter); one submodule per
topic holds the views of that chapter: :mod:`cnnbook.plotting.losses` (losses
and activations), :mod:`~cnnbook.plotting.softmax`, :mod:`~cnnbook.plotting.fc`,
:mod:`~cnnbook.plotting.pooling`, :mod:`~cnnbook.plotting.conv`,
:mod:`~cnnbook.plotting.cnn` (training a network), :mod:`~cnnbook.plotting.fast`
(im2col and timings).
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

# Colours used for highlights across the book (colour-blind safe pairs).
HIGHLIGHT = "#ffd166"
HIGHLIGHT_2 = "#8ecae6"
ZERO_TEXT = "#9a9a9a"


def _cell_text(value, fmt: str) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return fmt.format(value)
    return html.escape(str(value))


def matrix_html(
    a,
    *,
    fmt: str = "{:g}",
    highlight: Mapping[tuple[int, int], str] | np.ndarray | None = None,
    caption: str | None = None,
    dim_zeros: bool = False,
) -> str:
    """A small 2-D array as an HTML table.

    a: (rows, cols) numbers or objects (e.g. sympy expressions).
    highlight: {(i, j): css colour} or a boolean mask of a's shape (cells
    coloured HIGHLIGHT).  dim_zeros: grey out exact zeros (useful for
    dilated or routed gradients).  caption: text above the table (HTML).
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"a must be a 2-D array (rows, cols), got shape {a.shape}")
    if highlight is None:
        colours = {}
    elif isinstance(highlight, np.ndarray):
        if highlight.shape != a.shape:
            raise ValueError(f"highlight mask must have a's shape {a.shape}, got {highlight.shape}")
        colours = {tuple(int(k) for k in idx): HIGHLIGHT for idx in np.argwhere(highlight)}
    else:
        colours = dict(highlight)
    rows = []
    for i in range(a.shape[0]):
        cells = []
        for j in range(a.shape[1]):
            v = a[i, j]
            style = "border:1px solid #bbb;padding:2px 6px;text-align:right;min-width:2.2em;"
            if (i, j) in colours:
                style += f"background:{colours[(i, j)]};font-weight:bold;"
            if dim_zeros and isinstance(v, (int, float, np.integer, np.floating)) and v == 0:
                style += f"color:{ZERO_TEXT};"
            cells.append(f'<td style="{style}">{_cell_text(v, fmt)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    # The caption sits in a block above the table, not in <caption>: a <caption> is only as
    # wide as its table and would wrap a long title into a narrow column.
    cap = f'<div style="margin-bottom:2px">{caption}</div>' if caption else ""
    return (
        '<div class="cnnbook-matrix" style="display:inline-block;vertical-align:top;'
        'margin:4px 12px 4px 0">'
        f'{cap}<table style="border-collapse:collapse;font-family:monospace">'
        f"{''.join(rows)}</table></div>"
    )


def side_by_side(*parts: str) -> str:
    """Several HTML fragments (e.g. matrix_html tables) in one row."""
    return '<div style="display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px">' + "".join(
        f"<div>{p}</div>" for p in parts
    ) + "</div>"


def plot_difference_errors(
    steps: Sequence[float],
    errors: Mapping[str, Sequence[float]],
    *,
    mark: float | None = None,
    slopes: Mapping[str, float] | None = None,
    title: str = "Finite-difference error against the step size",
) -> Figure:
    """Log-log plot of |numerical - exact| derivative against the step h.

    steps: the step sizes h.  errors: {label: error at each step}.
    mark: a step to mark with a vertical line (the explorer's current h).
    slopes: {label: p} draws a dashed guide line proportional to h**p
    through the middle of that curve (truncation error O(h**p)).
    """
    steps = np.asarray(steps, dtype=float)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for label, err in errors.items():
        err = np.asarray(err, dtype=float)
        if err.shape != steps.shape:
            raise ValueError(f"errors[{label!r}] must have the shape of steps {steps.shape}, got {err.shape}")
        # An error of exactly 0 cannot be drawn on a log axis; show it at the floor instead.
        ax.loglog(steps, np.maximum(err, 1e-17), "o-", ms=3, label=label)
    for label, p in (slopes or {}).items():
        err = np.asarray(errors[label], dtype=float)
        k = len(steps) // 4
        guide = err[k] * (steps / steps[k]) ** p
        ax.loglog(steps, guide, "--", lw=1, color="gray")
        ax.annotate(f"$\\propto h^{p:g}$", (steps[0], guide[0]), fontsize=9, color="gray")
    if mark is not None:
        ax.axvline(mark, color="crimson", lw=1)
    ax.set_xlabel("step $h$")
    ax.set_ylabel("absolute error of the derivative")
    ax.set_ylim(1e-17, None)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig


def plot_graph(
    nodes: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple],
    *,
    values: Mapping[str, float] | None = None,
    grads: Mapping[str, float] | None = None,
    fmt: str = "{:g}",
    label_pos: float = 0.5,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 3.6),
) -> Figure:
    """A computational graph: labelled nodes joined by labelled arrows.

    nodes: {name: (x, y)} positions chosen by the caller (data coordinates);
    the name is drawn inside the node and may be matplotlib mathtext such as
    ``"$z_1$"``.  edges: (source, target) or (source, target, label) tuples;
    an arrow points from source to target (the direction of the forward pass)
    and the label (e.g. the local derivative) is written at its middle.
    values: {name: number} forward values, drawn above the node in blue.
    grads: {name: number} gradients of the output, drawn below the node in
    orange, with a key to the colours under the graph.  fmt formats both.
    label_pos: where along each arrow its label sits, from 0 (source) to 1
    (target); move it off 0.5 when two arrows cross at their middles.
    Raises ValueError for an edge that names an unknown node.
    """
    from matplotlib.patches import Circle

    values, grads = dict(values or {}), dict(grads or {})
    for key, where in ((values, "values"), (grads, "grads")):
        unknown = set(key) - set(nodes)
        if unknown:
            raise ValueError(f"{where} name nodes that are not in nodes: {sorted(unknown)}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    radius = 0.28
    for edge in edges:
        if len(edge) not in (2, 3):
            raise ValueError(f"an edge must be (source, target) or (source, target, label), got {edge!r}")
        src, dst = edge[0], edge[1]
        for end in (src, dst):
            if end not in nodes:
                raise ValueError(f"edge {edge!r} names the unknown node {end!r}; nodes are {list(nodes)}")
        (x0, y0), (x1, y1) = nodes[src], nodes[dst]
        length = float(np.hypot(x1 - x0, y1 - y0))
        if length == 0:
            raise ValueError(f"edge {edge!r} joins two nodes at the same position")
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        gap = radius * 1.05  # start and end the arrow on the circles, not at their centres
        ax.annotate(
            "", xy=(x1 - gap * ux, y1 - gap * uy), xytext=(x0 + gap * ux, y0 + gap * uy),
            arrowprops=dict(arrowstyle="-|>", color="#555", lw=1.2, shrinkA=0, shrinkB=0),
        )
        if len(edge) == 3 and edge[2]:
            ax.text(x0 + label_pos * (x1 - x0), y0 + label_pos * (y1 - y0), edge[2], ha="center", va="center", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for name, (x, y) in nodes.items():
        ax.add_patch(Circle((x, y), radius, facecolor=HIGHLIGHT_2, edgecolor="#333", lw=1.2, zorder=3))
        ax.text(x, y, name, ha="center", va="center", fontsize=11, zorder=4)
        if name in values:
            ax.text(x, y + radius + 0.08, fmt.format(values[name]), ha="center", va="bottom",
                    fontsize=9, color="#1f5fa8", zorder=4)
        if name in grads:
            ax.text(x, y - radius - 0.08, fmt.format(grads[name]), ha="center", va="top",
                    fontsize=9, color="#c0561b", fontweight="bold", zorder=4)
    xs = [p[0] for p in nodes.values()] or [0.0]
    ys = [p[1] for p in nodes.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.75, max(ys) + 0.75)
    key = []
    if values:
        key.append(("above: forward value", "#1f5fa8"))
    if grads:
        key.append(("below: gradient of the output", "#c0561b"))
    for i, (text, colour) in enumerate(key):
        ax.text(0.0 + 0.5 * i, -0.02, text, transform=ax.transAxes, ha="left", va="top",
                fontsize=9, color=colour)
    if title:
        ax.set_title(title)
    return fig


def plot_operation_counts(
    depths: Sequence[int],
    counts: Mapping[str, Sequence[float]],
    *,
    logy: bool = True,
    title: str = "Multiplications needed for the gradient",
) -> Figure:
    """Operation counts against depth, one line per method.

    depths: the x values (e.g. number of layers).  counts: {label: count at
    each depth}.  logy: a logarithmic y axis, on which exponential growth is a
    straight line and linear growth flattens out.
    """
    depths = np.asarray(depths)
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for label, c in counts.items():
        c = np.asarray(c, dtype=float)
        if c.shape != depths.shape:
            raise ValueError(f"counts[{label!r}] must have the shape of depths {depths.shape}, got {c.shape}")
        ax.plot(depths, c, "o-", ms=4, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("depth (layers)")
    ax.set_ylabel("multiplications")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_difference_step(
    steps: Sequence[float],
    errors: Mapping[str, Sequence[float]],
    *,
    h: float,
    method: str,
    estimate: float,
    exact: float,
    title: str | None = None,
) -> Figure:
    """One view of a step-size explorer: the error curves with the step h marked.

    steps, errors: as for :func:`plot_difference_errors` ({label: |error| at
    each step}).  method: the label of the curve to highlight (the others are
    drawn faintly for comparison).  h: the current step, marked with a
    vertical line and a dot on the highlighted curve at h (interpolated in
    log-log coordinates if h is not one of the steps).  estimate, exact: the
    numerical and the exact derivative at this step, printed in a box.
    Lighter than plot_difference_errors (fixed margins, one tick label per two
    decades), because an explorer renders many views.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    steps = np.asarray(steps, dtype=float)
    if method not in errors:
        raise ValueError(f"method {method!r} is not one of the curves {list(errors)}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    fig = Figure(figsize=(8.0, 3.8))
    fig.subplots_adjust(left=0.1, right=0.7, bottom=0.13, top=0.9)
    ax = fig.add_subplot()
    for label, err in errors.items():
        err = np.asarray(err, dtype=float)
        if err.shape != steps.shape:
            raise ValueError(f"errors[{label!r}] must have the shape of steps {steps.shape}, got {err.shape}")
        main = label == method
        ax.loglog(steps, np.maximum(err, 1e-17), "o-" if main else "-", ms=3, lw=2 if main else 1,
                  alpha=1 if main else 0.35, label=label, zorder=3 if main else 2)
    err = np.maximum(np.asarray(errors[method], dtype=float), 1e-17)
    order = np.argsort(steps)
    at_h = 10 ** np.interp(np.log10(h), np.log10(steps[order]), np.log10(err[order]))
    ax.axvline(h, color="crimson", lw=1)
    ax.plot([h], [at_h], "o", ms=9, mfc="none", mec="crimson", mew=2, zorder=4)
    lo, hi = np.floor(np.log10(steps.min())), np.ceil(np.log10(steps.max()))
    ax.xaxis.set_major_locator(FixedLocator(10.0 ** np.arange(lo, hi + 1, 2)))
    ax.yaxis.set_major_locator(FixedLocator(10.0 ** np.arange(-16, 1, 2)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(lambda v, _: f"1e{int(round(np.log10(v)))}")
    ax.set_ylim(1e-17, 1)
    ax.set_xlabel("step h")
    ax.set_ylabel("|numerical - exact|")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.text(1.04, 0.97,
            f"{method} difference\nh         {h:.0e}\n\nnumerical {estimate:.10f}\n"
            f"exact     {exact:.10f}\nerror     {abs(estimate - exact):.1e}",
            transform=ax.transAxes, ha="left", va="top", multialignment="left", fontsize=9,
            family="monospace", bbox=dict(boxstyle="round", fc="white", ec="#bbb"))
    if title:
        ax.set_title(title)
    return fig
