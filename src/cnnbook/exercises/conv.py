"""Checkers for the chapter "Convolution with stride".

* :data:`check_conv2d_backward` -- ``fn(dy, cache) -> (dx, dw, db)`` for the
  whole layer (cache from :func:`cnnbook.conv.conv2d_forward`).
* :data:`check_conv_input_grad` -- ``fn(delta, w, stride, pad, input_shape) -> dx``,
  one channel, by the dilate / pad / rotate / crop recipe.
* :data:`check_conv_kernel_grad` -- ``fn(x, delta, kernel_shape, stride, pad) -> dw``
  for a batch, x (N, C, H, W), delta (N, F, OH, OW), dw (F, C, KH, KW).
* :data:`check_conv_kernel_grad_2d` -- the same for one channel, x (H, W).
* :data:`check_dw_typos` -- ``fn(expansion, x_shape, kernel_shape, stride) -> (wrong, missing)``:
  the wrong and the missing terms of a hand-written expansion of dE/dw (one channel, no padding),
  each a set of ``((u, v), ((i, j), (P, Q)))``, the kernel entry and the term delta[i, j] * x[P, Q].
  First case: the Tencent Cloud article's expansions (:data:`TENCENT_DW`). The right terms are found
  by computation with ``conv2d_backward`` (:func:`expansion_terms`).

The cases use non-symmetric kernels (so a flip shows), batch 2 (so a missing
sum over the batch shows), overlapping windows (so ``=`` instead of ``+=``
shows), and strides with (H + 2p - K) % s != 0 (so the rows no window
reaches, the dilation and the cropping all show).
"""

from __future__ import annotations

import copy

import numpy as np

from .. import conv
from ._core import Case, Checker, Mutant, PropertyChecker

# --------------------------------------------------------------------------- diagnoses

FLIPPED_DW = (
    "the kernel gradient is flipped (rotated by 180 degrees). For a cross-correlation layer "
    "dE/dw[u, v] = sum_ij delta[i, j] * xpad[i*s + u, j*s + v]: every index enters with a plus sign, "
    "so there is nothing to flip; the rotation belongs to the input gradient only."
)
FLIPPED_DX = (
    "the kernel is flipped the wrong number of times. dx is a full correlation of the dilated delta "
    "with rot180(w) (or, equivalently, delta times w scattered back UNflipped); yours is what you get "
    "without the rotation in the correlation, or with a rotation in the scatter, or with two rotations "
    "(rot180 and a true convolution)."
)
NO_DILATION = (
    "delta was not dilated for stride > 1: output (i, j) belongs to input position (i*s, j*s), so "
    "s - 1 zeros must go between the entries of delta (equivalently: index the input with i*s + u, "
    "not i + u)."
)
NOT_CROPPED = (
    "the padding was not cropped from dx: you returned the gradient of the padded input "
    "(H + 2p, W + 2p); the gradient of x is its inner part [p : p + H, p : p + W]."
)
CROPPED_CORNER = (
    "the padding was cropped from the wrong side: dx is the inner part dxpad[p : p + H, p : p + W] of the "
    "padded gradient, not its top-left corner [:H, :W]."
)
UNREACHED = (
    "the rows/columns that no window reaches are missing: when (H + 2p - K) % s != 0 the last "
    "(H + 2p - K) % s padded rows never enter the forward pass; they get gradient 0 but must still be "
    "there before cropping."
)
OVERWRITE = (
    "'=' instead of '+=': windows overlap (stride < kernel), so an input position collects a "
    "contribution from every window (and every filter) it belongs to; assigning keeps only the last one."
)
DB_POSITIONS = (
    "db was not summed over the output positions: the bias is shared by every position (i, j), so "
    "dE/db[f] = sum over n, i, j of delta[n, f, i, j], shape (F,)."
)
DB_BATCH = (
    "db was not summed over the batch: the bias is shared by every sample, so dE/db[f] sums "
    "delta[n, f, i, j] over n as well as over i, j (shape (F,))."
)
EXTRA_1_OVER_N = (
    "extra 1/N: you divided by the batch size, but delta = dE/dy already contains the 1/N of the "
    "batch-mean loss; the parameter gradient is a plain sum over the batch."
)
PER_SAMPLE = (
    "dw was not summed over the batch: you returned one kernel gradient per sample, shape "
    "(N, F, C, KH, KW); the kernel is shared by all samples, so their gradients add up."
)
SWAPPED_FC = (
    "the filter and channel axes are swapped: dw must have the shape (F, C, KH, KW) of w, "
    "dw[f, c] = sum over n, i, j of delta[n, f, i, j] * window of channel c."
)


# --------------------------------------------------------------------------- the full layer


def _backward_variant(dy, cache, *, flip_dw=False, flip_dx=False, dilate=True, crop="centre",
                      accumulate=True, db="sum", dw_scale=None):
    """conv2d backward written as a scatter over (n, f, i, j), with one optional mistake."""
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    _, _, kh, kw = w.shape
    if not dilate:
        sh, sw = 1, 1
    wk = w[..., ::-1, ::-1] if flip_dx else w
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    for n, f, i, j in np.ndindex(dy.shape):
        rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
        if accumulate:
            dxp[n, :, rows, cols] += dy[n, f, i, j] * wk[f]
        else:
            dxp[n, :, rows, cols] = dy[n, f, i, j] * wk[f]
        dw[f] += dy[n, f, i, j] * xp[n, :, rows, cols]
    if flip_dw:
        dw = dw[..., ::-1, ::-1]
    h, w_ = x.shape[2:]
    dx = {"centre": dxp[:, :, ph:ph + h, pw:pw + w_], "none": dxp, "corner": dxp[:, :, :h, :w_]}[crop]
    dbv = {"sum": dy.sum(axis=(0, 2, 3)), "positions": dy.sum(axis=0), "batch": dy.sum(axis=(2, 3)),
           "first": dy[0].sum(axis=(1, 2))}[db]
    return dx, (dw / dy.shape[0] if dw_scale == "1/N" else dw), dbv


def _reference_layer(dy, cache):
    return conv.conv2d_backward(dy, cache)


def _variant(**flags):
    def fn(dy, cache):
        return _backward_variant(dy, cache, **flags)
    return fn


def _layer_case(label, n, c, f, hw, khw, stride, pad, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, size=(n, c, *hw)).astype(float)
    w = r.integers(-3, 4, size=(f, c, *khw)).astype(float)
    w[..., 0, 0] = 5.0  # never symmetric under rot180
    b = r.integers(-2, 3, size=f).astype(float)
    _, full_cache = conv.conv2d_forward(x, w, b, stride=stride, pad=pad)
    # only the five documented fields (no optional speed-up data), so that a report shows what matters
    cache = conv.ConvCache(x, w, b, full_cache.stride, full_cache.pad)
    y_shape = (n, f, conv.output_size(hw[0], khw[0], stride=cache.stride[0], pad=cache.pad[0]),
               conv.output_size(hw[1], khw[1], stride=cache.stride[1], pad=cache.pad[1]))
    dy = r.integers(-3, 4, size=y_shape).astype(float)
    dy[0, 0, 0, 0], dy[-1, -1, -1, -1] = 2.0, 3.0  # no all-zero sample
    return Case(label, (dy, cache))


check_conv2d_backward = Checker(
    title="conv2d backward",
    reference=_reference_layer,
    outputs=("dx", "dw", "db"),
    arg_names=("dy", "cache"),
    cases=[
        _layer_case("N=2, C=1, F=1, 3x3 input, 2x2 kernel, stride 1, pad 0", 2, 1, 1, (3, 3), (2, 2), 1, 0, 1),
        _layer_case("N=2, C=1, F=2, 5x5 input, 2x2 kernel, stride 2, pad 0 (last row/col unreached)",
                    2, 1, 2, (5, 5), (2, 2), 2, 0, 2),
        _layer_case("N=2, C=2, F=2, 4x5 input, 3x2 kernel, stride (2, 1), pad 1", 2, 2, 2, (4, 5), (3, 2),
                    (2, 1), 1, 3),
        _layer_case("N=2, C=2, F=3, 6x5 input, 3x3 kernel, stride 2, pad (1, 2)", 2, 2, 3, (6, 5), (3, 3), 2,
                    (1, 2), 4),
    ],
    mutants=[
        Mutant("dw_flipped", FLIPPED_DW, _variant(flip_dw=True), ("dw",)),
        Mutant("dx_flip", FLIPPED_DX, _variant(flip_dx=True), ("dx",)),
        Mutant("dx_no_dilation", NO_DILATION, _variant(dilate=False), ("dx",)),
        Mutant("dw_no_dilation", NO_DILATION, _variant(dilate=False), ("dw",)),
        Mutant("dx_not_cropped", NOT_CROPPED, _variant(crop="none"), ("dx",)),
        Mutant("dx_cropped_corner", CROPPED_CORNER, _variant(crop="corner"), ("dx",)),
        Mutant("dx_overwrite", OVERWRITE, _variant(accumulate=False), ("dx",)),
        Mutant("db_positions", DB_POSITIONS, _variant(db="positions"), ("db",)),
        Mutant("db_batch", DB_BATCH, _variant(db="batch"), ("db",)),
        Mutant("db_first_sample", DB_BATCH, _variant(db="first"), ("db",)),
        Mutant("dw_extra_1_over_n", EXTRA_1_OVER_N, _variant(dw_scale="1/N"), ("dw",)),
    ],
)


# --------------------------------------------------------------------------- one channel: dx recipe


def _recipe(delta, w, stride, pad, input_shape, *, rotate=True, dilate=True, crop="centre", unreached=True):
    (sh, sw), (ph, pw), (h, w_) = stride, pad, input_shape
    kh, kw = w.shape
    oh, ow = delta.shape
    if not dilate:
        sh, sw = 1, 1
    dil = np.zeros(((oh - 1) * sh + 1, (ow - 1) * sw + 1))
    dil[::sh, ::sw] = delta
    d = np.pad(dil, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    k = w[::-1, ::-1] if rotate else w
    full = np.array([[np.sum(k * d[p:p + kh, q:q + kw]) for q in range(d.shape[1] - kw + 1)]
                     for p in range(d.shape[0] - kh + 1)])
    if unreached:
        dxp = np.zeros((h + 2 * ph, w_ + 2 * pw))
        dxp[:full.shape[0], :full.shape[1]] = full
    else:
        dxp = full
    return {"centre": dxp[ph:ph + h, pw:pw + w_], "none": dxp, "corner": dxp[:h, :w_]}[crop]


def _ref_input_grad(delta, w, stride, pad, input_shape):
    return conv.input_grad_full_convolution(delta, w, stride=stride, pad=pad, input_shape=input_shape)


def _recipe_variant(**flags):
    def fn(delta, w, stride, pad, input_shape):
        return _recipe(delta, w, stride, pad, input_shape, **flags)
    return fn


def _input_case(label, hw, khw, stride, pad, seed):
    r = np.random.default_rng(seed)
    w = r.integers(-3, 4, size=khw).astype(float)
    w[0, 0] = 5.0
    oh = conv.output_size(hw[0], khw[0], stride=stride[0], pad=pad[0])
    ow = conv.output_size(hw[1], khw[1], stride=stride[1], pad=pad[1])
    delta = r.integers(1, 6, size=(oh, ow)).astype(float)
    return Case(label, (delta, w, stride, pad, hw))


check_conv_input_grad = Checker(
    title="input gradient by the recipe",
    reference=_ref_input_grad,
    outputs=("dx",),
    arg_names=("delta", "w", "stride", "pad", "input_shape"),
    cases=[
        Case("the sources' example: 3x3 input, kernel [[0, 1], [2, 3]], stride 1, pad 0",
             (np.array([[19.0, 25.0], [37.0, 43.0]]), np.array([[0.0, 1.0], [2.0, 3.0]]), (1, 1), (0, 0), (3, 3))),
        _input_case("5x5 input, 2x2 kernel, stride 2, pad 0 (last row/col unreached)", (5, 5), (2, 2), (2, 2),
                    (0, 0), 5),
        _input_case("6x7 input, 2x3 kernel, stride (2, 3), pad (1, 0)", (6, 7), (2, 3), (2, 3), (1, 0), 6),
        _input_case("7x4 input, 3x2 kernel, stride (3, 1), pad (1, 1)", (7, 4), (3, 2), (3, 1), (1, 1), 7),
    ],
    mutants=[
        Mutant("dx_flip", FLIPPED_DX, _recipe_variant(rotate=False)),
        Mutant("dx_no_dilation", NO_DILATION, _recipe_variant(dilate=False)),
        Mutant("dx_not_cropped", NOT_CROPPED, _recipe_variant(crop="none")),
        Mutant("dx_cropped_corner", CROPPED_CORNER, _recipe_variant(crop="corner")),
        Mutant("dx_unreached_missing", UNREACHED, _recipe_variant(unreached=False)),
    ],
)


# --------------------------------------------------------------------------- kernel gradient


def _ref_kernel_grad(x, delta, kernel_shape, stride, pad):
    f, c = delta.shape[1], x.shape[1]
    w = np.zeros((f, c, *kernel_shape))
    _, cache = conv.conv2d_forward(x, w, np.zeros(f), stride=stride, pad=pad)
    return conv.conv2d_backward(delta, cache)[1]


def _kernel_grad_variant(x, delta, kernel_shape, stride, pad, *, flip=False, dilate=True, extra_1_over_n=False,
                         per_sample=False, swap=False):
    (sh, sw), (ph, pw), (kh, kw) = stride, pad, kernel_shape
    if not dilate:
        sh, sw = 1, 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n_, f_, oh, ow = delta.shape
    out = np.zeros((n_, f_, x.shape[1], kh, kw))
    for n, f, i, j in np.ndindex(delta.shape):
        out[n, f] += delta[n, f, i, j] * xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
    if flip:
        out = out[..., ::-1, ::-1]
    if per_sample:
        return out
    dw = out.sum(axis=0) / (n_ if extra_1_over_n else 1)
    return dw.transpose(1, 0, 2, 3) if swap else dw


def _kg_variant(**flags):
    def fn(x, delta, kernel_shape, stride, pad):
        return _kernel_grad_variant(x, delta, kernel_shape, stride, pad, **flags)
    return fn


def _kernel_case(label, n, c, f, hw, khw, stride, pad, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, size=(n, c, *hw)).astype(float)
    oh = conv.output_size(hw[0], khw[0], stride=stride[0], pad=pad[0])
    ow = conv.output_size(hw[1], khw[1], stride=stride[1], pad=pad[1])
    delta = r.integers(-3, 4, size=(n, f, oh, ow)).astype(float)
    delta[0, 0, 0, 0] = 4.0
    return Case(label, (x, delta, khw, stride, pad))


check_conv_kernel_grad = Checker(
    title="kernel gradient (batch)",
    reference=_ref_kernel_grad,
    outputs=("dw",),
    arg_names=("x", "delta", "kernel_shape", "stride", "pad"),
    cases=[
        _kernel_case("N=2, C=1, F=2, 3x3 input, 2x2 kernel, stride 1, pad 0", 2, 1, 2, (3, 3), (2, 2), (1, 1),
                     (0, 0), 8),
        _kernel_case("N=2, C=2, F=1, 5x5 input, 2x2 kernel, stride 2, pad 0", 2, 2, 1, (5, 5), (2, 2), (2, 2),
                     (0, 0), 9),
        _kernel_case("N=2, C=2, F=3, 6x5 input, 3x2 kernel, stride (2, 1), pad (1, 1)", 2, 2, 3, (6, 5), (3, 2),
                     (2, 1), (1, 1), 10),
    ],
    mutants=[
        Mutant("dw_flipped", FLIPPED_DW, _kg_variant(flip=True)),
        Mutant("dw_no_dilation", NO_DILATION, _kg_variant(dilate=False)),
        Mutant("dw_extra_1_over_n", EXTRA_1_OVER_N, _kg_variant(extra_1_over_n=True)),
        Mutant("dw_per_sample", PER_SAMPLE, _kg_variant(per_sample=True)),
        Mutant("dw_swapped_axes", SWAPPED_FC, _kg_variant(swap=True)),
    ],
)


def _ref_kernel_grad_2d(x, delta, kernel_shape, stride, pad):
    return _ref_kernel_grad(x[None, None], delta[None, None], kernel_shape, stride, pad)[0, 0]


def _kg2_variant(**flags):
    def fn(x, delta, kernel_shape, stride, pad):
        return _kernel_grad_variant(x[None, None], delta[None, None], kernel_shape, stride, pad, **flags)[0, 0]
    return fn


def _kernel_case_2d(label, hw, khw, stride, pad, seed):
    case = _kernel_case(label, 1, 1, 1, hw, khw, stride, pad, seed)
    x, delta, *rest = case.args
    return Case(label, (x[0, 0], delta[0, 0], *rest))


check_conv_kernel_grad_2d = Checker(
    title="kernel gradient (one channel)",
    reference=_ref_kernel_grad_2d,
    outputs=("dw",),
    arg_names=("x", "delta", "kernel_shape", "stride", "pad"),
    cases=[
        Case("the sources' example: x = 0..8 (3x3), delta = [[19, 25], [37, 43]], stride 1, pad 0",
             (np.arange(9.0).reshape(3, 3), np.array([[19.0, 25.0], [37.0, 43.0]]), (2, 2), (1, 1), (0, 0))),
        _kernel_case_2d("5x6 input, 3x2 kernel, stride 2, pad (0, 1)", (5, 6), (3, 2), (2, 2), (0, 1), 11),
        _kernel_case_2d("7x7 input, 3x3 kernel, stride (2, 3), pad 1", (7, 7), (3, 3), (2, 3), (1, 1), 12),
    ],
    mutants=[
        Mutant("dw_flipped", FLIPPED_DW, _kg2_variant(flip=True)),
        Mutant("dw_no_dilation", NO_DILATION, _kg2_variant(dilate=False)),
    ],
)


# --------------------------------------------------------------------------- the article's typos in dE/dw
#
# An expansion of dE/dw written out by hand: {(u, v): [term, ...]}, where a term ((i, j), (P, Q))
# stands for delta[i, j] * x[P, Q] (indices from 0, no padding).  The right terms of dE/dw[u, v] are
# found by computation: dE/dw is bilinear in (delta, x), so the coefficient of delta[i, j] * x[P, Q]
# in dE/dw[u, v] is what cnnbook's conv2d_backward returns for the unit arrays delta = e_ij, x = e_pq.

TENCENT_DW = {
    (0, 0): [((0, 0), (0, 0)), ((0, 1), (0, 1)), ((1, 0), (1, 0)), ((1, 1), (1, 1))],
    (0, 1): [((0, 0), (0, 1)), ((0, 1), (0, 2)), ((1, 0), (1, 1)), ((1, 1), (0, 1))],
    (1, 0): [((0, 0), (1, 0)), ((0, 1), (1, 1)), ((1, 0), (2, 0)), ((1, 1), (2, 1))],
    (1, 1): [((0, 0), (1, 1)), ((0, 1), (1, 2)), ((2, 1), (1, 0)), ((2, 2), (1, 1))],
}
"""The kernel gradient of the Tencent Cloud article's example (3x3 input, 2x2 kernel, stride 1) as the
article writes it out by hand, moved to 0-based indices: {(u, v): [((i, j), (P, Q)), ...]} for
dE/dw[u, v] = sum of delta[i, j] * x[P, Q].  Three of its sixteen terms are wrong."""

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(name: str, ij) -> str:
    return name + "".join(str(int(k)) for k in ij).translate(_SUBSCRIPT)


def _term_text(uv, term) -> str:
    (ij, pq) = term
    return f"{_sub('δ', ij)}·{_sub('x', pq)} in {_sub('∇w', uv)}"


def expansion_terms(x_shape, kernel_shape, stride):
    """The right expansion of dE/dw for one channel and no padding, found by computation.

    Returns {(u, v): set of ((i, j), (P, Q))}: the terms delta[i, j] * x[P, Q] of dE/dw[u, v], read
    off cnnbook's conv2d_backward applied to unit arrays (dE/dw is bilinear in delta and x).
    """
    x_shape, kernel_shape = tuple(int(k) for k in x_shape), tuple(int(k) for k in kernel_shape)
    w0, b0 = np.zeros((1, 1, *kernel_shape)), np.zeros(1)
    terms = {uv: set() for uv in np.ndindex(*kernel_shape)}
    for pq in np.ndindex(*x_shape):
        x = np.zeros((1, 1, *x_shape))
        x[(0, 0, *pq)] = 1.0
        y, cache = conv.conv2d_forward(x, w0, b0, stride=stride)
        for ij in np.ndindex(*y.shape[2:]):
            delta = np.zeros(y.shape)
            delta[(0, 0, *ij)] = 1.0
            dw = conv.conv2d_backward(delta, cache)[1][0, 0]
            for uv in zip(*np.nonzero(dw)):
                terms[tuple(int(k) for k in uv)].add((ij, pq))
    return terms


def evaluate_expansion(terms, x, delta) -> float | None:
    """sum of delta[i, j] * x[P, Q] over the terms; None if an index lies outside delta or x."""
    total = 0.0
    for (i, j), (P, Q) in terms:
        if not (0 <= i < delta.shape[0] and 0 <= j < delta.shape[1] and 0 <= P < x.shape[0] and 0 <= Q < x.shape[1]):
            return None
        total += delta[i, j] * x[P, Q]
    return total


def _rule_terms(x_shape, kernel_shape, stride, rule):
    """The expansion a hand rule gives: rule(i, j, u, v, s, K) -> (p, q)."""
    (kh, kw), s = kernel_shape, stride
    oh = conv.output_size(x_shape[0], kh, stride=s)
    ow = conv.output_size(x_shape[1], kw, stride=s)
    terms = {uv: set() for uv in np.ndindex(kh, kw)}
    for uv in terms:
        for ij in np.ndindex(oh, ow):
            p, q = rule(*ij, *uv, s, (kh, kw))
            if 0 <= p < x_shape[0] and 0 <= q < x_shape[1]:
                terms[uv].add((ij, (p, q)))
    return terms


def _typos_of(expansion, right):
    """(wrong, missing) of an expansion against the right terms: sets of ((u, v), term)."""
    wrong = {(uv, t) for uv, ts in expansion.items() for t in ts if t not in right.get(uv, set())}
    missing = {(uv, t) for uv, ts in right.items() for t in ts if t not in set(expansion.get(uv, ()))}
    return wrong, missing


def _as_term_set(value, what):
    try:
        out = set()
        for uv, (ij, pq) in value:
            uv, ij, pq = (tuple(int(k) for k in idx) for idx in (uv, ij, pq))
            if not len(uv) == len(ij) == len(pq) == 2:
                raise ValueError
            out.add((uv, (ij, pq)))
        return out
    except (TypeError, ValueError):
        raise AssertionError(
            f"[bad_return]: {what} must be a set (or list) of ((u, v), ((i, j), (P, Q))): the kernel entry "
            f"and the term delta[i, j] * x[P, Q]; got {value!r:.200}") from None


_TYPO_CASES = {}


def _planted_expansion():
    """The right stride-2 expansion (5x5 input, 3x3 kernel) with four planted typos."""
    right = expansion_terms((5, 5), (3, 3), 2)
    expansion = {uv: sorted(ts) for uv, ts in right.items()}

    def replace(uv, old, new):
        expansion[uv] = sorted([t for t in expansion[uv] if t != old] + ([new] if new else []))

    replace((0, 0), ((1, 1), (2, 2)), ((1, 1), (1, 1)))   # the stride forgotten: x at (i + u, j + v)
    replace((1, 2), ((0, 1), (1, 4)), ((0, 1), (1, 2)))   # the kernel entry flipped: x at (i*s + 2 - u, ...)
    replace((2, 1), ((1, 0), (4, 1)), ((0, 1), (4, 1)))   # delta's indices swapped
    replace((2, 2), ((1, 1), (4, 4)), None)               # a term left out
    return expansion


def _typo_case(label, expansion, x_shape, kernel_shape, stride, example):
    _TYPO_CASES[label] = (expansion, x_shape, kernel_shape, stride, example)
    return label


_ARTICLE = _typo_case("the article's ∇w (3×3 input, 2×2 kernel, stride 1)", TENCENT_DW, (3, 3), (2, 2), 1,
                      ("the chapter's example x = 0…8, δ = y = [[19, 25], [37, 43]]",
                       np.arange(9.0).reshape(3, 3), np.array([[19.0, 25.0], [37.0, 43.0]])))
_CORRECT = _typo_case("a right expansion (5×5 input, 3×3 kernel, stride 2)",
                      {uv: sorted(ts) for uv, ts in expansion_terms((5, 5), (3, 3), 2).items()}, (5, 5), (3, 3), 2,
                      ("x = 0…24, δ = [[1, 2], [3, 4]]", np.arange(25.0).reshape(5, 5), np.array([[1.0, 2.0], [3.0, 4.0]])))
_PLANTED = _typo_case("planted typos (5×5 input, 3×3 kernel, stride 2)", _planted_expansion(), (5, 5), (3, 3), 2,
                      ("x = 0…24, δ = [[1, 2], [3, 4]]", np.arange(25.0).reshape(5, 5), np.array([[1.0, 2.0], [3.0, 4.0]])))

_TYPO_RULES = {
    "typo_no_stride": (
        lambda i, j, u, v, s, k: (i + u, j + v),
        "you matched δ_ij with x at (i + u, j + v), the rule for stride 1. With stride s the window of "
        "output (i, j) starts at (i·s, j·s), so δ_ij multiplies x at (i·s + u, j·s + v)."),
    "typo_flipped": (
        lambda i, j, u, v, s, k: (i * s + k[0] - 1 - u, j * s + k[1] - 1 - v),
        "you matched δ_ij with x at (i·s + K−1−u, j·s + K−1−v), a flipped kernel. Nothing is flipped in ∇w "
        "of a cross-correlation layer: every index enters with a plus sign, x at (i·s + u, j·s + v)."),
}


def _diagnose_typos(fn, label):
    expansion, x_shape, kernel_shape, stride, (example, x_ex, d_ex) = _TYPO_CASES[label]
    answer = fn(copy.deepcopy(expansion), x_shape, kernel_shape, stride)
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise AssertionError(f"[bad_return]: return a pair (wrong, missing) of sets, got {answer!r:.200}")
    wrong, missing = (_as_term_set(a, name) for a, name in zip(answer, ("wrong", "missing")))
    right = expansion_terms(x_shape, kernel_shape, stride)
    true_wrong, true_missing = _typos_of(expansion, right)
    if (wrong, missing) == (true_wrong, true_missing):
        return
    if (wrong, missing) == (true_missing, true_wrong) and wrong != missing:
        raise AssertionError("[typo_swapped]: your two sets are swapped: return (wrong, missing), the terms "
                             "that are there and should not be first, the terms that should be there and are not second.")
    for key, (rule, text) in _TYPO_RULES.items():
        if (wrong, missing) == _typos_of(expansion, _rule_terms(x_shape, kernel_shape, stride, rule)):
            raise AssertionError(f"[{key}]: {text}")
    if wrong == true_wrong and not missing and true_missing:
        uv, t = min(true_missing)
        raise AssertionError(f"[missing_not_listed]: your wrong terms are right, but the missing set is empty; "
                             f"{_term_text(uv, t)} (for example) belongs to the sum and is not there.")

    def evidence(uv, term):
        (ij, pq) = term
        for name, idx, shape in (("δ", ij, d_ex.shape), ("x", pq, x_ex.shape)):
            if not all(0 <= k < n for k, n in zip(idx, shape)):
                return f" {_sub(name, idx)} does not exist: {name} is {shape[0]}×{shape[1]}, indices from 0."
        printed = evaluate_expansion(expansion[uv], x_ex, d_ex)
        fixed = evaluate_expansion(sorted(right[uv]), x_ex, d_ex)
        if printed is None:
            return ""
        return (f" By computation, on {example}: {_sub('∇w', uv)} as written = {printed:g}, "
                f"conv2d_backward gives {fixed:g}.")

    rule = f"δ_ij multiplies x at (i·{stride} + u, j·{stride} + v)" if stride != 1 else \
        "δ_ij multiplies x at (i + u, j + v)"
    for uv, t in sorted(true_wrong - wrong):
        raise AssertionError(f"[missed_typo]: {_term_text(uv, t)} is wrong and your answer does not list it "
                             f"({rule}).{evidence(uv, t)}")
    for uv, t in sorted(wrong - true_wrong):
        why = "it is not even in the sum" if t not in set(expansion.get(uv, ())) else "it is right"
        raise AssertionError(f"[false_alarm]: you list {_term_text(uv, t)} as wrong, but {why} ({rule}).")
    for uv, t in sorted(true_missing - missing):
        raise AssertionError(f"[missed_missing]: {_term_text(uv, t)} belongs to the sum and is not there, "
                             f"but your missing set does not list it ({rule}).{evidence(uv, t)}")
    for uv, t in sorted(missing - true_missing):
        why = "it is already in the sum" if t in set(expansion.get(uv, ())) else "it does not belong to the sum"
        raise AssertionError(f"[false_missing]: you list {_term_text(uv, t)} as missing, but {why} ({rule}).")


def _typo_check(label):
    def check(fn):
        _diagnose_typos(fn, label)
    return check


check_dw_typos = PropertyChecker(
    title="the typos in the article's ∇w",
    checks=[(label, _typo_check(label)) for label in (_ARTICLE, _CORRECT, _PLANTED)],
)
