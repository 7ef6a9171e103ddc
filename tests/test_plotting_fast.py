"""Views of the fast-code chapter (cnnbook.plotting.fast): which pixel each im2col entry copies,
the highlighted window and column, the memory line, the timing bars."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnbook import conv
from cnnbook.plotting import HIGHLIGHT, HIGHLIGHT_2
from cnnbook.plotting.fast import im2col_labels, im2col_layout_html, plot_timings

# --------------------------------------------------------------------------- im2col views


def test_im2col_labels_match_cnnbook_im2col():
    xp_names, cols_names = im2col_labels(2, 4, 5, (2, 3), stride=(2, 1), pad=1)
    # put distinct numbers in x, run cnnbook's im2col, and look every name up
    x = np.arange(2 * 4 * 5, dtype=float).reshape(1, 2, 4, 5) + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = conv.im2col(xp, (2, 3), (2, 1))[0]
    assert cols.shape == cols_names.shape
    for (r, k), name in np.ndenumerate(cols_names):
        if name == "0":
            assert cols[r, k] == 0
        else:
            c, row, col = int(name[1]), int(name[2]), int(name[3])      # "x" + channel + row + column
            assert name[0] == "x" and cols[r, k] == x[0, c, row, col]
    assert xp_names.shape == (2, 6, 7) and xp_names[1, 1, 1] == "x100"


def test_im2col_layout_highlights_the_window_and_its_column():
    html = im2col_layout_html(1, 3, 3, 2, stride=1, pad=0, position=(1, 0), batch=10, itemsize=4)
    tables = re.findall(r"<table.*?</table>", html, flags=re.S)
    assert len(tables) == 2
    cells = lambda t: re.findall(r'<td style="([^"]*)">([^<]*)</td>', t)
    win = [v for s, v in cells(tables[0]) if f"background:{HIGHLIGHT}" in s]
    assert win == ["x010", "x011", "x020", "x021"]
    rows = re.findall(r"<tr>(.*?)</tr>", tables[1])
    column = [cells(r)[2] for r in rows]                   # output (1, 0) is column 2
    assert [v for _, v in column] == ["x010", "x011", "x020", "x021"]
    assert all(f"background:{HIGHLIGHT}" in s for s, _ in column)
    # memory: 9 numbers in x, 4*4 = 16 in the matrix; a batch of 10 float32
    assert "= 16 (1.78&times; x)" in html and "x 360 B" in html and "matrix 640 B" in html
    padded = im2col_layout_html(1, 3, 3, 2, pad=1)
    assert f"background:{HIGHLIGHT_2}" in padded
    with pytest.raises(ValueError, match="position"):
        im2col_layout_html(1, 3, 3, 2, position=(2, 0))
    with pytest.raises(ValueError, match="kernel"):
        im2col_layout_html(1, 3, 3, 4)


def test_timings_bars_and_ratios():
    fig = plot_timings(["loops", "im2col", "torch"], [1.0, 0.01, 0.002], reference="loops")
    ax = fig.axes[0]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [1000, 10, 2])
    labels = [t.get_text() for t in ax.texts]
    assert "100x faster" in labels[1] and "500x faster" in labels[2]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="reference"):
        plot_timings(["a"], [1.0], reference="b")
    with pytest.raises(ValueError, match="> 0"):
        plot_timings(["a"], [0.0])


# --------------------------------------------------------------------------- GFLOP/s and profile


def test_gflops_bars_peaks_and_missing_rungs():
    from cnnbook.plotting.fast import plot_gflops

    fig = plot_gflops(["loops", "im2col", "torch"], {"float32": [0.001, 20.0, None], "float64": [0.001, 8.0, 30.0]},
                      {"float32": 40.0, "float64": 20.0}, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    np.testing.assert_allclose(sorted(p.get_width() for p in ax.patches), [0.001, 0.001, 8.0, 20.0, 30.0])
    texts = [t.get_text() for t in ax.texts]
    assert any("20 (50% of peak)" in t for t in texts) and any("30 (150% of peak)" in t for t in texts)
    assert any("0.001 (0.005% of peak)" in t for t in texts)
    assert any("float32: not measured" in t for t in texts)
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [20.0, 40.0]       # the two peaks
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "float32", "float64", "np.matmul peak, float32: 40 GFLOP/s", "np.matmul peak, float64: 20 GFLOP/s"]
    with pytest.raises(ValueError, match="one value per rung"):
        plot_gflops(["a", "b"], {"f": [1.0]}, {"f": 1.0})
    with pytest.raises(ValueError, match="peaks"):
        plot_gflops(["a"], {"f": [1.0]}, {})
    with pytest.raises(ValueError, match="> 0"):
        plot_gflops(["a"], {"f": [0.0]}, {"f": 1.0})


def test_profile_bars_colours_and_shares():
    from cnnbook.plotting.fast import plot_profile

    parts = ["forward 0 Conv2d", "loss", "backward 0 Conv2d", "update"]
    fig = plot_profile(parts, {"float64": [0.001, 0.0005, 0.003, 0.0005], "float32": [0.001, 0.001, 0.001, 0.001]})
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [1.0, 0.5, 3.0, 0.5, 1.0, 1.0, 1.0, 1.0])       # ms, float64 then float32
    colours = [p.get_facecolor() for p in ax.patches[:4]]
    assert colours[0] != colours[2] and colours[1] != colours[3]                       # forward, backward, ...
    texts = [t.get_text() for t in ax.texts]
    assert " 3 ms (60%, float64)" in texts and " 1 ms (25%, float32)" in texts
    assert [t.get_text() for t in ax.get_yticklabels()] == parts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["forward", "loss", "backward", "update", "float64", "float32"]
    with pytest.raises(ValueError, match="one time > 0 per part"):
        plot_profile(parts, {"f": [1.0, 2.0]})
