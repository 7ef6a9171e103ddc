"""Pure rendering functions for the chapters "Loss functions" and "Activations".

Arrays in, a matplotlib :class:`~matplotlib.figure.Figure` out; nothing here
touches pyplot's global state, so the functions can be called from tests,
from notebook cells and from :func:`cnnbook.widgets.explorer` (which renders
every view of its grid in advance).

* :func:`plot_curves` -- one or more panels of curves over a common x axis,
  with an optional marked point (the explorer's current position).
* :func:`plot_prediction_losses` -- a bar chart of a prediction against its
  target, followed by panels of curves (losses and their gradients).
* :func:`plot_layer_gradients` -- gradient magnitude per layer on a log axis
  (one line per activation), with optional bound lines.
* :func:`plot_gradient_ratio` -- the returned logit gradient over the true one
  against the logit gap, one line per way of computing it, with marked gaps.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

# One colour per curve name used in the two chapters; other names get the default cycle.
COLOURS = {
    "MSE": "#d55e00",
    "cross-entropy": "#0072b2",
    "sigmoid": "#d55e00",
    "tanh": "#009e73",
    "ReLU": "#0072b2",
    "fused": "#0072b2",
    "unfused": "#009e73",
    "clipped": "#d55e00",
}

_YSCALES = ("linear", "log", "symlog")


def _as_1d(values, name: str, length: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have length {length} (the x values), got {arr.shape[0]}")
    return arr


def _mark_index(x: np.ndarray, mark) -> int | None:
    if mark is None:
        return None
    hits = np.flatnonzero(np.isclose(x, mark, rtol=1e-12, atol=0))
    if hits.size == 0:
        raise ValueError(f"mark={mark!r} must be one of the x values (the marked point is drawn on the curves)")
    return int(hits[0])


def _row_layout(fig: Figure, n: int, *, title: bool) -> None:
    # Fixed margins for a row of n axes.  (A layout engine would do this automatically, but
    # it doubles the time to render a view, and an explorer renders every view up front.)
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.15 / width, bottom=0.55 / height,
                        top=1 - (0.75 if title else 0.35) / height, wspace=0.75 * n / width)


def _draw_panel(ax, x, title, curves, *, mark_idx, yscale, xlabel, fmt):
    if yscale not in _YSCALES:
        raise ValueError(f"yscale of panel {title!r} must be one of {_YSCALES}, got {yscale!r}")
    arrays = {label: _as_1d(y, f"panels[{title!r}][{label!r}]", len(x)) for label, y in curves.items()}
    lines = {label: ax.plot(x, y, lw=1.8, label=label, color=COLOURS.get(label))[0] for label, y in arrays.items()}
    if mark_idx is not None:
        # the curve with the highest value at the mark gets its label above the dot, the others below
        top = max(arrays, key=lambda label: arrays[label][mark_idx])
        for label, y in arrays.items():
            colour = lines[label].get_color()
            ax.plot([x[mark_idx]], [y[mark_idx]], "o", ms=7, color=colour, zorder=3)
            ax.annotate(fmt.format(y[mark_idx]), (x[mark_idx], y[mark_idx]), textcoords="offset points",
                        xytext=(6, 6 if label == top else -14), fontsize=8, color=colour)
        ax.axvline(x[mark_idx], color="0.5", lw=0.8, ls=":")
    if yscale == "symlog":
        lo = min(float(np.min(y)) for y in arrays.values())
        hi = max(float(np.max(y)) for y in arrays.values())
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(lo * 2 if lo < -1 else lo - 0.5, hi * 2 if hi > 1 else hi + 0.5)
        decades = [sign * 10.0**k for sign in (-1, 1) for k in range(0, 7)]
        ax.set_yticks(sorted([0.0] + [d for d in decades if lo <= d <= hi]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    elif yscale == "log":
        ax.set_yscale("log")
    else:
        ax.margins(y=0.1)
    if yscale != "log":
        ax.axhline(0, color="0.7", lw=0.6, zorder=0)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _check_panels(panels, yscale) -> dict:
    """The yscale mapping as a dict, after checking that it names only existing panels."""
    if not panels:
        raise ValueError("panels must hold at least one panel")
    yscale = dict(yscale or {})
    unknown = set(yscale) - set(panels)
    if unknown:
        raise ValueError(f"yscale names panels that do not exist: {sorted(unknown)}")
    return yscale


def _finish_panels(fig, axes, x, panels, *, mark_idx, yscale, xlabel, fmt, title):
    """Draw one curve panel per axes, add the title, return the figure."""
    for ax, (name, curves) in zip(axes, panels.items()):
        _draw_panel(ax, x, name, curves, mark_idx=mark_idx, yscale=yscale.get(name, "linear"),
                    xlabel=xlabel, fmt=fmt)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_curves(
    x,
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    xlabel: str = "x",
    mark: float | None = None,
    yscale: Mapping[str, str] | None = None,
    fmt: str = "{:.4g}",
    title: str | None = None,
) -> Figure:
    """Panels of curves side by side over a common x axis.

    x: (M,) the abscissa.  panels: {panel title: {curve label: (M,) values}},
    one axes per panel, in order.  mark: one of the x values; each curve gets
    a dot and its value there, and a dotted vertical line (the explorer's
    current point).  yscale: {panel title: "linear" | "log" | "symlog"}
    (default linear; symlog is linear within +-1).  fmt formats the marked
    values.  Returns a Figure with len(panels) axes.
    """
    x = _as_1d(x, "x")
    yscale = _check_panels(panels, yscale)
    mark_idx = _mark_index(x, mark)
    fig = Figure(figsize=(4.2 * len(panels), 3.4))
    _row_layout(fig, len(panels), title=bool(title))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    return _finish_panels(fig, axes, x, panels, mark_idx=mark_idx, yscale=yscale, xlabel=xlabel,
                          fmt=fmt, title=title)


def plot_prediction_losses(
    x,
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    prediction: Sequence[float],
    target: Sequence[float],
    mark: float,
    xlabel: str = "predicted probability of the true class",
    yscale: Mapping[str, str] | None = None,
    fmt: str = "{:.4g}",
    title: str | None = None,
) -> Figure:
    """The loss explorer's view: the current prediction, then curves over a grid.

    prediction, target: (K,) the probability vector shown now and its target
    (drawn as bars and outlined boxes in the first axes).  x: (M,) the grid
    the curves are drawn over; mark: the current grid value (one of x).
    panels, yscale, fmt: as in :func:`plot_curves`.  Returns a Figure with
    1 + len(panels) axes, two per row.
    """
    x = _as_1d(x, "x")
    pred = _as_1d(prediction, "prediction")
    tgt = _as_1d(target, "target", len(pred))
    yscale = _check_panels(panels, yscale)
    mark_idx = _mark_index(x, mark)
    if mark_idx is None:
        raise ValueError("mark is required: the explorer's current value on the grid x")

    n = 1 + len(panels)
    # Two axes per row: the book's text column is narrow, and a single row of four panels
    # would shrink every label below reading size.
    rows = (n + 1) // 2
    fig = Figure(figsize=(8.0, 3.1 * rows))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.45 / (3.1 * rows),
                        top=1 - (0.75 if title else 0.35) / (3.1 * rows), wspace=0.3,
                        hspace=0.55)
    grid = fig.subplots(rows, 2, squeeze=False).ravel()
    for extra in grid[n:]:
        extra.remove()
    axes = grid[:n]
    ax = axes[0]
    k = np.arange(len(pred))
    ax.bar(k, pred, width=0.6, color="#56b4e9", label="prediction $y$")
    ax.bar(k, tgt, width=0.8, fill=False, edgecolor="black", lw=1.5, label="target $t$")
    for i, v in zip(k, pred):
        ax.annotate(f"{v:.3f}", (i, v), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xticks(k, [f"class {i}" for i in k])
    ax.set_ylim(0, 1.15)
    ax.set_title("prediction and target", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return _finish_panels(fig, axes[1:], x, panels, mark_idx=mark_idx, yscale=yscale, xlabel=xlabel,
                          fmt=fmt, title=title)


def plot_layer_gradients(
    magnitudes: Mapping[str, Sequence[float]],
    *,
    bounds: Mapping[str, Sequence[float]] | None = None,
    floor: float = 1e-30,
    ylim: tuple[float, float] | None = None,
    max_layer: int | None = None,
    ylabel: str = r"$\|\partial E / \partial W^l\|$",
    title: str | None = None,
) -> Figure:
    """Gradient magnitude at each layer on a log axis, one line per curve.

    Layers are numbered 1..L as in the book (a^0 = x is the input, layer 1
    the nearest to it).  magnitudes: {label: (L,) non-negative values,
    entry i for layer i + 1} (curves may have different L).  Exact zeros (a
    dead unit, a ReLU chain cut off) cannot be drawn on a log axis: they are
    drawn at ``floor`` with hollow markers.  bounds: {label: (L,) values}
    drawn dashed in the colour of that label.  ylim, max_layer: fixed axis
    limits, so that the views of an explorer are comparable (max_layer: the
    number of the last layer shown).  Returns a Figure with one axes.
    """
    if not magnitudes:
        raise ValueError("magnitudes must hold at least one curve")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (a log axis), got {floor!r}")
    fig = Figure(figsize=(6.4, 3.8))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.91 if title else 0.96)
    ax = fig.add_subplot()
    for label, mag in magnitudes.items():
        mag = _as_1d(mag, f"magnitudes[{label!r}]")
        if np.any(mag < 0) or not np.all(np.isfinite(mag)):
            raise ValueError(f"magnitudes[{label!r}] must be finite and >= 0")
        layers = np.arange(1, len(mag) + 1)
        colour = COLOURS.get(label)
        (line,) = ax.semilogy(layers, np.maximum(mag, floor), "o-", ms=4, lw=1.6, label=label, color=colour)
        zero = mag == 0
        if np.any(zero):
            ax.plot(layers[zero], np.full(zero.sum(), floor), "o", ms=8, mfc="white",
                    color=line.get_color(), zorder=3)
    for label, bound in (bounds or {}).items():
        bound = _as_1d(bound, f"bounds[{label!r}]")
        ax.semilogy(np.arange(1, len(bound) + 1), bound, "--", lw=1,
                    color=COLOURS.get(label, "gray"), label=f"bound ({label})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer $l$ (1 = nearest the input)")
    ax.set_ylabel(ylabel)
    if max_layer is not None:
        ax.set_xlim(0.5, max_layer + 0.5)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# Line styles of plot_gradient_ratio, so that curves lying on top of each other stay visible.
_RATIO_STYLES = ({"lw": 4.0, "alpha": 0.45}, {"lw": 1.8, "ls": "--"}, {"lw": 1.8},
                 {"lw": 1.4, "ls": "-."}, {"lw": 1.4, "ls": ":"})


def plot_gradient_ratio(
    gap,
    ratios: Mapping[str, Sequence[float]],
    *,
    marks: Mapping[str, float] | None = None,
    xlabel: str = "logit gap $g$ (true class $g$ below the other)",
    title: str | None = None,
) -> Figure:
    """Returned over true logit gradient against the logit gap, on a log x axis.

    gap: (M,) positive logit gaps, increasing.  ratios: {path label: (M,)
    ratios}; a NaN (the path returned no number) leaves a hole in that line.
    marks: {label: gap} drawn as dotted vertical lines with their label (the
    clip threshold, an overflow, ...).  Returns a Figure with one axes,
    y from 0 to a little above 1.
    """
    gap = _as_1d(gap, "gap")
    if gap.size < 2 or np.any(gap <= 0) or np.any(np.diff(gap) <= 0):
        raise ValueError("gap must hold at least two positive, increasing values (a log axis)")
    if not ratios:
        raise ValueError("ratios must hold at least one curve")
    fig = Figure(figsize=(7.2, 3.8))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.14, top=0.9 if title else 0.96)
    ax = fig.add_subplot()
    for i, (label, ratio) in enumerate(ratios.items()):
        ratio = _as_1d(ratio, f"ratios[{label!r}]", len(gap))
        ax.plot(gap, ratio, label=label, color=COLOURS.get(label), **_RATIO_STYLES[i % len(_RATIO_STYLES)])
    for j, (label, where) in enumerate((marks or {}).items()):
        if not gap[0] <= where <= gap[-1]:
            raise ValueError(f"marks[{label!r}] = {where!r} lies outside the gap range [{gap[0]}, {gap[-1]}]")
        ax.axvline(where, color="0.4", lw=0.9, ls=":")
        # labels alternate right and left of their line, so that two close lines stay readable
        ax.annotate(label, (where, 0.5), xytext=(4 if j % 2 == 0 else -4, 0), textcoords="offset points",
                    fontsize=8, color="0.25", rotation=90, va="center", ha="left" if j % 2 == 0 else "right")
    ax.set_xscale("log")
    ax.set_xlim(gap[0], gap[-1])
    ax.set_ylim(-0.05, 1.15)
    ax.axhline(1, color="0.7", lw=0.6, zorder=0)
    ax.axhline(0, color="0.7", lw=0.6, zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("returned / true $\\partial E/\\partial z$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
