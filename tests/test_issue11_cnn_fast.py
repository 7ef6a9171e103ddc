"""Issue 11 for the CNN and fast-code chapters: the whole-network helpers of cnnbook.reference
(network, train_sgd, jit_vjp) against cnnbook.model, and the chapters' wording rules (no
"skipping", the CNN summary's agreement bound is the one its check asserts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook import conv, data, reference
from cnnbook import model as M
from cnnbook.losses import softmax_cross_entropy

BOOK = Path(__file__).resolve().parents[1] / "book"

SPEC = [("conv2d", ("0.w", "0.b"), {"stride": 2, "pad": 1}), ("relu", (), {}),
        ("maxpool2d", (), {"size": 2}), ("flatten", (), {}), ("fc", ("4.w", "4.b"), {})]


def small_net(seed=0):
    r = np.random.default_rng(seed)
    net = M.Sequential([M.Conv2d(in_channels=2, out_channels=3, kernel=3, stride=2, pad=1, rng=r), M.ReLU(),
                        M.MaxPool2d(size=2), M.Flatten(), M.Dense(in_features=3 * 2 * 2, out_features=4, rng=r)])
    for layer in net.layers:                       # biases off 0: no pre-activation exactly 0
        if "b" in layer.params:
            layer.params["b"][...] = r.normal(size=layer.params["b"].shape)
    return net


def test_network_gives_every_activation_delta_and_gradient_of_the_model():
    net, r = small_net(), np.random.default_rng(1)
    x, labels = r.normal(size=(5, 2, 8, 9)), np.array([0, 3, 1, 2, 3])
    ref = reference.network(SPEC, net.params(), x, np.eye(4)[labels])
    z, acts = net.forward(x, keep=True)
    loss, dz = softmax_cross_entropy(z, labels)
    deltas = [dz]
    for layer in reversed(net.layers):
        deltas.append(layer.backward(deltas[-1]))
    deltas = deltas[::-1]
    assert abs(ref["loss"] - loss) < 1e-12
    assert len(ref["a"]) == len(acts) == 5 and len(ref["delta"]) == len(deltas) == 6
    for mine, theirs in zip(acts + deltas, ref["a"] + ref["delta"]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    assert set(ref["grads"]) == set(net.grads())
    for name, g in net.grads().items():
        np.testing.assert_allclose(g, ref["grads"][name], rtol=1e-10, atol=1e-12)


def test_network_delta_is_not_the_input_of_the_next_layer():
    # a wrong delta (e.g. the ReLU's output gradient handed to the conv) must differ
    net, r = small_net(), np.random.default_rng(2)
    x, labels = r.normal(size=(3, 2, 8, 9)), np.array([0, 1, 2])
    ref = reference.network(SPEC, net.params(), x, np.eye(4)[labels])
    assert ref["delta"][1].shape == ref["delta"][2].shape
    assert not np.allclose(ref["delta"][1], ref["delta"][2])     # relu' zeroes part of delta^2


def test_train_sgd_replays_the_model_sgd_step_for_step():
    net, r = small_net(3), np.random.default_rng(4)
    x, labels = r.normal(size=(11, 2, 8, 9)), r.integers(0, 4, size=11)
    init = {k: p.copy() for k, p in net.params().items()}
    batch_rng = np.random.default_rng(5)
    batches = [b for _ in range(2) for b in data.minibatches(11, batch_size=4, rng=batch_rng)]   # sizes 4, 4, 3
    final, losses = reference.train_sgd(SPEC, init, x, np.eye(4)[labels], batches, lr=0.1, momentum=0.9)
    opt, mine = M.SGD(net.params(), lr=0.1, momentum=0.9), []
    for idx in batches:
        mine.append(M.model_loss(net, x[idx], labels[idx])[0])
        opt.step(net.grads())
    np.testing.assert_allclose(losses, mine, rtol=1e-10)
    for name, p in net.params().items():
        np.testing.assert_allclose(final[name], p, rtol=1e-10, atol=1e-12)
        assert np.max(np.abs(final[name] - init[name])) > 1e-3          # it really trained
    np.testing.assert_array_equal(init["0.w"], small_net(3).params()["0.w"])   # inputs untouched


def test_network_names_a_bad_spec():
    net = small_net()
    with pytest.raises(ValueError, match="parameters"):
        reference.network([("conv2d", ("9.w", "0.b"), {})], net.params(), np.zeros((1, 2, 4, 4)), np.eye(4)[[0]])
    with pytest.raises(ValueError, match="layer must be one of"):
        reference.network([("dense", (), {})], {}, np.zeros((1, 2)), np.eye(2)[[0]])


def test_jit_vjp_is_compiled_once_and_agrees():
    r = np.random.default_rng(6)
    x, w, b = r.normal(size=(2, 3, 7, 6)), r.normal(size=(4, 3, 3, 2)), r.normal(size=4)
    y, cache = conv.conv2d_forward(x, w, b, stride=2, pad=1)
    dy = r.normal(size=y.shape)
    step = reference.jit_vjp("conv2d", stride=2, pad=1)
    assert step is reference.jit_vjp("conv2d", pad=1, stride=2)          # cached: no recompilation
    out = step(*reference.as_jax(dy, x, w, b))
    for got, want in zip(out, (y, *conv.conv2d_backward(dy, cache))):
        assert np.asarray(got).dtype == np.float64
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(reference.forward("flatten", x), x.reshape(2, -1))


@pytest.mark.parametrize("x_shape, w_shape", [((1, 1, 3, 4), (1, 1, 3, 2)), ((2, 3, 3, 4), (2, 3, 3, 2))])
def test_conv2d_backward_that_aborted_xla(x_shape, w_shape):
    # with the padding inside conv_general_dilated, XLA's CPU compiler aborted the process here
    r = np.random.default_rng(7)
    x, w, b = r.normal(size=x_shape), r.normal(size=w_shape), r.normal(size=w_shape[0])
    y, cache = conv.conv2d_forward(x, w, b, stride=2, pad=1)
    dy = r.normal(size=y.shape)
    for got, want in zip(reference.vjp("conv2d", dy, x, w, b, stride=2, pad=1), conv.conv2d_backward(dy, cache)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _cells(name):
    return json.loads((BOOK / name).read_text())["cells"]


@pytest.mark.parametrize("name", ["cnn.ipynb", "fast_code.ipynb"])
def test_no_skipping_and_one_pytorch_line(name):
    code = "\n".join("".join(c["source"]) for c in _cells(name) if c["cell_type"] == "code")
    assert not re.search(r"skip", code, re.IGNORECASE)
    assert code.count("PyTorch is not installed") == 1
    assert "reference." in code                         # the JAX comparison always runs


def test_cnn_summary_states_the_asserted_bound():
    cells = _cells("cnn.ipynb")
    summary = next("".join(c["source"]) for c in cells if "admonition} Summary" in "".join(c["source"]))
    bound = re.search(r"agree with JAX to within \$10\^\{(-\d+)\}\$", summary)
    assert bound, "the summary must state the agreement with JAX as 'to within $10^{-n}$'"
    checks = "\n".join("".join(c["source"]) for c in cells if "hide-input" in c["metadata"].get("tags", []))
    assert f"max(run_diffs.values()) < 1e{bound.group(1)}" in checks
    assert f"max(d for *_, d in compared) < 1e{bound.group(1)}" in checks
    assert "PyTorch to $10^{-10}$" not in summary and "just above the bug" not in "".join(
        "".join(c["source"]) for c in cells)


def test_fast_code_speed_claims_are_not_typed():
    text = "\n".join("".join(c["source"]) for c in _cells("fast_code.ipynb") if c["cell_type"] == "markdown")
    for claim in ["order of magnitude", "10^7", "oneDNN for float32", "a few million", "minute or so", "in milliseconds"]:
        assert claim not in text, claim
