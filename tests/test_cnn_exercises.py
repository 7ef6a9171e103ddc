"""The CNN chapter's global-average-pooling exercise as the chapter states it: two functions,
``gap_forward(x) -> (y, cache)`` and ``gap_backward(dy, cache) -> dx``, written the way a reader
would write them (the class form is tested in test_exercises_cnn.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import model as M
from cnnbook.exercises import check_global_avg_pool


def gap_forward(x, slip=None):
    if slip == "forward sum":
        return x.sum(axis=(2, 3)), x.shape
    if slip == "forward axes":
        return x.mean(axis=(0, 2, 3)), x.shape
    return x.mean(axis=(2, 3)), x.shape


def gap_backward(dy, cache, slip=None):
    n, c, h, w = cache
    dx = np.empty(cache)
    for i in range(h):                       # a loop over the positions, as a reader might write it
        for j in range(w):
            dx[:, :, i, j] = dy / (h * w)
    if slip == "no division":
        return dx * (h * w)
    if slip == "batch":
        return dx / n
    if slip == "broadcast_to":
        return np.broadcast_to(dy / (h * w), cache).copy()
    if slip == "none":
        return None
    return dx


@pytest.mark.parametrize("fslip,bslip,key,text", [
    (None, None, None, None),
    (None, "no division", "no_division", "forgot to divide by H*W"),
    (None, "batch", "divided_by_batch", "divided by N*H*W"),
    (None, "broadcast_to", "wrong_axes", "broadcast to the wrong axes"),
    ("forward sum", None, "forward_sum", "sums instead of averaging"),
    ("forward axes", None, "forward_axes", "averages over the wrong axes"),
    (None, "none", "bad_return", "dx is None"),
])
def test_reader_functions(fslip, bslip, key, text):
    report = check_global_avg_pool(lambda x: gap_forward(x, fslip), lambda dy, c: gap_backward(dy, c, bslip))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis


def test_untouched_stubs_and_wrong_calls_are_reported_not_raised():
    def stub_forward(x):
        raise NotImplementedError

    def stub_backward(dy, cache):
        raise NotImplementedError

    assert check_global_avg_pool(stub_forward, stub_backward).status == "not attempted"
    r = check_global_avg_pool(gap_forward)                        # one function, not a class
    assert r.mistakes == ("exception",) and "pass the two functions" in r.diagnosis
    r = check_global_avg_pool(lambda x: x.mean(axis=(2, 3)), gap_backward)
    assert r.mistakes == ("exception",) and "(y, cache)" in r.diagnosis
    r = check_global_avg_pool(lambda x: (x.mean(axis=(2, 3)), None), stub_backward)
    assert r.status == "not attempted"                            # the backward is still the stub


def test_the_functions_make_a_layer_that_passes_the_whole_network_check():
    class GlobalAvgPool(M.Layer):
        def forward(self, x):
            y, self.cache = gap_forward(x)
            return y

        def backward(self, dy):
            return gap_backward(dy, self._need_cache())

    assert check_global_avg_pool(GlobalAvgPool).ok
    r = np.random.default_rng(5)
    net = M.Sequential([M.Conv2d(in_channels=1, out_channels=4, kernel=3, pad=1, rng=r), M.ReLU(),
                        GlobalAvgPool(), M.Dense(in_features=4, out_features=3, rng=r)])
    x = r.normal(size=(3, 1, 5, 6))
    errs = M.check_model_gradients(net, x, np.array([0, 2, 1]))
    assert max(errs.values()) < 1e-7, errs
