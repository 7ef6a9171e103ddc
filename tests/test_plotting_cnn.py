"""Views of the CNN chapter (cnnbook.plotting.cnn): right axes, right contents, errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnbook.plotting.cnn import (percent, plot_confusion_matrix, plot_edge_responses, plot_feature_maps,
                                  plot_kernels, plot_misclassified, plot_selection, plot_training_curves,
                                  tile_maps)


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


# --------------------------------------------------------------------------- training curves


def test_training_curves_draw_every_series_in_percent():
    hist = {"train_loss": [1.0, 0.5, 0.2], "test_loss": [1.1, 0.6, 0.3],
            "train_acc": [0.5, 0.8, 0.95], "test_acc": [0.4, 0.75, 0.9]}
    fig = plot_training_curves(hist)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "test"]
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), [40, 75, 90])
    np.testing.assert_array_equal(acc_ax.lines[0].get_xdata(), [1, 2, 3])
    assert loss_ax.get_yscale() == "log"


def test_training_curves_with_a_validation_set_keep_a_fixed_order_and_names():
    hist = {"val_acc": [0.5, 0.9], "val_loss": [1.0, 0.4], "train_loss": [1.2, 0.3]}
    loss_ax, acc_ax = plot_training_curves(hist).axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [50, 90])


def test_selection_marks_the_chosen_point():
    curves = {"η = 0.1": [1.0, 0.5, 0.6], "η = 0.3": [2.0, 2.3]}
    fig = plot_selection(curves, chosen=("η = 0.1", 2))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["η = 0.1", "η = 0.3", "chosen: η = 0.1, epoch 2"]
    assert ax.lines[-1].get_xdata()[0] == 2 and ax.lines[-1].get_ydata()[0] == 0.5
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="chosen label"):
        plot_selection(curves, chosen=("η = 1", 1))
    with pytest.raises(ValueError, match="chosen epoch"):
        plot_selection(curves, chosen=("η = 0.3", 3))
    with pytest.raises(ValueError, match="at least one"):
        plot_selection({}, chosen=("a", 1))


@pytest.mark.parametrize("hist, match", [
    ({"train_loss": [1.0], "test_acc": [0.5, 0.6]}, "one common length"),
    ({"train_loss": [1.0]}, "at least one loss and one accuracy"),
    ({"train_loss": [1.0], "dev_acc": [0.5]}, "unknown keys"),
    ({"train_loss": [], "test_acc": []}, "length >= 1"),
])
def test_training_curves_bad_input(hist, match):
    with pytest.raises(ValueError, match=match):
        plot_training_curves(hist)


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_writes_nonzero_counts_and_colours_diagonal_green():
    cm = np.array([[5, 0, 1], [0, 4, 0], [2, 0, 3]])
    fig = plot_confusion_matrix(cm, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts == {(0, 0): "5", (0, 2): "1", (1, 1): "4", (2, 0): "2", (2, 2): "3"}
    rgb = ax.images[0].get_array()
    assert rgb[1, 1, 1] > rgb[1, 1, 0]          # a correct cell is green
    assert rgb[2, 0, 0] > rgb[2, 0, 1]          # an error cell is red
    np.testing.assert_array_equal(rgb[0, 1], [1, 1, 1])   # a zero stays white
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


@pytest.mark.parametrize("cm, kw, match", [
    (np.zeros((2, 3), int), {}, "square"),
    (np.zeros((2, 2)), {}, "integer"),
    (np.zeros((2, 2), int), {"class_names": ["a"]}, "class_names"),
])
def test_confusion_matrix_bad_input(cm, kw, match):
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(cm, **kw)


# --------------------------------------------------------------------------- kernels and maps


def test_kernels_one_image_per_filter_on_a_symmetric_scale():
    w = np.random.default_rng(0).normal(size=(5, 2, 3, 3))
    fig = plot_kernels(w, channel=1, cols=4)
    axes = image_axes(fig)
    assert len(axes) == 5
    np.testing.assert_array_equal(axes[3].images[0].get_array(), w[3, 1])
    vmin, vmax = axes[0].images[0].get_clim()
    assert vmin == -vmax == -np.abs(w[:, 1]).max()
    with pytest.raises(ValueError, match="channel"):
        plot_kernels(w, channel=2)
    with pytest.raises(ValueError, match="4-D"):
        plot_kernels(w[0])


def test_tile_maps_places_each_map_in_its_block():
    maps = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    mosaic = tile_maps(maps, cols=2)
    assert mosaic.shape == (3 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_array_equal(mosaic[0:2, 4:7], maps[1])
    np.testing.assert_array_equal(mosaic[6:8, 0:3], maps[4])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[6:8, 4:7]).all()   # gap row, unused block
    with pytest.raises(ValueError, match="maps"):
        tile_maps(maps[0])


def test_feature_maps_input_maps_and_probabilities():
    image = np.arange(64.0).reshape(8, 8)
    maps = np.random.default_rng(1).normal(size=(6, 4, 4))
    probs = np.array([0.1, 0.7, 0.2])
    fig = plot_feature_maps(image, maps, probs=probs, label=2, cols=3)
    axes = image_axes(fig)
    assert len(axes) == 2
    np.testing.assert_array_equal(axes[0].images[0].get_array(), image)
    shown = axes[1].images[0].get_array()
    np.testing.assert_array_equal(shown.filled(np.nan), tile_maps(maps, cols=3))
    assert axes[1].images[0].get_clim() == (-np.abs(maps).max(), np.abs(maps).max())
    bar_ax = [ax for ax in fig.axes if ax.patches][0]
    np.testing.assert_allclose([p.get_width() for p in bar_ax.containers[0]], probs)
    assert "prediction 1" in bar_ax.get_title()
    assert len(plot_feature_maps(image, maps).axes) == 2  # no probabilities: no bar axes
    with pytest.raises(ValueError, match="maps"):
        plot_feature_maps(image, maps[0])
    with pytest.raises(ValueError, match="image"):
        plot_feature_maps(image[0], maps)


def _row_ink(fig, ax, rows):
    """Fraction of non-white pixels in each class row of the bar axes, as drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    height = rgb.shape[0]
    x0, x1 = ax.get_window_extent().intervalx
    ink = []
    for k in rows:
        (_, ya), (_, yb) = ax.transData.transform([(0, k - 0.3), (0, k + 0.3)])
        top, bottom = sorted((height - ya, height - yb))
        block = rgb[int(top) + 1:int(bottom), int(x0) + 3:int(x1) - 3]
        ink.append(float(np.mean(np.any(block < 235, axis=-1))))
    return ink


@pytest.mark.parametrize("label", [7, 1])
def test_feature_maps_mark_the_true_class_visibly_even_at_probability_zero(label):
    """A misclassified digit: the true class has probability ~0, so its bar has width ~0.
    The mark must still show: its row is shaded and framed, its tick label is bold green,
    and 'true' with the probability is written there."""
    probs = np.full(10, 1e-6)
    probs[1] = 0.98
    probs[4] = 0.02 - 8e-6
    maps = np.random.default_rng(2).normal(size=(4, 2, 2))
    fig = plot_feature_maps(np.zeros((8, 8)), maps, probs=probs, label=label)
    bar_ax = [ax for ax in fig.axes if ax.containers][0]
    ink = dict(zip(range(10), _row_ink(fig, bar_ax, range(10))))
    empty = [k for k in range(10) if k not in (1, 4, label)]     # tiny bars, not the true class
    assert max(ink[k] for k in empty) < 0.05, ink
    assert ink[label] > 0.5, ink                                 # most of the row is marked
    tick = bar_ax.get_yticklabels()[label]
    assert tick.get_fontweight() == "bold" and tick.get_color() != bar_ax.get_yticklabels()[0].get_color()
    notes = [t.get_text() for t in bar_ax.texts]
    assert notes == [f"true {'98%' if label == 1 else '< 0.01%'}"]
    others = [k for k in range(10) if k != label]
    assert all(bar_ax.get_yticklabels()[k].get_fontweight() != "bold" for k in others)


def test_feature_maps_without_label_mark_no_true_class():
    probs = np.array([0.2, 0.8])
    fig = plot_feature_maps(np.zeros((4, 4)), np.ones((1, 2, 2)), probs=probs)
    bar_ax = [ax for ax in fig.axes if ax.containers][0]
    assert not bar_ax.texts and len(bar_ax.patches) == 2


def test_percent_never_rounds_a_small_probability_to_zero():
    assert [percent(p) for p in (1.0, 0.9812, 0.0123, 0.00023, 0.0001, 1e-7, 0.0)] == \
        ["100%", "98%", "1.2%", "0.023%", "0.01%", "< 0.01%", "< 0.01%"]


# --------------------------------------------------------------------------- misclassified, edges


def test_misclassified_gallery_titles_and_top_probabilities():
    images = np.random.default_rng(0).random((3, 8, 8))
    labels, preds = np.array([5, 9, 0]), np.array([9, 3, 4])
    probs = np.full((3, 10), 0.001)
    probs[0, [9, 5, 3]] = [0.8, 0.15, 0.04]
    probs[1, [3, 9]] = [0.6, 0.39]
    probs[2, [4, 0]] = [0.5, 0.49]
    fig = plot_misclassified(images, labels, preds, probs, names=["#1", "#2", "#3"], cols=2, top=3)
    axes = image_axes(fig)
    assert len(axes) == 3
    assert axes[0].get_title() == "#1\ntrue 5 → 9"
    texts = [t.get_text() for t in axes[0].texts]
    assert texts == ["9: 80%", "5: 15%", "3: 4%"]
    colours = {t.get_text(): t.get_color() for t in axes[0].texts}
    assert colours["5: 15%"] != colours["9: 80%"] != colours["3: 4%"]
    np.testing.assert_array_equal(axes[2].images[0].get_array(), images[2])
    assert sum(1 for ax in fig.axes if not ax.axison) == 1        # one unused panel in the 2 x 2 grid


@pytest.mark.parametrize("args, match", [
    ((np.zeros((2, 8)), [1, 2], [2, 1], np.zeros((2, 3))), "3-D"),
    ((np.zeros((2, 8, 8)), [1], [2, 1], np.zeros((2, 3))), "labels and preds"),
    ((np.zeros((2, 8, 8)), [1, 2], [2, 1], np.zeros(3)), "probs"),
])
def test_misclassified_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        plot_misclassified(*args)


def test_edge_responses_one_panel_per_set_on_one_scale():
    r = np.random.default_rng(1)
    responses = {"before": r.normal(size=(4, 8)), "after": 3 * r.normal(size=(4, 8))}
    angles = np.arange(0, 360, 45)
    edges = r.random((8, 3, 3))
    fig = plot_edge_responses(responses, angles, edges=edges)
    heat = [ax for ax in fig.axes if ax.images and ax.images[0].get_array().shape == (4, 8)]
    assert [ax.get_title() for ax in heat] == ["before", "after"]
    vmax = max(np.abs(v).max() for v in responses.values())
    assert all(ax.images[0].get_clim() == (-vmax, vmax) for ax in heat)
    strip = [ax for ax in fig.axes if ax.images and ax.images[0].get_array().shape == (3, 3)]
    assert len(strip) == 8 and strip[1].get_title() == "45°"
    assert len([ax for ax in plot_edge_responses(responses, angles).axes if ax.images]) == 2
    with pytest.raises(ValueError, match="shape"):
        plot_edge_responses({"a": np.zeros((4, 7))}, angles)
    with pytest.raises(ValueError, match="edges"):
        plot_edge_responses(responses, angles, edges=edges[:3])
