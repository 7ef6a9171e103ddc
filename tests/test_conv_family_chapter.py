"""The chapter "The convolution family": its exercises' checkers name the mistakes readers make
(written here by hand, the way a reader would write them, independently of the mutants), its
worked numbers hold, and its explorers stay small.

The checkers' own catalogue (every mutant named, the reference passes, cases smallest first) is
tested for every checker in test_exercises.py; the notebook itself runs under nbval, in the
book build, as a student edition and in JupyterLab.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook import conv, matrices, pooling
from cnnbook.exercises import CHECKERS, check_avgpool_divisors, check_conv_transpose2d, check_output_padding

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "conv_family.ipynb"


def code() -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]
                     if c["cell_type"] == "code")


def test_the_checkers_are_registered():
    for name in ("check_output_padding", "check_conv_transpose2d", "check_avgpool_divisors"):
        assert name in CHECKERS and f"{name}(" in code()


# --------------------------------------------------------------------------- Exercise 1: output_padding


def op_reader(H, K, stride, pad, dilation, *, mistake=None):
    if mistake == "floor division":          # confuses the remainder with the quotient
        return (H + 2 * pad - dilation * (K - 1) - 1) // stride
    if mistake == "kernel, not its span":
        return (H + 2 * pad - K) % stride
    if mistake == "forgot the padding":
        return (H - dilation * (K - 1) - 1) % stride
    # right: how many padded rows follow the last window
    n_out = (H + 2 * pad - dilation * (K - 1) - 1) // stride + 1
    return H + 2 * pad - ((n_out - 1) * stride + dilation * (K - 1) + 1)


def test_output_padding_right_answer():
    assert check_output_padding(op_reader).ok


@pytest.mark.parametrize("mistake, key", [("kernel, not its span", "op_no_dilation"),
                                          ("forgot the padding", "op_no_pad")])
def test_output_padding_mistakes(mistake, key):
    report = check_output_padding(lambda *a: op_reader(*a, mistake=mistake))
    assert not report.ok and report.mistakes == (key,), str(report)


def test_output_padding_unknown_mistake_is_still_caught():
    report = check_output_padding(lambda *a: op_reader(*a, mistake="floor division"))
    assert not report.ok and report.case is not None


# --------------------------------------------------------------------------- Exercise 2: the scatter


def tconv_reader(x, w, stride, pad, output_padding, *, mistake=None):
    (sh, sw), (ph, pw), (oph, opw) = stride, pad, output_padding
    if mistake == "rotated":
        w = np.rot90(w, 2)
    kh, kw = w.shape
    h, wd = x.shape
    out_h = (h - 1) * sh + kh + (0 if mistake == "no output_padding" else oph)
    out_w = (wd - 1) * sw + kw + (0 if mistake == "no output_padding" else opw)
    full = np.zeros((out_h, out_w))
    for i in range(h):
        for j in range(wd):
            for u in range(kh):
                for v in range(kw):
                    full[i * sh + u, j * sw + v] += x[i, j] * w[u, v]
    if mistake == "not cropped":
        return full
    return full[ph:out_h - ph, pw:out_w - pw]


def tconv_by_transpose(x, w, stride, pad, output_padding):
    "The chapter's definition: y = A^T x, with A the convolution from the output size back to x's size."
    size = tuple((n - 1) * s - 2 * p + k + op for n, s, p, k, op in zip(x.shape, stride, pad, w.shape, output_padding))
    return (matrices.conv2d_matrix(size, w, stride=stride, pad=pad).T @ x.ravel()).reshape(size)


def test_conv_transpose_right_answers():
    assert check_conv_transpose2d(tconv_reader).ok
    assert check_conv_transpose2d(tconv_by_transpose).ok


@pytest.mark.parametrize("mistake, key", [("rotated", "tconv_flipped"), ("not cropped", "tconv_not_cropped"),
                                          ("no output_padding", "tconv_no_output_padding")])
def test_conv_transpose_mistakes(mistake, key):
    report = check_conv_transpose2d(lambda *a: tconv_reader(*a, mistake=mistake))
    assert not report.ok and report.mistakes == (key,), str(report)


def test_a_convolution_instead_of_its_transpose_is_caught():
    report = check_conv_transpose2d(lambda x, w, s, p, op: conv.correlate2d(x, w, stride=s, pad=p))
    assert not report.ok and report.passed == 0


# --------------------------------------------------------------------------- Exercise 3: the divisors


def divisors_reader(H, size, stride, pad, ceil_mode, count_include_pad, *, mistake=None):
    # slide the window as a reader might: every window that fits the padded input ...
    starts, a = [], -pad
    while a + size <= H + pad:
        starts.append(a)
        a += stride
    # ... and, with ceil_mode, the partial one after them if it starts inside the input
    if ceil_mode and mistake != "ignored ceil_mode" and a < (H + pad if mistake == "kept the last window" else H):
        starts.append(a)
    out = []
    for a in starts:
        cells = range(a, a + size)
        if mistake == "window size":
            out.append(size)
        elif count_include_pad and mistake != "only real pixels":
            out.append(sum(1 for c in cells if -pad <= c < H + pad))
        else:
            out.append(sum(1 for c in cells if 0 <= c < H))
    return np.array(out)


def test_avgpool_divisors_right_answer():
    assert check_avgpool_divisors(divisors_reader).ok


@pytest.mark.parametrize("mistake, key", [("window size", "div_always_k"), ("only real pixels", "div_pad_not_counted"),
                                          ("ignored ceil_mode", "div_floor"),
                                          ("kept the last window", "div_extra_window")])
def test_avgpool_divisor_mistakes(mistake, key):
    report = check_avgpool_divisors(lambda *a: divisors_reader(*a, mistake=mistake))
    assert not report.ok and report.mistakes == (key,), str(report)


def test_divisors_agree_with_the_pooling_layer():
    """The checker's reference (matrices.pool_windows) is the divisor cnnbook's average pooling uses:
    pooling a row of ones gives (real pixels) / divisor."""
    for H, k, s, p in [(6, 3, 2, 1), (7, 2, 2, 1), (9, 4, 3, 2), (5, 3, 3, 1), (8, 1, 2, 0)]:
        for ceil in (False, True):
            for cip in (False, True):
                y, _ = pooling.avgpool2d_forward(np.ones((1, 1, 1, H)), size=(1, k), stride=(1, s), pad=(0, p),
                                                 ceil_mode=ceil, count_include_pad=cip)
                windows = matrices.pool_windows(H, k, stride=s, pad=p, ceil_mode=ceil, count_include_pad=cip)
                np.testing.assert_allclose([(b - a) / d for a, b, d in windows], y.ravel(), rtol=1e-15)


# --------------------------------------------------------------------------- the chapter's numbers and explorers


def test_worked_numbers_of_the_chapter():
    # 7 and 8 pixels both give 4 outputs for K = 3, s = 2, p = 1; output_padding 0 and 1 give them back
    assert [conv.output_size(h, 3, stride=2, pad=1) for h in (7, 8)] == [4, 4]
    assert [conv.transpose_output_size(4, 3, stride=2, pad=1, output_padding=op) for op in (0, 1)] == [7, 8]
    # the weight counts of the depthwise separable convolution
    assert 128 * 64 * 9 == 73728 and 64 * 9 + 128 * 64 == 8768


def test_the_explorers_stay_small():
    src = code()
    sizes = []
    for name in ("A_CONTROLS", "S_CONTROLS"):
        grid = re.search(name + r" = (\{.*?\})\n", src, re.S).group(1)
        namespace = {"POOL_MODES": {"max": 0, "average": 1, "average, count_include_pad=False": 2}}
        values = eval(grid, namespace)  # noqa: S307 - the notebook's own literal
        sizes.append(math.prod(len(v) for v in values.values()))
    assert sizes == [120, 48]
