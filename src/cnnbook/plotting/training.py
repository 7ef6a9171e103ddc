"""Pure rendering functions for the chapter "Training dynamics: a lab": arrays in, a Figure out.

* :func:`plot_runs` -- several training runs side by side: the minibatch loss
  per step (left, log scale) and the validation accuracy per epoch (right),
  each labelled with its final accuracy; a run that diverged ends in a cross.
* :func:`smooth` -- the running mean the loss panel draws over the raw steps.
* :func:`plot_kernel_recovery` -- the reader's kernel experiment: the kernel's
  distance from the true one per step, one panel per data set, one curve per pooling.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

LN10 = float(np.log(10.0))
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
REFERENCE = {"color": "black", "ls": "--"}          # the baseline, in every view
NOISE = {"color": "#7f7f7f", "ls": ":"}              # the baseline with another minibatch order


def smooth(values, window: int) -> np.ndarray:
    """Running mean over the last ``window`` finite values (fewer at the start); NaN stays NaN.

    values: (S,) per-step losses.  Returns (S,).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be a 1-D array (S,), got shape {v.shape}")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    out = np.full(v.shape, np.nan)
    finite = np.isfinite(v)
    csum = np.concatenate([[0.0], np.cumsum(np.where(finite, v, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(finite)])
    for s in np.flatnonzero(finite):
        lo = max(0, s + 1 - window)
        out[s] = (csum[s + 1] - csum[lo]) / (ccount[s + 1] - ccount[lo])
    return out


def plot_runs(step_loss: Mapping[str, Sequence[float]], val_acc: Mapping[str, Sequence[float]], *,
              steps_per_epoch: int, reference: str | None = None, noise: str | None = None,
              title: str | None = None) -> Figure:
    """Training runs compared: loss per step (left) and validation accuracy per epoch (right).

    step_loss: {run label: (S,) minibatch losses, NaN after a divergence};
    val_acc: {the same labels: (E,) fractions, NaN after a divergence};
    steps_per_epoch: S / E, the smoothing window and the epoch ticks.
    reference: the label drawn as the black dashed baseline; noise: the label
    drawn dotted grey (the baseline with another minibatch order, to show how
    much two equally good runs differ).  One legend below both panels.  The loss panel draws every step faintly
    and the running mean over one epoch solidly, a dotted line at ln 10 (the
    loss of a uniform guess); the accuracy panel a dotted line at 10 % (chance).
    A run that stopped (NaN) ends in a cross.  Legend: label and final accuracy.
    """
    if set(step_loss) != set(val_acc) or not step_loss:
        raise ValueError(f"step_loss and val_acc must name the same runs (at least one), got "
                         f"{list(step_loss)} and {list(val_acc)}")
    if not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be an int >= 1, got {steps_per_epoch!r}")
    for name in (reference, noise):
        if name is not None and name not in step_loss:
            raise ValueError(f"{name!r} is not one of the runs {list(step_loss)}")
    fig = Figure(figsize=(9.6, 4.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    colours = iter(COLOURS)
    for name in step_loss:
        losses = np.asarray(step_loss[name], dtype=float)
        acc = np.asarray(val_acc[name], dtype=float)
        if losses.ndim != 1 or acc.ndim != 1 or losses.size != acc.size * steps_per_epoch:
            raise ValueError(f"run {name!r}: step_loss must have steps_per_epoch * E = "
                             f"{steps_per_epoch} * {acc.size} entries, got shape {losses.shape}")
        style = REFERENCE if name == reference else NOISE if name == noise else {"color": next(colours), "ls": "-"}
        steps = np.arange(1, losses.size + 1)
        final = acc[np.isfinite(acc)]
        label = f"{name}: {100 * final[-1]:.1f}%" if final.size and np.isfinite(acc[-1]) else f"{name}: stopped"
        ax_loss.plot(steps, losses, color=style["color"], lw=0.6, alpha=0.25)
        ax_loss.plot(steps, smooth(losses, int(steps_per_epoch)), lw=1.6, label=label, **style)
        epochs = np.arange(1, acc.size + 1)
        ax_acc.plot(epochs, 100 * acc, marker="o", ms=3, lw=1.6, label=label, **style)
        last = np.flatnonzero(np.isfinite(losses))
        if last.size < losses.size:          # stopped: a cross at its last finite step
            s = last[-1] if last.size else 0
            ax_loss.plot([s + 1], [losses[s] if last.size else LN10], "x", ms=9, mew=2, color=style["color"])
    ax_loss.axhline(LN10, color="#555555", lw=0.8, ls=":", zorder=0)
    ax_loss.annotate("ln 10", (1.0, LN10), xycoords=("axes fraction", "data"), xytext=(2, 0),
                     textcoords="offset points", va="center", fontsize=7, color="#555555")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel(f"step ({steps_per_epoch} per epoch)")
    ax_loss.set_ylabel("minibatch loss (faint: each step)")
    ax_acc.axhline(10, color="#555555", lw=0.8, ls=":", zorder=0)
    ax_acc.set_ylim(0, 100)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
    handles, labels = ax_acc.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


POOL_COLOURS = {1: "black", 2: "#1f77b4", 4: "#d62728"}


def kernel_run_label(pool: int, mode: str) -> str:
    """'no pooling', 'max 2×2', 'average 4×4': how the lab names a setting of the kernel experiment."""
    return "no pooling" if pool == 1 else f"{'max' if mode == 'max' else 'average'} {pool}×{pool}"


def plot_kernel_recovery(errors: Mapping[str, Mapping[tuple[int, str], Sequence[float]]], *,
                         settled: Mapping[str, Mapping[tuple[int, str], int]] | None = None,
                         title: str | None = None) -> Figure:
    """The distance |w - w*| of a kernel from the true one, per gradient step: one panel per data set.

    errors: {panel title: {(pool, mode): (S,) distances after steps 1..S}},
    mode "max" or "avg" (pool 1: no pooling); colour by pool size (black none,
    blue 2, red 4), solid max, dashed average, log-scaled y axis shared by the
    panels.  settled: the same keys -> the step from which the max-pool passes
    on the true kernel's patches, marked by a dot on the curve (none if it is
    S or later, or missing).
    """
    if not errors or not all(errors.values()):
        raise ValueError("errors must hold at least one panel, each with at least one run")
    settled = settled or {}
    dots = 0
    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    axes = fig.subplots(1, len(errors), sharey=True, squeeze=False)[0]
    for ax, (panel, runs) in zip(axes, errors.items()):
        for (pool, mode), e in runs.items():
            if pool not in POOL_COLOURS or mode not in ("max", "avg"):
                raise ValueError(f"run keys must be (pool in {sorted(POOL_COLOURS)}, 'max' or 'avg'), "
                                 f"got {(pool, mode)!r}")
            e = np.asarray(e, dtype=float)
            if e.ndim != 1 or e.size == 0:
                raise ValueError(f"errors[{panel!r}][{(pool, mode)!r}] must be a non-empty 1-D sequence, "
                                 f"got shape {e.shape}")
            style = {"color": POOL_COLOURS[pool], "ls": "--" if mode == "avg" and pool > 1 else "-"}
            ax.plot(np.arange(1, e.size + 1), e, lw=1.6, label=kernel_run_label(pool, mode), **style)
            s = settled.get(panel, {}).get((pool, mode))
            if s is not None and 0 < s < e.size:
                ax.plot([s + 1], [e[s]], "o", ms=5, color=style["color"])
                dots += 1
        ax.set_yscale("log")
        ax.set_xlabel("gradient step")
        ax.set_title(panel, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("|w − w*|, distance from the true kernel")
    handles, labels = axes[0].get_legend_handles_labels()
    if dots:
        handles.append(Line2D([], [], marker="o", ls="", ms=5, color="#555555"))
        labels.append("from here on, the max passes on w*'s patches")
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
