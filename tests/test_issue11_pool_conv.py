"""Issue 11 in the pooling and convolution chapters: the end-of-chapter check against the JAX reference,
and the fixed slips of the convolution chapter (the ODS form is an input shift by K - 1; a
true-convolution layer rotates its kernel gradient; the kernel is read backwards as i grows, for a
fixed pixel P; no summary says that large pooling windows slow training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnbook import conv, pooling, reference
from cnnbook.gradcheck import numerical_gradient, rel_error

ROOT = Path(__file__).resolve().parent.parent


def cells(chapter):
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    return [(c["cell_type"], "".join(c["source"]), c["metadata"]) for c in nb["cells"]]


def markdown(chapter):
    return "\n".join(src for kind, src, _ in cells(chapter) if kind == "markdown")


def summary(chapter):
    text = markdown(chapter)
    start = text.index("## Summary")
    return text[start:text.index(":::\n", text.index(":class: important", start))]


# --------------------------------------------------------------------------- the JAX check section


@pytest.mark.parametrize("chapter, layer", [("pooling", "maxpool2d"), ("convolution", "conv2d")])
def test_the_chapter_ends_with_one_collapsed_check_against_jax(chapter, layer):
    cs = cells(chapter)
    k = next(i for i, (kind, src, _) in enumerate(cs)
             if kind == "markdown" and src.startswith("## Checked against an autodiff framework"))
    kind, src, meta = cs[k + 1]
    assert kind == "code"
    assert "hide-input" in meta.get("tags", []) and meta["jupyter"]["source_hidden"] is True
    assert meta["mystnb"]["code_prompt_show"] == "Show the checks"
    assert "from cnnbook import reference" in src and f'reference.vjp("{layer}"' in src
    assert "assert worst <" in src and src.count("print(") == 1 and "checked against JAX (float64)" in src
    assert cs[k + 2][1].startswith("## Summary")                 # just before the summary


def test_jax_routes_a_max_pool_tie_to_the_first_maximum_like_cnnbook():
    x = np.array([[3.0, 7.0], [7.0, 1.0]]).reshape(1, 1, 2, 2)
    (dx,) = reference.vjp("maxpool2d", np.full((1, 1, 1, 1), 5.0), x, size=2)
    np.testing.assert_array_equal(dx[0, 0], [[0, 5], [0, 0]])
    # and on overlapping windows over inputs full of ties
    rng = np.random.default_rng(5)
    for size, stride in [((3, 3), (1, 1)), ((2, 3), (1, 2)), ((3, 2), (2, 1))]:
        x = rng.integers(0, 2, (2, 2, 7, 7)).astype(float)
        y, cache = pooling.maxpool2d_forward(x, size=size, stride=stride)
        dy = rng.normal(size=y.shape)
        # the same routing: a different tie rule would move whole entries of dy
        np.testing.assert_allclose(reference.vjp("maxpool2d", dy, x, size=size, stride=stride)[0],
                                   pooling.maxpool2d_backward(dy, cache), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- the ODS form


def ods(x, w, s):
    """y[i, j] = sum_uv w[u, v] x[i s - u, j s - v], x = 0 outside, one output per window overlapping x."""
    (H, W), (KH, KW) = x.shape, w.shape
    y = np.zeros(((H + KH - 2) // s + 1, (W + KW - 2) // s + 1))
    for i, j, u, v in np.ndindex(*y.shape, KH, KW):
        if 0 <= i * s - u < H and 0 <= j * s - v < W:
            y[i, j] += w[u, v] * x[i * s - u, j * s - v]
    return y


@pytest.mark.parametrize("K, s", [(3, 1), (2, 1), (3, 2), (5, 2), (4, 3), (2, 2), (4, 2), (3, 3)])
def test_the_ods_form_is_an_input_shift_and_an_output_shift_only_when_s_divides_k_minus_1(K, s):
    rng = np.random.default_rng(K * 10 + s)
    x, w = rng.normal(size=(9, 8)), rng.normal(size=(K, K))
    y = ods(x, w, s)
    np.testing.assert_allclose(y, conv.convolve2d(x, w, stride=s, pad=K - 1), atol=1e-12)   # input shift
    valid = conv.convolve2d(x, w, stride=s)
    shifts = [m for m in range(y.shape[0] - valid.shape[0] + 1)
              if np.allclose(y[m:m + valid.shape[0], m:m + valid.shape[1]], valid)]
    assert shifts == ([(K - 1) // s] if (K - 1) % s == 0 else [])


def test_the_chapter_no_longer_calls_the_ods_form_an_output_shift_by_k_minus_1():
    text = markdown("convolution")
    assert "with the output index\nshifted by $K-1$" not in text and "with the output index shifted by $K-1$" not in text
    assert "input padded by\n$K-1$" in text or "input padded by $K-1$" in text


# --------------------------------------------------------------------------- where the flips are


@pytest.mark.parametrize("x_shape, k_shape, stride, pad", [((7, 6), (3, 2), (2, 2), (1, 0)),
                                                            ((6, 8), (2, 3), (3, 2), (0, 2))])
def test_a_true_convolution_layer_rotates_its_kernel_gradient_and_not_its_input_gradient(x_shape, k_shape,
                                                                                         stride, pad):
    rng = np.random.default_rng(9)
    x, w = rng.normal(size=x_shape), rng.normal(size=k_shape)
    delta = rng.normal(size=conv.convolve2d(x, w, stride=stride, pad=pad).shape)
    num_dx = numerical_gradient(lambda v: np.sum(delta * conv.convolve2d(v, w, stride=stride, pad=pad)), x.copy())
    num_dw = numerical_gradient(lambda v: np.sum(delta * conv.convolve2d(x, v, stride=stride, pad=pad)), w.copy())
    (KH, KW), (ph, pw) = k_shape, pad
    # the formula sheet: dE/dxp = corr(D, w), dE/dw = rot180(corr(xp, dilated delta))
    D = np.pad(conv.dilate(delta, stride), ((KH - 1, KH - 1), (KW - 1, KW - 1)))
    full = conv.correlate2d(D, w)
    dxp = np.zeros((x_shape[0] + 2 * ph, x_shape[1] + 2 * pw))
    dxp[:full.shape[0], :full.shape[1]] = full
    dx = dxp[ph:ph + x_shape[0], pw:pw + x_shape[1]]
    dw = conv.rot180(conv.correlate2d(np.pad(x, ((ph, ph), (pw, pw))), conv.dilate(delta, stride))[:KH, :KW])
    assert rel_error(dx, num_dx) < 1e-7 and rel_error(dw, num_dw) < 1e-7
    assert rel_error(conv.rot180(dw), num_dw) > 0.1                  # the kernel gradient is rotated
    # and JAX agrees: a true convolution is its cross-correlation with rot180(w)
    _, dw_rot, _ = reference.vjp("conv2d", delta[None, None], x[None, None], conv.rot180(w)[None, None],
                                 np.zeros(1), stride=stride, pad=pad)
    np.testing.assert_allclose(conv.rot180(dw_rot[0, 0]), dw, atol=1e-12)


def test_the_summary_gives_both_layers_flips():
    text = summary("convolution")
    assert "sits in exactly one pass" not in text
    assert r"\mathrm{rot180}\bigl(\operatorname{corr}(x^{p}, \tilde\delta)\bigr)" in text
    assert r"\operatorname{corr}(D, w)" in text


def test_the_kernel_is_read_backwards_as_i_grows_for_a_fixed_pixel():
    # dE/dxp for delta = e_i is w laid at rows i s ... i s + K - 1: pixel P receives w[P - i s]
    s, K, H = 2, 3, 7
    w = np.arange(1.0, K + 1)[:, None]                               # a K x 1 kernel 1, 2, 3
    _, cache = conv.conv2d_forward(np.zeros((1, 1, H, 1)), w[None, None], np.zeros(1), stride=s)
    OH = cache.x.shape[2] // s
    P = 2
    rows = []
    for i in range(OH):
        delta = np.zeros((1, 1, OH, 1))
        delta[0, 0, i, 0] = 1.0
        value = conv.conv2d_backward(delta, cache)[0][0, 0, P, 0]
        rows.append(int(value) - 1 if value else None)
    assert rows[:2] == [2, 0]                                         # w_2, then w_0: backwards as i grows
    text = "\n".join(src for _, src, _ in cells("convolution"))
    assert "as $P$ grows" not in text and "read backwards as $i$ grows, for a fixed pixel $P$" in text


# --------------------------------------------------------------------------- training through pooling


@pytest.mark.parametrize("chapter", ["pooling", "convolution"])
def test_no_summary_claims_that_large_windows_slow_training(chapter):
    text = summary(chapter).lower()
    assert "slow" not in text and "speed" not in text


def test_the_pooling_experiment_says_only_what_it_shows():
    """The experiment moved from the convolution chapter to the training lab (issue 13); its checks moved with it."""
    text = markdown("convolution")
    pointer = text[text.index("## Training a kernel through a pooling layer"):text.index("## Checked against")]
    assert "(training.ipynb#a-known-kernel-learned-back-through-the-pool)" in pointer
    assert "10, 3, 5" not in pointer and "```" not in pointer
    lab = markdown("training")
    section = lab[lab.index("### Too few patches"):lab.index("### The same bound from the other end")]
    assert "**global** minimum" in section and "not *identifiable*" in section
    assert "Average-pooling does no better on this count" in section
    assert "on its own it says nothing about speed" in section
    shown = lab[lab.index("### What these runs show, and what they do not"):]
    assert "They do not show" in shown
    pooling_text = markdown("pooling")
    assert "the explanation needs" not in pooling_text
