"""Issue 11 in the losses and fully-connected chapters: the gradient-ratio figure, the clip's
gradient and keyword, and the slips fixed in the chapters' prose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook import activations, fc, losses
from cnnbook import softmax as sm
from cnnbook.plotting.losses import plot_gradient_ratio
from cnnbook.widgets import figure_to_png

BOOK = Path(__file__).resolve().parents[1] / "book"


def cells(name, kind):
    nb = json.loads((BOOK / name).read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


# --------------------------------------------------------------------------- the figure

GAP = np.geomspace(1, 1000, 50)
RATIOS = {"fused": np.ones(50), "unfused": np.where(GAP < 709.78, 1.0, np.nan),
          "clipped": np.where(GAP < 27.63, 1.0, 0.0)}


def test_plot_gradient_ratio_draws_the_data_it_was_given():
    fig = plot_gradient_ratio(GAP, RATIOS, marks={"clip": 27.63, "overflow": 709.78}, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    for label, ratio in RATIOS.items():
        np.testing.assert_array_equal(lines[label].get_xdata(), GAP)
        np.testing.assert_array_equal(lines[label].get_ydata(), ratio)   # NaN kept: a hole in the line
    vertical = [ln.get_xdata()[0] for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    assert sorted(vertical) == [27.63, 709.78]
    assert {t.get_text() for t in ax.texts} == {"clip", "overflow"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(RATIOS)
    assert figure_to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kwargs, match", [
    (dict(gap=np.array([1.0]), ratios={"a": [1.0]}), "at least two positive, increasing"),
    (dict(gap=np.array([0.0, 1.0]), ratios={"a": [1.0, 1.0]}), "positive, increasing"),
    (dict(gap=np.array([2.0, 1.0]), ratios={"a": [1.0, 1.0]}), "positive, increasing"),
    (dict(gap=GAP, ratios={}), "at least one curve"),
    (dict(gap=GAP, ratios={"a": np.ones(3)}), r"ratios\['a'\] must have length 50"),
    (dict(gap=GAP, ratios=RATIOS, marks={"far": 2000.0}), r"marks\['far'\] = 2000.0 lies outside"),
])
def test_plot_gradient_ratio_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_gradient_ratio(**kwargs)


# --------------------------------------------------------------------------- the numbers of the slip


def _ratios(gap, p_min=1e-12):
    z = np.array([[gap, 0.0]])
    t = np.array([[0.0, 1.0]])
    y, cache = sm.softmax_forward(z)
    true = -activations.sigmoid(gap)
    clipped = sm.softmax_backward(losses.cross_entropy(y, t, p_min=p_min)[1], cache)[0, 1] / true
    dividing = sm.softmax_backward(-t / np.maximum(y, p_min), cache)[0, 1] / true
    fused = losses.softmax_cross_entropy(z, t)[1][0, 1] / true
    return fused, clipped, dividing


def test_the_clip_is_wrong_from_a_gap_of_27_6_not_745():
    gap_clip = np.log(1 / 1e-12 - 1)
    assert round(gap_clip, 1) == 27.6
    assert _ratios(27.0) == pytest.approx((1, 1, 1), rel=1e-12)
    fused, clipped, dividing = _ratios(30.0)
    assert fused == pytest.approx(1, rel=1e-12) and clipped == 0
    assert round(dividing, 3) == 0.094
    assert dividing == pytest.approx(activations.sigmoid(-30.0) / 1e-12, rel=1e-10)
    assert round(1075 * np.log(2), 2) == 745.13           # where the softmax underflows to 0


# --------------------------------------------------------------------------- the dense layer's cost


def test_dense_backward_does_twice_the_multiplications_of_forward():
    class Counted:
        muls = 0

        def __init__(self, v):
            self.v = v

        def __mul__(self, other):
            Counted.muls += 1
            return Counted(self.v * getattr(other, "v", other))

        __rmul__ = __mul__

        def __add__(self, other):
            return Counted(self.v + getattr(other, "v", other))

        __radd__ = __add__

    counted = np.vectorize(Counted, otypes=[object])
    rng = np.random.default_rng(0)
    n, d, m = 3, 4, 5
    _, cache = fc.fc_forward_naive(counted(rng.normal(size=(n, d))), counted(rng.normal(size=(d, m))),
                                   counted(rng.normal(size=m)))
    forward, Counted.muls = Counted.muls, 0
    fc.fc_backward_naive(counted(rng.normal(size=(n, m))), cache)
    assert (forward, Counted.muls) == (n * d * m, 2 * n * d * m)


# --------------------------------------------------------------------------- the prose


def test_losses_chapter_no_longer_says_the_clip_fails_only_at_underflow():
    md = "\n".join(cells("losses.ipynb", "markdown"))
    code = "\n".join(cells("losses.ipynb", "code"))
    assert "27.6" in md and "{eval}`clip_ratio_30_text`" in md and "745" in md
    assert "gradient at $-1/p_{\\min} = -10^{12}$" not in md    # the old claim about cross_entropy
    assert "where clipping is only safe" not in md
    assert "eps=" not in code and "plot_gradient_ratio(" in code
    summary = next(c for c in cells("losses.ipynb", "markdown") if "admonition} Summary" in c)
    assert "27.6" in summary and "underflow" in summary


def test_fc_chapter_prose_slips_fixed():
    md = "\n".join(cells("fully_connected.ipynb", "markdown"))
    assert "every convolutional network" not in md and "fully convolutional" in md
    assert "about as much as one forward" not in md and "about **two**" in md


@pytest.mark.parametrize("name", ["losses.ipynb", "fully_connected.ipynb"])
def test_chapter_ends_with_the_autodiff_check(name):
    md = cells(name, "markdown")
    titles = [line for c in md for line in c.splitlines() if line.startswith("## ")]
    assert titles[titles.index("## Checked against an autodiff framework") + 1] == "## Exercises"
    code = "\n".join(cells(name, "code"))
    assert "reference.vjp(" in code and "checked against JAX (float64)" in code
