"""Tests of cnnbook.exercises: every checker passes the right answer, names every
mistake of its catalogue, names the mistakes readers make (written here by hand,
the way a reader would write them), and reports -- never raises -- a reader's
exception, None, wrong tuple, wrong shape or NaN."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import activations, conv, fc, losses, pooling
from cnnbook import softmax as sm
from cnnbook.exercises import (CHECKERS, Case, Checker, ExerciseError, Mutant, Report,
                               check_avgpool_backward, check_bce_with_logit, check_column_fc_backward,
                               check_conv2d_backward, check_conv_input_grad, check_conv_kernel_grad,
                               check_conv_kernel_grad_2d, check_fc_backward, check_five_point,
                               check_label_smoothing, check_largest_stable_lr, check_leaky_relu,
                               check_log_softmax_jacobian, check_maxpool_backward, check_mlp2_backward,
                               check_mse_grad_flat_targets, check_mse_sum, check_sigmoid_backward,
                               check_softmax_backward, check_softmax_mse_grad, check_tanh_grad_via_sigmoid,
                               check_tanh_neuron, check_window_sums)

SINGLE = {name: ch for name, ch in CHECKERS.items() if isinstance(ch, Checker) and ch.compose is None}
BY_CASES = {name: ch for name, ch in CHECKERS.items() if isinstance(ch, Checker)}  # not PropertyCheckers


# --------------------------------------------------------------------------- the catalogue


def test_every_checker_is_listed():
    assert len(CHECKERS) == 33   # 28, check_dw_typos, three of the convolution family, one of the training lab
    assert all(ch.mutants for ch in BY_CASES.values())


@pytest.mark.parametrize("name", sorted(BY_CASES))
def test_cases_are_ordered_smallest_first(name):
    sizes = [case.size for case in BY_CASES[name].cases]
    assert sizes == sorted(sizes), sizes
    assert len(sizes) >= 2


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_reference_passes(name):
    report = SINGLE[name](SINGLE[name].reference)
    assert report.ok and report.mistakes == () and report.case is None
    assert report.passed == report.total == len(SINGLE[name].cases)
    assert "correct" in str(report)


@pytest.mark.parametrize("name,key", [(n, m.key) for n, ch in sorted(SINGLE.items()) for m in ch.mutants])
def test_every_mutant_is_named(name, key):
    checker = SINGLE[name]
    report = checker(checker.mutant(key).fn)
    assert not report.ok
    assert key in report.mistakes, (report.mistakes, str(report))
    assert checker.mutant(key).diagnosis in report.diagnosis
    # the failing case is reported with the outputs that are wrong
    assert report.case["expected"] and set(report.case["expected"]) == set(report.case["got"])


def test_mutant_keys_are_unique_and_lookup_fails_clearly():
    with pytest.raises(ValueError, match="unique"):
        Checker("t", lambda x: x, [Case("c", (np.ones(1),))],
                [Mutant("a", "A", lambda x: x), Mutant("a", "B", lambda x: x)])
    with pytest.raises(KeyError, match="no mutant 'nope'"):
        check_mse_sum.mutant("nope")


# --------------------------------------------------------------------------- reader-written mistakes
# Each function below is written the way a reader would write it, independently of
# the mutants, and must get the diagnosis of the listed mistake.


def conv_backward_loops(dy, cache, *, flip_dw=False, overwrite=False, db_axes=(0, 2, 3), crop=True,
                        dw_divide_by_n=False):
    x, w, (sh, sw), (ph, pw) = cache.x, cache.w, cache.stride, cache.pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    F, C, KH, KW = w.shape
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(dy.shape[0]):
        for f in range(F):
            for i in range(dy.shape[2]):
                for j in range(dy.shape[3]):
                    for c in range(C):
                        for a in range(KH):
                            for b in range(KW):
                                if overwrite:
                                    dxp[n, c, i * sh + a, j * sw + b] = dy[n, f, i, j] * w[f, c, a, b]
                                else:
                                    dxp[n, c, i * sh + a, j * sw + b] += dy[n, f, i, j] * w[f, c, a, b]
                                dw[f, c, a, b] += dy[n, f, i, j] * xp[n, c, i * sh + a, j * sw + b]
    if flip_dw:
        dw = np.flip(dw, axis=(2, 3))
    if dw_divide_by_n:
        dw = dw / dy.shape[0]
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] if crop else dxp
    return dx, dw, dy.sum(axis=db_axes)


def test_conv_layer_right_answer_written_with_loops():
    assert check_conv2d_backward(conv_backward_loops).ok


@pytest.mark.parametrize("kwargs,key,text", [
    (dict(flip_dw=True), "dw_flipped", "flipped"),
    (dict(overwrite=True), "dx_overwrite", "'=' instead of '+='"),
    (dict(db_axes=(0,)), "db_positions", "not summed over the output positions"),
    (dict(db_axes=(2, 3)), "db_batch", "not summed over the batch"),
    (dict(crop=False), "dx_not_cropped", "padding was not cropped"),
    (dict(dw_divide_by_n=True), "dw_extra_1_over_n", "extra 1/N"),
])
def test_conv_layer_mistakes(kwargs, key, text):
    report = check_conv2d_backward(lambda dy, cache: conv_backward_loops(dy, cache, **kwargs))
    assert not report.ok and report.mistakes == (key,), str(report)
    assert text in report.diagnosis


def test_conv_layer_two_mistakes_at_once_are_both_named():
    report = check_conv2d_backward(lambda dy, cache: conv_backward_loops(dy, cache, flip_dw=True,
                                                                          db_axes=(2, 3)))
    assert set(report.mistakes) == {"dw_flipped", "db_batch"}
    assert "dw: " in report.diagnosis and "db: " in report.diagnosis


def recipe(delta, w, stride, pad, input_shape, *, rotate=True, dilate=True, crop=True, twice=False):
    (sh, sw), (ph, pw), (H, W) = stride, pad, input_shape
    KH, KW = w.shape
    d = conv.dilate(delta, stride) if dilate else delta
    if twice:   # rot180 and then a true convolution, which flips again
        full = conv.convolve2d(d, conv.rot180(w), pad=(KH - 1, KW - 1))
    else:
        full = conv.correlate2d(d, conv.rot180(w) if rotate else w, pad=(KH - 1, KW - 1))
    dxp = np.zeros((H + 2 * ph, W + 2 * pw))
    dxp[:full.shape[0], :full.shape[1]] = full
    return dxp[ph:ph + H, pw:pw + W] if crop else dxp


@pytest.mark.parametrize("kwargs,key,text", [
    (dict(), None, None),
    (dict(rotate=False), "dx_flip", "flipped"),
    (dict(twice=True), "dx_flip", "two rotations"),
    (dict(dilate=False), "dx_no_dilation", "not dilated"),
    (dict(crop=False), "dx_not_cropped", "padding was not cropped"),
])
def test_conv_input_grad_recipe_mistakes(kwargs, key, text):
    report = check_conv_input_grad(lambda *args: recipe(*args, **kwargs))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis


def kernel_grad_einsum(x, delta, kernel_shape, stride, pad, *, flip=False, mean=False):
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, kernel_shape, axis=(2, 3))[:, :, ::sh, ::sw]
    dw = np.einsum("nfij,ncijab->fcab", delta, win)
    if flip:
        dw = dw[:, :, ::-1, ::-1]
    return dw / len(x) if mean else dw


def test_conv_kernel_grad_mistakes():
    assert check_conv_kernel_grad(kernel_grad_einsum).ok
    assert check_conv_kernel_grad(lambda *a: kernel_grad_einsum(*a, flip=True)).mistakes == ("dw_flipped",)
    assert check_conv_kernel_grad(lambda *a: kernel_grad_einsum(*a, mean=True)).mistakes == ("dw_extra_1_over_n",)
    # forgot the stride: windows at i + a instead of i*s + a
    def no_stride(x, delta, kernel_shape, stride, pad):
        return kernel_grad_einsum(x, delta, kernel_shape, (1, 1), pad)[..., :] if stride == (1, 1) else \
            np.einsum("nfij,ncijab->fcab", delta,
                      np.lib.stride_tricks.sliding_window_view(
                          np.pad(x, ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2)), kernel_shape, axis=(2, 3)
                      )[:, :, :delta.shape[2], :delta.shape[3]])
    assert check_conv_kernel_grad(no_stride).mistakes == ("dw_no_dilation",)


def test_conv_kernel_grad_2d_classmate():
    def classmate(x, delta, kernel_shape, stride, pad):   # "the kernel is rotated in backprop"
        KH, KW = kernel_shape
        full = conv.correlate2d(np.pad(x, [(pad[0],) * 2, (pad[1],) * 2]), conv.dilate(delta, stride))
        return full[:KH, :KW][::-1, ::-1]
    report = check_conv_kernel_grad_2d(classmate)
    assert report.mistakes == ("dw_flipped",) and report.passed == 0
    assert "nothing to flip" in report.diagnosis


def maxpool_loops(dy, x, size, stride, *, ge=False, assign=False, every=False):
    (KH, KW), (sh, sw) = size, stride
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dy.shape):
        best, pos = -np.inf, None
        for a in range(KH):
            for b in range(KW):
                v = x[n, c, i * sh + a, j * sw + b]
                if v > best or (ge and v == best):
                    best, pos = v, (a, b)
        for a in range(KH):
            for b in range(KW):
                hit = x[n, c, i * sh + a, j * sw + b] == best if every else (a, b) == pos
                if hit:
                    if assign:
                        dx[n, c, i * sh + a, j * sw + b] = dy[n, c, i, j]
                    else:
                        dx[n, c, i * sh + a, j * sw + b] += dy[n, c, i, j]
    return dx


@pytest.mark.parametrize("kwargs,key,text", [
    (dict(), None, None),
    (dict(every=True), "every_tie", "every tied maximum"),
    (dict(ge=True), "last_tie", "wrong tied maximum"),
    (dict(assign=True), "overwrite", "'=' instead of '+='"),
])
def test_maxpool_mistakes(kwargs, key, text):
    report = check_maxpool_backward(lambda *args: maxpool_loops(*args, **kwargs))
    if key is None:
        assert report.ok, str(report)
    else:
        assert report.mistakes == (key,), str(report)
        assert text in report.diagnosis


def test_avgpool_and_window_sums_reader_versions():
    def avg(dy, x_shape, size, stride, area=None):
        (KH, KW), (sh, sw) = size, stride
        dx = np.zeros(x_shape)
        for n, c, i, j in np.ndindex(dy.shape):
            dx[n, c, i * sh:i * sh + KH, j * sw:j * sw + KW] += dy[n, c, i, j] / (area or KH * KW)
        return dx
    assert check_avgpool_backward(avg).ok
    assert check_avgpool_backward(lambda dy, s, size, st: avg(dy, s, size, st, area=size[0] ** 2)).mistakes \
        == ("area_square",)
    assert check_window_sums(lambda dx, size: dx.reshape(dx.shape[0], dx.shape[1], dx.shape[2] // size[0],
                                                         size[0], -1, size[1]).sum(axis=(3, 5))).ok
    assert check_window_sums(lambda dx, size: dx.reshape(*dx.shape[:2], dx.shape[2] // size[0], -1, *size)
                             .sum(axis=(4, 5))).mistakes == ("wrong_reshape",)


def test_loss_reduction_mistakes():
    # extra 1/N: the mean where the sum is asked for
    def mse_sum_mean(y, t):
        return 0.5 * np.mean(np.sum((y - t) ** 2, axis=1)), (y - t) / len(y)
    assert check_mse_sum(mse_sum_mean).mistakes == ("extra_1_over_n",)
    assert "extra 1/N" in check_mse_sum(mse_sum_mean).diagnosis
    # missing 1/N
    report = check_mse_grad_flat_targets(lambda y, t: y - t.reshape(-1, 1))
    assert report.mistakes == ("missing_1_over_n",) and "missing 1/N" in report.diagnosis
    assert report.passed == 1          # N = 1 cannot tell
    # missing 1/N in a whole network
    def mlp_no_mean(X, T, W1, b1, W2, b2):
        a1 = np.tanh(X @ W1 + b1)
        d2 = a1 @ W2 + b2 - T
        d1 = d2 @ W2.T * (1 - a1**2)
        return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}
    report = check_mlp2_backward(mlp_no_mean)
    assert report.mistakes == ("missing_1_over_n",)
    assert report.diagnosis.startswith("W1, b1, W2, b2: missing 1/N")


def test_shape_errors_hidden_by_broadcasting():
    report = check_mse_grad_flat_targets(lambda y, t: (y - t) / len(y))
    assert report.mistakes == ("broadcast",) and "hidden by broadcasting" in report.diagnosis
    assert report.case["got"]["dy"].shape == (2, 2)
    report = check_softmax_backward(lambda dy, y: y * (dy - (dy * y).sum(axis=1)))
    assert report.mistakes == ("no_keepdims",) and "keepdims=True" in report.diagnosis


def test_softmax_diagonal_only():
    report = check_softmax_backward(lambda dy, y: dy * y * (1 - y))
    assert report.mistakes == ("diagonal_only",) and "diagonal of the Jacobian" in report.diagnosis
    assert check_softmax_backward(lambda dy, y: y * (dy - np.sum(dy * y, axis=1, keepdims=True))).ok
    def loops(dy, y):       # dy @ J, row by row
        return np.array([g @ (np.diag(p) - np.outer(p, p)) for g, p in zip(dy, y)]) if y.shape[1] < 100 \
            else y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    assert check_softmax_backward(loops).ok
    # through MSE too
    assert check_softmax_mse_grad(lambda z, t: (sm.softmax(z, axis=1) - t) / len(z)).mistakes == ("collapsed",)


def test_transposed_weight_matrix():
    def fc_dx_untransposed(dy, cache):
        return dy @ cache.w, cache.x.T @ dy, dy.sum(axis=0)
    report = check_fc_backward(fc_dx_untransposed)
    assert report.mistakes == ("w_untransposed",) and "untransposed" in report.diagnosis
    assert report.case["label"].startswith("N=3, D=M=2")
    # dW^T in the column convention
    report = check_column_fc_backward(lambda d, X, W: (W.T @ d, X @ d.T, d.sum(axis=1)))
    assert report.mistakes == ("dw_transposed",)
    assert check_column_fc_backward(lambda d, X, W: (W.T @ d, d @ X.T, d.sum(axis=1))).ok
    # the untransposed matrix in the MLP: only the square case runs at all
    def mlp(X, T, W1, b1, W2, b2):
        a1 = np.tanh(X @ W1 + b1)
        d2 = (a1 @ W2 + b2 - T) / len(X)
        d1 = d2 @ W2 * (1 - a1**2)
        return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}
    assert check_mlp2_backward(mlp).mistakes == ("w_untransposed",)


def test_sigmoid_of_the_output():
    def wrong(dy, cache):
        s = 1 / (1 + np.exp(-cache.y))
        return dy * s * (1 - s)
    report = check_sigmoid_backward(wrong)
    assert report.mistakes == ("sigmoid_of_output",) and "sigma(sigma(x))" in report.diagnosis
    assert check_sigmoid_backward(lambda dy, cache: dy * cache.y * (1 - cache.y)).ok
    assert check_tanh_neuron(lambda x, w, b, t: (lambda y: ((y - t) * (1 - np.tanh(y) ** 2) * x,
                                                            (y - t) * (1 - np.tanh(y) ** 2)))(
        np.tanh(x @ w + b))).mistakes == ("tanh_on_output",)


def test_composed_checkers():
    def fwd(x, alpha=0.01):
        return np.where(x > 0, x, alpha * x), (x, alpha)

    def bwd(dy, cache):
        x, alpha = cache
        return dy * np.where(x > 0, 1.0, alpha)

    def bwd_relu(dy, cache):
        return dy * (cache[0] > 0)

    assert check_leaky_relu(fwd, bwd).ok
    assert check_leaky_relu(fwd, bwd_relu).mistakes == ("backward_relu",)
    assert check_leaky_relu(lambda x, alpha: (np.maximum(x, 0), (x, alpha)), bwd).mistakes == ("forward_relu",)
    assert check_leaky_relu(lambda x, alpha: np.maximum(x, 0), bwd).mistakes == ("exception",)

    def smooth(labels, K, eps):
        t = np.full((len(labels), K), eps / K)
        t[np.arange(len(labels)), labels] += 1 - eps
        return t
    assert check_label_smoothing(smooth, np.log).ok
    assert check_label_smoothing(smooth, lambda t: np.log(t) + 3.0).ok       # any constant shift
    assert check_label_smoothing(smooth, lambda t: t).mistakes == ("zstar_is_t",)
    assert check_label_smoothing(lambda l, K, e: np.eye(K)[l] + e / K, np.log).mistakes == ("no_subtract",)


def test_the_rest_of_the_catalogue_by_hand():
    assert check_five_point(lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h)).mistakes == ("central",)
    assert check_largest_stable_lr(lambda x: 1 / np.dot(x, x)).mistakes == ("one_step_rate",)
    assert check_largest_stable_lr(lambda x: 2 / np.dot(x, x)).ok
    assert check_tanh_grad_via_sigmoid(lambda x: 2 * activations.sigmoid(2 * x) * (1 - activations.sigmoid(2 * x))
                                       ).mistakes == ("missing_inner_2",)
    assert check_log_softmax_jacobian(lambda z: np.eye(len(z)) - sm.softmax(z)).ok
    assert check_log_softmax_jacobian(sm.softmax_jacobian).mistakes == ("forgot_log",)
    # an unstable BCE is reported with the warning it raised
    def naive(z, t):
        y = 1 / (1 + np.exp(-z))
        return -t * np.log(y) - (1 - t) * np.log(1 - y), y - t
    report = check_bce_with_logit(naive)
    assert report.mistakes == ("exception",) and "RuntimeWarning" in report.diagnosis
    assert "not stable" in report.diagnosis and report.passed == 2


# --------------------------------------------------------------------------- never crash


def test_exception_is_reported_not_raised():
    def broken(dy, cache):
        raise ValueError("my bad")
    report = check_conv2d_backward(broken)
    assert not report.ok and report.mistakes == ("exception",)
    assert report.diagnosis == "your function raised ValueError: my bad"
    assert report.case["label"].startswith("N=2, C=1, F=1")


def test_bad_returns_are_reported():
    assert "returned None" in check_softmax_backward(lambda dy, y: None).diagnosis
    r = check_conv2d_backward(lambda dy, cache: (dy, dy))
    assert r.mistakes == ("bad_return",) and "tuple of 2 values, expected 3 (dx, dw, db)" in r.diagnosis
    r = check_conv2d_backward(lambda dy, cache: dy)
    assert "single ndarray, expected a tuple of 3" in r.diagnosis
    r = check_softmax_backward(lambda dy, y: (dy, y))
    assert "tuple of 2 values, expected one array" in r.diagnosis
    r = check_mlp2_backward(lambda *a: {"W1": 0})
    assert "without the key(s) ['b1', 'W2', 'b2']" in r.diagnosis
    r = check_softmax_backward(lambda dy, y: "dz")
    assert "not an array of real numbers" in r.diagnosis
    r = check_fc_backward(lambda dy, cache: (None, None, None))
    assert "dx is None" in r.diagnosis


def test_wrong_shape_is_reported_with_transpose_hint():
    r = check_column_fc_backward(lambda d, X, W: ((W.T @ d).T, d @ X.T, d.sum(axis=1)))
    assert r.mistakes == ("shape",)
    assert r.diagnosis == "dX: returned shape (3, 2), expected (2, 3) (the transpose of the expected shape)"
    r = check_softmax_backward(lambda dy, y: dy[:, :1])
    assert "returned shape (2, 1), expected (2, 2)" in r.diagnosis


def test_nan_and_unknown_wrong_values():
    r = check_softmax_backward(lambda dy, y: np.full(dy.shape, np.nan))
    assert r.mistakes == ("nan",) and "contains nan at index (0, 0)" in r.diagnosis
    r = check_softmax_backward(lambda dy, y: sm.softmax_backward(dy, sm.SoftmaxCache(y)) + 0.125)
    assert r.mistakes == ("values",) and "none of the mistakes the checker knows" in r.diagnosis
    assert r.case["got"]["dz"].shape == (2, 2)


def test_reader_cannot_change_the_cases():
    def vandal(dy, y):
        out = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
        dy[...] = 0
        y[...] = 0
        return out
    assert check_softmax_backward(vandal).ok
    assert check_softmax_backward(vandal).ok          # still the same cases


def test_report_display_and_raise():
    wrong = check_maxpool_backward(lambda *a: maxpool_loops(*a, every=True))
    text = str(wrong)
    assert text.startswith("max-pool backward: WRONG (passed 0 of 4 cases)")
    assert "Smallest failing case: 2x4 input" in text and "expected dx" in text and "got dx" in text
    assert "x (1, 1, 2, 4) =" in text
    html = wrong._repr_html_()
    assert "cnnbook-report" in html and "every tied maximum" in html and "<pre" in html
    with pytest.raises(ExerciseError, match="every tied maximum"):
        wrong.raise_if_wrong()
    assert not wrong
    right = check_maxpool_backward(maxpool_loops)
    assert right and right.raise_if_wrong() is right
    assert "correct" in right._repr_html_() and "<pre" not in right._repr_html_()
    # a cache is shown field by field
    text = str(check_sigmoid_backward(lambda dy, cache: dy))
    assert "cache.y" in text
    assert isinstance(right, Report)
