"""The prose of the pooling and convolution chapters: numbers from the run or declared exact and
checked, pixel positions that do not collide with the padding p, and the links to the chapters that
continue them (the convolution family, the training lab) and to Dumoulin & Visin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook import conv, pooling
from cnnbook.gradcheck import numerical_gradient

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ["pooling", "convolution"]


def cells(chapter):
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    return [(c["cell_type"], "".join(c["source"]), c["metadata"]) for c in nb["cells"]]


def markdown(chapter):
    return "\n".join(src for kind, src, _ in cells(chapter) if kind == "markdown")


def code(chapter):
    return "\n".join(src for kind, src, _ in cells(chapter) if kind == "code")


def section(chapter, heading):
    """The Markdown from a heading to the next heading of the same or a higher level."""
    text = markdown(chapter)
    start = text.index(heading)
    level = heading.split(" ")[0]
    nxt = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + nxt.start()] if nxt else text[start:]


# --------------------------------------------------------------------------- numbers


# a declared value that is a definition, not a result: the test inputs 0, 0.01, 0.02, ... (the check
# asserts their spacing of 0.01)
DEFINITIONS = {("pooling", "0.02")}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_number_declared_exact_is_asserted_by_the_chapters_code(chapter):
    """A hand-worked value declared exact must occur in a code cell of the chapter (its check)."""
    source = code(chapter)
    missing = []
    for kind, _, meta in cells(chapter):
        for value in meta.get("cnnbook", {}).get("exact", []):
            if kind == "markdown" and (chapter, value) not in DEFINITIONS and value not in source:
                missing.append(value)
    assert not missing, f"{chapter}: declared exact but never asserted: {missing}"


def test_the_values_at_a_tie_come_from_the_run():
    text = markdown("pooling")
    assert "returns ({eval}`first_max_text`)" in text and "returns ({eval}`central_text`)" in text
    assert "(0, 2.5, 2.5, 0)" not in text
    # what the chapter's code computes for the prose: cnnbook's first maximum and 5 x central differences
    x = np.array([[3.0, 7.0], [7.0, 1.0]]).reshape(1, 1, 2, 2)
    y, cache = pooling.maxpool2d_forward(x, size=2)
    first = pooling.maxpool2d_backward(np.full((1, 1, 1, 1), 5.0), cache)
    central = numerical_gradient(lambda v: pooling.maxpool2d_forward(v, size=2)[0].item(), x.copy(), h=1e-6)
    assert ", ".join(f"{v:g}" for v in first.ravel()) == "0, 5, 0, 0"
    assert ", ".join(f"{v:.4g}" for v in 5 * central.ravel()) == "0, 2.5, 2.5, 0"


def test_a_plural_five_is_not_read_as_a_timing():
    assert "two 5s" not in markdown("pooling")


def test_the_one_dimensional_descent_shrinks_the_error_by_one_factor_per_step():
    """The training lab's one-dimensional example (until issue 13 in the convolution chapter):
    1 - eta |d|^2 = 0.5 (max-pooling) and 0.415 (average-pooling)."""
    x = np.array([10.0, 3.0, 5.0, -4.0]).reshape(1, 1, 1, 4)
    pools = {"max": (pooling.maxpool2d_forward, pooling.maxpool2d_backward),
             "average": (pooling.avgpool2d_forward, pooling.avgpool2d_backward)}
    for pool, factor in [("max", 0.5), ("average", 0.415)]:
        fwd, bwd = pools[pool]

        def out(w):
            y, conv_cache = conv.conv2d_forward(x, w, np.zeros(1))
            o, pool_cache = fwd(y, size=(1, 2))
            return o, conv_cache, pool_cache

        target = out(np.ones((1, 1, 1, 3)))[0].item()
        w, errors = np.array([0.0, 3.0, 0.0]).reshape(1, 1, 1, 3), []
        for _ in range(15):
            o, conv_cache, pool_cache = out(w)
            errors.append(o.item() - target)
            w = w - 0.01 * conv.conv2d_backward(bwd(o - target, pool_cache), conv_cache)[1]
        np.testing.assert_allclose(np.array(errors[1:]) / errors[:-1], factor, rtol=1e-6)
        assert not np.allclose(w.ravel(), 1.0)                 # a zero-loss kernel, not the one that made t


# --------------------------------------------------------------------------- letters


PIXEL_AS_LOWERCASE_P = re.compile(r"x_\{(?:nc)?pq\}|\((?:p, ?q)\)|[pq]\^\*|\\lfloor [pq]/|[a-z]\[p, q\]")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_pixel_positions_are_not_written_with_the_padding_letter(chapter):
    hits = PIXEL_AS_LOWERCASE_P.findall(markdown(chapter))
    assert not hits, f"{chapter}: a pixel position written with p (the padding): {hits}"
    assert "(P, Q)" in markdown(chapter)


def test_the_convolution_chapter_crops_the_padding_without_a_second_pixel_letter():
    text = markdown("convolution")
    assert r"\partial E/\partial x_{P-p_h,\,Q-p_w} = \partial E/\partial x^{p}_{PQ}" in text
    assert r"\frac{\partial E}{\partial x_{n,c,\,P-p_h,\,Q-p_w}} = \frac{\partial E}{\partial x^{p}_{ncPQ}}" in text


# --------------------------------------------------------------------------- links and citations


def test_the_convolution_chapter_points_to_the_convolution_family_where_the_full_convolution_is_derived():
    derivation = section("convolution", "### The same sum as a full convolution with the rotated kernel")
    assert "[The convolution family](conv_family.ipynb)" in derivation
    assert "transposed convolution" in derivation and "[Dumoulin and Visin, 2016](references.md)" in derivation
    assert "A^\\top\\delta" in derivation


def test_the_convolution_chapter_ends_with_what_next():
    kind, src, meta = cells("convolution")[-1]
    assert kind == "markdown" and src.startswith("## What next") and "solution" not in meta.get("tags", [])
    assert "(conv_family.ipynb)" in src and "(cnn.ipynb)" in src


def test_dumoulin_and_visin_are_cited_where_output_sizes_are_derived():
    text = markdown("convolution")
    outsize = text[text.index("**Output size.**"):text.index("### The true convolution")]
    assert "[Dumoulin and Visin, 2016](references.md)" in outsize
    # the bibliography lists the work
    bib = (ROOT / "references.bib").read_text()
    assert "Dumoulin" in bib and "Visin" in bib


def test_the_pooling_chapter_points_to_the_convolution_family_and_the_training_lab():
    windows = section("pooling", "## Windows")
    assert "[The convolution family](conv_family.ipynb)" in windows
    for option in ("`padding`", "`ceil_mode`", "`count_include_pad`", "*global* average"):
        assert option in windows, option
    text = markdown("pooling")
    assert "[the training lab](training.ipynb)" in text and "pool size 2 and with pool size 4" in text


def test_the_convolution_chapter_sends_the_speed_question_to_the_training_lab():
    text = markdown("convolution")
    part = text[text.index("## Training a kernel through a pooling layer"):text.index("## Checked against")]
    assert "[the training lab](training.ipynb)" in part


def test_output_padding_r_h_gives_the_transposed_convolution_the_input_size():
    """(OH - 1) s - 2p + K + output_padding = H exactly when output_padding = (H + 2p - K) mod s."""
    for H, K, s, p in np.ndindex(10, 5, 4, 3):
        if min(H, K, s) < 1 or H + 2 * p < K:
            continue
        OH = conv.output_size(H, K, stride=s, pad=p)
        r = (H + 2 * p - K) % s
        assert [op for op in range(s) if (OH - 1) * s - 2 * p + K + op == H] == [r], (H, K, s, p)
