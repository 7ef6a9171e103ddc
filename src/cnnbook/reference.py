r"""An independent autodiff reference: each layer's forward pass and its vector-Jacobian product,
computed by JAX on the CPU in float64.

The book derives every backward pass by hand; this module computes the same quantities the way a
framework does, from the forward definition alone (``jax.vjp``), so that a chapter can compare
its own formulas with a reference it did not write. JAX is used rather than PyTorch because its
CPU wheels are small and float64 is one switch (``jax_enable_x64``).

``forward(layer, *arrays, **hyper)`` returns the layer's output;
``vjp(layer, dy, *arrays, **hyper)`` returns the gradient of :math:`L = \sum y \odot dy` with
respect to every array argument, in order -- exactly what the layer's backward must return for the
upstream gradient ``dy``. For a loss (a scalar output) ``dy`` is 1.0.

Layers (arguments as in ``cnnbook``; shapes NCHW):

- ``fc(x, w, b)``: x (N, D), w (D, M), b (M,)
- ``relu(x)``, ``sigmoid(x)``, ``tanh(x)``, ``leaky_relu(x, *, alpha)``
- ``softmax(z)``, ``log_softmax(z)``: along the last axis
- ``mse(y, t)``: the book's convention, 1/2 * sum of squares, mean over the batch
- ``softmax_cross_entropy(z, t)``: t one-hot or probabilities (N, K), mean over the batch
- ``maxpool2d(x, *, size, stride)``, ``avgpool2d(x, *, size, stride)``: x (N, C, H, W)
- ``conv2d(x, w, b, *, stride, pad)``: x (N, C, H, W), w (F, C, KH, KW), b (F,)
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")   # never look for an accelerator

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or an (h, w) pair, got {value!r}")
    return int(pair[0]), int(pair[1])


def _fc(x, w, b):
    return x @ w + b


def _mse(y, t):
    return 0.5 * jnp.sum((y - t) ** 2) / y.shape[0]


def _softmax_cross_entropy(z, t):
    return -jnp.sum(t * jax.nn.log_softmax(z, axis=-1)) / z.shape[0]


def _pool(x, *, size, stride, kind):
    kh, kw = _pair(size, "size")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
    dims, strides = (1, 1, kh, kw), (1, 1, sh, sw)
    if kind == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, "VALID")
    return lax.reduce_window(x, 0.0, lax.add, dims, strides, "VALID") / (kh * kw)


def _conv2d(x, w, b, *, stride=1, pad=0):
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(pad, "pad")
    y = lax.conv_general_dilated(x, w, window_strides=(sh, sw), padding=[(ph, ph), (pw, pw)],
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                 precision=lax.Precision.HIGHEST)
    return y + b[None, :, None, None]


LAYERS = {
    "fc": _fc,
    "relu": jax.nn.relu,
    "leaky_relu": lambda x, *, alpha: jnp.where(x > 0, x, alpha * x),
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "log_softmax": lambda z: jax.nn.log_softmax(z, axis=-1),
    "mse": _mse,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "maxpool2d": lambda x, *, size=2, stride=None: _pool(x, size=size, stride=stride, kind="max"),
    "avgpool2d": lambda x, *, size=2, stride=None: _pool(x, size=size, stride=stride, kind="avg"),
    "conv2d": _conv2d,
}
"""Every layer of the reference, by name."""


def _layer(name: str):
    if name not in LAYERS:
        raise ValueError(f"layer must be one of {sorted(LAYERS)}, got {name!r}")
    return LAYERS[name]


def _arrays(arrays) -> list:
    return [jnp.asarray(np.asarray(a, dtype=np.float64)) for a in arrays]


def forward(layer: str, *arrays, **hyper) -> np.ndarray:
    """The layer's output, computed by JAX in float64."""
    return np.asarray(_layer(layer)(*_arrays(arrays), **hyper))


def vjp(layer: str, dy, *arrays, **hyper) -> tuple[np.ndarray, ...]:
    """The gradients of sum(y * dy) with respect to every array argument, in order."""
    fn = _layer(layer)
    y, pullback = jax.vjp(lambda *a: fn(*a, **hyper), *_arrays(arrays))
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the output's shape {tuple(y.shape)}, got {dy.shape}")
    return tuple(np.asarray(g) for g in pullback(jnp.asarray(dy)))
