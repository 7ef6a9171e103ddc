r"""Pure rendering functions for the chapter "The convolution family": a layer as a matrix.

A one-channel 1-D convolution is :math:`y = A x` with :math:`A_{i,P} = w_u` where
:math:`P = is + ud` indexes the padded input (stride :math:`s`, dilation :math:`d`, padding
:math:`p`); its input gradient is :math:`A^\top\delta` cropped to the real pixels. A pooling
layer is :math:`y = S x`. The views below draw :math:`A` and :math:`A^\top` (or :math:`S` and
:math:`S^\top`) side by side as labelled tables; nothing keeps state, so an explorer of
:mod:`cnnbook.widgets` can render every view up front.

Every view is one HTML string with its own small style sheet, scoped to the class ``cbm`` (the
explorers store many views in a page, so a cell carries a short class name, not a long inline
style).
"""

from __future__ import annotations

import html
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import matrices
from . import HIGHLIGHT, HIGHLIGHT_2
from .conv import UNREACHED, sub

STYLE = (
    "<style>"
    ".cbm{font-size:13px;margin:4px 0}"
    ".cbm .cbm-row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}"
    ".cbm table{border-collapse:collapse;font-family:monospace}"
    ".cbm td,.cbm th{border:1px solid #c8c8c8;padding:1px 3px;text-align:center;min-width:2.1em;height:1.4em}"
    ".cbm th{background:#f3f3f3;font-weight:normal;color:#444}"
    ".cbm .z{color:#c0c0c0}"
    f".cbm .pad{{background:{UNREACHED};color:#888}}"
    ".cbm .un{background:repeating-linear-gradient(45deg,#eee,#eee 3px,#d6d6d6 3px,#d6d6d6 5px)}"
    f".cbm .sel{{background:{HIGHLIGHT_2}}}"
    f".cbm .hit{{background:{HIGHLIGHT};font-weight:bold}}"
    ".cbm .part{background:#fbd9c2}"
    ".cbm .cap{margin:0 0 2px 0}"
    ".cbm p{margin:3px 0}"
    "</style>"
)
"""The style sheet of every view (scoped to ``.cbm``)."""

ZERO = "·"
"""How a structural zero of a matrix is drawn."""


def labelled_table_html(
    cells,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    classes: Mapping[tuple[int, int], str] | None = None,
    row_classes: Mapping[int, str] | None = None,
    col_classes: Mapping[int, str] | None = None,
    caption: str | None = None,
) -> str:
    """A 2-D array of labels as an HTML table with row and column headers (no style sheet).

    cells: (rows, cols) of str (or anything str() can show; 0 and "" are drawn as a faint dot).
    row_labels, col_labels: the header texts.  classes: {(r, c): css class} for single cells
    (one of the ``.cbm`` classes: "sel", "hit", "pad", "un", "z", "part"); row_classes /
    col_classes: a class for a whole row / column (header included), applied before ``classes``.
    caption: HTML above the table.
    """
    cells = np.asarray(cells, dtype=object)
    if cells.ndim != 2:
        raise ValueError(f"cells must be a 2-D array (rows, cols), got shape {cells.shape}")
    n_rows, n_cols = cells.shape
    if len(row_labels) != n_rows or len(col_labels) != n_cols:
        raise ValueError(f"row_labels ({len(row_labels)}) and col_labels ({len(col_labels)}) must match "
                         f"the cells' shape {cells.shape}")
    classes, row_classes, col_classes = dict(classes or {}), dict(row_classes or {}), dict(col_classes or {})

    def td(tag, text, cls):
        attr = f' class="{cls}"' if cls else ""
        return f"<{tag}{attr}>{html.escape(str(text))}</{tag}>"

    head = "<tr><th></th>" + "".join(td("th", c, col_classes.get(k, "")) for k, c in enumerate(col_labels)) + "</tr>"
    body = []
    for r in range(n_rows):
        row = [td("th", row_labels[r], row_classes.get(r, ""))]
        for c in range(n_cols):
            v = cells[r, c]
            zero = (isinstance(v, (int, float, np.integer, np.floating)) and v == 0) or v == ""
            cls = " ".join(k for k in (col_classes.get(c, ""), row_classes.get(r, ""), classes.get((r, c), ""),
                                       "z" if zero else "") if k)
            row.append(td("td", ZERO if zero else v, cls))
        body.append("<tr>" + "".join(row) + "</tr>")
    cap = f'<div class="cap">{caption}</div>' if caption else ""
    return f"<div>{cap}<table>{head}{''.join(body)}</table></div>"


def tables_html(*parts: str, notes: Sequence[str] = ()) -> str:
    """Tables from :func:`labelled_table_html` in a row, with lines of text (HTML) under them, and
    the style sheet: one self-contained HTML string."""
    row = '<div class="cbm-row">' + "".join(parts) + "</div>"
    text = "".join(f"<p>{n}</p>" for n in notes)
    return f'{STYLE}<div class="cbm">{row}{text}</div>'


def conv_matrix_entries(length: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1) -> np.ndarray:
    """The labels of A (padded columns) for a 1-D kernel w of size ``kernel``: "w₀", "w₁", ... or 0."""
    labels = np.array([sub("w", u) for u in range(kernel)], dtype=object)
    return matrices.conv1d_matrix(length, labels, stride=stride, pad=pad, dilation=dilation, padded=True)


def conv_matrix_view_html(length: int, kernel: int, *, stride: int = 1, pad: int = 0, dilation: int = 1,
                          pixel: int = 0) -> str:
    """One view of the "A and Aᵀ" explorer: a 1-D convolution of an input of size ``length``.

    Left, A (OL rows, one per output y_i; columns x^p_P of the padded input, padding columns
    grey): entry w_u where P = i*stride + u*dilation.  Right, Aᵀ: the same entries, row P holding
    what pixel P receives in the backward pass.  The chosen input pixel x_q (0 <= q < length,
    unpadded) is a blue column of A and a blue row of Aᵀ; its nonzero entries, the links it has,
    are yellow.  Columns of A that hold only zeros (pixels no window reaches) are hatched.  Under
    the tables: the pixel's gradient (Aᵀδ)_q written as a sum, and the sizes.
    """
    a = conv_matrix_entries(length, kernel, stride=stride, pad=pad, dilation=dilation)
    q = int(pixel)
    if not 0 <= q < length:
        raise ValueError(f"pixel must be in [0, {length}), got {pixel!r}")
    n_out, n_pad = a.shape
    P = q + pad
    col_names = [("0" if not pad <= k < pad + length else sub("x", k - pad)) for k in range(n_pad)]
    padding = {k: "pad" for k in range(n_pad) if not pad <= k < pad + length}
    empty = {k: "un" for k in range(pad, pad + length) if not any(a[:, k] != 0)}
    col_cls = {**padding, **empty, P: "sel"}
    hits = [i for i in range(n_out) if a[i, P] != 0]
    rows = [sub("y", i) for i in range(n_out)]
    t_a = labelled_table_html(
        a, row_labels=rows, col_labels=col_names, col_classes=col_cls,
        classes={(i, P): "hit" for i in hits},
        caption=f"A ({n_out}×{length}): y = A x" + (", on the padded input" if pad else ""),
    )
    t_at = labelled_table_html(
        a.T, row_labels=col_names, col_labels=[sub("δ", i) for i in range(n_out)], row_classes=col_cls,
        classes={(P, i): "hit" for i in hits},
        caption="Aᵀ: ∂E/∂x = Aᵀδ" + (" (grey: cropped)" if pad else ""),
    )
    x_name = sub("x", q)
    if hits:
        terms = " + ".join(f"{sub('δ', i)}·{a[i, P]}" for i in hits)
        formula = f"∂E/∂{x_name} = (Aᵀδ)<sub>{q}</sub> = {html.escape(terms)}"
        if len(hits) > 1:
            formula += " : the kernel read backwards as i grows (the flip)"
    else:
        formula = (f"∂E/∂{x_name} = 0: its column of A is all zeros, no window reaches it "
                   f"(its row of Aᵀ is zero)")
    r = matrices.unreached(length, kernel, stride=stride, pad=pad, dilation=dilation)
    sizes = (f"H = {length}, K = {kernel}, stride s = {stride}, padding p = {pad}, dilation d = {dilation}: "
             f"{n_out} outputs (rows of A); r = {r} padded position(s) after the last window; "
             f"{len(empty)} input pixel(s) that no window reaches (hatched)"
             + ("; grey: the padding, whose gradient is cropped" if pad else ""))
    return tables_html(t_a, t_at, notes=[formula, sizes])


def _fraction_text(v: float):
    if v == 0:
        return 0  # an int: drawn as a faint dot, like the zeros of A
    f = Fraction(v).limit_denominator(100)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


POOL_MODES = {
    "max": dict(mode="max"),
    "average": dict(mode="avg", count_include_pad=True),
    "average, count_include_pad=False": dict(mode="avg", count_include_pad=False),
}
"""The pooling kinds of :func:`pool_matrix_view_html`, as keyword arguments of matrices.pool_matrix."""


def pool_matrix_view_html(x, dy, *, size: int, stride: int | None = None, pad: int = 0, ceil_mode: bool = False,
                          kind: str = "max", fmt: str = "{:g}") -> str:
    """One view of the "S and Sᵀ" explorer: 1-D pooling of the input x (H,) with upstream gradient dy.

    kind: a key of POOL_MODES.  Left, S (one row per window, columns the input x_q): 1 at the
    window's maximum, or 1/divisor on the window's input pixels; the padding is drawn as grey
    columns on each side headed by what it holds (-inf for max, 0 for average), its entries of S
    are all zero.  A window that reaches past the padded input (ceil_mode) is orange.  Right, Sᵀ,
    and under both the forward y = S x and the backward dx = Sᵀ dy, with the divisor of each
    window.  dy must have one entry per window.
    """
    x = np.asarray(x, dtype=float)
    dy = np.asarray(dy, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-D input (H,), got shape {x.shape}")
    if kind not in POOL_MODES:
        raise ValueError(f"kind must be one of {list(POOL_MODES)}, got {kind!r}")
    length = x.size
    stride = size if stride is None else stride
    opts = POOL_MODES[kind]
    windows = matrices.pool_windows(length, size, stride=stride, pad=pad, ceil_mode=ceil_mode,
                                    count_include_pad=opts.get("count_include_pad", True))
    if dy.shape != (len(windows),):
        raise ValueError(f"dy must have one entry per window, shape ({len(windows)},), got {dy.shape}")
    s = matrices.pool_matrix((1, length), size=(1, size), stride=(1, stride), pad=(0, pad), ceil_mode=ceil_mode,
                             x=x[None, :], **opts)
    pad_text = "−∞" if opts["mode"] == "max" else "0"
    s_p = np.zeros((len(windows), length + 2 * pad), dtype=object)
    s_p[:, pad:pad + length] = [[_fraction_text(v) for v in row] for row in s]
    col_names = [pad_text] * pad + [sub("x", q) for q in range(length)] + [pad_text] * pad
    col_cls = {k: "pad" for k in range(length + 2 * pad) if not pad <= k < pad + length}
    partial = {i for i, _ in enumerate(windows) if i * stride - pad + size > length + pad}
    row_cls = {i: "part" for i in partial}
    hits = {(i, k + pad): "hit" for i, k in zip(*np.nonzero(s))}
    rows = [f"{sub('y', i)} ÷{d}" if opts["mode"] == "avg" else sub("y", i) for i, (_, _, d) in enumerate(windows)]
    t_s = labelled_table_html(s_p, row_labels=rows, col_labels=col_names, col_classes=col_cls,
                              row_classes=row_cls, classes=hits,
                              caption=(f"S ({len(windows)}×{length}): y = S x"
                                       + (f"; the padding (grey) holds {pad_text}" if pad else "")))
    t_st = labelled_table_html(s_p.T, row_labels=col_names, col_labels=[sub("δ", i) for i in range(len(windows))],
                               row_classes=col_cls, col_classes=row_cls,
                               classes={(k, i): c for (i, k), c in hits.items()},
                               caption="Sᵀ: dx = Sᵀδ")
    y, dx = s @ x, s.T @ dy
    vec = lambda v: "[" + ", ".join(fmt.format(t) for t in v) + "]"
    notes = [
        f"x = {vec(x)} → y = S x = {vec(y)}",
        f"δ = {vec(dy)} → ∂E/∂x = Sᵀδ = {vec(dx)}",
        (f"H = {length}, window {size}, stride {stride}, padding {pad}, ceil_mode={ceil_mode}: "
         f"{len(windows)} windows" + (f"; orange: {len(partial)} window(s) reaching past the padded input"
                                      if partial else "")),
    ]
    return tables_html(t_s, t_st, notes=notes)


def plot_matrix_patterns(mats: Mapping[str, np.ndarray], *, title: str | None = None) -> Figure:
    """The nonzero pattern of several matrices side by side (a dot per nonzero entry).

    mats: {caption: 2-D array}.  Useful for the block structure of a convolution's matrix (groups,
    channels).  Each panel keeps the matrix's aspect ratio; its shape is added to the caption.
    """
    if not mats:
        raise ValueError("mats must hold at least one matrix")
    fig = Figure(figsize=(3.2 * len(mats), 3.4), layout="constrained")
    axes = fig.subplots(1, len(mats), squeeze=False)[0]
    for ax, (name, m) in zip(axes, mats.items()):
        m = np.asarray(m)
        if m.ndim != 2:
            raise ValueError(f"mats[{name!r}] must be 2-D, got shape {m.shape}")
        ax.imshow(m != 0, cmap="Greys", interpolation="nearest", vmin=0, vmax=1.4)
        ax.set_title(f"{name}\n{m.shape[0]}×{m.shape[1]}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
