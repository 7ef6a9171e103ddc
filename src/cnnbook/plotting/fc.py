"""Pure rendering functions for the chapter "Fully-connected layers and a whole MLP".

Arrays in, an HTML string or a matplotlib Figure out (built with
:class:`matplotlib.figure.Figure`, never pyplot state), so the explorers of
:mod:`cnnbook.widgets` can render every view in advance and the tests can call
them directly.

* :func:`fc_gradient_tables` -- which entries of x, W and delta make one entry
  of dW, db or dx (the row/column picture of ``x.T @ dy`` and ``dy @ w.T``).
* :func:`plot_lr_run` -- gradient descent on one linear neuron: the loss per
  step and where the learning rate sits against the stability bound 2/|x|^2.
* :func:`plot_mlp_training` -- the training loss of a small MLP and its output
  over the input square.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from . import HIGHLIGHT, HIGHLIGHT_2, matrix_html, side_by_side

__all__ = ["fc_gradient_tables", "plot_lr_run", "plot_mlp_training"]


def _num(v: float) -> str:
    """A number for a written-out sum: integers without a decimal point, negatives in brackets."""
    s = f"{v:g}"
    return f"({s})" if v < 0 else s


def _mask(shape, *, row=None, col=None) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    if row is not None:
        m[row, :] = True
    if col is not None:
        m[:, col] = True
    return m


def _colours(mask: np.ndarray, colour: str) -> dict:
    return {tuple(int(i) for i in idx): colour for idx in np.argwhere(mask)}


def fc_gradient_tables(x, w, dy, entry: tuple, *, fmt: str = "{:g}") -> str:
    """HTML: the tables that produce one entry of a dense layer's gradient.

    x: (N, D) layer input; w: (D, M) weights; dy: (N, M) upstream gradient
    delta = dE/dy.  entry (0-based, code indices) is one of

    * ``("dW", k, i)``: row k of x.T (D, N) and column i of delta (N, M) are
      highlighted, and entry (k, i) of dW = x.T @ delta (D, M);
    * ``("db", i)``: column i of delta and entry i of db = delta.sum(0), shown as (1, M);
    * ``("dx", n, k)``: row n of delta and column k of W.T (M, D), and entry (n, k)
      of dx = delta @ W.T (N, D).

    Operands are shaded HIGHLIGHT (the vectors that are multiplied entry by
    entry), the result entry HIGHLIGHT_2.  Below the tables the entry is
    written out as a sum with the numbers.  Raises ValueError for a bad
    entry or inconsistent shapes.
    """
    x, w, dy = (np.asarray(a, dtype=float) for a in (x, w, dy))
    if x.ndim != 2 or w.ndim != 2 or dy.ndim != 2:
        raise ValueError(f"x, w, dy must be 2-D, got shapes {x.shape}, {w.shape}, {dy.shape}")
    (n_batch, d), m = x.shape, w.shape[1]
    if w.shape[0] != d or dy.shape != (n_batch, m):
        raise ValueError(
            f"need x (N, D), w (D, M), dy (N, M); got x {x.shape}, w {w.shape}, dy {dy.shape}"
        )
    if not entry or entry[0] not in ("dW", "db", "dx"):
        raise ValueError(f"entry must start with 'dW', 'db' or 'dx', got {entry!r}")
    kind, *idx = entry
    limits = {"dW": (d, m), "db": (m,), "dx": (n_batch, d)}[kind]
    if len(idx) != len(limits) or not all(
        isinstance(j, (int, np.integer)) and 0 <= j < lim for j, lim in zip(idx, limits)
    ):
        raise ValueError(f"{kind} index must be {len(limits)} integers below {limits}, got {tuple(idx)}")

    def table(a, mask, caption, result=None):
        colours = _colours(mask, HIGHLIGHT)
        if result is not None:
            colours[result] = HIGHLIGHT_2
        return matrix_html(a, fmt=fmt, highlight=colours, caption=caption)

    if kind == "dW":
        k, i = idx
        dw = x.T @ dy
        terms = [(x[n, k], dy[n, i]) for n in range(n_batch)]
        tables = [
            table(x.T, _mask((d, n_batch), row=k), f"x<sup>T</sup> ({d}&times;{n_batch})<br>row {k}"),
            table(dy, _mask((n_batch, m), col=i), f"&delta; ({n_batch}&times;{m})<br>column {i}"),
            table(dw, np.zeros((d, m), bool), f"dW = x<sup>T</sup>&delta;<br>({d}&times;{m})", (k, i)),
        ]
        lhs, sym, value = f"dW[{k}, {i}]", f"&sum;<sub>n</sub> x[n, {k}] &delta;[n, {i}]", dw[k, i]
    elif kind == "db":
        (i,) = idx
        db = dy.sum(axis=0)
        terms = [(1.0, dy[n, i]) for n in range(n_batch)]
        tables = [
            table(dy, _mask((n_batch, m), col=i), f"&delta; ({n_batch}&times;{m})<br>column {i}"),
            table(db[None, :], np.zeros((1, m), bool), f"db = column sums<br>of &delta; ({m},)", (0, i)),
        ]
        lhs, sym, value = f"db[{i}]", f"&sum;<sub>n</sub> &delta;[n, {i}]", db[i]
    else:
        n, k = idx
        dx = dy @ w.T
        terms = [(dy[n, i], w[k, i]) for i in range(m)]
        tables = [
            table(dy, _mask((n_batch, m), row=n), f"&delta; ({n_batch}&times;{m})<br>row {n}"),
            table(w.T, _mask((m, d), col=k), f"W<sup>T</sup> ({m}&times;{d})<br>column {k}"),
            table(dx, np.zeros((n_batch, d), bool), f"dx = &delta;W<sup>T</sup><br>({n_batch}&times;{d})", (n, k)),
        ]
        lhs, sym, value = f"dx[{n}, {k}]", f"&sum;<sub>i</sub> &delta;[{n}, i] W[{k}, i]", dx[n, k]

    if kind == "db":
        written = " + ".join(_num(b) for _, b in terms)
    else:
        written = " + ".join(f"{_num(a)}&middot;{_num(b)}" for a, b in terms)
    line = (
        f'<p style="font-family:monospace;margin:4px 0">{lhs} = {sym} = {written} = '
        f"<b>{fmt.format(value)}</b></p>"
    )
    return side_by_side(*tables) + line


def plot_lr_run(
    eta: float,
    residuals: Sequence[float],
    *,
    x_norm_sq: float,
    eta_max: float | None = None,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Gradient descent on one linear neuron with loss E = (y - t)**2 / 2.

    eta: the learning rate of the run.  residuals: (J + 1,) the values
    r_j = y_j - t for steps j = 0..J of that run (the chapter's step index).
    x_norm_sq: |x|^2, which sets the factor r_{j+1} / r_j = 1 - eta |x|^2.

    Left axes: E_j = r_j**2 / 2 against j on a log scale (filled markers for
    r_j > 0, open for r_j <= 0, so an oscillating run shows alternating
    markers; values below the lower y-limit, e.g. an exact 0, are drawn on
    it), with the boundary case eta = 2/|x|^2 (constant loss) as a dashed
    line.  Right axes: the factor
    |1 - eta |x|^2| against eta, the stable band below 1 shaded, the fastest
    rate 1/|x|^2 and the bound 2/|x|^2 marked, and this run's eta as a dot.
    eta_max: right end of the eta axis (default 1.2 * 2/|x|^2 or eta * 1.05).
    ylim: (low, high) limits of the loss axis, to keep several views on one
    scale (default: from the data, with the floor at 1e-20).
    Returns a Figure with 2 axes.
    """
    r = np.asarray(residuals, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"residuals must be 1-D with at least 2 steps, got shape {r.shape}")
    if not x_norm_sq > 0:
        raise ValueError(f"x_norm_sq must be > 0, got {x_norm_sq!r}")
    if not eta > 0:
        raise ValueError(f"eta must be > 0, got {eta!r}")
    if ylim is not None and not 0 < ylim[0] < ylim[1]:
        raise ValueError(f"ylim must be (low, high) with 0 < low < high, got {ylim!r}")
    bound, best = 2.0 / x_norm_sq, 1.0 / x_norm_sq
    factor = abs(1 - eta * x_norm_sq)
    if np.isclose(factor, 1.0, rtol=0, atol=1e-9):
        verdict = "oscillates with constant amplitude"
    elif factor < 1:
        verdict = "converges"
    else:
        verdict = "diverges"

    # Plain Unicode labels instead of mathtext: an explorer renders a dozen of these figures
    # up front, and mathtext (and a layout engine) would dominate the rendering time.
    fig = Figure(figsize=(9.6, 3.8))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.92, wspace=0.22)
    ax_loss, ax_fac = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})

    floor = ylim[0] if ylim is not None else 1e-20
    steps = np.arange(r.size)
    loss = np.maximum(0.5 * r**2, floor)
    ax_loss.semilogy(steps, np.full(r.size, 0.5 * r[0] ** 2), "--", color="gray", lw=1,
                     label="η = 2/‖x‖²: constant")
    ax_loss.semilogy(steps, loss, "-", color="C0", lw=1)
    pos, neg = r > 0, r <= 0
    ax_loss.semilogy(steps[pos], loss[pos], "o", color="C0", ms=5, label="y − t > 0")
    ax_loss.semilogy(steps[neg], loss[neg], "o", mfc="white", color="C0", ms=5, label="y − t ≤ 0")
    ax_loss.set_xlabel("step j")
    ax_loss.set_ylabel("loss E = (y − t)² / 2")
    ax_loss.set_title(f"η = {eta:.4g}: factor |1 − η‖x‖²| = {factor:.3g}, {verdict}", fontsize=10)
    if ylim is not None:
        ax_loss.set_ylim(*ylim)
    ax_loss.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax_loss.yaxis.set_minor_locator(NullLocator())
    ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(np.log10(v)):d}"))
    ax_loss.grid(True, which="major", alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper right", ncol=3, handletextpad=0.3, columnspacing=0.8)

    right = eta_max if eta_max is not None else max(1.2 * bound, 1.05 * eta)
    grid = np.linspace(0, right, 400)
    ax_fac.plot(grid, np.abs(1 - grid * x_norm_sq), color="k", lw=1.2)
    ax_fac.axhspan(0, 1, color="#2a9d8f", alpha=0.12, label="converges (factor < 1)")
    ax_fac.axvline(best, color="#2a9d8f", ls=":", lw=1.2, label=f"fastest 1/‖x‖² = {best:.4g}")
    ax_fac.axvline(bound, color="crimson", ls="--", lw=1.2, label=f"bound 2/‖x‖² = {bound:.4g}")
    ax_fac.plot([eta], [factor], "o", color="C1", ms=8, zorder=3, label=f"this run, η = {eta:.4g}")
    ax_fac.set_xlim(0, right)
    ax_fac.set_ylim(0, max(1.6, 1.1 * factor))
    ax_fac.set_xlabel("learning rate η")
    ax_fac.set_ylabel("|y(j+1) − t| / |y(j) − t|")
    ax_fac.set_title("shrink factor per step", fontsize=10)
    ax_fac.legend(fontsize=8, loc="upper center")
    return fig


def plot_mlp_training(
    steps: Sequence[float],
    losses: Sequence[float],
    grid: np.ndarray,
    out: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    *,
    title: str = "Training the MLP",
) -> Figure:
    """The training curve of a 2-input network and what it has learned.

    steps: (S,) step numbers; losses: (S,) the loss on the whole data set
    there (log scale, left axes).  grid: (G,) coordinates of a G x G grid
    over the input square; out: (G, G) the network output at
    (grid[j], grid[i]) for row i, column j (so out[i, j] has x_0 = grid[j],
    x_1 = grid[i]; inputs are numbered from 0, as in the book).  x: (P, 2)
    the training inputs, t: (P,) or (P, 1) their targets in [0, 1], drawn on
    the right axes as dots coloured by target and labelled "t = ...".
    Returns a Figure with 3 axes (loss, output map, colour bar).
    """
    steps, losses = np.asarray(steps, float), np.asarray(losses, float)
    grid, out = np.asarray(grid, float), np.asarray(out, float)
    x, t = np.asarray(x, float), np.asarray(t, float).reshape(-1)
    if steps.shape != losses.shape or steps.ndim != 1:
        raise ValueError(f"steps and losses must be 1-D of one length, got {steps.shape}, {losses.shape}")
    if grid.ndim != 1 or out.shape != (grid.size, grid.size):
        raise ValueError(f"out must have shape (G, G) = ({grid.size}, {grid.size}), got {out.shape}")
    if x.ndim != 2 or x.shape[1] != 2 or t.shape != (x.shape[0],):
        raise ValueError(f"x must be (P, 2) and t (P,), got {x.shape} and {t.shape}")

    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    ax_loss, ax_map = fig.subplots(1, 2)
    ax_loss.semilogy(steps, losses, color="C0")
    ax_loss.set_xlabel("SGD step")
    ax_loss.set_ylabel("loss on the whole data set")
    ax_loss.set_title(title, fontsize=10)
    ax_loss.grid(True, which="both", alpha=0.3)

    im = ax_map.imshow(out, origin="lower", extent=(grid[0], grid[-1], grid[0], grid[-1]),
                       vmin=0, vmax=1, cmap="coolwarm", aspect="equal")
    if out.min() < 0.5 < out.max():          # (a contour that does not exist would warn)
        ax_map.contour(grid, grid, out, levels=[0.5], colors="k", linewidths=1)
    ax_map.scatter(x[:, 0], x[:, 1], c=t, cmap="coolwarm", vmin=0, vmax=1, s=90,
                   edgecolors="k", linewidths=1.5, zorder=3)
    for (x1, x2), target in zip(x, t):
        ax_map.annotate(f"t = {target:g}", (x1, x2), xytext=(7, 7), textcoords="offset points",
                        fontsize=9, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8})
    ax_map.set_xlabel("$x_0$")
    ax_map.set_ylabel("$x_1$")
    ax_map.set_title("network output (black line: 0.5)", fontsize=10)
    fig.colorbar(im, ax=ax_map, shrink=0.85)
    return fig
