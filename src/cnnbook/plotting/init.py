"""Pure rendering functions for the initialisation part of the chapter "Activations".

Arrays in, a matplotlib :class:`~matplotlib.figure.Figure` out; nothing here
touches pyplot's global state.

* :func:`plot_layer_scales` -- a per-layer magnitude on a log axis, one line per
  curve as :func:`cnnbook.plotting.losses.plot_layer_gradients` draws it, with
  the values predicted by the variance recursion drawn dashed in the colour of
  the curve they predict.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnbook.plotting.losses import _as_1d, plot_layer_gradients

PREDICTED_LABEL = "dashed: predicted by the variance recursion"


def plot_layer_scales(
    measured: Mapping[str, Sequence[float]],
    predicted: Mapping[str, Sequence[float]],
    *,
    floor: float = 1e-30,
    ylim: tuple[float, float] | None = None,
    max_layer: int | None = None,
    ylabel: str = r"$\|\delta^l\|$",
    title: str | None = None,
) -> Figure:
    """Measured per-layer magnitudes with their predictions, on a log axis.

    measured: {label: (L,) non-negative values, entry i for layer i + 1}, drawn
    as :func:`~cnnbook.plotting.losses.plot_layer_gradients` draws them (exact
    zeros at ``floor`` with hollow markers).  predicted: {label: (L,) positive
    values}, every label one of ``measured``'s and of the same length, drawn
    dashed in that curve's colour; one legend entry says what the dashes are.
    floor, ylim, max_layer, ylabel, title: as for ``plot_layer_gradients``.
    Returns a Figure with one axes.
    """
    unknown = set(predicted) - set(measured)
    if unknown:
        raise ValueError(f"predicted has labels {sorted(unknown)} that measured does not have "
                         f"(measured: {sorted(measured)})")
    lengths = {label: len(_as_1d(values, f"measured[{label!r}]")) for label, values in measured.items()}
    pred = {}
    for label, values in predicted.items():
        arr = _as_1d(values, f"predicted[{label!r}]")
        if arr.shape[0] != lengths[label]:
            raise ValueError(f"predicted[{label!r}] has {arr.shape[0]} layers, measured[{label!r}] has "
                             f"{lengths[label]}: expected the same number")
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"predicted[{label!r}] must be finite and > 0 (a log axis)")
        pred[label] = arr
    fig = plot_layer_gradients(measured, floor=floor, ylim=ylim, max_layer=max_layer, ylabel=ylabel, title=title)
    ax = fig.axes[0]
    colour = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for label, arr in pred.items():
        ax.semilogy(np.arange(1, len(arr) + 1), arr, "--", lw=1.2, color=colour[label],
                    label=f"_predicted ({label})")      # a leading "_" keeps it out of the legend
    if ylim is not None:
        ax.set_ylim(*ylim)
    handles, labels = ax.get_legend_handles_labels()
    if pred:
        handles.append(Line2D([], [], ls="--", lw=1.2, color="gray"))
        labels.append(PREDICTED_LABEL)
    ax.legend(handles, labels, fontsize=8, loc="best")
    return fig
