r"""Pure rendering functions for the chapter "Convolution with stride".

Everything here takes sizes or arrays and returns plain data or an HTML string
built from :func:`cnnbook.plotting.matrix_html`; nothing keeps state, so the
explorers of :mod:`cnnbook.widgets` can render every view up front.

Index conventions (0-based, as in :mod:`cnnbook.conv`), one channel:

.. math::
    y_{ij} = b + \sum_{u,v} w_{uv}\, xp_{i s_h + u,\, j s_w + v}

(b the bias, (u, v) the kernel offsets), so the padded input pixel
:math:`xp_{PQ}` feeds output :math:`y_{ij}` through the kernel entry
:math:`w_{uv}` exactly when :math:`P = i s_h + u` and :math:`Q = j s_w + v`
("the links" of the pixel).
"""

from __future__ import annotations

import html
from typing import NamedTuple

import numpy as np

from ..conv import dilate, output_size, rot180
from . import HIGHLIGHT, HIGHLIGHT_2, matrix_html, side_by_side

UNREACHED = "#e4e4e4"
"""Background of input rows/columns that no window reaches."""

NOT_YET = "\u00a0"
"""Text of an entry of the "∂E/∂x so far" table that is not computed yet: a no-break space. An empty
table cell has no line box, so a row of them would collapse to a thin line; this one is blank and as
tall as a row of numbers."""

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(name: str, *indices: int) -> str:
    """A label such as ``w₁₀``: name followed by subscript digits (0-based indices)."""
    return name + "".join(str(int(k)) for k in indices).translate(_SUB)


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    v = tuple(int(k) for k in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or an (h, w) pair, got {v!r}")
    return v


def _geometry(h, w, kh, kw, stride, pad):
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(pad, "pad")
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be >= 1, got {(sh, sw)}")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad must be >= 0, got {(ph, pw)}")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"kernel ({kh}, {kw}) does not fit the padded input ({h + 2 * ph}, {w + 2 * pw})"
        )
    oh = output_size(h, kh, stride=sh, pad=ph)
    ow = output_size(w, kw, stride=sw, pad=pw)
    return (sh, sw), (ph, pw), (oh, ow)


def fanout(h, w, kh, kw, *, stride, pad, pixel):
    """The links of one input pixel: every output it feeds and the kernel entry used.

    h, w: input size; kh, kw: kernel size; stride, pad: int or (h, w) pair;
    pixel: (p, q) in *unpadded* input coordinates, 0 <= p < h, 0 <= q < w.
    Returns a list of ((i, j), (u, v)) in row-major order of (i, j) with
    i*sh + u = p + ph and j*sw + v = q + pw, 0 <= u < kh, 0 <= v < kw.
    An empty list means no window reaches the pixel.
    """
    (sh, sw), (ph, pw), (oh, ow) = _geometry(h, w, kh, kw, stride, pad)
    p, q = (int(k) for k in pixel)
    if not (0 <= p < h and 0 <= q < w):
        raise ValueError(f"pixel {pixel!r} is outside the {h}x{w} input")
    P, Q = p + ph, q + pw
    links = []
    for i in range(oh):
        for j in range(ow):
            u, v = P - i * sh, Q - j * sw
            if 0 <= u < kh and 0 <= v < kw:
                links.append(((i, j), (u, v)))
    return links


def reached(size, kernel, *, stride, pad):
    """Boolean mask (size + 2*pad,) of padded positions covered by some window."""
    n_out = output_size(size, kernel, stride=stride, pad=pad)
    mask = np.zeros(size + 2 * pad, dtype=bool)
    for i in range(n_out):
        mask[i * stride : i * stride + kernel] = True
    return mask


def fanout_html(h, w, kh, kw, *, stride, pad, pixel) -> str:
    """One view of the "where does this pixel go" explorer (HTML string).

    Four tables side by side, then the gradient formula of the pixel:

    1. the padded input (h+2ph, w+2pw): the pixel highlighted, padding shown
       as 0, rows/columns that no window reaches greyed (``UNREACHED``);
    2. the output (OH, OW): the outputs the pixel feeds, each labelled with
       the kernel entry on that link;
    3. the kernel (kh, kw): the entries used by those links;
    4. the stride-dilated delta padded by K-1 ((OH-1)*sh + 2*kh - 1, ...):
       the window the rotated kernel covers when it computes this pixel's
       gradient (``HIGHLIGHT_2``) and, inside it, the delta entries that
       contribute (``HIGHLIGHT``).
    Arguments as in :func:`fanout`.
    """
    (sh, sw), (ph, pw), (oh, ow) = _geometry(h, w, kh, kw, stride, pad)
    links = fanout(h, w, kh, kw, stride=stride, pad=pad, pixel=pixel)
    p, q = (int(k) for k in pixel)
    P, Q = p + ph, q + pw

    # 1. padded input
    rows_ok = reached(h, kh, stride=sh, pad=ph)
    cols_ok = reached(w, kw, stride=sw, pad=pw)
    xp = np.empty((h + 2 * ph, w + 2 * pw), dtype=object)
    colours = {}
    for r in range(xp.shape[0]):
        for c in range(xp.shape[1]):
            inside = ph <= r < ph + h and pw <= c < pw + w
            xp[r, c] = sub("x", r - ph, c - pw) if inside else 0
            if not (rows_ok[r] and cols_ok[c]):
                colours[(r, c)] = UNREACHED
    colours[(P, Q)] = HIGHLIGHT
    t_in = matrix_html(
        xp, highlight=colours, dim_zeros=True,
        caption=f"input x padded by {ph},{pw} (grey: no window reaches it)" if (ph or pw)
        else "input x (grey: no window reaches it)",
    )

    # 2. outputs fed by the pixel
    y = np.full((oh, ow), "·", dtype=object)
    for (i, j), (u, v) in links:
        y[i, j] = sub("w", u, v)
    t_out = matrix_html(
        y, highlight={ij: HIGHLIGHT for ij, _ in links},
        caption=f"output y ({oh}×{ow}): fed by {sub('x', p, q)}, through kernel entry",
    )

    # 3. kernel entries used
    k = np.array([[sub("w", u, v) for v in range(kw)] for u in range(kh)], dtype=object)
    t_k = matrix_html(k, highlight={uv: HIGHLIGHT for _, uv in links}, caption="kernel w: entries used")

    # 4. padded dilated delta and the rotated kernel's window
    dh, dw_ = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    D = np.full((dh + 2 * (kh - 1), dw_ + 2 * (kw - 1)), 0, dtype=object)
    for i in range(oh):
        for j in range(ow):
            D[kh - 1 + i * sh, kw - 1 + j * sw] = sub("δ", i, j)
    dcol = {}
    window_fits = P + kh <= D.shape[0] and Q + kw <= D.shape[1]
    if window_fits:
        for u in range(kh):
            for v in range(kw):
                dcol[(P + u, Q + v)] = HIGHLIGHT_2
    for (i, j), _ in links:
        dcol[(kh - 1 + i * sh, kw - 1 + j * sw)] = HIGHLIGHT
    t_d = matrix_html(
        D, highlight=dcol, dim_zeros=True,
        caption=f"δ dilated by stride {sh},{sw}, padded by K−1: window of rot180(w) for {sub('x', p, q)}",
    )

    if links:
        terms = " + ".join(f"{sub('δ', i, j)}·{sub('w', u, v)}" for (i, j), (u, v) in links)
        formula = f"∂E/∂{sub('x', p, q)} = {terms}"
    else:
        formula = f"∂E/∂{sub('x', p, q)} = 0: no window reaches this pixel, it never influences y"
    text = (
        f'<p style="font-family:monospace;margin:4px 0">{html.escape(formula)}</p>'
        f'<p style="margin:2px 0;color:#555">input {h}×{w}, kernel {kh}×{kw}, '
        f"stride {sh}, pad {ph} → output {oh}×{ow}; {len(links)} link(s)</p>"
    )
    return side_by_side(t_in, t_out, t_k, t_d) + text


class FullConvStep(NamedTuple):
    """One position of the rotated kernel over the padded, dilated delta."""

    row: int  # position (= the padded-input pixel whose gradient it computes)
    col: int
    window: np.ndarray  # (KH, KW) slice of the padded dilated delta
    value: float  # sum(rot180(w) * window) = dxp[row, col]


def full_conv_steps(delta, w, *, stride):
    """The "full convolution" recipe for dE/dxp, one kernel position at a time.

    delta: (OH, OW) upstream gradient; w: (KH, KW) kernel; stride: int or pair.
    Returns (D, r, steps): D the dilated delta padded by K-1, shape
    ((OH-1)*sh + 2*KH - 1, (OW-1)*sw + 2*KW - 1); r = rot180(w); steps a
    row-major list of FullConvStep over the ((OH-1)*sh + KH) x ((OW-1)*sw + KW)
    positions, step.value = sum(r * D[row:row+KH, col:col+KW]).
    """
    delta = np.asarray(delta, dtype=float)
    w = np.asarray(w, dtype=float)
    if delta.ndim != 2 or w.ndim != 2:
        raise ValueError(f"delta and w must be 2-D, got shapes {delta.shape} and {w.shape}")
    kh, kw = w.shape
    D = np.pad(dilate(delta, _pair(stride, "stride")), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    r = rot180(w)
    steps = []
    for row in range(D.shape[0] - kh + 1):
        for col in range(D.shape[1] - kw + 1):
            win = D[row : row + kh, col : col + kw]
            steps.append(FullConvStep(row, col, win, float(np.sum(r * win))))
    return D, r, steps


def full_conv_step_html(delta, w, *, stride, input_shape, step) -> str:
    """One view of the "dx as a full convolution" explorer (HTML string), pad 0.

    delta: (OH, OW) integers or floats; w: (KH, KW); stride: int or pair;
    input_shape: (H, W) of the layer input (its OH, OW must match delta);
    step: 0 <= step < number of kernel positions (see :func:`full_conv_steps`).
    Tables: the padded dilated delta with the current window (``HIGHLIGHT_2``,
    its nonzero entries ``HIGHLIGHT``), rot180(w), and dx accumulated up to
    this step (current entry ``HIGHLIGHT``, entries not computed yet blank
    but as tall as the others (``NOT_YET``),
    rows/columns no window reached shown as 0 on ``UNREACHED``).
    """
    delta = np.asarray(delta, dtype=float)
    w = np.asarray(w, dtype=float)
    h, wd = (int(k) for k in input_shape)
    kh, kw = w.shape
    (sh, sw), _, (oh, ow) = _geometry(h, wd, kh, kw, stride, 0)
    if delta.shape != (oh, ow):
        raise ValueError(f"delta must have shape {(oh, ow)} for input {input_shape}, got {delta.shape}")
    D, r, steps = full_conv_steps(delta, w, stride=(sh, sw))
    if not 0 <= step < len(steps):
        raise ValueError(f"step must be in [0, {len(steps)}), got {step}")
    cur = steps[step]

    dcol = {(cur.row + u, cur.col + v): HIGHLIGHT_2 for u in range(kh) for v in range(kw)}
    for u in range(kh):
        for v in range(kw):
            if D[cur.row + u, cur.col + v] != 0:
                dcol[(cur.row + u, cur.col + v)] = HIGHLIGHT
    t_d = matrix_html(D, highlight=dcol, dim_zeros=True,
                      caption=f"δ dilated (stride {sh}) and padded by K−1 = {kh - 1}")
    t_r = matrix_html(r, caption="rot180(w)")

    dx = np.full((h, wd), NOT_YET, dtype=object)
    colours = {}
    for s in steps[: step + 1]:
        dx[s.row, s.col] = s.value
    n_rows, n_cols = D.shape[0] - kh + 1, D.shape[1] - kw + 1
    for p in range(h):
        for q in range(wd):
            if p >= n_rows or q >= n_cols:
                dx[p, q] = 0.0
                colours[(p, q)] = UNREACHED
    colours[(cur.row, cur.col)] = HIGHLIGHT
    t_x = matrix_html(dx, highlight=colours, caption=f"∂E/∂x ({h}×{wd}) so far")

    terms = " + ".join(
        f"{r[u, v]:g}·{cur.window[u, v]:g}" for u in range(kh) for v in range(kw)
    )
    text = (
        f'<p style="font-family:monospace;margin:4px 0">step {step + 1}/{len(steps)}: '
        f"{html.escape(sub('dx', cur.row, cur.col))} = {terms} = {cur.value:g}</p>"
    )
    if n_rows < h or n_cols < wd:
        text += (
            '<p style="margin:2px 0;color:#555">grey: input rows/columns that no window reached '
            f"((H − KH) mod s = {(h - kh) % sh} row(s), (W − KW) mod s = {(wd - kw) % sw} column(s)): "
            "their gradient is 0</p>"
        )
    return side_by_side(t_d, t_r, t_x) + text
