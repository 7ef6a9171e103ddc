"""cnnbook.model: the container calls the layer functions, the whole-network gradient
check passes, and it fails when any one layer's backward is broken."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import activations, conv, fc, model as M, pooling
from cnnbook.gradcheck import GradientCheckError
from cnnbook.losses import softmax_cross_entropy


def small_net(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    net = M.Sequential([
        M.Conv2d(in_channels=2, out_channels=3, kernel=3, pad=1, rng=rng, dtype=dtype), M.ReLU(),
        M.MaxPool2d(size=2), M.Flatten(),
        M.Dense(in_features=3 * 2 * 2, out_features=4, rng=rng, dtype=dtype),
    ])
    # biases away from 0 and a continuous input keep every ReLU and max-pool away from its kink
    for i in (0, 4):
        net.layers[i].params["b"][...] = rng.normal(size=net.layers[i].params["b"].shape)
    return net


def batch(seed=1, n=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2, 4, 4)), rng.integers(0, 4, size=n)


def test_forward_is_the_composition_of_the_layer_functions():
    net = small_net()
    x, _ = batch()
    p = net.params()
    h, _ = conv.conv2d_forward(x, p["0.w"], p["0.b"], pad=1)
    h, _ = activations.relu_forward(h)
    h, _ = pooling.maxpool2d_forward(h, size=2)
    logits, _ = fc.fc_forward(h.reshape(len(x), -1), p["4.w"], p["4.b"])
    np.testing.assert_array_equal(net.forward(x), logits)
    out, outputs = net.forward(x, keep=True)
    assert [o.shape for o in outputs] == [(3, 3, 4, 4), (3, 3, 4, 4), (3, 3, 2, 2), (3, 12), (3, 4)]


def test_params_and_grads_are_named_by_layer_and_update_in_place():
    net = small_net()
    assert list(net.params()) == ["0.w", "0.b", "4.w", "4.b"]
    assert net.params()["0.w"].shape == (3, 2, 3, 3) and net.params()["4.w"].shape == (12, 4)
    x, y = batch()
    M.model_loss(net, x, y)
    grads = net.grads()
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in net.params().items()}
    before = net.params()["4.b"].copy()
    M.SGD(net.params(), lr=0.5).step(grads)
    np.testing.assert_allclose(net.layers[4].params["4.b".split(".")[1]], before - 0.5 * grads["4.b"])


def test_whole_network_gradient_check_passes():
    net = small_net()
    x, y = batch()
    errors = M.check_model_gradients(net, x, y)
    assert set(errors) == {"x", "0.w", "0.b", "4.w", "4.b"}
    assert max(errors.values()) < 1e-7
    # the check restores the parameters it perturbed
    np.testing.assert_array_equal(net.params()["0.w"], small_net().params()["0.w"])


@pytest.mark.parametrize("module, name, breakage", [
    (conv, "conv2d_backward", lambda r: (r[0], r[1][:, :, ::-1, ::-1], r[2])),   # dw rotated
    (conv, "conv2d_backward", lambda r: (2 * r[0], r[1], r[2])),                  # dx doubled
    (pooling, "maxpool2d_backward", lambda r: np.full_like(r, r.sum() / r.size)),  # spread evenly
    (fc, "fc_backward", lambda r: (r[0], r[1], 0 * r[2])),                         # db forgotten
    (activations, "relu_backward", lambda r: r + (r == 0)),                        # grad 1 at x <= 0
])
def test_a_broken_layer_backward_fails_the_whole_network_check(monkeypatch, module, name, breakage):
    good = getattr(module, name)
    monkeypatch.setattr(module, name, lambda dy, cache: breakage(good(dy, cache)))
    net = small_net()
    x, y = batch()
    with pytest.raises(GradientCheckError):
        M.check_model_gradients(net, x, y)


def test_sgd_momentum_matches_the_torch_formulation():
    p = {"w": np.array([1.0, -2.0])}
    opt = M.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)
    g1, g2 = np.array([0.5, 1.0]), np.array([-1.0, 2.0])
    opt.step({"w": g1})
    v1 = g1 + 0.01 * np.array([1.0, -2.0])           # first step: m = g
    w1 = np.array([1.0, -2.0]) - 0.1 * v1
    np.testing.assert_allclose(p["w"], w1)
    opt.step({"w": g2})
    v2 = 0.9 * v1 + g2 + 0.01 * w1
    np.testing.assert_allclose(p["w"], w1 - 0.1 * v2)


def test_training_a_few_steps_lowers_the_loss():
    net = small_net(dtype=np.float32)
    x, y = batch(n=8)
    x = x.astype(np.float32)
    opt = M.SGD(net.params(), lr=0.1, momentum=0.9)
    first = M.model_loss(net, x, y)[0]
    for _ in range(30):
        M.model_loss(net, x, y)
        opt.step(net.grads())
    assert net.forward(x).dtype == np.float32
    assert M.model_loss(net, x, y)[0] < 0.5 * first


def test_flatten_avgpool_and_repr():
    net = M.Sequential([M.AvgPool2d(size=2), M.Flatten()])
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(net.forward(x), [[2.5, 4.5, 10.5, 12.5]])
    np.testing.assert_array_equal(net.backward(np.ones((1, 4))), np.full((1, 1, 4, 4), 0.25))
    assert "Conv2d(in_channels=2, out_channels=3" in repr(small_net())


def test_metrics():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5]])
    assert M.accuracy(logits, np.array([0, 1, 2])) == pytest.approx(2 / 3)
    cm = M.confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 1, 0, 2]), num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize("make, match", [
    (lambda: M.Conv2d(in_channels=0, out_channels=2, kernel=3), "in_channels"),
    (lambda: M.Conv2d(in_channels=1, out_channels=2, kernel=3, stride=0), "stride"),
    (lambda: M.Conv2d(in_channels=1, out_channels=2, kernel=3, dtype=np.int32), "dtype"),
    (lambda: M.Dense(in_features=3, out_features=2.5), "out_features"),
    (lambda: M.MaxPool2d(size=0), "size"),
    (lambda: M.Sequential([]), "layers"),
    (lambda: M.Sequential([M.ReLU(), "relu"]), r"layers\[1\]"),
    (lambda: M.SGD({"w": np.zeros(2)}, lr=0), "lr"),
    (lambda: M.SGD({"w": np.zeros(2)}, lr=0.1, momentum=1.0), "momentum"),
    (lambda: M.SGD({"w": np.zeros(2)}, lr=0.1).step({"v": np.zeros(2)}), "grads"),
    (lambda: M.ReLU().backward(np.zeros(2)), "before forward"),
    (lambda: small_net().set_params({"9.w": np.zeros(1)}), "unknown"),
    (lambda: small_net().set_params({"0.b": np.zeros(2)}), r"values\['0.b'\]"),
    (lambda: M.check_model_gradients(small_net(), np.zeros((1, 2, 4, 4), np.float32), [0]), "float64"),
    (lambda: M.confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3), "y_true"),
    (lambda: M.Conv2d(in_channels=1, out_channels=1, kernel=2, rng="seed"), "rng"),
])
def test_bad_input_raises_value_error_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()
