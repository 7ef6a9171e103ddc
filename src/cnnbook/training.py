r"""The training lab: the CNN chapter's network trained under one controlled change at a time.

* :func:`lab_net` -- the digits network of the chapter "A CNN from scratch"
  (conv 16 -> ReLU -> pool -> conv 32 -> ReLU -> pool -> flatten -> dense 10),
  with the lab's switches: the initial weights, the pooling kind and window,
  the dtype, and a planted max-pool slip.
* :func:`fit` -- that chapter's loop (minibatch SGD with momentum, eq. cnn-sgd)
  returning a :class:`Run`: the loss of every step, the validation loss and
  accuracy after every epoch, the seconds it took, and where it diverged.
* The classic slips, planted on purpose: :func:`loss_without_mean` (the loss
  gradient without its 1/N), :func:`loss_naive_log_softmax` (log(softmax)
  computed as written, whose exp overflows) and :class:`MaxPoolAllTies` (a
  max-pool whose backward hands delta to *every* maximum of a tied window),
  with :func:`maxpool2d_backward_all_ties` and its loop reference.
* The learning-rate bound: :func:`max_stable_lr` (gradient descent with
  momentum on a quadratic of curvature lambda is stable for
  :math:`0 < \eta\lambda < 2(1 + \mu)`), :func:`patch_gram` (the curvature of the
  fully-connected chapter's linear neuron, for the first layer's 3x3 patches)
  and :func:`gauss_newton_top_eigenvalue` (the largest curvature of the
  network's loss, by power iteration).
* Measurements: :func:`deltas` (every layer's delta), :func:`tie_fractions`.
* The reader's pooling experiment (seed 003): :func:`recover_kernel` learns a
  known kernel back through max- or average-pooling (:func:`recover_kernel_naive`
  takes the same steps with the convolution and pooling layers);
  :func:`pooled_patches` are the patches whose outputs the pool passes on, the
  rows of the least-squares problem whose Gram matrix sets the pace, and
  :func:`window_patches` all patches grouped by window.

Shapes follow the package: images (N, 1, 8, 8) NCHW, labels (N,) ints.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import conv, data, model as M, pooling
from ._validate import as_array, check_ndim
from .losses import softmax_cross_entropy
from .softmax import softmax

__all__ = [
    "lab_net", "fit", "Run", "loss_without_mean", "MaxPoolAllTies", "maxpool2d_backward_all_ties",
    "maxpool2d_backward_all_ties_naive", "max_stable_lr", "patch_gram", "gauss_newton_top_eigenvalue",
    "deltas", "tie_fractions", "loss_naive_log_softmax", "recover_kernel", "recover_kernel_naive", "KernelRun",
    "window_patches", "pooled_patches", "pooled_patches_naive", "INITS", "POOLS", "KERNEL_POOLS",
]

INITS = ("he", "normal", "zeros")
POOLS = ("max", "avg")


# --------------------------------------------------------------------------- the slips


def loss_without_mean(logits, labels):
    """The slip "missing 1/N": softmax cross-entropy whose gradient is N times too large.

    logits: (N, K), labels: (N,) ints.  Returns (loss, dlogits) with the loss
    of :func:`cnnbook.losses.softmax_cross_entropy` (the mean over the batch)
    but dlogits = softmax(z) - one_hot(t), the gradient of the *sum*.
    """
    loss, dlogits = softmax_cross_entropy(logits, labels)
    return loss, dlogits * dlogits.shape[0]


def loss_naive_log_softmax(logits, labels):
    """The slip "log(softmax) as written": softmax cross-entropy without the shift by z_max.

    logits: (N, K), labels: (N,) ints.  Returns (loss, dlogits) computed as
    p = exp(z) / sum exp(z), loss = -mean ln p_t, dlogits = (p - one_hot(t)) / N.
    Where no logit is large this equals :func:`cnnbook.losses.softmax_cross_entropy`;
    once a logit passes ln(float max) (about 709.8 in float64) exp(z) is inf:
    that class gets p = inf / inf = NaN, the others p = 0, so the loss is inf
    or NaN and the gradient holds NaN.
    """
    z = as_array(logits, "logits")
    check_ndim(z, "logits", 2, "(N, K)")
    t = np.asarray(labels)
    if t.shape != (z.shape[0],):
        raise ValueError(f"labels must have shape ({z.shape[0]},) (N,), one per row of logits {z.shape}, "
                         f"got {t.shape}")
    n = z.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)                                       # no shift: overflows for z > ln(float max)
        p = e / e.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            loss = -np.mean(np.log(p[np.arange(n), t]))
    d = p.copy()
    d[np.arange(n), t] -= 1
    return float(loss), d / n


def _window_max(x, size, stride, out_hw):
    (kh, kw), (sh, sw), (oh, ow) = size, stride, out_hw
    y = None
    for u in range(kh):
        for v in range(kw):
            view = x[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw]
            y = view.copy() if y is None else np.maximum(y, view)
    return y


def maxpool2d_backward_all_ties(dy, cache: pooling.PoolCache):
    """The slip: dy (N, C, OH, OW) -> dx (N, C, H, W) with delta sent to EVERY maximum.

    cache: the PoolCache of :func:`cnnbook.pooling.maxpool2d_forward`.  Where a
    window holds its maximum once this equals the correct backward; where the
    maximum is tied (k entries equal to it), each of them receives the whole
    delta, so the window passes down k times the delta it received.
    """
    dy = as_array(dy, "dy")
    x = cache.x
    (kh, kw), (sh, sw) = cache.size, cache.stride
    if tuple(getattr(cache, "pad", (0, 0))) != (0, 0):
        raise ValueError(f"cache must come from a max-pool without padding, got pad {cache.pad}")
    out_hw = ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
    if dy.shape != (*x.shape[:2], *out_hw):
        raise ValueError(f"dy must have shape {(*x.shape[:2], *out_hw)} (N, C, OH, OW), the forward "
                         f"output, got {dy.shape}")
    oh, ow = out_hw
    y = _window_max(x, cache.size, cache.stride, out_hw)
    dx = np.zeros(x.shape, dtype=np.result_type(dy, x))
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += \
                dy * (x[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] == y)
    return dx


def maxpool2d_backward_all_ties_naive(dy, cache: pooling.PoolCache):
    """Loop reference of :func:`maxpool2d_backward_all_ties`, index by index:
    dx[n, c, i*sh + u, j*sw + v] += dy[n, c, i, j] for every offset (u, v) at which the
    window (i, j) takes its maximum."""
    dy = np.asarray(dy)
    x = cache.x
    (kh, kw), (sh, sw) = cache.size, cache.stride
    dx = np.zeros(x.shape, dtype=np.result_type(dy, x))
    n_, c_, oh, ow = dy.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    window = x[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    top = window.max()
                    for u in range(kh):
                        for v in range(kw):
                            if window[u, v] == top:
                                dx[n, c, i * sh + u, j * sw + v] += dy[n, c, i, j]
    return dx


class MaxPoolAllTies(M.MaxPool2d):
    """A max-pool layer with the slip: its backward routes delta to every tied maximum."""

    def backward(self, dy):
        return maxpool2d_backward_all_ties(dy, self._need_cache())

    def __repr__(self):
        return f"MaxPoolAllTies(size={self.size}, stride={self.stride})"


# --------------------------------------------------------------------------- the network


def lab_net(*, seed=0, dtype=np.float64, init="he", pool="max", pool_size=2, tie_slip=False) -> M.Sequential:
    """The CNN chapter's digits network with one of the lab's changes.

    Keyword-only:
      seed -- the Generator seed of the initial weights (the chapter's
        ``digits_net(seed)`` draws the same numbers in the same order);
      dtype -- float64 or float32 parameters;
      init -- "he" (w ~ N(0, 2/fan-in), the chapter's choice), "normal" (the same
        draws divided by the He scale, so w ~ N(0, 1): only the scale changes)
        or "zeros" (every weight 0); biases start at 0 in all three;
      pool -- "max" or "avg", both pooling layers;
      pool_size -- the window (and stride) of the FIRST pooling layer, 2 or 4;
        the second stays 2x2 (a 4x4 pool leaves 2x2 maps), so 4 gives 32 inputs
        to the dense layer instead of 128;
      tie_slip -- max-pools whose backward routes delta to every tied maximum.
    Layers: x (N, 1, 8, 8) -> logits (N, 10).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if pool_size not in (2, 4) or isinstance(pool_size, bool):
        raise ValueError(f"pool_size must be 2 or 4 (the window of the first pooling layer), got {pool_size!r}")
    if tie_slip and pool != "max":
        raise ValueError(f"tie_slip is a max-pool slip: it needs pool='max', got pool={pool!r}")
    rng = np.random.default_rng(seed)
    Pool = (MaxPoolAllTies if tie_slip else M.MaxPool2d) if pool == "max" else M.AvgPool2d
    side = 8 // pool_size // 2
    net = M.Sequential([
        M.Conv2d(in_channels=1, out_channels=16, kernel=3, pad=1, rng=rng, dtype=dtype),
        M.ReLU(),
        Pool(size=pool_size),
        M.Conv2d(in_channels=16, out_channels=32, kernel=3, pad=1, rng=rng, dtype=dtype),
        M.ReLU(),
        Pool(size=2),
        M.Flatten(),
        M.Dense(in_features=32 * side * side, out_features=10, rng=rng, dtype=dtype),
    ])
    for layer in net.layers:
        if "w" in layer.params:
            w = layer.params["w"]
            fan_in = w[0].size if w.ndim == 4 else w.shape[0]   # C*KH*KW, or D
            if init == "zeros":
                w[...] = 0
            elif init == "normal":
                w /= np.sqrt(2.0 / fan_in)
    return net


# --------------------------------------------------------------------------- the loop


@dataclass
class Run:
    """What one training run recorded.

    step_loss: (steps,) the minibatch loss at every step (before its update),
      NaN from the step where the run diverged on;
    history: per epoch, "train_loss" (the mean of that epoch's minibatch losses),
      "val_loss" and "val_acc" (on the whole validation set after the epoch);
    seconds: wall time of the whole run; steps_per_epoch; diverged_at: the
      first step whose loss or gradient was not finite, or None; params: the
      final parameters (copies).
    """

    step_loss: np.ndarray
    history: dict[str, list[float]]
    seconds: float
    steps_per_epoch: int
    diverged_at: int | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def final_val_acc(self) -> float:
        return self.history["val_acc"][-1]


def _evaluate(net, x, y):
    with np.errstate(over="ignore", invalid="ignore"):
        z = net.forward(x)
    if not np.all(np.isfinite(z)):
        return np.nan, np.nan
    return softmax_cross_entropy(z, y)[0], M.accuracy(z, y)


def fit(net: M.Sequential, x, y, *, x_val, y_val, epochs, lr, momentum=0.9, batch_size=32, seed=1,
        loss: Callable = softmax_cross_entropy) -> Run:
    """Train ``net`` in place with minibatch SGD and momentum (cnnbook.model.SGD); return a Run.

    x: (N, 1, 8, 8), y: (N,) ints; x_val, y_val: the validation set, measured
    after every epoch with the true loss.  Each epoch visits the training set
    in a new order drawn from a Generator seeded with ``seed`` (so two runs with
    the same seed see the same minibatches in the same order).  ``loss`` makes
    the gradient (default softmax_cross_entropy; :func:`loss_without_mean` is
    the slip).  A run whose loss or gradient stops being finite is stopped:
    its remaining steps and epochs are NaN.
    """
    x, x_val = as_array(x, "x"), as_array(x_val, "x_val")
    epochs = data._int(epochs, "epochs", 1)
    opt = M.SGD(net.params(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(data._int(seed, "seed", 0))
    steps_per_epoch = -(-len(x) // data._int(batch_size, "batch_size", 1))
    step_loss = np.full(epochs * steps_per_epoch, np.nan)
    history = {"train_loss": [], "val_loss": [], "val_acc": []}
    diverged_at, step = None, 0
    start = time.perf_counter()
    for _ in range(epochs):
        batches = data.minibatches(len(x), batch_size=batch_size, rng=rng)
        if diverged_at is None:
            for idx in batches:
                with np.errstate(over="ignore", invalid="ignore"):
                    value, _ = M.model_loss(net, x[idx], y[idx], loss=loss)
                    grads = net.grads()
                    finite = np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads.values())
                if not finite:
                    diverged_at = step
                    break
                step_loss[step] = value
                opt.step(grads)
                step += 1
        if diverged_at is None:
            history["train_loss"].append(float(np.mean(step_loss[step - len(batches) : step])))
            val_loss, val_acc = _evaluate(net, x_val, y_val)
        else:
            history["train_loss"].append(np.nan)
            val_loss, val_acc = np.nan, np.nan
        history["val_loss"].append(float(val_loss))
        history["val_acc"].append(float(val_acc))
    return Run(step_loss, history, time.perf_counter() - start, steps_per_epoch, diverged_at,
               {k: p.copy() for k, p in net.params().items()})


# --------------------------------------------------------------------------- curvature and the bound


def max_stable_lr(curvature, *, momentum=0.0) -> float:
    r"""The largest stable learning rate on a quadratic of curvature lambda: 2 (1 + mu) / lambda.

    Gradient descent with momentum (m <- mu m + g, theta <- theta - eta m) on
    E = lambda theta^2 / 2 follows theta_{t+1} = (1 + mu - eta lambda) theta_t - mu theta_{t-1},
    whose characteristic roots lie inside the unit circle exactly when
    0 <= mu < 1 and 0 < eta lambda < 2 (1 + mu).  With mu = 0 this is the
    fully-connected chapter's eta < 2 / lambda_max.
    """
    if not (isinstance(curvature, numbers.Real) and curvature > 0):
        raise ValueError(f"curvature must be a number > 0, got {curvature!r}")
    if not (isinstance(momentum, numbers.Real) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    return 2.0 * (1.0 + momentum) / float(curvature)


def patch_gram(x, *, kernel=3, pad=1) -> np.ndarray:
    """The mean outer product of the first layer's inputs: (KH*KW + 1, KH*KW + 1).

    x: (N, 1, H, W).  Every KH x KW patch of the zero-padded images (stride 1),
    with a 1 appended for the bias, is one row a of A; returns A^T A / rows.
    For a linear neuron z = a . (w, b) with E = mean (z - t)^2 / 2 this is the
    Hessian of E in (w, b), the x^T x of the fully-connected chapter.
    """
    x = as_array(x, "x")
    check_ndim(x, "x", 4, "(N, 1, H, W)")
    if x.shape[1] != 1:
        raise ValueError(f"x must have one channel, shape (N, 1, H, W), got {x.shape}")
    k = data._int(kernel, "kernel", 1)
    p = data._int(pad, "pad", 0)
    xp = np.pad(x[:, 0], ((0, 0), (p, p), (p, p)))
    patches = sliding_window_view(xp, (k, k), axis=(1, 2)).reshape(-1, k * k)
    a = np.hstack([patches, np.ones((len(patches), 1), dtype=patches.dtype)])
    return a.T @ a / len(a)


def gauss_newton_top_eigenvalue(net: M.Sequential, x, *, names: Sequence[str] | None = None, iters=20,
                                h=1e-5, seed=0) -> tuple[float, np.ndarray]:
    r"""The largest eigenvalue of the Gauss-Newton curvature of the mean cross-entropy, by power iteration.

    G = J^T H_z J, where J = d(logits)/d(theta) for the parameters ``names``
    (default all), x: (N, ...) the batch, and H_z the Hessian of the loss in the
    logits, one block (diag(p_n) - p_n p_n^T) / N per image (p_n = softmax(z_n),
    the softmax Jacobian).  G is the Hessian of E without the terms in the
    second derivatives of the logits; it is positive semi-definite, and for a
    dense layer fed straight into the loss it *is* that layer's Hessian.
    Each iteration: J v by central differences of the logits (step h: the logits
    are continuous, so a ReLU or max-pool kink inside the step moves the
    quotient by a bounded amount, where differences of the gradient would
    jump), then J^T u by one backward pass.  Returns (lambda, the estimate after
    every iteration).  The parameters are restored.
    """
    own = net.params()
    names = list(own) if names is None else list(names)
    unknown = set(names) - set(own)
    if unknown or not names:
        raise ValueError(f"names must be some of the parameters {list(own)}, got {names}")
    iters = data._int(iters, "iters", 1)
    theta = {k: p.copy() for k, p in own.items()}
    r = np.random.default_rng(seed)
    v = {k: r.standard_normal(theta[k].shape) for k in names}
    estimates = []
    try:
        z = net.forward(x)
        p = softmax(z, axis=1)
        n = z.shape[0]
        for _ in range(iters):
            norm = np.sqrt(sum(float(np.sum(a * a)) for a in v.values()))
            v = {k: a / norm for k, a in v.items()}
            net.set_params({k: theta[k] + h * v[k] for k in names})
            z_plus = net.forward(x)
            net.set_params({k: theta[k] - h * v[k] for k in names})
            z_minus = net.forward(x)
            net.set_params(theta)
            jv = (z_plus - z_minus) / (2 * h)
            u = (p * jv - p * np.sum(p * jv, axis=1, keepdims=True)) / n      # H_z (J v)
            net.forward(x)
            net.backward(u)
            gv = {k: net.grads()[k].copy() for k in names}                     # J^T H_z J v
            estimates.append(sum(float(np.sum(gv[k] * v[k])) for k in names))
            v = gv
    finally:
        net.set_params(theta)
    return estimates[-1], np.array(estimates)


# --------------------------------------------------------------------------- measurements


def deltas(net: M.Sequential, x, labels, *, loss: Callable = softmax_cross_entropy) -> list[np.ndarray]:
    """Every layer's delta for one batch: [delta^0, ..., delta^L], delta^l = dE/da^l.

    delta^L = dE/dlogits, then the layers' backward functions in reverse
    (eq. cnn-backward); delta^0 = dE/dx.  Fills net.grads() as model_loss does.
    """
    z = net.forward(x)
    _, d = loss(z, labels)
    out = [d]
    for layer in reversed(net.layers):
        d = layer.backward(d)
        out.append(d)
    return out[::-1]


def tie_fractions(a, *, size=2) -> tuple[float, float]:
    """Ties in the non-overlapping size x size windows of a (N, C, H, W).

    Returns (the fraction of windows whose maximum occurs more than once, the
    fraction of windows where it does and is > 0).
    """
    a = as_array(a, "a")
    check_ndim(a, "a", 4, "(N, C, H, W)")
    s = data._int(size, "size", 1)
    w = sliding_window_view(a, (s, s), axis=(2, 3))[:, :, ::s, ::s]
    w = w.reshape(*w.shape[:4], s * s)
    top = w.max(axis=-1)
    tied = (w == top[..., None]).sum(axis=-1) > 1
    return float(np.mean(tied)), float(np.mean(tied & (top > 0)))


KERNEL_POOLS = ("max", "avg")


def _check_kernel_problem(x, kernel, pool, mode="max"):
    x = as_array(x, "x")
    check_ndim(x, "x", 4, "(N, 1, H, W)")
    kernel = as_array(kernel, "kernel")
    if x.shape[1] != 1 or kernel.ndim != 4 or kernel.shape[:2] != (1, 1):
        raise ValueError(f"x must be (N, 1, H, W) and kernel (1, 1, KH, KW), got {x.shape} and {kernel.shape}")
    if kernel.shape[2] % 2 == 0 or kernel.shape[3] % 2 == 0:
        raise ValueError(f"kernel must have odd KH and KW (padded by KH//2, KW//2 to keep H x W), got {kernel.shape}")
    pool = data._int(pool, "pool", 1)
    if x.shape[2] % pool or x.shape[3] % pool:
        raise ValueError(f"pool must divide the image size {x.shape[2:]}, got {pool}")
    if mode not in KERNEL_POOLS:
        raise ValueError(f"mode must be one of {KERNEL_POOLS}, got {mode!r}")
    return x, kernel, pool


def window_patches(x, *, kernel_shape=(3, 3), pool) -> np.ndarray:
    """The convolution's input patches, grouped by pooling window.

    x: (N, 1, H, W); the convolution is padded by (KH//2, KW//2), stride 1, so
    it keeps H x W outputs, and output (P, Q) is the dot product of the kernel
    with the patch of the padded x at (P, Q).  The pool x pool windows do not
    overlap.  Returns P: (N * H/pool * W/pool, pool * pool, KH * KW): P[r, k]
    is the patch under output k (row-major offset u * pool + v) of window r,
    the windows in the order (n, i, j).
    """
    kh, kw = kernel_shape
    x, _, pool = _check_kernel_problem(x, np.zeros((1, 1, kh, kw)), pool)
    n, _, h, w = x.shape
    xp = np.pad(x[:, 0], ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    patches = sliding_window_view(xp, (kh, kw), axis=(1, 2))               # (N, H, W, KH, KW)
    patches = patches.reshape(n, h // pool, pool, w // pool, pool, kh * kw)
    return patches.transpose(0, 1, 3, 2, 4, 5).reshape(-1, pool * pool, kh * kw)


def _rows(windows, w, mode):
    """The rows A(w) of the least-squares problem: what the pool passes on of each window.

    windows: (R, K, KH*KW) from window_patches.  Returns (A (R, KH*KW), the chosen
    offset of each window (R,) or None where the rows do not depend on w)."""
    if mode == "avg" or windows.shape[1] == 1:
        return windows.mean(axis=1), None
    r, k, p = windows.shape
    flat = windows.reshape(r * k, p)                        # one 2-D product: faster than a batched one
    chosen = np.argmax((flat @ w).reshape(r, k), axis=1)    # the first maximum, as the max-pool layer
    return flat[np.arange(r) * k + chosen], chosen


def _patch_ids(windows):
    """(R, K): for each window and offset, the first offset of that window with the same patch."""
    same = np.all(windows[:, :, None, :] == windows[:, None, :, :], axis=-1)
    return np.argmax(same, axis=2)


def pooled_patches(x, kernel, *, pool, mode="max") -> np.ndarray:
    """The patches whose outputs the pool passes on: A (N * H/pool * W/pool, KH * KW), one row per window.

    x: (N, 1, H, W); kernel: (1, 1, KH, KW).  mode "max": the patch under the
    window's maximum of conv(x, kernel) (the first one on a tie); "avg": the
    mean of the window's patches (the average of the outputs is the kernel
    times the mean patch); pool = 1: every patch.  Rows in the order (n, i, j).
    So pool(conv(x, kernel)) = A @ kernel.ravel(), and while A does not change,
    E(w) = |A w - t|^2 / 2 is least squares: its Hessian is the Gram matrix A^T A.
    """
    x, kernel, pool = _check_kernel_problem(x, kernel, pool, mode)
    windows = window_patches(x, kernel_shape=kernel.shape[2:], pool=pool)
    return _rows(windows, kernel.ravel(), mode)[0]


def pooled_patches_naive(x, kernel, *, pool, mode="max") -> np.ndarray:
    """Loop reference of :func:`pooled_patches`, window by window, from conv(x, kernel) itself."""
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    kh, kw = kernel.shape[2:]
    n_, _, h, w = x.shape
    xp = np.pad(x[:, 0], ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    rows = []
    for n in range(n_):
        z = np.array([[np.sum(xp[n, i : i + kh, j : j + kw] * kernel[0, 0]) for j in range(w)] for i in range(h)])
        for i in range(0, h, pool):
            for j in range(0, w, pool):
                if mode == "avg":
                    rows.append(np.mean([xp[n, i + u : i + u + kh, j + v : j + v + kw].ravel()
                                         for u in range(pool) for v in range(pool)], axis=0))
                    continue
                window = z[i : i + pool, j : j + pool]
                u, v = np.unravel_index(np.argmax(window), window.shape)   # the first maximum
                rows.append(xp[n, i + u : i + u + kh, j + v : j + v + kw].ravel())
    return np.array(rows)


class KernelRun(NamedTuple):
    """What :func:`recover_kernel` recorded, for a run of S steps.

    errors: (S,) |w - w*| after each step; losses: (S,) E(w) before each step;
    path: (S, KH, KW) the kernel after each step; mismatched: (S,) before each
    step, the number of windows whose passed-on patch differs from the one that
    w* passes on (always 0 for average-pooling and pool = 1); settled: the
    first step from which ``mismatched`` stays 0 to the end (S if it never
    does).  From ``settled`` on, every step is the least-squares step on the
    rows w* selects: w - w* <- (I - lr A^T A)(w - w*).
    """

    errors: np.ndarray
    losses: np.ndarray
    path: np.ndarray
    mismatched: np.ndarray
    settled: int

    @property
    def w(self) -> np.ndarray:
        """The final kernel, (1, 1, KH, KW)."""
        return self.path[-1][None, None]


def _settled(mismatched) -> int:
    wrong = np.flatnonzero(mismatched)
    return int(wrong[-1]) + 1 if wrong.size else 0


def _check_run_args(kernel, init, steps, lr):
    init = as_array(init, "init")
    if init.shape != kernel.shape:
        raise ValueError(f"init must have the kernel's shape {kernel.shape}, got {init.shape}")
    steps = data._int(steps, "steps", 1)
    if not (isinstance(lr, numbers.Real) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    return init, steps


def recover_kernel(x, kernel, *, pool, mode="max", steps, lr, init) -> KernelRun:
    """The reader's experiment (seed 003): learn a known kernel back through a pooling layer.

    x: (N, 1, H, W) images; kernel: (1, 1, KH, KW), the true kernel w*.  The
    convolution is padded by (KH//2, KW//2), has no bias, and is followed by
    non-overlapping pool x pool windows, max or average (``mode``; pool = 1: no
    pooling).  The target is t = pool(conv(x, w*)).  Starting from ``init``
    (1, 1, KH, KW), plain gradient descent with rate ``lr`` on
    E(w) = sum (pool(conv(x, w)) - t)^2 / 2, a sum over every pooled output, as
    the reader wrote it.  Computed on :func:`window_patches`: pool(conv(x, w)) =
    A(w) w with the rows of :func:`pooled_patches`, so each step is
    w <- w - lr A(w)^T (A(w) w - t); :func:`recover_kernel_naive` takes the same
    steps with the convolution and pooling layers.  Returns a :class:`KernelRun`.
    """
    x, kernel, pool = _check_kernel_problem(x, kernel, pool, mode)
    init, steps = _check_run_args(kernel, init, steps, lr)
    windows = window_patches(x, kernel_shape=kernel.shape[2:], pool=pool)
    true = kernel.ravel().astype(np.float64)
    a_true, chosen_true = _rows(windows, true, mode)
    target = a_true @ true
    w = init.ravel().astype(np.float64).copy()
    losses, mismatched = np.empty(steps), np.zeros(steps, dtype=int)
    path = np.empty((steps, w.size))
    a, chosen = _rows(windows, w, mode)                     # average-pooling, pool 1: fixed rows
    if chosen is not None:
        ids, every = _patch_ids(windows), np.arange(len(windows))
        true_ids = ids[every, chosen_true]                  # a tie between equal patches is no mismatch
    for j in range(steps):
        if chosen is not None:
            a, chosen = _rows(windows, w, mode)
            mismatched[j] = np.count_nonzero(ids[every, chosen] != true_ids)
        residual = a @ w - target
        losses[j] = 0.5 * residual @ residual
        w -= lr * (a.T @ residual)                             # dE/dw = A^T (A w - t)
        path[j] = w
    errors = np.linalg.norm(path - true, axis=1)
    return KernelRun(errors, losses, path.reshape(steps, *kernel.shape[2:]), mismatched, _settled(mismatched))


def recover_kernel_naive(x, kernel, *, pool, mode="max", steps, lr, init) -> KernelRun:
    """Reference of :func:`recover_kernel` built from the book's layers: conv2d_forward /
    conv2d_backward and maxpool2d / avgpool2d forward and backward, one step at a time."""
    x, kernel, pool = _check_kernel_problem(x, kernel, pool, mode)
    init, steps = _check_run_args(kernel, init, steps, lr)
    forward, backward = ((pooling.maxpool2d_forward, pooling.maxpool2d_backward) if mode == "max" else
                         (pooling.avgpool2d_forward, pooling.avgpool2d_backward))
    pad = (kernel.shape[2] // 2, kernel.shape[3] // 2)
    bias = np.zeros(1)

    def network(w):
        z, conv_cache = conv.conv2d_forward(x, w, bias, pad=pad)
        if pool == 1:
            return z, conv_cache, None
        y, pool_cache = forward(z, size=pool)
        return y, conv_cache, pool_cache

    target, _, true_cache = network(kernel.astype(np.float64))
    xp = np.pad(x[:, 0], ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    kh, kw = kernel.shape[2:]
    w = init.astype(np.float64).copy()
    losses, mismatched = np.empty(steps), np.zeros(steps, dtype=int)
    path = np.empty((steps, *kernel.shape[2:]))
    for j in range(steps):
        y, conv_cache, pool_cache = network(w)
        if pool_cache is not None and pool_cache.argmax is not None:
            # a window counts when its chosen patch differs from w*'s (a tie of equal patches does not)
            for n, _, i, jj in zip(*np.nonzero(pool_cache.argmax != true_cache.argmax)):
                rows = [divmod(int(c.argmax[n, 0, i, jj]), pool) for c in (pool_cache, true_cache)]
                patches = [xp[n, i * pool + u : i * pool + u + kh, jj * pool + v : jj * pool + v + kw]
                           for u, v in rows]
                mismatched[j] += not np.array_equal(*patches)
        dy = y - target                                        # dE/dy of the sum of squares
        losses[j] = 0.5 * np.sum(dy * dy)
        dz = dy if pool_cache is None else backward(dy, pool_cache)
        w -= lr * conv.conv2d_backward(dz, conv_cache)[1]
        path[j] = w[0, 0]
    errors = np.linalg.norm((path - kernel[0, 0]).reshape(steps, -1), axis=1)
    return KernelRun(errors, losses, path, mismatched, _settled(mismatched))
