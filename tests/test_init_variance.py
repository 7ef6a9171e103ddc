"""The variance recursion of the activations chapter (initialisation), checked outside the notebook.

- The chapter's Gaussian expectations (a grid) agree with an independent quadrature (scipy), and
  ReLU's closed forms E[relu(z)^2] = Var(z)/2, E[relu'(z)^2] = 1/2 hold.
- The chapter's `predicted_rms` is the recursion: for ReLU every layer multiplies the root mean
  square by sqrt(D Var(w) / 2), forward and backward; He's Var(w) = 2/D keeps it.
- The forward recursion for ReLU is exact in expectation at any width (given the layer below,
  E over the weights of relu(z)^2 is Var(z)/2): a Monte Carlo over many narrow networks agrees
  with it, within its standard error.
- `cnnbook.plotting.init.plot_layer_scales` draws each prediction dashed in its curve's colour,
  with one legend entry for the dashes, and rejects predictions it cannot draw.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook import activations
from cnnbook.plotting.init import PREDICTED_LABEL, plot_layer_scales

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "activations.ipynb"


def _code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
            and not {"exercise", "solution"} & set(c["metadata"].get("tags", []))]


def _cell(pattern: str) -> str:
    found = [src for src in _code_cells() if re.search(pattern, src, re.M)]
    assert len(found) == 1, f"{pattern}: {len(found)} cells"
    return found[0]


@pytest.fixture(scope="module")
def chapter() -> dict:
    """The chapter's setup, its Gaussian expectations and its recursion, executed."""
    ns: dict = {}
    setup = _cell(r"^import numpy as np")
    exec(compile("\n".join(ln for ln in setup.splitlines() if not ln.startswith("%")), "<setup>", "exec"), ns)
    exec(compile(_cell(r"^MEAN_SQUARES = "), "<MEAN_SQUARES>", "exec"), ns)
    exec(compile(_cell(r"^def predicted_rms\("), "<predicted_rms>", "exec"), ns)
    return ns


# --------------------------------------------------------------------------- the expectations


@pytest.mark.parametrize("var", [1e-3, 0.2, 1.0, 3.0, 25.0])
def test_gaussian_expectations_match_an_independent_quadrature(chapter, var):
    from scipy import integrate

    def expect(g):
        density = lambda z: np.exp(-z * z / (2 * var)) / np.sqrt(2 * np.pi * var)
        return integrate.quad(lambda z: g(z) * density(z), -np.inf, np.inf, epsabs=1e-13, limit=200)[0]

    sig = activations.sigmoid
    want = {"tanh": (expect(lambda z: np.tanh(z) ** 2), expect(lambda z: (1 - np.tanh(z) ** 2) ** 2)),
            "sigmoid": (expect(lambda z: sig(z) ** 2), expect(lambda z: (sig(z) * (1 - sig(z))) ** 2)),
            "ReLU": (var / 2, 0.5)}
    for act, (f_sq, fprime_sq) in chapter["MEAN_SQUARES"].items():
        np.testing.assert_allclose(f_sq(var), want[act][0], rtol=1e-8, atol=1e-13, err_msg=act)
        np.testing.assert_allclose(fprime_sq(var), want[act][1], rtol=1e-8, atol=1e-13, err_msg=act)
    # ReLU's closed forms are the integrals
    np.testing.assert_allclose(expect(lambda z: np.maximum(z, 0.0) ** 2), var / 2, rtol=1e-8)


# --------------------------------------------------------------------------- the recursion


@pytest.mark.parametrize("fan, var_w", [(8, 2 / 8), (64, 1 / 64), (100, 0.03), (16, 4.0 / 16)])
def test_relu_recursion_is_a_factor_per_layer(chapter, fan, var_w):
    z_rms, d_rms = chapter["predicted_rms"]("ReLU", 12, var_w, fan=fan, x_ms=1.7, top_ms=0.3)
    factor = np.sqrt(fan * var_w / 2)
    np.testing.assert_allclose(z_rms[0], np.sqrt(fan * var_w * 1.7), rtol=1e-14)   # layer 1: a^0 = x
    np.testing.assert_allclose(z_rms[1:] / z_rms[:-1], factor, rtol=1e-12)
    np.testing.assert_allclose(d_rms[-1], np.sqrt(0.3), rtol=1e-14)                 # the top, as given
    np.testing.assert_allclose(d_rms[:-1] / d_rms[1:], factor, rtol=1e-12)          # towards the input
    if np.isclose(var_w, 2 / fan):                                                   # He keeps the size
        np.testing.assert_allclose(z_rms[1:] / z_rms[:-1], 1.0, rtol=1e-12)


def test_tanh_near_zero_is_xavier_and_the_sigmoid_shrinks_by_at_least_scale_over_4(chapter):
    predicted_rms = chapter["predicted_rms"]
    # tiny inputs: tanh is the identity, Var(w) = 1/D keeps both passes
    z_rms, d_rms = predicted_rms("tanh", 6, 1 / 32, fan=32, x_ms=1e-8, top_ms=1.0)
    np.testing.assert_allclose(z_rms / z_rms[0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(d_rms, 1.0, rtol=1e-6)
    for scale in (0.5, 1.0, 4.0, 8.0):
        _, d_rms = predicted_rms("sigmoid", 10, scale**2 / 16, fan=16, x_ms=1.0, top_ms=1.0)
        assert np.all(d_rms[:-1] / d_rms[1:] <= scale / 4 + 1e-15)


def test_relu_forward_recursion_is_exact_in_expectation_at_small_width(chapter):
    """E over the weights of the mean square of z^l equals the recursion at any width (He scale)."""
    width, depth, draws = 16, 5, 3000
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, width))
    ms = np.empty((draws, depth))
    for s in range(draws):
        a = x
        for l in range(depth):
            z = a @ (rng.standard_normal((width, width)) * np.sqrt(2 / width))
            ms[s, l] = np.mean(z**2)
            a = np.maximum(z, 0.0)
    z_rms, _ = chapter["predicted_rms"]("ReLU", depth, 2 / width, fan=width, x_ms=np.mean(x**2), top_ms=1.0)
    mean, std_err = ms.mean(axis=0), ms.std(axis=0) / np.sqrt(draws)
    assert np.all(np.abs(mean - z_rms**2) < 4 * std_err), (mean, z_rms**2, std_err)


# --------------------------------------------------------------------------- the figure


def _dashed(ax):
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]


def test_plot_layer_scales_draws_each_prediction_in_its_curves_colour():
    measured = {"ReLU": [1.0, 0.5, 0.25, 0.0], "tanh": [1.0, 0.9, 0.8, 0.7]}
    predicted = {"ReLU": [1.0, 0.6, 0.3, 0.1], "tanh": [1.0, 0.95, 0.9, 0.85]}
    fig = plot_layer_scales(measured, predicted, ylim=(1e-3, 10), max_layer=6, floor=1e-3, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    solid = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label() in measured}
    dashed = _dashed(ax)
    assert len(dashed) == 2
    for ln in dashed:
        label = ln.get_label()[len("_predicted ("):-1]
        np.testing.assert_array_equal(ln.get_ydata(), predicted[label])
        np.testing.assert_array_equal(ln.get_xdata(), [1, 2, 3, 4])
        assert ln.get_color() == solid[label].get_color()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["ReLU", "tanh", PREDICTED_LABEL]
    assert ax.get_ylim() == (1e-3, 10) and ax.get_xlim() == (0.5, 6.5) and ax.get_title() == "t"


def test_plot_layer_scales_without_predictions_is_the_plain_plot():
    fig = plot_layer_scales({"sigmoid": [1e-3, 1e-2]}, {})
    ax = fig.axes[0]
    assert _dashed(ax) == []
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sigmoid"]


@pytest.mark.parametrize("predicted, match", [
    ({"ReLU": [1.0, 0.5], "GELU": [1.0, 1.0]}, r"labels \['GELU'\] that measured does not have"),
    ({"ReLU": [1.0, 0.5, 0.2]}, "3 layers, measured\\['ReLU'\\] has 2"),
    ({"ReLU": [1.0, 0.0]}, "must be finite and > 0"),
    ({"ReLU": [[1.0, 0.5]]}, "must be a 1-D array"),
])
def test_plot_layer_scales_rejects_what_it_cannot_draw(predicted, match):
    with pytest.raises(ValueError, match=match):
        plot_layer_scales({"ReLU": [1.0, 0.5]}, predicted)
