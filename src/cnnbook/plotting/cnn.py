"""Pure rendering functions for the chapter "A CNN from scratch": arrays in, a Figure out.

* :func:`plot_training_curves` -- loss and accuracy per epoch, train, validation and test.
* :func:`plot_selection` -- validation loss per epoch for several settings, the chosen one marked.
* :func:`plot_confusion_matrix` -- counts of (true class, predicted class).
* :func:`plot_misclassified` -- a gallery of misclassified digits with their top probabilities.
* :func:`plot_edge_responses` -- each kernel's response to step edges of every orientation.
* :func:`plot_kernels` -- the learned kernels of a convolution layer as small images.
* :func:`plot_feature_maps` -- one input digit, the maps a layer makes of it,
  and (optionally) the network's class probabilities, predicted and true class marked.

Kernels and feature maps use a diverging colour map centred on 0 (red
positive, blue negative) with one colour scale per figure, so that two
panels can be compared by colour.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

DIVERGING = "RdBu_r"
GAP = "#9a9a9a"  # colour of the gaps between tiled feature maps
PROB_BAR = "#bbbbbb"  # a class probability
PREDICTED = "#d62728"  # the predicted class (the largest probability)
TRUE_CLASS = "#1a7f37"  # the true class


def _grid(count: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, count))
    return (count + cols - 1) // cols, cols


def plot_training_curves(history: Mapping[str, Sequence[float]], *, title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right) against the epoch.

    history: {"<part>_loss", "<part>_acc": one value per epoch (all the same
    length E >= 1)} for the parts "train", "val" (validation) and "test";
    values at epoch 1..E.  A key may be missing, but at least one loss and one
    accuracy must be present.  Accuracies are fractions in [0, 1], drawn in percent.
    """
    keys = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc")
    unknown = set(history) - set(keys)
    if unknown:
        raise ValueError(f"history has unknown keys {sorted(unknown)}; expected some of {list(keys)}")
    series = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    lengths = {v.shape for v in series.values()}
    if len(lengths) != 1 or next(iter(lengths)) == (0,) or len(next(iter(lengths))) != 1:
        raise ValueError(f"history values must be 1-D sequences of one common length >= 1, got shapes "
                         f"{ {k: v.shape for k, v in series.items()} }")
    if not any(k.endswith("loss") for k in series) or not any(k.endswith("acc") for k in series):
        raise ValueError("history must hold at least one loss and one accuracy series")
    epochs = np.arange(1, next(iter(lengths))[0] + 1)
    fig = Figure(figsize=(8.4, 3.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    style = {"train": dict(color="#1f77b4", marker="o"), "val": dict(color="#ff7f0e", marker="^"),
             "test": dict(color="#d62728", marker="s")}
    names = {"train": "train", "val": "validation", "test": "test"}
    for key in keys:
        if key not in series:
            continue
        part, what = key.split("_")
        ax = ax_loss if what == "loss" else ax_acc
        ax.plot(epochs, series[key] * (100 if what == "acc" else 1), ms=3, label=names[part], **style[part])
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss (mean over the set)")
    ax_loss.set_yscale("log")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_selection(curves: Mapping[str, Sequence[float]], *, chosen: tuple[str, int],
                   ylabel: str = "validation loss", title: str | None = None) -> Figure:
    """One line per setting (e.g. a learning rate): a value per epoch, the chosen point circled.

    curves: {label: values at epoch 1..E} (lengths may differ); chosen:
    (label, epoch) with epoch counted from 1.  Log-scaled y axis (a loss).
    """
    if not curves:
        raise ValueError("curves must hold at least one setting")
    label, epoch = chosen
    if label not in curves:
        raise ValueError(f"chosen label {label!r} is not one of the curves {list(curves)}")
    if not 1 <= epoch <= len(curves[label]):
        raise ValueError(f"chosen epoch must lie in [1, {len(curves[label])}] for {label!r}, got {epoch}")
    fig = Figure(figsize=(5.6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for name, v in curves.items():
        v = np.asarray(v, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"curves[{name!r}] must be a non-empty 1-D sequence, got shape {v.shape}")
        ax.plot(np.arange(1, v.size + 1), v, marker="o", ms=3, label=str(name))
    ax.plot([epoch], [curves[label][epoch - 1]], "o", ms=12, mfc="none", mec="black", mew=1.5,
            label=f"chosen: {label}, epoch {epoch}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def plot_confusion_matrix(cm, *, class_names: Sequence[str] | None = None,
                          title: str = "Confusion matrix (test set)") -> Figure:
    """Counts (K, K) with rows = true class, columns = predicted class.

    Every nonzero count is written in its cell; the diagonal (correct
    answers) is shaded green, the errors red, the darker the more.
    class_names: K labels (default 0..K-1).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (K, K) array, got shape {cm.shape}")
    if cm.dtype.kind not in "iu" or (cm < 0).any():
        raise ValueError("cm must hold non-negative integer counts")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"class_names must have {k} entries, got {len(names)}")
    diag = np.eye(k, dtype=bool)
    row_sums = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    frac = cm / row_sums
    rgb = np.ones((k, k, 3))
    green, red = np.array([0.18, 0.55, 0.34]), np.array([0.80, 0.15, 0.15])
    for mask, colour, strength in ((diag, green, frac), (~diag & (cm > 0), red, np.minimum(1, 0.25 + 3 * frac))):
        rgb[mask] = 1 - strength[mask][:, None] * (1 - colour)
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(rgb, interpolation="nearest")
    for i, j in zip(*np.nonzero(cm)):
        dark = diag[i, j] and frac[i, j] > 0.5
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return fig


def plot_kernels(w, *, channel: int = 0, cols: int = 8, title: str | None = None) -> Figure:
    """The kernels of a convolution layer, one small image per filter.

    w: (F, C, KH, KW); shows w[f, channel] for every filter f in a grid with
    ``cols`` columns, all on one colour scale symmetric about 0.
    """
    w = np.asarray(w, dtype=float)
    if w.ndim != 4:
        raise ValueError(f"w must be a 4-D array (F, C, KH, KW), got shape {w.shape}")
    if not 0 <= channel < w.shape[1]:
        raise ValueError(f"channel must lie in [0, {w.shape[1]}) for w of shape {w.shape}, got {channel}")
    f = w.shape[0]
    rows, cols = _grid(f, cols)
    vmax = float(np.abs(w[:, channel]).max()) or 1.0
    fig = Figure(figsize=(1.1 * cols + 0.8, 1.1 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    im = None
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= f:
            ax.set_axis_off()
            continue
        im = ax.imshow(w[k, channel], cmap=DIVERGING, vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"filter {k}", fontsize=8)
    fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label="weight")
    if title:
        fig.suptitle(title)
    return fig


def plot_misclassified(images, labels, preds, probs, *, names: Sequence[str] | None = None,
                       cols: int = 6, top: int = 3, title: str | None = None) -> Figure:
    """A gallery of misclassified digits: each image, its true and predicted class, the top probabilities.

    images: (M, H, W) grey levels; labels, preds: (M,) ints; probs: (M, K)
    class probabilities.  Panel m shows image m titled "true t → predicted p"
    (names[m] above it when given, e.g. the test index) and, under it, the
    ``top`` largest probabilities as "class: percent", the true class in green.
    """
    images = np.asarray(images, dtype=float)
    labels, preds, probs = np.asarray(labels), np.asarray(preds), np.asarray(probs, dtype=float)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must be a 3-D array (M, H, W) with M >= 1, got shape {images.shape}")
    m = images.shape[0]
    if labels.shape != (m,) or preds.shape != (m,):
        raise ValueError(f"labels and preds must have shape ({m},), got {labels.shape} and {preds.shape}")
    if probs.ndim != 2 or probs.shape[0] != m:
        raise ValueError(f"probs must have shape ({m}, K), got {probs.shape}")
    if names is not None and len(names) != m:
        raise ValueError(f"names must have {m} entries, got {len(names)}")
    rows, cols = _grid(m, cols)
    fig = Figure(figsize=(1.55 * cols + 0.2, 2.2 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= m:
            ax.set_axis_off()
            continue
        ax.imshow(images[k], cmap="gray_r", interpolation="nearest")
        head = f"{names[k]}\n" if names is not None else ""
        ax.set_title(f"{head}true {labels[k]} → {preds[k]}", fontsize=8)
        order = np.argsort(-probs[k])[:top]
        for r, cls in enumerate(order):
            ax.text(0.5, -0.1 - 0.14 * r, f"{cls}: {percent(probs[k, cls])}", transform=ax.transAxes,
                    ha="center", va="top", fontsize=7.5,
                    color=TRUE_CLASS if cls == labels[k] else (PREDICTED if cls == preds[k] else "black"),
                    fontweight="bold" if cls in (labels[k], preds[k]) else "normal")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_edge_responses(responses: Mapping[str, np.ndarray], angles, *, edges=None,
                        title: str | None = None) -> Figure:
    """Heat maps of kernel responses to step edges: one panel per set of kernels, filters x angle.

    responses: {panel title: (F, A) array}, e.g. the initial and the trained
    kernels, all drawn on one colour scale symmetric about 0 (red positive);
    angles: (A,) degrees, the direction each edge's bright side faces;
    edges: optional (A, KH, KW) edge patches, drawn as a strip above the panels.
    """
    angles = np.asarray(angles, dtype=float)
    if angles.ndim != 1 or angles.size == 0:
        raise ValueError(f"angles must be a non-empty 1-D array (A,), got shape {angles.shape}")
    if not responses:
        raise ValueError("responses must hold at least one (F, A) array")
    arrays = {k: np.asarray(v, dtype=float) for k, v in responses.items()}
    for k, v in arrays.items():
        if v.ndim != 2 or v.shape[1] != angles.size:
            raise ValueError(f"responses[{k!r}] must have shape (F, {angles.size}), got {v.shape}")
    if edges is not None:
        edges = np.asarray(edges, dtype=float)
        if edges.ndim != 3 or edges.shape[0] != angles.size:
            raise ValueError(f"edges must have shape ({angles.size}, KH, KW), got {edges.shape}")
    vmax = max(float(np.abs(v).max()) for v in arrays.values()) or 1.0
    n = len(arrays)
    f = max(v.shape[0] for v in arrays.values())
    fig = Figure(figsize=(4.2 * n + 1.0, 0.22 * f + (2.3 if edges is not None else 1.5)), layout="constrained")
    if edges is not None:
        outer = fig.subfigures(2, 1, height_ratios=[0.9, 0.22 * f + 1.0])
        strip = outer[0].subplots(1, angles.size)
        for a, ax in enumerate(np.atleast_1d(strip)):
            ax.imshow(edges[a], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{angles[a]:g}°", fontsize=6.5)
        outer[0].suptitle("the step edges (ink dark)", fontsize=8)
        host = outer[1]
    else:
        host = fig
    axes = np.atleast_1d(host.subplots(1, n))
    im = None
    for ax, (name, v) in zip(axes, arrays.items()):
        im = ax.imshow(v, cmap=DIVERGING, vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
        step = max(1, angles.size // 8)
        ax.set_xticks(range(0, angles.size, step), [f"{a:g}°" for a in angles[::step]], fontsize=7)
        ax.set_yticks(range(v.shape[0]), [str(k) for k in range(v.shape[0])], fontsize=7)
        ax.set_xlabel("edge orientation")
        ax.set_ylabel("filter")
        ax.set_title(name, fontsize=9)
    host.colorbar(im, ax=axes.tolist(), shrink=0.9, label="response  Σ w · edge")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def percent(p: float) -> str:
    """A probability as a short percentage that never rounds a small one to "0%":
    0.9812 -> "98%", 0.0123 -> "1.2%", 0.00023 -> "0.023%", 1e-7 -> "< 0.01%"."""
    pct = 100 * float(p)
    if pct >= 9.95:
        return f"{pct:.0f}%"
    if pct >= 0.01:
        return f"{pct:.2g}%"
    return "< 0.01%"


def tile_maps(maps, *, cols: int = 8) -> np.ndarray:
    """Maps (F, OH, OW) tiled row by row into one (rows*(OH+1) - 1, cols*(OW+1) - 1) array.

    Map k sits at block (k // cols, k % cols); one row/column of NaN separates
    neighbouring blocks and fills unused blocks (drawn in the GAP colour).
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"maps must be a 3-D array (F, OH, OW) with F >= 1, got shape {maps.shape}")
    f, oh, ow = maps.shape
    rows, cols = _grid(f, cols)
    out = np.full((rows * (oh + 1) - 1, cols * (ow + 1) - 1), np.nan)
    for k in range(f):
        r, c = divmod(k, cols)
        out[r * (oh + 1) : r * (oh + 1) + oh, c * (ow + 1) : c * (ow + 1) + ow] = maps[k]
    return out


def plot_feature_maps(image, maps, *, probs=None, label: int | None = None, cols: int = 8,
                      title: str | None = None) -> Figure:
    """An input digit, the feature maps a layer computes from it, and the prediction.

    image: (H, W) grey levels; maps: (F, OH, OW), tiled row by row with
    ``cols`` maps per row (:func:`tile_maps`) on one colour scale symmetric
    about 0; probs: (K,) class probabilities, drawn as bars, the largest in
    red -- omitted when None.  The true class ``label`` is marked whatever its
    probability (a bar of width ~0 cannot show an outline): its whole row is
    shaded light green and framed, its tick label is bold green, and "true" with its
    probability is written next to its bar.
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array (H, W), got shape {image.shape}")
    mosaic = tile_maps(maps, cols=cols)
    f = np.shape(maps)[0]
    extra = 1 if probs is None else 2
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 1 + extra, gridspec_kw={"width_ratios": [1.0] * extra + [3.2]})
    ax_img = axes[0]
    ax_img.imshow(image, cmap="gray_r", interpolation="nearest")
    ax_img.set_title("input" if label is None else f"label {label}", fontsize=9)
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    if probs is not None:
        probs = np.asarray(probs, dtype=float)
        if probs.ndim != 1:
            raise ValueError(f"probs must be a 1-D array (K,), got shape {probs.shape}")
        ax_p = axes[1]
        colours = [PROB_BAR] * probs.size
        colours[int(np.argmax(probs))] = PREDICTED
        ax_p.barh(np.arange(probs.size), probs, color=colours, zorder=2)
        ax_p.set_yticks(np.arange(probs.size))
        if label is not None and 0 <= label < probs.size:
            # the true class: a band across the whole row, a bold green tick label and a note
            ax_p.axhspan(label - 0.5, label + 0.5, facecolor=to_rgba(TRUE_CLASS, 0.12), edgecolor=TRUE_CLASS,
                         lw=1.2, zorder=1, label="true class")
            tick = ax_p.get_yticklabels()[label]
            tick.set_color(TRUE_CLASS)
            tick.set_fontweight("bold")
            inside = probs[label] >= 0.35          # a long bar: write on it, in white
            ax_p.text(0.03 if inside else probs[label] + 0.03, label, f"true {percent(probs[label])}",
                      va="center", fontsize=7, color="white" if inside else TRUE_CLASS,
                      fontweight="bold", zorder=3)
        ax_p.invert_yaxis()
        ax_p.set_xlim(0, 1)
        ax_p.set_xticks([0, 0.5, 1])
        ax_p.tick_params(labelsize=7)
        ax_p.set_title(f"prediction {int(np.argmax(probs))}", fontsize=9)
    ax_maps = axes[-1]
    vmax = float(np.nanmax(np.abs(mosaic))) or 1.0
    ax_maps.imshow(np.ma.masked_invalid(mosaic), cmap=DIVERGING, vmin=-vmax, vmax=vmax,
                   interpolation="nearest")
    ax_maps.set_xticks([])
    ax_maps.set_yticks([])
    ax_maps.set_facecolor(GAP)
    ax_maps.set_title(f"{f} feature maps, {min(cols, f)} per row", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
