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
- ``maxpool2d(x, *, size, stride, pad, ceil_mode)``,
  ``avgpool2d(x, *, size, stride, pad, ceil_mode, count_include_pad)``: x (N, C, H, W), PyTorch's rules
- ``global_avgpool(x)``: (N, C, H, W) -> (N, C)
- ``conv2d(x, w, b, *, stride, pad, dilation, groups)``: x (N, C, H, W), w (F, C/groups, KH, KW), b (F,)
- ``conv_transpose2d(x, w, b, *, stride, pad, output_padding, dilation, groups)``: x (N, C, H, W),
  w (C, F/groups, KH, KW) (PyTorch's layout), b (F,)
- ``flatten(x)``: (N, C, H, W) -> (N, C*H*W) in C order

Whole networks (a chain of these layers ending in softmax cross-entropy):
``network(layers, params, x, t)`` returns every activation, every delta and every parameter
gradient of one forward and backward pass; ``train_sgd(layers, params, x, t, batches, lr=...,
momentum=...)`` replays minibatch SGD with momentum. ``jit_vjp(layer, **hyper)`` returns a compiled
forward-and-backward function for timing.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")   # never look for an accelerator

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The test suite and the build run every chapter three times (student edition, strict build,
# JupyterLab), and compiling the reference's small XLA programs is most of each JAX check's time.
# scripts/test.sh and scripts/build.sh name a cache folder inside the repository; a reader's
# notebook (no variable set) compiles as usual.
if os.environ.get("CNNBOOK_JAX_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["CNNBOOK_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


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


def _pool_out(n, k, s, p, ceil_mode):
    """PyTorch's output size for one axis (the last ceil_mode window must start before n + p)."""
    out = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    if out < 1:
        raise ValueError(f"size {k} gives no pooling window on {n} rows with pad {p} and stride {s}")
    return out


def _pool(x, *, size, stride, pad=0, ceil_mode=False, count_include_pad=True, kind):
    (kh, kw), (ph, pw) = _pair(size, "size"), _pair(pad, "pad")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
    dims, strides = (1, 1, kh, kw), (1, 1, sh, sw)
    h, w = x.shape[2:]
    oh, ow = _pool_out(h, kh, sh, ph, ceil_mode), _pool_out(w, kw, sw, pw, ceil_mode)
    # padding (low, high): a ceil_mode window may pass the padded input by `extra` rows
    extra_h = max(0, (oh - 1) * sh + kh - (h + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + kw - (w + 2 * pw))
    padding = ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w))

    def windows(a, init, op, padding=padding):
        return lax.reduce_window(a, init, op, dims, strides, padding)[:, :, :oh, :ow]

    if kind == "max":
        return windows(x, -jnp.inf, lax.max)
    total = windows(x, 0.0, lax.add)
    # the divisor counts the window positions inside the padded input (or inside the input);
    # the rows a ceil_mode window has beyond the padded input never count
    if count_include_pad:
        inside = jnp.ones((1, 1, h + 2 * ph, w + 2 * pw), x.dtype)
        count_padding = ((0, 0), (0, 0), (0, extra_h), (0, extra_w))
    else:
        inside = jnp.ones((1, 1, h, w), x.dtype)
        count_padding = padding
    return total / windows(inside, 0.0, lax.add, count_padding)


def _conv2d(x, w, b, *, stride=1, pad=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(pad, "pad"), _pair(dilation, "dilation")
    # Pad first, then a VALID convolution: with the padding inside conv_general_dilated, XLA's CPU
    # compiler aborts the process on the backward pass of some shapes (jaxlib 0.10, e.g. x (1, 1, 3, 4),
    # w (1, 1, 3, 2), stride 2, pad 1: "Window dimensions do not match RHS shape").
    x = jnp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = lax.conv_general_dilated(x, w, window_strides=(sh, sw), padding="VALID", rhs_dilation=(dh, dw),
                                 feature_group_count=int(groups),
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                 precision=lax.Precision.HIGHEST)
    return y + b[None, :, None, None]


def _conv_transpose2d(x, w, b, *, stride=1, pad=0, output_padding=0, dilation=1, groups=1):
    """The textbook construction, independent of cnnbook's: x spread out with stride - 1 zeros
    between its pixels, padded by dilation*(K - 1) - pad (+ output_padding at the bottom/right;
    lax.pad crops where that is negative), then a stride-1 correlation with the rotated kernel."""
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(pad, "pad")
    (oph, opw), (dh, dw) = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    c, fg, kh, kw = w.shape
    g = int(groups)
    # (C, F/G, KH, KW) = (G, C/G, F/G, KH, KW) -> the (F, C/G, KH, KW) kernel of a grouped correlation
    k = w.reshape(g, c // g, fg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(g * fg, c // g, kh, kw)
    k = k[:, :, ::-1, ::-1]
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    xs = lax.pad(x, jnp.zeros((), x.dtype),
                 ((0, 0, 0), (0, 0, 0), (eh, eh + oph, sh - 1), (ew, ew + opw, sw - 1)))
    y = lax.conv_general_dilated(xs, k, window_strides=(1, 1), padding="VALID", rhs_dilation=(dh, dw),
                                 feature_group_count=g, dimension_numbers=("NCHW", "OIHW", "NCHW"),
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
    "maxpool2d": lambda x, *, size=2, stride=None, pad=0, ceil_mode=False: _pool(
        x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode, kind="max"),
    "avgpool2d": lambda x, *, size=2, stride=None, pad=0, ceil_mode=False, count_include_pad=True: _pool(
        x, size=size, stride=stride, pad=pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
        kind="avg"),
    "global_avgpool": lambda x: jnp.mean(x, axis=(2, 3)),
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "flatten": lambda x: x.reshape(x.shape[0], -1),
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


# --------------------------------------------------------------------------- whole networks


def _check_layers(layers, params) -> list:
    out = []
    for i, spec in enumerate(layers):
        if len(spec) != 3:
            raise ValueError(f"layers[{i}] must be (layer name, parameter names, hyper dict), got {spec!r}")
        name, names, hyper = spec
        _layer(name)
        missing = [k for k in names if k not in params]
        if missing:
            raise ValueError(f"layers[{i}] names parameters {missing} that params does not hold")
        out.append((name, tuple(names), dict(hyper)))
    return out


def _chain(layers, params, x, eps=None):
    """The activations a^1, ..., a^L of the chain; eps[l - 1] (zeros) is added to a^l, so that the
    gradient with respect to it is the delta of layer l."""
    acts, a = [], x
    for l, (name, names, hyper) in enumerate(layers):
        a = LAYERS[name](a, *(params[k] for k in names), **hyper)
        if eps is not None:
            a = a + eps[l]
        acts.append(a)
    return acts


def network(layers, params, x, t) -> dict:
    r"""One forward and backward pass of a whole network, by JAX (float64).

    layers: a list of ``(layer name, parameter names, hyper)``, e.g.
    ``[("conv2d", ("0.w", "0.b"), {"pad": 1}), ("relu", (), {}), ("flatten", (), {}),
    ("fc", ("3.w", "3.b"), {})]``; the last layer's output is the logits.
    params: {name: array}; x: the input :math:`a^0`; t: one-hot targets (N, K).
    The loss is softmax cross-entropy, the mean over the batch.

    Returns a dict with ``"loss"`` (float), ``"a"`` (the list :math:`a^1, \dots, a^L`),
    ``"delta"`` (the list :math:`\delta^0 = \partial E/\partial x, \delta^1, \dots, \delta^L`,
    :math:`\delta^l = \partial E/\partial a^l`) and ``"grads"`` ({name: dE/dparam}).
    The deltas are computed as gradients with respect to zero arrays added to each output.
    """
    layers = _check_layers(layers, params)
    p = {k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    x, t = _arrays((x, t))

    @jax.jit
    def run(p, x, t):
        acts = _chain(layers, p, x)
        eps = [jnp.zeros_like(a) for a in acts]
        loss = lambda p, x, eps: _softmax_cross_entropy(_chain(layers, p, x, eps)[-1], t)
        return acts, jax.value_and_grad(loss, argnums=(0, 1, 2))(p, x, eps)

    acts, (value, (g_p, g_x, g_eps)) = run(p, x, t)
    return {"loss": float(value), "a": [np.asarray(a) for a in acts],
            "delta": [np.asarray(g_x)] + [np.asarray(g) for g in g_eps],
            "grads": {k: np.asarray(g_p[k]) for k in params}}


def train_sgd(layers, params, x, t, batches, *, lr, momentum=0.0) -> tuple[dict, np.ndarray]:
    r"""Minibatch SGD with momentum, computed by JAX (float64): for each index array ``idx`` in
    ``batches``, the gradient g of the mean softmax cross-entropy on ``x[idx], t[idx]``, then
    :math:`m \leftarrow \mu m + g`, :math:`\theta \leftarrow \theta - \eta m` (m starts at 0).

    Returns the final parameters {name: array} and the loss of every step (before its update).
    One compiled step per distinct batch size.
    """
    layers = _check_layers(layers, params)
    p = {k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    m = {k: jnp.zeros_like(v) for k, v in p.items()}
    x, t = (np.asarray(a, dtype=np.float64) for a in (x, t))

    @jax.jit
    def step(p, m, xb, tb):
        value, g = jax.value_and_grad(lambda p: _softmax_cross_entropy(_chain(layers, p, xb)[-1], tb))(p)
        m = {k: momentum * m[k] + g[k] for k in p}
        return {k: p[k] - lr * m[k] for k in p}, m, value

    losses = []
    for idx in batches:
        p, m, value = step(p, m, jnp.asarray(x[idx]), jnp.asarray(t[idx]))
        losses.append(value)
    return {k: np.asarray(v) for k, v in p.items()}, np.asarray(jnp.stack(losses)) if losses else np.zeros(0)


def as_jax(*arrays):
    """The arrays as JAX float64 arrays (on the CPU), e.g. to build them before a timed call."""
    out = tuple(jnp.asarray(np.asarray(a, dtype=np.float64)) for a in arrays)
    return out if len(out) != 1 else out[0]


def jit_vjp(layer: str, **hyper):
    """A compiled function ``step(dy, *arrays) -> (y, *grads)``: the layer's output and the
    gradients of sum(y * dy), as JAX arrays (``np.asarray`` converts them), waited for (``block_until_ready``), so that a timer
    around a call measures the whole computation. Build the arrays with :func:`as_jax` and call
    once before timing: the first call per shape compiles."""
    _layer(layer)
    return _jit_vjp(layer, tuple(sorted(hyper.items())))


@functools.lru_cache(maxsize=None)
def _jit_vjp(layer: str, hyper: tuple):
    """One compiled function per layer and hyper-parameters (cached: a new jax.jit would recompile)."""
    fn, hyper = LAYERS[layer], dict(hyper)

    @jax.jit
    def step(dy, *arrays):
        y, pullback = jax.vjp(lambda *a: fn(*a, **hyper), *arrays)
        return (y, *pullback(dy))

    return lambda dy, *arrays: jax.block_until_ready(step(dy, *arrays))
