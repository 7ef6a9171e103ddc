r"""Loss functions, each returning ``(loss, gradient)``.

Reduction (the same everywhere in the book): the per-sample loss is summed
over the sample's entries, and the batch loss is the **mean over the batch**
(the first axis, N):

.. math::
    E = \frac{1}{N} \sum_{n=0}^{N-1} E_n

so every gradient below carries the factor 1/N.  With N = 1 the per-sample
formulas of the derivations hold exactly:

* MSE: :math:`E_n = \tfrac12 \sum_i (t_i - y_i)^2`, :math:`\partial E_n/\partial y_i = y_i - t_i`.
* cross-entropy: :math:`E_n = -\sum_i t_i \ln p_i`, :math:`\partial E_n/\partial p_i = -t_i / p_i`
  (for :math:`p_i \ge p_{\min}`; below the clip threshold the loss is flat and the gradient 0).
* softmax + cross-entropy: :math:`\partial E_n/\partial z_i = \operatorname{softmax}(z)_i - t_i`.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_array, check_ndim, check_same_shape
from .softmax import log_softmax


def _batch_size(y: np.ndarray, name: str) -> int:
    if y.ndim < 1 or y.shape[0] == 0:
        raise ValueError(f"{name} must have a non-empty batch axis first, got shape {y.shape}")
    return y.shape[0]


def mse(y, t):
    """Mean (over the batch) of E_n = 1/2 * sum_i (t_i - y_i)**2.

    y, t: the same shape (N, ...), batch first.  Returns (loss, dy) with
    dy = (y - t) / N of the shape of y.
    """
    y = as_array(y, "y")
    t = as_array(t, "t")
    check_same_shape(y, "y", t, "t")
    n = _batch_size(y, "y")
    diff = y - t
    loss = 0.5 * np.sum(diff**2) / n
    return loss, diff / n


def _check_targets(t: np.ndarray, name: str) -> None:
    if np.any(t < 0):
        raise ValueError(f"{name} must be one-hot or probabilities (>= 0), got a negative entry")
    sums = t.sum(axis=1)
    if not np.allclose(sums, 1, atol=1e-6 if t.dtype == np.float64 else 1e-4):
        raise ValueError(
            f"each row of {name} must sum to 1 (one-hot or probabilities), "
            f"got row sums in [{sums.min():.6g}, {sums.max():.6g}]"
        )


def cross_entropy(p, t, *, p_min: float = 1e-12):
    """Mean (over the batch) of E_n = -sum_i t_i * ln max(p_i, p_min), for probabilities p.

    p: (N, K) probabilities in [0, 1]; t: (N, K) one-hot or probability targets.
    p_min (> 0; a probability threshold, not machine epsilon): p is clipped to
    [p_min, 1] inside the logarithm, so that a zero probability gives a large
    but finite loss, capped at -ln p_min per unit of target.

    Returns (loss, dp) with dp the derivative of the loss returned: -t / p / N
    where p >= p_min, and 0 where p < p_min, because there the clipped loss
    does not depend on p.  (Dividing by p_min instead would return the slope of
    a loss this function does not compute.)  For logits use
    softmax_cross_entropy, which never forms p and is exact where this one clips.
    """
    if not p_min > 0:
        raise ValueError(f"p_min must be > 0 (a probability threshold), got {p_min!r}")
    p = as_array(p, "p")
    t = as_array(t, "t")
    check_ndim(p, "p", 2, "(N, K)")
    check_same_shape(p, "p", t, "t")
    n = _batch_size(p, "p")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError(f"p must hold probabilities in [0, 1], got values in [{p.min()}, {p.max()}]")
    _check_targets(t, "t")
    clipped = p < p_min
    pc = np.where(clipped, 1, p)  # the loss uses p_min there; the gradient is 0 there
    # Only entries with t > 0 contribute; skipping the others avoids 0 * log(0).
    loss = -np.sum(np.where(t > 0, t * np.log(np.where(clipped, p_min, p)), 0)) / n
    dp = np.where(clipped, 0, -t / pc / n)
    return loss, dp.astype(np.result_type(p, t), copy=False)


def softmax_cross_entropy(logits, labels):
    """Softmax followed by cross-entropy, computed through log-sum-exp.

    logits: (N, K).  labels: integer class indices (N,) in [0, K), or targets
    (N, K), one-hot or probabilities.  Returns (loss, dlogits) with
    loss = -(1/N) sum_n sum_k t_nk log_softmax(z)_nk and
    dlogits = (softmax(z) - t) / N.  Finite for logits of any finite size.
    """
    z = as_array(logits, "logits")
    check_ndim(z, "logits", 2, "(N, K)")
    n, k = z.shape
    _batch_size(z, "logits")
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"labels of shape (N,) must be integer class indices, got dtype {labels.dtype}"
            )
        if labels.shape[0] != n:
            raise ValueError(
                f"labels must have shape ({n},) to match logits {z.shape}, got {labels.shape}"
            )
        if np.any((labels < 0) | (labels >= k)):
            raise ValueError(
                f"labels must lie in [0, {k}) for logits with K={k} classes, "
                f"got values in [{labels.min()}, {labels.max()}]"
            )
        t = np.zeros_like(z)
        t[np.arange(n), labels] = 1
    elif labels.ndim == 2:
        t = as_array(labels, "labels")
        check_same_shape(t, "labels", z, "logits")
        _check_targets(t, "labels")
        t = t.astype(z.dtype, copy=False)
    else:
        raise ValueError(
            f"labels must be class indices (N,) or targets (N, K), got shape {labels.shape}"
        )
    logp = log_softmax(z, axis=1)
    loss = -np.sum(np.where(t > 0, t * logp, 0)) / n
    return loss, (np.exp(logp) - t) / n
