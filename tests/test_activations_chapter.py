"""The activations chapter's exercises and inline code, checked outside the notebook.

- Every checker passes the reference solution taken from the notebook's solution cell, says
  "not attempted" on the notebook's stub, and names a mistake a reader makes.
- The chapter writes its dense layer and its squared error inline (the fully-connected and the
  losses chapters come later); they agree with the package's `fc` and `losses.mse`, which those
  chapters introduce, so the early chapter and the package cannot drift apart.
- The chapter numbers layers 1..L (a^0 = x, z^l = a^{l-1} W^l + b^l), as the fully-connected
  chapter does, and its layer plot draws them so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook import activations, fc, losses
from cnnbook.exercises import check_leaky_relu, check_sigmoid_backward, check_tanh_grad_via_sigmoid
from cnnbook.plotting.losses import plot_layer_gradients

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "activations.ipynb"


def cells() -> list[dict]:
    return [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tagged(tag: str) -> list[str]:
    return [source(c) for c in cells() if tag in c["metadata"].get("tags", [])]


def without_magics(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))


def defining(name: str) -> str:
    """The one lesson cell (not a stub, not a solution) that defines `name`."""
    pattern = re.compile(rf"^def {name}\b", re.M)
    found = [source(c) for c in cells() if pattern.search(source(c))
             and not {"exercise", "solution"} & set(c["metadata"].get("tags", []))]
    assert len(found) == 1, f"{name}: {len(found)} cells define it"
    return found[0]


@pytest.fixture(scope="module")
def chapter() -> dict:
    """The setup cell and the cells of the inline dense layer, the loss and the MLP, executed."""
    ns: dict = {}
    setup = [source(c) for c in cells() if "import numpy as np" in source(c)
             or source(c).startswith("from cnnbook.exercises import")]
    assert len(setup) == 2
    for code in setup:
        exec(compile(without_magics(code), "<activations: setup>", "exec"), ns)
    for name in ("chain_loss_and_grad", "dense_forward", "mlp_forward"):
        exec(compile(defining(name), f"<activations: {name}>", "exec"), ns)
    return ns


# --------------------------------------------------------------------------- the exercises

CHECKS = {
    "sigmoid_backward_mine": lambda ns: check_sigmoid_backward(ns["sigmoid_backward_mine"]),
    "tanh_grad_via_sigmoid": lambda ns: check_tanh_grad_via_sigmoid(ns["tanh_grad_via_sigmoid"]),
    "leaky_relu_forward": lambda ns: check_leaky_relu(ns["leaky_relu_forward"], ns["leaky_relu_backward"]),
}


def test_every_exercise_is_covered_here():
    stubs = {name for code in tagged("exercise") for name in re.findall(r"^def (\w+)\(", code, re.M)}
    assert stubs == {"sigmoid_backward_mine", "tanh_grad_via_sigmoid", "leaky_relu_forward", "leaky_relu_backward"}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_books_solution_passes(chapter, name):
    ns = dict(chapter)
    solution = [code for code in tagged("solution") if re.search(rf"^def {name}\(", code, re.M)]
    assert len(solution) == 1
    assert "### BEGIN SOLUTION" in solution[0]
    exec(compile(solution[0], f"<activations: solution of {name}>", "exec"), ns)  # proves itself, too
    report = CHECKS[name](ns)
    assert report.ok, str(report)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_untouched_stub_is_not_attempted(chapter, name):
    ns = dict(chapter)
    for code in tagged("exercise"):
        exec(compile(code, "<activations: stub>", "exec"), ns)
    report = CHECKS[name](ns)
    assert report.status == "not attempted" and not report.ok, str(report)


def test_a_readers_mistakes_are_named():
    # sigma'(x) alone, without the upstream gradient
    assert check_sigmoid_backward(lambda dy, cache: cache.y * (1 - cache.y)).mistakes == ("forgot_dy",)
    # tanh' through the sigmoid without the inner derivative of sigma(2x)
    sig = activations.sigmoid
    assert check_tanh_grad_via_sigmoid(lambda x: 2 * sig(2 * x) * (1 - sig(2 * x))).mistakes == ("missing_inner_2",)

    # the leaky ReLU's backward multiplied by the forward value instead of the slope
    def fwd(x, alpha=0.01):
        return np.where(x > 0, x, alpha * x), (x, alpha)

    def bwd(dy, cache):
        x, alpha = cache
        return dy * np.where(x > 0, x, alpha * x)

    assert check_leaky_relu(fwd, bwd).mistakes == ("slope_times_x",)


# --------------------------------------------------------------------------- inline code = the package


def test_inline_dense_layer_is_the_packages(chapter):
    rng = np.random.default_rng(0)
    a, W, b, delta = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(5, 3))
    z, cache = fc.fc_forward(a, W, b)
    np.testing.assert_array_equal(chapter["dense_forward"](a, W, b), z)
    for mine, theirs in zip(chapter["dense_backward"](delta, a, W), fc.fc_backward(delta, cache)):
        np.testing.assert_array_equal(mine, theirs)


def test_inline_squared_error_is_the_losses_chapters(chapter):
    rng = np.random.default_rng(1)
    y, t = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    E, dy = chapter["squared_error"](y, t)
    E_ref, dy_ref = losses.mse(y, t)
    np.testing.assert_allclose(E, E_ref, rtol=1e-15)
    np.testing.assert_allclose(dy, dy_ref, rtol=1e-15)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "ReLU"])
def test_inline_mlp_is_the_fc_chapters_backprop(chapter, act):
    """The chapter's mlp_backward, built on its inline dense layer, gives what the same network
    built from cnnbook.fc and cnnbook.losses gives."""
    rng = np.random.default_rng(2)
    X, T = rng.normal(size=(7, 4)), rng.uniform(size=(7, 2))
    weights = [rng.normal(size=(4, 5)), rng.normal(size=(5, 5)), rng.normal(size=(5, 2))]
    biases = [rng.normal(size=5), rng.normal(size=5), rng.normal(size=2)]
    out, caches = chapter["mlp_forward"](X, weights, biases, act)
    _, da = chapter["squared_error"](out, T)
    deltas, dWs, dbs = chapter["mlp_backward"](da, weights, caches, act)

    forward, backward = chapter["ACT"][act]
    h, stack = X, []
    for W, b in zip(weights, biases):
        z, fc_cache = fc.fc_forward(h, W, b)
        h, act_cache = forward(z)
        stack.append((fc_cache, act_cache))
    np.testing.assert_array_equal(out, h)
    _, dh = losses.mse(h, T)
    for l in reversed(range(3)):
        fc_cache, act_cache = stack[l]
        delta = backward(dh, act_cache)
        dh, dW, db = fc.fc_backward(delta, fc_cache)
        np.testing.assert_allclose(deltas[l], delta, rtol=1e-14)
        np.testing.assert_allclose(dWs[l], dW, rtol=1e-14)
        np.testing.assert_allclose(dbs[l], db, rtol=1e-14)


def test_the_chain_is_the_wide_network_with_one_unit(chapter):
    """chain_loss_and_grad (scalars) and mlp_backward (1x1 matrices) agree."""
    w = np.random.default_rng(3).normal(size=5) * 2
    for act in ("sigmoid", "tanh", "ReLU"):
        E, dw, _, _ = chapter["chain_loss_and_grad"](0.8, 0.3, w, act)
        weights, biases = [np.array([[v]]) for v in w], [np.zeros(1) for _ in w]
        out, caches = chapter["mlp_forward"](np.array([[0.8]]), weights, biases, act)
        E_wide, da = chapter["squared_error"](out, np.array([[0.3]]))
        _, dWs, _ = chapter["mlp_backward"](da, weights, caches, act)
        np.testing.assert_allclose(E, E_wide, rtol=1e-14)
        np.testing.assert_allclose(dw, [d[0, 0] for d in dWs], rtol=1e-14, atol=1e-300)


# --------------------------------------------------------------------------- the layer plot


def test_plot_layer_gradients_numbers_layers_from_1():
    fig = plot_layer_gradients({"sigmoid": [1e-6, 1e-4, 1e-2]}, bounds={"sigmoid": [1e-5, 1e-3, 1e-1]},
                               max_layer=4)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["sigmoid"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["bound (sigmoid)"].get_xdata(), [1, 2, 3])
    assert ax.get_xlim() == (0.5, 4.5)
    assert ax.get_xlabel() == "layer $l$ (1 = nearest the input)"
    assert ax.get_ylabel() == r"$\|\partial E / \partial W^l\|$"


def test_the_chapter_numbers_layers_from_1():
    """No layer 0 in the prose, the code comments or the plots: a^0 = x is the input, layers are 1..L."""
    text = NOTEBOOK.read_text()
    for old in (r"first_layer", r"\ba_0\b", r"a_\{l\+1\}", r"\bs_l\b", r"delta_l\b", r"\bW_l\b", r"dw_0\b",
                r"layer 0\b", r"\ba_L\b"):
        assert not re.search(old, text), old
    assert "z^l = a^{l-1} W^l + b^l" in text and "max_layer=MAX_DEPTH," in text
