"""Checkers for the chapter "The convolution family: every backward pass is a transpose".

* :data:`check_output_padding` -- ``fn(H, K, stride, pad, dilation) -> int``: the
  ``output_padding`` that makes a transposed convolution give back an input of size H (one axis).
* :data:`check_conv_transpose2d` -- ``fn(x, w, stride, pad, output_padding) -> y``: a one-channel
  transposed convolution, x (H, W), w (KH, KW), the three hyperparameters (h, w) pairs.
* :data:`check_avgpool_divisors` -- ``fn(H, size, stride, pad, ceil_mode, count_include_pad) ->
  (OH,)``: the divisor of every average-pooling window along one axis (PyTorch's rule).

The cases put the mistakes where they show: remainders that are not zero, padding, dilation,
kernels that change under a 180° rotation, windows that hang past the padded input.
"""

from __future__ import annotations

import numpy as np

from .. import conv, matrices
from ._core import Case, Checker, Mutant

# --------------------------------------------------------------------------- output_padding

OP_ZERO = (
    "output_padding 0 where the convolution's floor dropped r = (H + 2p - d(K-1) - 1) mod s rows: the transposed "
    "convolution then gives back an input r rows short."
)
OP_NO_DILATION = (
    "the dilation was ignored: the dilated kernel spans d(K-1) + 1 pixels, so r = (H + 2p - d(K-1) - 1) mod s, "
    "not (H + 2p - K) mod s."
)
OP_SPAN_DK = (
    "the dilated kernel was taken as d*K pixels wide: it spans d(K-1) + 1 (K taps, d-1 gaps between "
    "neighbours), so r = (H + 2p - d(K-1) - 1) mod s."
)
OP_NO_PAD = (
    "the padding was left out: the windows slide over the padded input of H + 2p pixels, so "
    "r = (H + 2p - d(K-1) - 1) mod s."
)
OP_STRIDE_MINUS_ONE = (
    "output_padding is not always s - 1: it is the remainder r = (H + 2p - d(K-1) - 1) mod s that the floor in "
    "OH dropped, the number of rows no window reaches (0 when the windows end exactly at the last row)."
)


def _ref_output_padding(H, K, stride, pad, dilation):
    return matrices.unreached(H, K, stride=stride, pad=pad, dilation=dilation)


def _op_variant(kind):
    def fn(H, K, stride, pad, dilation):
        if kind == "zero":
            return 0
        if kind == "stride_minus_one":
            return stride - 1
        span = {"no_dilation": K, "span_dk": dilation * K}.get(kind, dilation * (K - 1) + 1)
        padded = H if kind == "no_pad" else H + 2 * pad
        return (padded - span) % stride
    return fn


def _op_case(H, K, s, p, d):
    return Case(f"H = {H}, K = {K}, stride {s}, pad {p}, dilation {d}", (H, K, s, p, d))


check_output_padding = Checker(
    title="output_padding of a transposed convolution",
    reference=_ref_output_padding,
    outputs=("output_padding",),
    arg_names=("H", "K", "stride", "pad", "dilation"),
    cases=[
        _op_case(6, 3, 2, 0, 1),     # r = 1: one row unreached
        _op_case(8, 2, 4, 1, 1),     # r = 0 although s - 1 = 3
        _op_case(6, 3, 3, 1, 1),     # r = 2 with padding (0 without)
        _op_case(5, 2, 5, 0, 2),     # r = 2 with dilation (3 without it, 1 for a span of d*K)
        _op_case(11, 3, 4, 2, 3),    # all together
        _op_case(5, 2, 1, 0, 1),     # stride 1: always 0
    ],
    mutants=[
        Mutant("op_zero", OP_ZERO, _op_variant("zero")),
        Mutant("op_stride_minus_one", OP_STRIDE_MINUS_ONE, _op_variant("stride_minus_one")),
        Mutant("op_no_pad", OP_NO_PAD, _op_variant("no_pad")),
        Mutant("op_no_dilation", OP_NO_DILATION, _op_variant("no_dilation")),
        Mutant("op_span_dk", OP_SPAN_DK, _op_variant("span_dk")),
    ],
)

# --------------------------------------------------------------------------- transposed convolution

TC_FLIPPED = (
    "the kernel was rotated by 180°: a transposed convolution scatters every input with the kernel as it is "
    "(x[i, j] * w[u, v] lands at row i*s - p + u, column j*s - p + v); the rotation appears only when the "
    "same map is written as a correlation over the dilated input."
)
TC_NOT_CROPPED = (
    "the padding was not cropped: the scattered result covers the convolution's padded input, so p rows and "
    "columns come off each side (the crop of the convolution's backward pass)."
)
TC_NO_OUTPUT_PADDING = (
    "output_padding was ignored: append output_padding rows (columns) at the end of the scattered result "
    "before cropping the padding; they are the rows no window of the convolution reaches."
)
TC_NO_STRIDE = (
    "the stride was ignored: input pixel (i, j) stamps the kernel at row i*s and column j*s of the result, so "
    "neighbouring stamps are s apart (the dilation of delta in the convolution's backward pass)."
)
TC_ASSIGN = (
    "'=' instead of '+=': stamps overlap where the kernel is larger than the stride, and an output collects "
    "the contributions of every input pixel whose stamp covers it."
)


def _tc_variant(x, w, stride, pad, output_padding, *, flip=False, crop=True, op=True, strided=True, add=True):
    (sh, sw), (ph, pw), (oph, opw) = stride, pad, output_padding
    if not strided:
        sh, sw = 1, 1
    if flip:
        w = w[::-1, ::-1]
    kh, kw = w.shape
    h, wd = x.shape
    full = np.zeros(((h - 1) * sh + kh + (oph if op else 0), (wd - 1) * sw + kw + (opw if op else 0)))
    for i in range(h):
        for j in range(wd):
            if add:
                full[i * sh:i * sh + kh, j * sw:j * sw + kw] += x[i, j] * w
            else:
                full[i * sh:i * sh + kh, j * sw:j * sw + kw] = x[i, j] * w
    if not crop:
        return full
    return full[ph:full.shape[0] - ph, pw:full.shape[1] - pw]


def _ref_conv_transpose(x, w, stride, pad, output_padding):
    y, _ = conv.conv_transpose2d_forward(x[None, None], w[None, None], np.zeros(1), stride=stride, pad=pad,
                                         output_padding=output_padding)
    return y[0, 0]


def _tc(**flags):
    def fn(x, w, stride, pad, output_padding):
        return _tc_variant(x, w, stride, pad, output_padding, **flags)
    return fn


def _tc_case(label, hw, khw, stride, pad, output_padding, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, size=hw).astype(float)
    w = r.integers(-3, 4, size=khw).astype(float)
    w[0, 0], w[-1, -1] = 5.0, -2.0          # never symmetric under the rotation
    return Case(label, (x, w, stride, pad, output_padding))


check_conv_transpose2d = Checker(
    title="transposed convolution (one channel)",
    reference=_ref_conv_transpose,
    outputs=("y",),
    arg_names=("x", "w", "stride", "pad", "output_padding"),
    cases=[
        Case("x = [[1, 2], [3, 4]], w = [[1, 2], [3, 4]], stride 1, pad 0, output_padding 0",
             (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]), (1, 1), (0, 0), (0, 0))),
        _tc_case("2x3 input, 2x2 kernel, stride 2, pad 0, output_padding 0 (stamps side by side)",
                 (2, 3), (2, 2), (2, 2), (0, 0), (0, 0), 21),
        _tc_case("3x2 input, 3x2 kernel, stride (2, 3), pad (1, 0), output_padding (1, 2)",
                 (3, 2), (3, 2), (2, 3), (1, 0), (1, 2), 23),
        _tc_case("3x3 input, 3x3 kernel, stride 2, pad 1, output_padding 1 (stamps overlap)",
                 (3, 3), (3, 3), (2, 2), (1, 1), (1, 1), 22),
    ],
    mutants=[
        Mutant("tconv_flipped", TC_FLIPPED, _tc(flip=True)),
        Mutant("tconv_assign", TC_ASSIGN, _tc(add=False)),
        Mutant("tconv_no_stride", TC_NO_STRIDE, _tc(strided=False)),
        Mutant("tconv_not_cropped", TC_NOT_CROPPED, _tc(crop=False)),
        Mutant("tconv_no_output_padding", TC_NO_OUTPUT_PADDING, _tc(op=False)),
    ],
)

# --------------------------------------------------------------------------- average-pooling divisors

DIV_ALWAYS_K = (
    "every window was divided by K, the full window size: a ceil_mode window that reaches past the padded "
    "input divides by its part inside the padded input (count_include_pad=True), or inside the input (False)."
)
DIV_PAD_NOT_COUNTED = (
    "with count_include_pad=True the padding positions of a window count in the divisor (only the part past "
    "the padding does not); you divided by the number of input positions."
)
DIV_PAD_COUNTED = (
    "with count_include_pad=False the divisor is the number of input positions in the window; you counted "
    "the padding too."
)
DIV_FLOOR = (
    "ceil_mode was ignored: with ceil_mode=True the number of windows is ceil((H + 2p - K)/s) + 1 (the last, "
    "partial window is kept), not the floor."
)
DIV_EXTRA_WINDOW = (
    "one window too many: with ceil_mode a window must start inside the input or its left padding; one that "
    "would start in the right padding is dropped (PyTorch's rule)."
)


def _ref_divisors(H, size, stride, pad, ceil_mode, count_include_pad):
    windows = matrices.pool_windows(H, size, stride=stride, pad=pad, ceil_mode=ceil_mode,
                                    count_include_pad=count_include_pad)
    return np.array([d for _, _, d in windows])


def _div_variant(kind):
    def fn(H, size, stride, pad, ceil_mode, count_include_pad):
        span = H + 2 * pad - size
        n = (-(-span // stride) if ceil_mode and kind != "floor" else span // stride) + 1
        if ceil_mode and kind != "extra" and (n - 1) * stride >= H + pad:
            n -= 1
        include = {"pad_not_counted": False, "pad_counted": True}.get(kind, count_include_pad)
        out = []
        for i in range(n):
            start = i * stride - pad
            stop = min(start + size, H + pad)
            out.append(size if kind == "always_k" else
                       (stop - start) if include else (min(stop, H) - max(start, 0)))
        return np.array(out)
    return fn


def _div_case(H, k, s, p, ceil, cip):
    return Case(f"H = {H}, window {k}, stride {s}, pad {p}, ceil_mode={ceil}, count_include_pad={cip}",
                (H, k, s, p, ceil, cip))


check_avgpool_divisors = Checker(
    title="average-pooling divisors",
    reference=_ref_divisors,
    outputs=("divisors",),
    arg_names=("H", "size", "stride", "pad", "ceil_mode", "count_include_pad"),
    cases=[
        _div_case(6, 3, 2, 1, True, True),     # [3, 3, 3, 2]: the last window hangs past the padding
        _div_case(6, 3, 2, 1, True, False),    # [2, 3, 3, 1]
        _div_case(7, 2, 2, 1, True, True),     # ceil would give 5 windows; the 5th starts in the padding
        _div_case(7, 3, 3, 0, False, True),    # floor mode, no padding: [3, 3]
        _div_case(8, 4, 3, 2, True, False),    # [2, 4, 4, 1]
    ],
    mutants=[
        Mutant("div_floor", DIV_FLOOR, _div_variant("floor")),
        Mutant("div_extra_window", DIV_EXTRA_WINDOW, _div_variant("extra")),
        Mutant("div_always_k", DIV_ALWAYS_K, _div_variant("always_k")),
        Mutant("div_pad_not_counted", DIV_PAD_NOT_COUNTED, _div_variant("pad_not_counted")),
        Mutant("div_pad_counted", DIV_PAD_COUNTED, _div_variant("pad_counted")),
    ],
)
