"""Pure rendering functions for the chapter "From loops to fast code".

* :func:`im2col_labels` -- which input pixel each entry of the im2col matrix copies.
* :func:`im2col_layout_html` -- the padded input and its im2col matrix as
  tables, one output position's window highlighted in both, with the
  memory cost of the matrix.
* :func:`plot_timings` -- horizontal bars of run times on a log axis.
* :func:`plot_gflops` -- GFLOP/s of several implementations beside the measured matmul peak.
* :func:`plot_profile` -- the time of each part of one training step.

The im2col matrix here is the one of :func:`cnnbook.conv.im2col` for one
sample: rows (c, u, v) = kernel entries (u, v the kernel offsets), columns (i, j) = output
positions, cols[(c*KH + u)*KW + v, i*OW + j] = xp[c, i*s + u, j*s + v].
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import conv
from .._validate import pair
from . import HIGHLIGHT, HIGHLIGHT_2, matrix_html, side_by_side

PAD_TEXT = "0"


def _pixel_name(c: int, row: int, col: int) -> str:
    return f"x{c}{row}{col}"


def im2col_labels(channels, height, width, kernel, *, stride=1, pad=0):
    """Names of the entries of the input and of its im2col matrix, for one sample.

    Returns (xp_names (C, Hp, Wp), cols_names (C*KH*KW, OH*OW)) as object
    arrays of strings: the input pixel x[c, row, col] is named "x" + c + row + col
    (channel first, e.g. "x012"), a padding entry is "0".
    """
    for name, v in (("channels", channels), ("height", height), ("width", width)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if channels > 6 or height > 9 or width > 9:
        raise ValueError("channels <= 6 and height, width <= 9 so that every name stays short")
    kh, kw = pair(kernel, "kernel", minimum=1)
    (sh, sw), (ph, pw) = pair(stride, "stride", minimum=1), pair(pad, "pad", minimum=0)
    oh = conv.output_size(height, kh, stride=sh, pad=ph)
    ow = conv.output_size(width, kw, stride=sw, pad=pw)
    xp = np.full((channels, height + 2 * ph, width + 2 * pw), PAD_TEXT, dtype=object)
    for c in range(channels):
        for row in range(height):
            for col in range(width):
                xp[c, row + ph, col + pw] = _pixel_name(c, row, col)
    cols = np.empty((channels * kh * kw, oh * ow), dtype=object)
    for c in range(channels):
        for u in range(kh):
            for v in range(kw):
                for i in range(oh):
                    for j in range(ow):
                        cols[(c * kh + u) * kw + v, i * ow + j] = xp[c, i * sh + u, j * sw + v]
    return xp, cols


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def im2col_layout_html(channels, height, width, kernel, *, stride=1, pad=0, position=(0, 0),
                       batch=64, itemsize=8) -> str:
    """The padded input, its im2col matrix, and what the matrix costs in memory.

    One output position (i, j) = ``position`` is highlighted: its window in
    the input (yellow) and its column in the matrix (yellow); padding zeros
    are blue.  Below, the entry counts for one sample and the bytes for a
    batch of ``batch`` samples of ``itemsize`` bytes:
    x holds N*C*H*W numbers, cols N*OH*OW*C*KH*KW.
    """
    xp, cols = im2col_labels(channels, height, width, kernel, stride=stride, pad=pad)
    kh, kw = pair(kernel, "kernel", minimum=1)
    (sh, sw), (ph, pw) = pair(stride, "stride", minimum=1), pair(pad, "pad", minimum=0)
    oh = conv.output_size(height, kh, stride=sh, pad=ph)
    ow = conv.output_size(width, kw, stride=sw, pad=pw)
    i, j = position
    if not (0 <= i < oh and 0 <= j < ow):
        raise ValueError(f"position must lie in the ({oh}, {ow}) output, got {position!r}")
    tables = []
    for c in range(channels):
        colours = {}
        for row in range(xp.shape[1]):
            for col in range(xp.shape[2]):
                if xp[c, row, col] == PAD_TEXT:
                    colours[(row, col)] = HIGHLIGHT_2
        for u in range(kh):
            for v in range(kw):
                colours[(i * sh + u, j * sw + v)] = HIGHLIGHT
        tables.append(matrix_html(xp[c], highlight=colours,
                                  caption=f"input channel {c}, padded by {ph}" if channels > 1
                                  else f"padded input ({height}&times;{width}, pad {ph})"))
    col = i * ow + j
    colours = {(r, k): HIGHLIGHT_2 for r in range(cols.shape[0]) for k in range(cols.shape[1])
               if cols[r, k] == PAD_TEXT}
    colours.update({(r, col): HIGHLIGHT for r in range(cols.shape[0])})
    tables.append(matrix_html(
        cols, highlight=colours,
        caption=f"im2col matrix: C&middot;KH&middot;KW = {cols.shape[0]} rows (c, u, v) &times; "
                f"OH&middot;OW = {cols.shape[1]} columns (i, j); column {col} = output ({i}, {j})"))
    x_count, c_count = channels * height * width, cols.size
    memo = (
        f'<p style="font-family:monospace">one sample: x has C&middot;H&middot;W = {x_count} numbers, '
        f"the matrix has OH&middot;OW&middot;C&middot;KH&middot;KW = {oh * ow}&middot;{channels * kh * kw} = "
        f"{c_count} ({c_count / x_count:.2f}&times; x)<br>"
        f"a batch of N = {batch} at {itemsize} bytes per number: x {_bytes(batch * x_count * itemsize)}, "
        f"matrix {_bytes(batch * c_count * itemsize)}</p>"
    )
    return side_by_side(*tables) + memo


def plot_timings(names: Sequence[str], seconds: Sequence[float], *, reference: str | None = None,
                 title: str = "Time of one forward + backward pass") -> Figure:
    """Horizontal bars of run times (log axis), each labelled with its time.

    names, seconds: one entry per implementation (seconds > 0).  reference:
    one of the names; every other label then also shows the speed-up
    relative to it ("12x faster" / "3x slower").
    """
    names, seconds = list(names), np.asarray(seconds, dtype=float)
    if len(names) != seconds.size or seconds.ndim != 1 or seconds.size == 0:
        raise ValueError(f"names and seconds must be non-empty and of one length, got {len(names)} and {seconds.shape}")
    if not np.all(seconds > 0):
        raise ValueError("seconds must all be > 0")
    if reference is not None and reference not in names:
        raise ValueError(f"reference {reference!r} is not one of the names {names}")
    fig = Figure(figsize=(7.0, 0.45 * len(names) + 1.0), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.barh(y, seconds * 1e3, color=["#d62728" if n == reference else "#1f77b4" for n in names])
    ax.set_xscale("log")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds (log scale)")
    ref = seconds[names.index(reference)] if reference is not None else None
    for k, s in enumerate(seconds):
        text = f" {s * 1e3:.3g} ms"
        if ref is not None and names[k] != reference:
            ratio = ref / s
            text += f" ({ratio:.3g}x faster)" if ratio >= 1 else f" ({1 / ratio:.3g}x slower)"
        ax.text(s * 1e3, k, text, va="center", fontsize=8)
    ax.set_xlim(seconds.min() * 1e3 / 2, seconds.max() * 1e3 * 30)
    ax.set_title(title, fontsize=10)
    return fig


def plot_gflops(rungs: Sequence[str], gflops: Mapping[str, Sequence[float | None]],
                peaks: Mapping[str, float], *, title: str = "GFLOP/s of one forward + backward pass") -> Figure:
    """Grouped horizontal bars of GFLOP/s (log axis), one group per implementation, one bar per
    series (e.g. per dtype), with each series' peak as a dashed vertical line.

    rungs: the implementations, top to bottom. gflops: {series: one rate per rung, None where the
    rung was not measured}. peaks: {series: the rate the machine's matrix product reaches} for
    every series. Each bar is labelled with its rate and its share of its series' peak.
    """
    rungs = list(rungs)
    if not rungs or not gflops:
        raise ValueError("rungs and gflops must be non-empty")
    for name, values in gflops.items():
        if len(values) != len(rungs):
            raise ValueError(f"gflops[{name!r}] must have one value per rung ({len(rungs)}), got {len(values)}")
        if any(v is not None and not v > 0 for v in values):
            raise ValueError(f"gflops[{name!r}] must hold rates > 0 (or None), got {list(values)}")
        if name not in peaks or not peaks[name] > 0:
            raise ValueError(f"peaks must give a rate > 0 for every series; missing or not > 0: {name!r}")
    series = list(gflops)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    height = 0.8 / len(series)
    fig = Figure(figsize=(7.5, 0.55 * len(rungs) * max(1, len(series) * 0.7) + 1.3), layout="constrained")
    ax = fig.add_subplot()
    shown = [v for values in gflops.values() for v in values if v is not None] + list(peaks.values())
    for k, name in enumerate(series):
        colour = colours[k % len(colours)]
        labelled = False
        for r, v in enumerate(gflops[name]):
            y = r + (k - (len(series) - 1) / 2) * height
            if v is None:
                ax.text(min(shown), y, f" {name}: not measured", va="center", fontsize=7.5, color="#666")
                continue
            ax.barh(y, v, height=height * 0.95, color=colour, label=None if labelled else name)
            labelled = True
            share = v / peaks[name]
            pct = f"{100 * share:.2g}%" if share < 1 else f"{100 * share:.0f}%"
            ax.text(v, y, f" {v:.3g} ({pct} of peak)", va="center", fontsize=7.5)
        ax.axvline(peaks[name], color=colour, linestyle="--", linewidth=1.2,
                   label=f"np.matmul peak, {name}: {peaks[name]:.3g} GFLOP/s")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(rungs)), rungs)
    ax.set_ylim(len(rungs) - 0.5, -0.5)
    ax.set_xlim(min(shown) / 3, max(shown) * 40)
    ax.set_xlabel("GFLOP/s (log scale)")
    ax.set_title(title, fontsize=10)
    return fig


def _part_colour(name: str) -> str:
    for prefix, colour in (("forward", "#1f77b4"), ("backward", "#d62728"), ("loss", "#2ca02c"),
                           ("update", "#7f7f7f")):
        if name.startswith(prefix):
            return colour
    return "#9467bd"


def plot_profile(parts: Sequence[str], seconds: Mapping[str, Sequence[float]], *,
                 title: str = "One training step, part by part") -> Figure:
    """Horizontal bars of the time of each part of a training step, one bar per series.

    parts: the names in execution order ("forward 0 Conv2d", ..., "loss", "backward ...",
    "update"); the colour says the kind (forward blue, backward red, loss green, update grey).
    seconds: {series: one time (> 0) per part}, e.g. one series per dtype; series after the
    first are hatched. Each bar is labelled with its time and its share of its series' total.
    """
    parts = list(parts)
    if not parts or not seconds:
        raise ValueError("parts and seconds must be non-empty")
    for name, values in seconds.items():
        values = np.asarray(values, dtype=float)
        if values.shape != (len(parts),) or not np.all(values > 0):
            raise ValueError(f"seconds[{name!r}] must hold one time > 0 per part ({len(parts)}), got {values}")
    series = list(seconds)
    height = 0.8 / len(series)
    fig = Figure(figsize=(7.5, 0.3 * len(parts) * len(series) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    top = max(float(np.max(v)) for v in seconds.values()) * 1e3
    for k, name in enumerate(series):
        values = np.asarray(seconds[name], dtype=float)
        total = values.sum()
        ys = np.arange(len(parts)) + (k - (len(series) - 1) / 2) * height
        ax.barh(ys, values * 1e3, height=height * 0.95, color=[_part_colour(p) for p in parts],
                hatch="//" if k else None, edgecolor="white" if k else None)
        for y, v in zip(ys, values):
            ax.text(v * 1e3, y, f" {v * 1e3:.3g} ms ({v / total:.0%}, {name})", va="center", fontsize=7)
    from matplotlib.patches import Patch

    kinds = [Patch(color=_part_colour(kind), label=kind) for kind in ("forward", "loss", "backward", "update")]
    kinds += [Patch(facecolor="#999999", hatch="//" if k else None, edgecolor="white", label=name)
              for k, name in enumerate(series)]
    ax.legend(handles=kinds, loc="lower right", fontsize=8)
    ax.set_yticks(np.arange(len(parts)), parts)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.6)
    ax.set_xlabel("milliseconds")
    ax.set_title(title, fontsize=10)
    return fig
