"""Pure rendering functions for the pooling chapter: arrays in, HTML or a Figure out.

* :func:`pooling_view_html` -- one pooling layer on a single 2-D map as tables:
  forward (the input with chosen maxima, tied maxima and inputs outside every
  window coloured; the output) and backward (the upstream gradient, how many
  windows route to each input, the routed gradient dx).
* :func:`plot_pool_windows` -- the input with every window outlined and its
  chosen maximum marked, next to dx.
* :func:`plot_gradient_coverage` -- fraction of inputs that receive any
  gradient against the pool size.

All window arithmetic follows :mod:`cnnbook.pooling`: window (i, j) covers rows
``i*sh .. i*sh + KH - 1`` and columns ``j*sw .. j*sw + KW - 1``; a tie goes to
the first maximum in row-major window order.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from .. import pooling
from . import HIGHLIGHT, HIGHLIGHT_2, matrix_html, side_by_side

MODES = ("max", "average")
UNCOVERED = "#e4e4e4"  # background of inputs that lie in no window


def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return value


def _check(x, size, stride, mode, dy):
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D map (H, W), got shape {x.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    size = _pair(size, "size")
    stride = size if stride is None else _pair(stride, "stride")
    if size[0] > x.shape[0] or size[1] > x.shape[1]:
        raise ValueError(f"window {size} does not fit in x of shape {x.shape}")
    oh = (x.shape[0] - size[0]) // stride[0] + 1
    ow = (x.shape[1] - size[1]) // stride[1] + 1
    if dy is None:
        dy = np.arange(1, oh * ow + 1, dtype=float).reshape(oh, ow)
    dy = np.asarray(dy, dtype=float)
    if dy.shape != (oh, ow):
        raise ValueError(f"dy must have the output shape (OH, OW) = {(oh, ow)}, got {dy.shape}")
    return x, size, stride, dy


def _forward_backward(x, size, stride, mode, dy):
    """y (OH, OW), dx (H, W) from cnnbook.pooling on the single map x."""
    fwd, bwd = {
        "max": (pooling.maxpool2d_forward, pooling.maxpool2d_backward),
        "average": (pooling.avgpool2d_forward, pooling.avgpool2d_backward),
    }[mode]
    y, cache = fwd(x[None, None], size=size, stride=stride)
    return y[0, 0], bwd(dy[None, None], cache)[0, 0]


def window_routing(x, *, size, stride=None):
    """Where each window of a 2-D map sends its gradient under max-pooling.

    x: (H, W).  Returns (chosen, tied, count, covered):
    chosen: (OH, OW, 2) int, the (row, col) in x of each window's first maximum;
    tied: set of (row, col) that equal their window's maximum but were not chosen;
    count: (H, W) int, how many windows chose each input;
    covered: (H, W) int, how many windows contain each input.
    """
    x, size, stride, _ = _check(x, size, stride, "max", None)
    (kh, kw), (sh, sw) = size, stride
    oh, ow = (x.shape[0] - kh) // sh + 1, (x.shape[1] - kw) // sw + 1
    chosen = np.zeros((oh, ow, 2), dtype=int)
    count = np.zeros(x.shape, dtype=int)
    covered = np.zeros(x.shape, dtype=int)
    tied = set()
    for i in range(oh):
        for j in range(ow):
            window = x[i * sh : i * sh + kh, j * sw : j * sw + kw]
            covered[i * sh : i * sh + kh, j * sw : j * sw + kw] += 1
            u, v = np.unravel_index(np.argmax(window), window.shape)  # offsets of the first maximum
            chosen[i, j] = (i * sh + u, j * sw + v)
            count[i * sh + u, j * sw + v] += 1
            for u2, v2 in zip(*np.nonzero(window == window[u, v])):
                if (u2, v2) != (u, v):
                    tied.add((int(i * sh + u2), int(j * sw + v2)))
    tied -= {tuple(int(coord) for coord in pos) for pos in chosen.reshape(-1, 2)}
    return chosen, tied, count, covered


def pooling_view_html(x, *, size, stride=None, mode="max", dy=None, fmt="{:.4g}") -> str:
    """One pooling layer on a 2-D map, forward and backward, as two rows of HTML tables.

    x: (H, W) input map.  size, stride: int or (h, w); stride defaults to size.
    mode: "max" or "average".  dy: (OH, OW) upstream gradient; default
    1, 2, ..., OH*OW in row-major order, so every window's share can be traced.
    fmt: number format of y and dx.

    Forward row: x (max: chosen maxima in HIGHLIGHT, maxima that tie with the
    chosen one in HIGHLIGHT_2; both modes: inputs in no window in UNCOVERED)
    and y.  Backward row: dy, the number of windows routing to each input
    (max: windows that chose it; average: windows that contain it) and dx
    (nonzero entries highlighted, zeros dimmed).  Below: a colour key and the
    totals sum(dx) and sum(dy), which agree because every window passes on
    exactly its delta.  The five tables appear in the order x, y, dy, count, dx.
    """
    x, size, stride, dy = _check(x, size, stride, mode, dy)
    y, dx = _forward_backward(x, size, stride, mode, dy)
    _, tied, count, covered = window_routing(x, size=size, stride=stride)
    colours = {(int(p), int(q)): UNCOVERED for p, q in np.argwhere(covered == 0)}
    keys = []
    if mode == "max":
        colours.update({p: HIGHLIGHT_2 for p in tied})
        colours.update({(int(p), int(q)): HIGHLIGHT for p, q in np.argwhere(count > 0)})
        routes, routes_caption = count, "windows that chose x<sub>PQ</sub>"
        keys.append((HIGHLIGHT, "chosen maximum"))
        if tied:
            keys.append((HIGHLIGHT_2, "tied, not chosen"))
    else:
        routes, routes_caption = covered, "windows containing x<sub>PQ</sub>"
    if np.any(covered == 0):
        keys.append((UNCOVERED, "in no window"))
    key = " ".join(f'<span style="background:{c};padding:0 4px">{text}</span>' for c, text in keys)
    area = size[0] * size[1]
    label = '<div style="font-weight:bold;margin-top:6px">{}</div>'
    forward = side_by_side(
        matrix_html(x, fmt="{:g}", highlight=colours, caption="input x"),
        matrix_html(y, fmt=fmt, caption="output y"),
    )
    backward = side_by_side(
        matrix_html(dy, fmt="{:g}", caption="upstream &delta; = dE/dy"),
        matrix_html(routes, fmt="{:d}", dim_zeros=True, caption=routes_caption),
        matrix_html(dx, fmt=fmt, highlight=dx != 0, dim_zeros=True, caption="dx = dE/dx"),
    )
    rule = ("each &delta;<sub>ij</sub> goes whole to its window's chosen maximum" if mode == "max"
            else f"each input gets &delta;<sub>ij</sub>/{area} from every window containing it")
    foot = (f'<div style="font-size:90%;margin-top:4px">{mode} pool, window {size[0]}&times;{size[1]}, '
            f"stride {stride[0]}&times;{stride[1]}: {rule}. {key + '. ' if key else ''}"
            f"&Sigma; dx = {dx.sum():.6g}, &Sigma; &delta; = {dy.sum():.6g}</div>")
    return (label.format("forward") + forward + label.format("backward") + backward + foot)


def plot_pool_windows(x, *, size, stride=None, mode="max", dy=None, title=None) -> Figure:
    """Input map with every window outlined, next to the routed gradient dx.

    x: (H, W).  size, stride, mode, dy as in :func:`pooling_view_html`.
    Left axes: x with its numbers; window (i, j) is a coloured rectangle (drawn
    slightly inset, by an amount that depends on the window, so overlapping
    windows stay distinguishable); in "max" mode a circle of the window's
    colour marks its chosen maximum.  Right axes: dx with its numbers.
    Returns a Figure with 2 axes; the left one holds OH*OW Rectangle patches.
    """
    x, size, stride, dy = _check(x, size, stride, mode, dy)
    y, dx = _forward_backward(x, size, stride, mode, dy)
    chosen, _, _, _ = window_routing(x, size=size, stride=stride)
    (kh, kw), (sh, sw) = size, stride
    oh, ow = y.shape
    h, w = x.shape
    fig = Figure(figsize=(2.0 + 0.9 * w * 2, 0.9 + 0.75 * h), layout="constrained")
    ax_x, ax_dx = fig.subplots(1, 2)
    colours = [f"C{k % 10}" for k in range(oh * ow)]
    for ax, arr, name, cmap in ((ax_x, x, "input x", "Greys"), (ax_dx, dx, "dx = dE/dx", "Oranges")):
        ax.imshow(np.abs(arr) if arr is dx else arr, cmap=cmap, alpha=0.35)
        for (p, q), val in np.ndenumerate(arr):
            ax.text(q, p, f"{val:.3g}", ha="center", va="center", fontsize=10,
                    color="#9a9a9a" if (arr is dx and val == 0) else "black")
        ax.set_xticks(range(w))
        ax.set_yticks(range(h))
        ax.set_title(name, fontsize=10)
    for k, (i, j) in enumerate(np.ndindex(oh, ow)):
        inset = 0.06 + 0.05 * (k % 4)
        ax_x.add_patch(Rectangle((j * sw - 0.5 + inset, i * sh - 0.5 + inset), kw - 2 * inset, kh - 2 * inset,
                                 fill=False, edgecolor=colours[k], lw=2))
        if mode == "max":
            p, q = chosen[i, j]
            r = 0.32 + 0.06 * (k % 3)
            ax_x.add_patch(Circle((q, p), r, fill=False, edgecolor=colours[k], lw=1.5))
    fig.suptitle(title or f"{mode} pool, window {kh}x{kw}, stride {sh}x{sw}", fontsize=11)
    return fig


def plot_gradient_coverage(sizes: Sequence[int], fractions: Mapping[str, Sequence[float]], *,
                           title: str = "Inputs that receive any gradient") -> Figure:
    """Fraction of a pooling layer's inputs with a nonzero gradient against the pool size.

    sizes: the window sizes k (square windows, stride k).  fractions:
    {label: fraction at each size}, each of len(sizes).  A dashed reference
    curve 1/k**2 is added.  Returns a Figure with one axes holding
    len(fractions) + 1 lines.
    """
    sizes = np.asarray(sizes, dtype=float)
    if sizes.ndim != 1 or sizes.size == 0 or np.any(sizes < 1):
        raise ValueError(f"sizes must be a non-empty 1-D sequence of sizes >= 1, got {sizes!r}")
    fig = Figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for label, frac in fractions.items():
        frac = np.asarray(frac, dtype=float)
        if frac.shape != sizes.shape:
            raise ValueError(f"fractions[{label!r}] must have the shape of sizes {sizes.shape}, got {frac.shape}")
        ax.plot(sizes, frac, "o-", label=label)
    fine = np.linspace(sizes.min(), sizes.max(), 200)
    ax.plot(fine, 1 / fine**2, "--", color="gray", lw=1, label="$1/k^2$")
    ax.set_xlabel("pool size $k$ (window $k\\times k$, stride $k$)")
    ax.set_ylabel("fraction of inputs with $dx \\neq 0$")
    ax.set_ylim(0, 1.08)
    ax.set_xticks(sizes)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig
