r"""A small network container and an optimizer: the layers of the book, wired together.

The math stays in the plain forward/backward functions of :mod:`cnnbook.conv`,
:mod:`cnnbook.activations`, :mod:`cnnbook.pooling` and :mod:`cnnbook.fc`.  A
layer object here only holds its parameters, calls those functions and keeps
the cache between the forward and the backward pass::

    model = Sequential([Conv2d(in_channels=1, out_channels=8, kernel=3, pad=1, rng=rng),
                        ReLU(), MaxPool2d(size=2), Flatten(),
                        Dense(in_features=8 * 4 * 4, out_features=10, rng=rng)])
    logits = model.forward(x)                      # x: (N, 1, 8, 8) -> (N, 10)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    dx = model.backward(dlogits)                   # fills model.grads()
    SGD(model.params(), lr=0.1, momentum=0.9).step(model.grads())

Parameters and gradients are dicts named ``"<layer index>.<name>"``, the index
in ``layers`` counted from 0, e.g. ``{"0.w": ..., "0.b": ..., "4.w": ..., "4.b": ...}``;
the arrays in ``params()`` are the layers' own arrays, so an in-place update
changes the model.

SGD with momentum follows the formulation of ``torch.optim.SGD`` (dampening 0,
no Nesterov), so that the two can be compared number for number:

.. math::
    g \leftarrow \frac{\partial E}{\partial \theta} + \mathit{wd}\,\theta, \qquad
    m \leftarrow \mu\, m + g, \qquad
    \theta \leftarrow \theta - \eta\, m

with :math:`\eta` = ``lr``, :math:`\mu` = ``momentum``, :math:`\mathit{wd}` = ``weight_decay``
and the velocity (momentum buffer) :math:`m` = ``velocity``, which starts at 0, so that
:math:`m = g` after the first step, as in torch.
"""

from __future__ import annotations

import numbers
from typing import Callable, Iterable, Mapping

import numpy as np

from . import activations, conv, fc, pooling
from ._validate import as_array, check_ndim, pair
from .gradcheck import check_gradients
from .losses import softmax_cross_entropy

__all__ = [
    "Layer", "Conv2d", "ReLU", "MaxPool2d", "AvgPool2d", "Flatten", "Dense", "Sequential",
    "SGD", "model_loss", "check_model_gradients", "accuracy", "confusion_matrix",
]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _float_dtype(dtype, name: str = "dtype") -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


class Layer:
    """Base class: ``forward(x) -> y`` keeps a cache, ``backward(dy) -> dx`` uses it.

    ``params`` and ``grads`` are dicts {name: array}; layers without
    parameters leave both empty.  ``backward`` fills ``grads`` with arrays of
    the parameters' shapes.
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None

    def forward(self, x):  # pragma: no cover - overridden
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - overridden
        raise NotImplementedError

    def _need_cache(self):
        if self.cache is None:
            raise ValueError(f"{type(self).__name__}.backward called before forward: no cache")
        return self.cache

    def __repr__(self):
        return f"{type(self).__name__}()"


class Conv2d(Layer):
    """Convolution (cross-correlation) layer around conv.conv2d_forward/backward.

    Keyword-only: in_channels C, out_channels F, kernel (int or (KH, KW)),
    stride, pad, rng (Generator or seed, for the He-normal initial weights
    w ~ N(0, 2 / (C*KH*KW)), b = 0), dtype (float32 or float64).
    Parameters: w (F, C, KH, KW), b (F,).  x: (N, C, H, W) -> y: (N, F, OH, OW).
    """

    def __init__(self, *, in_channels, out_channels, kernel, stride=1, pad=0, rng=None,
                 dtype=np.float64):
        super().__init__()
        c = _positive_int(in_channels, "in_channels")
        f = _positive_int(out_channels, "out_channels")
        kh, kw = pair(kernel, "kernel", minimum=1)
        self.stride = pair(stride, "stride", minimum=1)
        self.pad = pair(pad, "pad", minimum=0)
        dt = _float_dtype(dtype)
        scale = np.sqrt(2.0 / (c * kh * kw))
        self.params = {
            "w": (_rng(rng).standard_normal((f, c, kh, kw)) * scale).astype(dt),
            "b": np.zeros(f, dtype=dt),
        }

    def forward(self, x):
        y, self.cache = conv.conv2d_forward(x, self.params["w"], self.params["b"],
                                            stride=self.stride, pad=self.pad)
        return y

    def backward(self, dy):
        dx, dw, db = conv.conv2d_backward(dy, self._need_cache())
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self):
        f, c, kh, kw = self.params["w"].shape
        return (f"Conv2d(in_channels={c}, out_channels={f}, kernel={(kh, kw)}, "
                f"stride={self.stride}, pad={self.pad})")


class Dense(Layer):
    """Fully-connected layer y = x @ w + b around fc.fc_forward/backward.

    Keyword-only: in_features D, out_features M, rng, dtype.  Parameters:
    w (D, M) ~ N(0, 2 / D) (He-normal), b (M,) = 0.  x: (N, D) -> y: (N, M).
    """

    def __init__(self, *, in_features, out_features, rng=None, dtype=np.float64):
        super().__init__()
        d = _positive_int(in_features, "in_features")
        m = _positive_int(out_features, "out_features")
        dt = _float_dtype(dtype)
        self.params = {
            "w": (_rng(rng).standard_normal((d, m)) * np.sqrt(2.0 / d)).astype(dt),
            "b": np.zeros(m, dtype=dt),
        }

    def forward(self, x):
        y, self.cache = fc.fc_forward(x, self.params["w"], self.params["b"])
        return y

    def backward(self, dy):
        dx, dw, db = fc.fc_backward(dy, self._need_cache())
        self.grads = {"w": dw, "b": db}
        return dx

    def __repr__(self):
        d, m = self.params["w"].shape
        return f"Dense(in_features={d}, out_features={m})"


class ReLU(Layer):
    """y = max(0, x) around activations.relu_forward/backward; any shape."""

    def forward(self, x):
        y, self.cache = activations.relu_forward(x)
        return y

    def backward(self, dy):
        return activations.relu_backward(dy, self._need_cache())


class MaxPool2d(Layer):
    """Max-pooling around pooling.maxpool2d_forward/backward.

    Keyword-only size (int or (KH, KW)) and stride (default: size).
    x: (N, C, H, W) -> y: (N, C, OH, OW).
    """

    def __init__(self, *, size=2, stride=None):
        super().__init__()
        self.size = pair(size, "size", minimum=1)
        self.stride = self.size if stride is None else pair(stride, "stride", minimum=1)

    def forward(self, x):
        y, self.cache = pooling.maxpool2d_forward(x, size=self.size, stride=self.stride)
        return y

    def backward(self, dy):
        return pooling.maxpool2d_backward(dy, self._need_cache())

    def __repr__(self):
        return f"MaxPool2d(size={self.size}, stride={self.stride})"


class AvgPool2d(MaxPool2d):
    """Average-pooling around pooling.avgpool2d_forward/backward (same arguments)."""

    def forward(self, x):
        y, self.cache = pooling.avgpool2d_forward(x, size=self.size, stride=self.stride)
        return y

    def backward(self, dy):
        return pooling.avgpool2d_backward(dy, self._need_cache())

    def __repr__(self):
        return f"AvgPool2d(size={self.size}, stride={self.stride})"


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C order (channel, then row, then column).

    The backward only reshapes dy back: flattening moves no value, so the
    gradient of each entry is the gradient of the entry it became.
    """

    def forward(self, x):
        x = as_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        shape = self._need_cache()
        dy = as_array(dy, "dy")
        expected = (shape[0], int(np.prod(shape[1:])))
        if dy.shape != expected:
            raise ValueError(f"dy must have shape {expected} (N, C*H*W), the forward output, got {dy.shape}")
        return dy.reshape(shape)


class Sequential:
    """Layers applied in order.  ``forward(x)`` returns the last output,
    ``backward(dy)`` runs the layers in reverse and returns dE/dx.

    ``params()`` / ``grads()``: {"<index>.<name>": array}, e.g. "0.w".
    ``set_params(values)`` copies arrays into the parameters (shapes checked).
    ``forward(x, keep=True)`` also returns the list of every layer's output.
    """

    def __init__(self, layers: Iterable[Layer]):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers must hold at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}] must be a cnnbook.model.Layer, got {type(layer).__name__}")

    def forward(self, x, *, keep: bool = False):
        outputs = []
        for layer in self.layers:
            x = layer.forward(x)
            outputs.append(x)
        return (x, outputs) if keep else x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params.items()}

    def grads(self) -> dict[str, np.ndarray]:
        out = {}
        for i, layer in enumerate(self.layers):
            for name in layer.params:
                if name not in layer.grads:
                    raise ValueError(f"no gradient for {i}.{name}: call backward after forward first")
                out[f"{i}.{name}"] = layer.grads[name]
        return out

    def set_params(self, values: Mapping[str, np.ndarray]) -> None:
        own = self.params()
        unknown = set(values) - set(own)
        if unknown:
            raise ValueError(f"values name unknown parameters {sorted(unknown)}; parameters are {list(own)}")
        for key, v in values.items():
            v = np.asarray(v)
            if v.shape != own[key].shape:
                raise ValueError(f"values[{key!r}] must have shape {own[key].shape}, got {v.shape}")
            own[key][...] = v

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner},\n])"


class SGD:
    """Minibatch SGD with momentum, as torch.optim.SGD (dampening 0, no Nesterov).

    params: {name: array} updated in place (e.g. model.params()).
    Keyword-only lr > 0, momentum in [0, 1), weight_decay >= 0.
    step(grads): grads {name: array of the parameter's shape};
    m = momentum * m + (g + weight_decay * p); p -= lr * m, with the velocity m in self.velocity.
    """

    def __init__(self, params: Mapping[str, np.ndarray], *, lr, momentum=0.0, weight_decay=0.0):
        if not (isinstance(lr, numbers.Real) and lr > 0):
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        if not (isinstance(momentum, numbers.Real) and 0 <= momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not (isinstance(weight_decay, numbers.Real) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.params = dict(params)
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.velocity = {k: np.zeros_like(p) for k, p in self.params.items()}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        if set(grads) != set(self.params):
            raise ValueError(f"grads must name the parameters {sorted(self.params)}, got {sorted(grads)}")
        for k, p in self.params.items():
            g = np.asarray(grads[k])
            if g.shape != p.shape:
                raise ValueError(f"grads[{k!r}] must have shape {p.shape}, got {g.shape}")
            if self.weight_decay:
                g = g + self.weight_decay * p
            m = self.velocity[k]
            m *= self.momentum
            m += g
            p -= self.lr * m


# --------------------------------------------------------------------------- loss and checks


def model_loss(model: Sequential, x, labels, *, loss: Callable = softmax_cross_entropy):
    """Forward + loss + backward.  x: the model's input (N, ...), labels: (N,) ints.

    Returns (loss value, dx) and leaves the parameter gradients in model.grads().
    """
    logits = model.forward(x)
    value, dlogits = loss(logits, labels)
    dx = model.backward(dlogits)
    return value, dx


def check_model_gradients(model: Sequential, x, labels, *, h=1e-6, tol=1e-6, seed=0,
                          loss: Callable = softmax_cross_entropy) -> dict[str, float]:
    """Gradient check of the whole network: every parameter and the input.

    The scalar is the loss E(x, params) of the batch (x: (N, ...) float64,
    labels: (N,) ints); the analytic gradients come from one backward pass,
    the numerical ones from central differences of E, one entry at a time
    (so keep the network and N small).  Uses cnnbook.gradcheck.check_gradients;
    returns {"x": err, "0.w": err, ...} and raises GradientCheckError naming
    the first parameter whose relative error exceeds tol.  The model's
    parameters are restored afterwards.
    """
    x = as_array(x, "x")
    if x.dtype != np.float64:
        raise ValueError(f"x must be float64 for a gradient check, got {x.dtype}")
    saved = {k: p.copy() for k, p in model.params().items()}
    for k, p in saved.items():
        if p.dtype != np.float64:
            raise ValueError(f"parameter {k} must be float64 for a gradient check, got {p.dtype}")
    names = list(saved)

    def forward(**inputs):
        model.set_params({k: inputs[k] for k in names})
        logits = model.forward(inputs["x"])
        value, dlogits = loss(logits, labels)
        return np.asarray(value), dlogits

    def backward(dout, dlogits):
        dx = model.backward(dlogits * dout)  # dout: the scalar factor of L = E * dout
        grads = model.grads()
        return (dx, *(grads[k] for k in names))

    try:
        return check_gradients(forward, backward, {"x": x, **saved}, seed=seed, h=h, tol=tol)
    finally:
        model.set_params(saved)


def accuracy(logits, labels) -> float:
    """Fraction of rows of logits (N, K) whose largest entry is at labels (N,)."""
    logits = as_array(logits, "logits")
    check_ndim(logits, "logits", 2, "(N, K)")
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    return float(np.mean(logits.argmax(axis=1) == labels))


def confusion_matrix(y_true, y_pred, *, num_classes) -> np.ndarray:
    """Counts (K, K): entry [t, p] = number of samples of class t predicted as p.

    y_true, y_pred: (N,) ints in [0, num_classes).
    """
    k = _positive_int(num_classes, "num_classes")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if v.ndim != 1 or v.dtype.kind not in "iu":
            raise ValueError(f"{name} must be a 1-D integer array, got dtype {v.dtype} shape {v.shape}")
        if v.size and (v.min() < 0 or v.max() >= k):
            raise ValueError(f"{name} must lie in [0, {k}), got values in [{v.min()}, {v.max()}]")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm
