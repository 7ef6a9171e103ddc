"""Checkers for the chapter "Convolution with stride".

* :data:`check_conv2d_backward` -- ``fn(dy, cache) -> (dx, dw, db)`` for the
  whole layer (cache from :func:`cnnbook.conv.conv2d_forward`).
* :data:`check_conv_input_grad` -- ``fn(delta, w, stride, pad, input_shape) -> dx``,
  one channel, by the dilate / pad / rotate / crop recipe.
* :data:`check_conv_kernel_grad` -- ``fn(x, delta, kernel_shape, stride, pad) -> dw``
  for a batch, x (N, C, H, W), delta (N, F, OH, OW), dw (F, C, KH, KW).
* :data:`check_conv_kernel_grad_2d` -- the same for one channel, x (H, W).

The cases use non-symmetric kernels (so a flip shows), batch 2 (so a missing
sum over the batch shows), overlapping windows (so ``=`` instead of ``+=``
shows), and strides with (H + 2p - K) % s != 0 (so the rows no window
reaches, the dilation and the cropping all show).
"""

from __future__ import annotations

import numpy as np

from .. import conv
from ._core import Case, Checker, Mutant

# --------------------------------------------------------------------------- diagnoses

FLIPPED_DW = (
    "the kernel gradient is flipped (rotated by 180 degrees). For a cross-correlation layer "
    "dE/dw[a, b] = sum_ij delta[i, j] * xpad[i*s + a, j*s + b]: every index enters with a plus sign, "
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
    "s - 1 zeros must go between the entries of delta (equivalently: index the input with i*s + a, "
    "not i + a)."
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
