"""cnnbook.training: the lab's network and loop, the planted slips (with loop references), the
learning-rate bound and the curvature it is evaluated with, and the reader's pooling experiment."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import model as M
from cnnbook import conv, pooling, training
from cnnbook.gradcheck import numerical_gradient
from cnnbook.losses import softmax_cross_entropy


def digits_net(seed):
    """The CNN chapter's network, written out as the chapter writes it."""
    r = np.random.default_rng(seed)
    return M.Sequential([
        M.Conv2d(in_channels=1, out_channels=16, kernel=3, pad=1, rng=r), M.ReLU(), M.MaxPool2d(size=2),
        M.Conv2d(in_channels=16, out_channels=32, kernel=3, pad=1, rng=r), M.ReLU(), M.MaxPool2d(size=2),
        M.Flatten(), M.Dense(in_features=128, out_features=10, rng=r)])


def images(n=12, seed=0):
    r = np.random.default_rng(seed)
    return r.integers(0, 17, size=(n, 1, 8, 8)) / 16.0, r.integers(0, 10, size=n)


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize("seed", [0, 3])
def test_baseline_is_the_cnn_chapters_network(seed):
    ours, theirs = training.lab_net(seed=seed), digits_net(seed)
    assert list(ours.params()) == list(theirs.params())
    for k, p in theirs.params().items():
        np.testing.assert_array_equal(ours.params()[k], p)
    x, _ = images()
    np.testing.assert_array_equal(ours.forward(x), theirs.forward(x))


def test_init_options_change_only_the_scale_or_zero_the_weights():
    he, normal, zeros = (training.lab_net(seed=1, init=i) for i in ("he", "normal", "zeros"))
    for k, fan_in in (("0.w", 9), ("3.w", 144), ("7.w", 128)):
        np.testing.assert_allclose(normal.params()[k], he.params()[k] / np.sqrt(2 / fan_in))
        assert np.all(zeros.params()[k] == 0)
    # N(0, 1): the sample standard deviation of the big layers is about 1
    assert abs(normal.params()["3.w"].std() - 1) < 0.05
    assert all(np.all(net.params()[k] == 0) for net in (he, normal, zeros) for k in ("0.b", "3.b", "7.b"))


@pytest.mark.parametrize("options, dense_in, pool_type", [
    ({}, 128, M.MaxPool2d), ({"pool_size": 4}, 32, M.MaxPool2d), ({"pool": "avg"}, 128, M.AvgPool2d),
    ({"pool": "avg", "pool_size": 4}, 32, M.AvgPool2d), ({"tie_slip": True}, 128, training.MaxPoolAllTies),
])
def test_pooling_options(options, dense_in, pool_type):
    net = training.lab_net(**options)
    assert net.params()["7.w"].shape == (dense_in, 10)
    assert type(net.layers[2]) is pool_type and type(net.layers[5]) is pool_type
    assert net.layers[2].size == (options.get("pool_size", 2),) * 2 and net.layers[5].size == (2, 2)
    assert net.forward(images()[0]).shape == (12, 10)


def test_float32_network_stays_float32():
    net = training.lab_net(dtype=np.float32)
    assert all(p.dtype == np.float32 for p in net.params().values())
    assert net.forward(images()[0].astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("options, match", [
    ({"init": "xavier"}, "init"), ({"pool": "min"}, "pool"), ({"pool_size": 3}, "pool_size"),
    ({"pool": "avg", "tie_slip": True}, "tie_slip"), ({"dtype": np.int32}, "dtype"),
])
def test_lab_net_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        training.lab_net(**options)


# --------------------------------------------------------------------------- the loop


def test_fit_records_every_step_and_epoch_and_equals_a_plain_loop():
    x, y = images(40)
    xv, yv = images(10, seed=1)
    net = training.lab_net(seed=0)
    run = training.fit(net, x, y, x_val=xv, y_val=yv, epochs=2, lr=0.05, batch_size=16, seed=3)
    assert run.steps_per_epoch == 3 and run.step_loss.shape == (6,) and run.diverged_at is None
    assert all(len(v) == 2 for v in run.history.values()) and run.seconds > 0
    # the same loop by hand
    ref = training.lab_net(seed=0)
    opt, rng, losses = M.SGD(ref.params(), lr=0.05, momentum=0.9), np.random.default_rng(3), []
    for _ in range(2):
        for idx in np.array_split(rng.permutation(40), [16, 32]):
            losses.append(M.model_loss(ref, x[idx], y[idx])[0])
            opt.step(ref.grads())
    np.testing.assert_array_equal(run.step_loss, losses)
    for k, p in ref.params().items():
        np.testing.assert_array_equal(run.params[k], p)
        np.testing.assert_array_equal(net.params()[k], p)
    np.testing.assert_allclose(run.history["train_loss"], [np.mean(losses[:3]), np.mean(losses[3:])])
    z = ref.forward(xv)
    assert run.history["val_loss"][-1] == softmax_cross_entropy(z, yv)[0]
    assert run.final_val_acc == M.accuracy(z, yv)


def test_fit_stops_a_run_whose_loss_is_not_finite():
    x, y = images(40)
    calls = []

    def breaks_at_step_4(logits, labels):
        calls.append(1)
        loss, d = softmax_cross_entropy(logits, labels)
        return (np.nan, d) if len(calls) == 4 else (loss, d)

    run = training.fit(training.lab_net(), x, y, x_val=x, y_val=y, epochs=3, lr=0.01, batch_size=16,
                       loss=breaks_at_step_4)
    assert run.diverged_at == 3 and len(calls) == 4                  # nothing runs after the stop
    assert np.all(np.isfinite(run.step_loss[:3])) and np.all(np.isnan(run.step_loss[3:]))
    assert np.isfinite(run.history["val_acc"][0]) and np.all(np.isnan(run.history["val_acc"][1:]))


def test_fit_stops_on_overflowing_weights():
    x, y = images(32)
    run = training.fit(training.lab_net(), x * 1e150, y, x_val=x, y_val=y, epochs=2, lr=1e150, batch_size=8)
    assert run.diverged_at is not None and np.isnan(run.step_loss[-1])


# --------------------------------------------------------------------------- the slips


def test_loss_without_mean_is_n_times_the_gradient_of_the_loss_it_reports():
    z = np.random.default_rng(0).normal(size=(5, 4))
    t = np.array([0, 3, 1, 1, 2])
    loss, d = training.loss_without_mean(z, t)
    right_loss, right_d = softmax_cross_entropy(z, t)
    assert loss == right_loss
    np.testing.assert_allclose(d, 5 * right_d, rtol=1e-15)
    numeric = numerical_gradient(lambda zz: training.loss_without_mean(zz, t)[0], z.copy())
    np.testing.assert_allclose(d, 5 * numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape, size", [((2, 3, 4, 4), 2), ((1, 2, 8, 8), 4), ((2, 1, 5, 7), 2), ((1, 1, 6, 6), 3)])
def test_all_ties_backward_matches_its_loop_reference(shape, size):
    r = np.random.default_rng(sum(shape))
    x = r.integers(-1, 2, size=shape).astype(float)          # few values: many ties
    y, cache = pooling.maxpool2d_forward(x, size=size)
    dy = r.normal(size=y.shape)
    fast = training.maxpool2d_backward_all_ties(dy, cache)
    np.testing.assert_array_equal(fast, training.maxpool2d_backward_all_ties_naive(dy, cache))
    # each window hands down (its number of maxima) x its delta
    counts = (training.maxpool2d_backward_all_ties(np.ones_like(dy), cache))
    assert counts.sum() == sum(np.sum(w == w.max()) for w in _windows(x, size))


def _windows(x, size):
    n, c, h, w = x.shape
    return [x[a, b, i:i + size, j:j + size] for a in range(n) for b in range(c)
            for i in range(0, h - size + 1, size) for j in range(0, w - size + 1, size)]


def test_all_ties_backward_is_the_right_one_where_nothing_ties():
    x = np.random.default_rng(5).normal(size=(2, 3, 6, 6))
    y, cache = pooling.maxpool2d_forward(x, size=2)
    dy = np.random.default_rng(6).normal(size=y.shape)
    np.testing.assert_array_equal(training.maxpool2d_backward_all_ties(dy, cache),
                                  pooling.maxpool2d_backward(dy, cache))


def test_all_ties_backward_routes_a_tie_to_every_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    _, cache = pooling.maxpool2d_forward(x, size=2)
    np.testing.assert_array_equal(training.maxpool2d_backward_all_ties(np.array([[[[2.0]]]]), cache),
                                  [[[[0.0, 2.0], [2.0, 0.0]]]])
    np.testing.assert_array_equal(pooling.maxpool2d_backward(np.array([[[[2.0]]]]), cache),
                                  [[[[0.0, 2.0], [0.0, 0.0]]]])          # the right one: the first
    with pytest.raises(ValueError, match="dy"):
        training.maxpool2d_backward_all_ties(np.zeros((1, 1, 2, 2)), cache)


def test_a_tie_between_relu_zeros_costs_nothing_one_layer_down():
    # conv -> ReLU -> pool: where the pool ties between zeros the ReLU had made, the extra deltas vanish
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = 1.0
    right = M.Sequential([M.ReLU(), M.MaxPool2d(size=2)])
    slip = M.Sequential([M.ReLU(), training.MaxPoolAllTies(size=2)])
    z = x - 0.5                                                   # negative except one entry
    dy = np.ones((1, 1, 2, 2))
    right.forward(z)
    slip.forward(z)
    np.testing.assert_array_equal(right.backward(dy), slip.backward(dy))


# --------------------------------------------------------------------------- the bound and the curvature


@pytest.mark.parametrize("mu", [0.0, 0.3, 0.9, 0.99])
def test_max_stable_lr_is_the_edge_of_convergence_on_a_quadratic(mu):
    lam = 3.0
    edge = training.max_stable_lr(lam, momentum=mu)
    assert edge == pytest.approx(2 * (1 + mu) / lam)

    def final(eta, steps=20000):
        theta, m = 1.0, 0.0
        for _ in range(steps):
            m = mu * m + lam * theta
            theta -= eta * m
            if abs(theta) > 1e6:              # grown for good: stop before it overflows
                break
        return abs(theta)

    assert final(0.995 * edge) < 1 < final(1.005 * edge)


@pytest.mark.parametrize("args, match", [((0.0,), "curvature"), ((1.0,), None)])
def test_max_stable_lr_arguments(args, match):
    if match:
        with pytest.raises(ValueError, match=match):
            training.max_stable_lr(*args)
    with pytest.raises(ValueError, match="momentum"):
        training.max_stable_lr(1.0, momentum=1.0)


def test_patch_gram_is_the_mean_outer_product_of_the_padded_patches():
    x = np.random.default_rng(2).random((2, 1, 4, 5))
    gram = training.patch_gram(x, kernel=3, pad=1)
    rows = []
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    for n in range(2):
        for i in range(4):
            for j in range(5):
                rows.append(np.append(xp[n, i:i + 3, j:j + 3].ravel(), 1.0))
    a = np.array(rows)
    np.testing.assert_allclose(gram, a.T @ a / len(a))
    assert gram.shape == (10, 10) and gram[-1, -1] == 1.0
    with pytest.raises(ValueError, match="one channel"):
        training.patch_gram(np.zeros((1, 2, 4, 4)))


def test_patch_gram_is_the_hessian_of_a_linear_neuron_on_the_patches():
    # E(w) = mean over patches (a . w - t)^2 / 2  ->  Hessian = mean a a^T
    x = np.random.default_rng(3).random((1, 1, 3, 3))
    gram = training.patch_gram(x)
    xp = np.pad(x[0, 0], 1)
    a = np.array([np.append(xp[i:i + 3, j:j + 3].ravel(), 1) for i in range(3) for j in range(3)])
    t = np.random.default_rng(4).normal(size=len(a))
    grad = lambda w: a.T @ (a @ w - t) / len(a)
    w0 = np.zeros(10)
    hess = np.stack([numerical_gradient(lambda w, k=k: grad(w)[k], w0.copy()) for k in range(10)])
    np.testing.assert_allclose(hess, gram, atol=1e-7)


def test_gauss_newton_eigenvalue_of_softmax_regression_is_its_exact_hessians():
    r = np.random.default_rng(7)
    x = r.normal(size=(20, 6))
    net = M.Sequential([M.Dense(in_features=6, out_features=4, rng=r)])
    net.params()["0.b"][...] = r.normal(size=4)
    before = {k: p.copy() for k, p in net.params().items()}
    lam, history = training.gauss_newton_top_eigenvalue(net, x, iters=300)
    z = net.forward(x)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    a = np.hstack([x, np.ones((20, 1))])
    hess = sum(np.kron(np.outer(a[n], a[n]), np.diag(p[n]) - np.outer(p[n], p[n])) for n in range(20)) / 20
    assert lam == pytest.approx(np.linalg.eigvalsh(hess)[-1], rel=1e-6)
    assert history.shape == (300,) and history[-1] == lam
    for k, v in before.items():
        np.testing.assert_array_equal(net.params()[k], v)          # restored
    # one block: the weights only (the bias rows/columns removed)
    lam_w, _ = training.gauss_newton_top_eigenvalue(net, x, names=["0.w"], iters=300)
    assert lam_w == pytest.approx(np.linalg.eigvalsh(hess[:24, :24])[-1], rel=1e-6)
    with pytest.raises(ValueError, match="names"):
        training.gauss_newton_top_eigenvalue(net, x, names=["9.w"])


def test_gauss_newton_eigenvalue_is_steady_at_relu_kinks():
    # the digits network at its start has many pre-activations exactly 0; the estimate must not jump
    x, _ = images(16)
    net = training.lab_net()
    values = [training.gauss_newton_top_eigenvalue(net, x, iters=40, h=h)[0] for h in (1e-4, 1e-6)]
    assert values[0] == pytest.approx(values[1], rel=1e-3)


def test_deltas_are_the_backward_pass_layer_by_layer():
    x, y = images(6)
    net = training.lab_net()
    d = training.deltas(net, x, y)
    assert len(d) == len(net.layers) + 1 and d[0].shape == x.shape and d[-1].shape == (6, 10)
    ref = training.lab_net()
    _, dx = M.model_loss(ref, x, y)
    np.testing.assert_array_equal(d[0], dx)
    np.testing.assert_array_equal(d[-1], softmax_cross_entropy(ref.forward(x), y)[1])


def test_tie_fractions_by_hand():
    a = np.zeros((1, 1, 2, 4))
    a[0, 0, :, 2:] = [[1.0, 1.0], [0.5, 0.0]]             # window 0: all zeros; window 1: two 1s
    assert training.tie_fractions(a, size=2) == (1.0, 0.5)
    a[0, 0, 0, 3] = 0.7
    assert training.tie_fractions(a, size=2) == (0.5, 0.0)


# --------------------------------------------------------------------------- the reader's experiment


SETTINGS = [(1, "max"), (2, "max"), (4, "max"), (2, "avg"), (4, "avg")]


@pytest.mark.parametrize("pool, mode", SETTINGS)
def test_pooled_patches_match_the_loop_reference(pool, mode):
    x, _ = images(3, seed=pool)
    kernel = np.random.default_rng(pool).normal(size=(1, 1, 3, 3))
    fast = training.pooled_patches(x, kernel, pool=pool, mode=mode)
    np.testing.assert_allclose(fast, training.pooled_patches_naive(x, kernel, pool=pool, mode=mode), rtol=1e-15)
    assert fast.shape == (3 * 64 // pool**2, 9)


@pytest.mark.parametrize("pool, mode", SETTINGS)
def test_the_pooled_outputs_are_the_rows_times_the_kernel(pool, mode):
    """pool(conv(x, w)) = A w, with the book's layers on the left."""
    x, _ = images(2, seed=5)
    w = np.random.default_rng(6).normal(size=(1, 1, 3, 3))
    z, _ = conv.conv2d_forward(x, w, np.zeros(1), pad=(1, 1))
    if pool > 1:
        z, _ = (pooling.maxpool2d_forward if mode == "max" else pooling.avgpool2d_forward)(z, size=pool)
    np.testing.assert_allclose(z.ravel(), training.pooled_patches(x, w, pool=pool, mode=mode) @ w.ravel(),
                               rtol=1e-12, atol=1e-14)


def test_window_patches_group_the_padded_patches_by_window():
    x = np.arange(2 * 16, dtype=float).reshape(2, 1, 4, 4)
    p = training.window_patches(x, kernel_shape=(3, 3), pool=2)
    assert p.shape == (2 * 4, 4, 9)
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    # window (n=1, i=0, j=1), offset (u, v) = (1, 0): the output (1, 2), whose patch starts at xp[1, 1, 2]
    np.testing.assert_array_equal(p[1 * 4 + 0 * 2 + 1, 1 * 2 + 0], xp[1, 1:4, 2:5].ravel())


@pytest.mark.parametrize("pool, mode", SETTINGS)
def test_recover_kernel_takes_the_steps_of_the_books_layers(pool, mode):
    x, _ = images(3, seed=7)
    r = np.random.default_rng(8)
    true, start = r.normal(size=(1, 1, 3, 3)), r.normal(size=(1, 1, 3, 3))
    fast = training.recover_kernel(x, true, pool=pool, mode=mode, steps=60, lr=2e-3, init=start)
    slow = training.recover_kernel_naive(x, true, pool=pool, mode=mode, steps=60, lr=2e-3, init=start)
    np.testing.assert_allclose(fast.path, slow.path, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.losses, slow.losses, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.errors, slow.errors, rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(fast.mismatched, slow.mismatched)
    assert fast.settled == slow.settled and fast.w.shape == (1, 1, 3, 3)
    if mode == "avg" or pool == 1:
        assert fast.settled == 0 and not fast.mismatched.any()


def test_from_the_settled_step_on_the_error_is_multiplied_by_i_minus_lr_gram():
    """(train-ls): once the max passes on w*'s patches, w - w* <- (I - lr A^T A)(w - w*), exactly."""
    x, _ = images(4, seed=9)
    true = np.random.default_rng(1).normal(size=(1, 1, 3, 3))
    start = true + 0.3 * np.random.default_rng(2).normal(size=true.shape)
    a = training.pooled_patches(x, true, pool=2)
    gram = a.T @ a
    lr = 1 / np.linalg.eigvalsh(gram)[-1]
    run = training.recover_kernel(x, true, pool=2, steps=400, lr=lr, init=start)
    assert run.settled < 200 and run.mismatched[run.settled:].sum() == 0 and run.mismatched[:run.settled].any()
    e = (run.path[run.settled - 1] - true[0, 0]).ravel()
    for t in range(run.settled, 400):
        e = e - lr * gram @ e
        np.testing.assert_allclose(run.path[t].ravel() - true.ravel(), e, rtol=1e-9, atol=1e-13)


def test_mismatched_counts_windows_whose_patch_differs_not_ties_of_equal_patches():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 3, 3] = 1.0                              # only the last window has a nonzero patch
    true = np.zeros((1, 1, 3, 3))
    true[0, 0, 0, 0] = 1.0                           # responds to the pixel from the bottom-right output
    start = np.zeros((1, 1, 3, 3))
    start[0, 0, 2, 2] = -1.0                         # negative there: another patch wins the last window
    run = training.recover_kernel(x, true, pool=2, steps=1, lr=1e-3, init=start)
    # windows 0-2 see only zero patches: their ties are between equal patches and never count
    assert run.mismatched.tolist() == [1]
    assert training.recover_kernel_naive(x, true, pool=2, steps=1, lr=1e-3, init=start).mismatched.tolist() == [1]


def test_recover_kernel_converges_without_pooling_and_stalls_when_patches_are_too_few():
    x, _ = images(1, seed=3)
    true = np.random.default_rng(4).normal(size=(1, 1, 3, 3))
    start = np.random.default_rng(0).normal(size=true.shape)
    a = training.pooled_patches(x, true, pool=1)
    lr = 1 / np.linalg.eigvalsh(a.T @ a)[-1]
    run = training.recover_kernel(x, true, pool=1, steps=400, lr=lr, init=start)
    assert run.errors[-1] < 0.05 * run.errors[0] and np.all(np.diff(run.errors) <= 1e-12)   # monotone
    for mode in ("max", "avg"):
        four = training.pooled_patches(x, true, pool=4, mode=mode)
        assert four.shape == (4, 9) and np.linalg.matrix_rank(four.T @ four) <= 4      # 4 patches, 9 unknowns


def test_max_pool_rows_nest_and_average_pool_rows_are_a_p_squared_smaller_gram():
    x, _ = images(6, seed=11)
    true = np.random.default_rng(12).normal(size=(1, 1, 3, 3))
    rows = {p: {r.tobytes() for r in training.pooled_patches(x, true, pool=p)} for p in (1, 2, 4)}
    assert rows[4] <= rows[2] <= rows[1]
    g1 = training.pooled_patches(x, true, pool=1)
    for p in (2, 4):
        a = training.pooled_patches(x, true, pool=p, mode="avg")
        assert np.linalg.eigvalsh(g1.T @ g1 / p**2 - a.T @ a)[0] > -1e-10     # A^T A <= G_1 / p^2


def test_naive_log_softmax_equals_the_stable_loss_until_exp_overflows():
    z = np.random.default_rng(0).normal(size=(5, 10))
    t = np.arange(5)
    loss, d = training.loss_naive_log_softmax(z, t)
    ref_loss, ref_d = softmax_cross_entropy(z, t)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-15)
    big = z.copy()
    big[0, 3] = 710.0                                  # exp(710) overflows float64
    loss, d = training.loss_naive_log_softmax(big, t)            # label 0: p_0 = e^z0 / inf = 0
    assert loss == np.inf and np.isnan(d[0, 3]) and np.isfinite(d[1:]).all()
    loss, d = training.loss_naive_log_softmax(big, np.array([3, 1, 2, 3, 4]))   # label 3: inf / inf
    assert np.isnan(loss) and np.isnan(d[0, 3])
    assert np.isfinite(softmax_cross_entropy(big, t)[0])
    with pytest.raises(ValueError, match="labels"):
        training.loss_naive_log_softmax(z, t[:3])


@pytest.mark.parametrize("call, match", [
    (lambda: training.recover_kernel(np.zeros((1, 1, 6, 6)), np.ones((1, 1, 3, 3)), pool=4, steps=1, lr=0.1,
                                     init=np.zeros((1, 1, 3, 3))), "pool"),
    (lambda: training.recover_kernel(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), pool=2, steps=1, lr=0.1,
                                     init=np.zeros((1, 1, 2, 2))), "init"),
    (lambda: training.recover_kernel(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), pool=2, mode="mean", steps=1,
                                     lr=0.1, init=np.zeros((1, 1, 3, 3))), "mode"),
    (lambda: training.recover_kernel(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), pool=2, steps=1, lr=0,
                                     init=np.zeros((1, 1, 3, 3))), "lr"),
    (lambda: training.recover_kernel(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), pool=2, steps=1, lr=0.1,
                                     init=np.zeros((1, 1, 2, 2))), "odd"),
    (lambda: training.pooled_patches(np.zeros((1, 2, 4, 4)), np.ones((1, 1, 3, 3)), pool=2), "x must be"),
])
def test_kernel_experiment_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
