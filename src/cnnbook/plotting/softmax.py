"""Pure rendering functions for the chapter "Softmax and its Jacobian".

Arrays in, an HTML string or a matplotlib Figure out; nothing here computes a
softmax or a gradient (the notebook does, so that what is drawn is exactly
what the chapter asserts).  The explorer views are HTML (bar charts made of
``<div>`` bars and a heatmap made with :func:`cnnbook.plotting.matrix_html`):
they render in microseconds, stay sharp at any zoom, and their numbers can be
selected and searched in the page.

Vocabulary: K classes; ``y`` (K,) probabilities; ``jac`` (K, K) the Jacobian
with ``jac[i, j] = dy_i/dz_j`` (row i = output i, column j = logit j);
``grad`` (K,) the gradient of a loss with respect to the logits.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from . import HIGHLIGHT, matrix_html, side_by_side

# Diverging colours: positive numbers red, negative numbers blue (colour-blind safe pair).
POSITIVE_RGB = (214, 96, 77)
NEGATIVE_RGB = (67, 147, 195)
BAR_RGB = (120, 120, 120)
# The strongest colour is mixed only this far from white, so black text stays readable on it.
MAX_MIX = 0.8


def _vector(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (K,), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a}")
    return a


def _target(target, n: int) -> int | None:
    if target is None:
        return None
    if not (isinstance(target, (int, np.integer)) and 0 <= target < n):
        raise ValueError(f"target must be a class index in [0, {n}), got {target!r}")
    return int(target)


def _labels(labels, n: int, default: str) -> list[str]:
    if labels is None:
        return [default.format(i) for i in range(n)]
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"labels must have {n} entries, got {len(labels)}")
    return labels


def _signed_text(value: float, fmt: str) -> str:
    """fmt.format(value), but a number that rounds to zero is shown as an unsigned zero
    (so a tiny -3e-5 reads "0.000", not the puzzling "-0.000")."""
    text = fmt.format(value)
    try:
        rounded = float(text)
    except ValueError:
        return text
    return fmt.format(0.0).lstrip("+-") if rounded == 0 else text


def diverging_colour(value: float, vmax: float) -> str:
    """CSS colour of ``value`` on a white-centred red (+) / blue (-) scale.

    |value| >= vmax gets the strongest colour; 0 is white.  vmax > 0.
    """
    if not vmax > 0:
        raise ValueError(f"vmax must be > 0, got {vmax!r}")
    t = MAX_MIX * min(abs(float(value)) / vmax, 1.0)
    rgb = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
    r, g, b = (round(255 + t * (c - 255)) for c in rgb)
    return f"rgb({r},{g},{b})"


def probability_bars_html(y, *, target=None, labels=None, caption=None, width: int = 160) -> str:
    """Horizontal bars of probabilities y (K,) in [0, 1], one row per class.

    A bar of probability 1 is ``width`` pixels long; the value is printed
    beside it.  The row of ``target`` (a class index) is highlighted.
    """
    y = _vector(y, "y")
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"y must hold probabilities in [0, 1], got {y}")
    target = _target(target, y.size)
    names = _labels(labels, y.size, "y<sub>{}</sub>")
    rows = []
    for i, (p, name) in enumerate(zip(y, names)):
        colour = HIGHLIGHT if i == target else "rgb({},{},{})".format(*BAR_RGB)
        mark = " &#9664; target" if i == target else ""
        rows.append(
            f'<tr class="cnnbook-bar-row" data-index="{i}">'
            f'<td style="padding:1px 6px;font-family:monospace">{name}</td>'
            f'<td style="padding:1px 0;width:{width}px;border-left:1px solid #444">'
            f'<div class="cnnbook-bar" style="width:{p * width:.1f}px;height:14px;background:{colour}"></div></td>'
            f'<td style="padding:1px 6px;font-family:monospace;text-align:right">{p:.3f}{mark}</td></tr>'
        )
    cap = f'<caption style="caption-side:top;text-align:left">{caption}</caption>' if caption else ""
    return f'<table class="cnnbook-bars" style="border-collapse:collapse">{cap}{"".join(rows)}</table>'


def signed_bars_html(g, *, lim: float, labels=None, caption=None, half_width: int = 90) -> str:
    """Horizontal bars of signed numbers g (K,) around a centre line.

    A bar of |g_i| = lim is ``half_width`` pixels long (longer values are cut
    at lim and marked with an arrow); positive bars go right (red), negative
    go left (blue).  Keep lim fixed across the views of an explorer so that
    bar lengths can be compared from view to view.
    """
    g = _vector(g, "g")
    if not lim > 0:
        raise ValueError(f"lim must be > 0, got {lim!r}")
    names = _labels(labels, g.size, "{}")
    rows = []
    for i, (v, name) in enumerate(zip(g, names)):
        length = min(abs(v) / lim, 1.0) * half_width
        cut = "&#8230;" if abs(v) > lim else ""
        colour = diverging_colour(v, lim) if v != 0 else "transparent"
        bar = f'<div class="cnnbook-bar" style="width:{length:.1f}px;height:14px;background:{colour};display:inline-block"></div>'
        left = f'<td style="width:{half_width}px;text-align:right;padding:1px 0">{bar if v < 0 else ""}</td>'
        right = f'<td style="width:{half_width}px;text-align:left;padding:1px 0;border-left:1px solid #444">{bar if v > 0 else ""}</td>'
        rows.append(
            f'<tr class="cnnbook-bar-row" data-index="{i}">'
            f'<td style="padding:1px 6px;font-family:monospace">{name}</td>{left}{right}'
            f'<td style="padding:1px 6px;font-family:monospace;text-align:right">{_signed_text(v, "{:+.3f}")}{cut}</td></tr>'
        )
    cap = f'<caption style="caption-side:top;text-align:left">{caption}</caption>' if caption else ""
    return f'<table class="cnnbook-bars" style="border-collapse:collapse">{cap}{"".join(rows)}</table>'


def jacobian_heatmap_html(jac, *, vmax: float | None = None, fmt: str = "{:+.3f}", caption=None) -> str:
    """The Jacobian jac (n, n) as a table whose cells are coloured by value.

    Cell (i, j) shows dy_i/dz_j; red is positive, blue negative, white 0,
    full colour at |value| >= vmax (default: the largest |entry|, or 1 if
    all are 0).  Row and column headers name y_i and z_j.  An entry that
    rounds to zero in ``fmt`` is printed without a sign.
    """
    jac = np.asarray(jac, dtype=float)
    if jac.ndim != 2 or jac.shape[0] != jac.shape[1] or jac.size == 0:
        raise ValueError(f"jac must be a square (n, n) array, got shape {jac.shape}")
    if vmax is None:
        vmax = float(np.max(np.abs(jac))) or 1.0
    n = jac.shape[0]
    # Headers as an extra row and column of text cells; matrix_html colours only the numbers.
    table = np.empty((n + 1, n + 1), dtype=object)
    table[0, 0] = "i\\j"
    table[0, 1:] = [f"z{j}" for j in range(n)]
    table[1:, 0] = [f"y{i}" for i in range(n)]
    table[1:, 1:] = [[_signed_text(v, fmt) for v in row] for row in jac]
    colours = {(i + 1, j + 1): diverging_colour(jac[i, j], vmax) for i in range(n) for j in range(n)}
    colours.update({(0, k): "#eeeeee" for k in range(n + 1)})
    colours.update({(k, 0): "#eeeeee" for k in range(1, n + 1)})
    return matrix_html(table, highlight=colours, caption=caption)


def softmax_view_html(
    z, y, jac, grad, *, target: int, temperature: float, jac_vmax: float, grad_lim: float
) -> str:
    """One explorer view: logits, probabilities, Jacobian heatmap, loss gradient.

    z (K,) the logits; y = softmax(z / T) (K,); jac (K, K) = dy/dz;
    grad (K,) = dE/dz for E = -ln y_target, the negative log-probability of
    class ``target`` (the cross-entropy with a one-hot target).
    jac_vmax and grad_lim fix the colour and bar scales (keep them equal
    across views).
    """
    z = _vector(z, "z")
    n = z.size
    for name, a in (("y", y), ("grad", grad)):
        if np.shape(a) != (n,):
            raise ValueError(f"{name} must have shape ({n},) like z, got {np.shape(a)}")
    if np.shape(jac) != (n, n):
        raise ValueError(f"jac must have shape ({n}, {n}), got {np.shape(jac)}")
    target = _target(target, n)
    logits = " ".join(f"{v:+.2f}" for v in z)
    head = (
        f'<div style="font-family:monospace;margin-bottom:4px">z = [{html.escape(logits)}], '
        f"T = {temperature:g}, target class = {target}</div>"
    )
    probs = probability_bars_html(y, target=target, caption="<b>y = softmax(z / T)</b>")
    heat = jacobian_heatmap_html(jac, vmax=jac_vmax, caption="<b>Jacobian dy<sub>i</sub>/dz<sub>j</sub></b>")
    grads = signed_bars_html(
        grad,
        lim=grad_lim,
        labels=[f"dE/dz{j}" for j in range(n)],
        caption=f"<b>dE/dz = (y &minus; t) / T</b>, t = one-hot({target})",
    )
    return '<div class="cnnbook-softmax-view">' + head + side_by_side(probs, heat, grads) + "</div>"


def plot_jacobian_along(
    z0_values: Sequence[float], ys, jacs, *, mark: float | None = None, title: str | None = None
) -> Figure:
    """Probabilities and Jacobian entries as the first logit z_0 moves.

    z0_values (m,); ys (m, n) the softmax outputs; jacs (m, n, n) the
    Jacobians at those points.  Left axes: y_i against z_0.  Right axes: the
    diagonal entries dy_i/dz_i (solid) and the entries dy_i/dz_0 of column 0
    off the diagonal (dashed) against z_0.  mark: a z_0 to mark with a
    vertical line.
    """
    x = np.asarray(z0_values, dtype=float)
    ys = np.asarray(ys, dtype=float)
    jacs = np.asarray(jacs, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"z0_values must be 1-D with at least 2 points, got shape {x.shape}")
    m = x.size
    if ys.ndim != 2 or ys.shape[0] != m:
        raise ValueError(f"ys must have shape ({m}, n), got {ys.shape}")
    n = ys.shape[1]
    if jacs.shape != (m, n, n):
        raise ValueError(f"jacs must have shape ({m}, {n}, {n}), got {jacs.shape}")
    fig = Figure(figsize=(9.0, 3.2))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.80 if title else 0.9, wspace=0.28)
    ax_y, ax_j = fig.subplots(1, 2)
    colours = [f"C{i}" for i in range(n)]
    for i in range(n):
        ax_y.plot(x, ys[:, i], color=colours[i], label=f"$y_{i}$")
        ax_j.plot(x, jacs[:, i, i], color=colours[i], label=rf"$\partial y_{i}/\partial z_{i}$")
        if i != 0:
            ax_j.plot(x, jacs[:, i, 0], "--", color=colours[i], label=rf"$\partial y_{i}/\partial z_0$")
    ax_j.axhline(0.25, color="gray", lw=0.8, ls=":")
    ax_j.annotate("1/4", (x[0], 0.25), textcoords="offset points", xytext=(2, -10), fontsize=8, color="gray")
    ax_j.axhline(0, color="black", lw=0.6)
    for ax in (ax_y, ax_j):
        ax.set_xlabel("$z_0$")
        ax.grid(True, alpha=0.3)
        if mark is not None:
            ax.axvline(mark, color="crimson", lw=1)
    ax_y.set_ylim(0, 1)
    ax_y.set_title("probabilities")
    ax_j.set_title("Jacobian entries")
    ax_y.legend(fontsize=8)
    ax_j.legend(fontsize=8, ncol=2)
    if title:
        fig.suptitle(title)
    return fig
