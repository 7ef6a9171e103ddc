"""Checkers for the chapter "A CNN from scratch".

* :data:`check_global_avg_pool` -- ``check_global_avg_pool(gap_forward,
  gap_backward)``: ``gap_forward(x) -> (y, cache)``, (N, C, H, W) -> (N, C),
  and ``gap_backward(dy, cache) -> dx``, (N, C) -> (N, C, H, W), the functions
  a layer object calls (the chapter's style); or ``check_global_avg_pool(
  LayerClass)`` with a :class:`cnnbook.model.Layer` subclass whose
  ``forward(x)`` and ``backward(dy)`` do the same.  The checker compares the
  outputs with the reference on crafted cases; it does not run a gradient check.
* :data:`check_locate_bug` -- ``fn(net, x) -> index or None``: the position in
  ``net.layers`` (from 0; the chapter's layer l is position l - 1) of the one
  broken layer of a :class:`cnnbook.model.Sequential` network (None: all
  layers are right; a None is shown as -1 in a report).

The global-average-pooling cases have N != H*W (so a division by the batch
shows), C > 1 (so copies to the wrong channel show) and the first case has
(N, C) == (H, W) (so ``np.broadcast_to(dy, x.shape)`` runs and shows).  The
networks of :data:`check_locate_bug` are conv -> ReLU -> max-pool -> flatten ->
dense; the first is correct but its ReLU leaves whole pooling windows at 0,
then one layer at a time is broken, with bugs that a check of dx alone or a
check with an upstream gradient of ones cannot see.
"""

from __future__ import annotations

import numpy as np

from .. import model as M
from ..gradcheck import numerical_gradient, rel_error
from ._core import Case, Checker, Mutant

# --------------------------------------------------------------------------- diagnoses

GAP_NO_DIVISION = (
    "forgot to divide by H*W: y[n, c] is the MEAN of the H*W entries of map (n, c), so each entry "
    "contributes 1/(H*W) and receives dy[n, c] / (H*W), not dy[n, c]."
)
GAP_BATCH = (
    "divided by N*H*W: the batch is not part of the mean. y[n, c] averages the H*W positions of ONE "
    "sample's map, so each entry receives dy[n, c] / (H*W); the 1/N of a batch-mean loss is already in dy."
)
GAP_WRONG_AXES = (
    "dy was broadcast to the wrong axes: dx[n, c, i, j] must be dy[n, c] / (H*W), the same number over the "
    "spatial axes i, j of map (n, c). np.broadcast_to(dy, x.shape) aligns dy with the LAST axes (H, W), and "
    "np.tile repeats the whole dy; put dy on the first two axes: dy[:, :, None, None]."
)
GAP_FORWARD_SUM = (
    "the forward pass sums instead of averaging: y[n, c] = (1/(H*W)) * sum over i, j of x[n, c, i, j] "
    "(x.mean(axis=(2, 3)))."
)
GAP_FORWARD_AXES = (
    "the forward pass averages over the wrong axes: global average pooling averages each map over its "
    "positions, axes (2, 3), and keeps the batch and channel axes: (N, C, H, W) -> (N, C)."
)

LB_REAL_INPUTS = (
    "a correct layer was reported broken: you checked it at its real input in the network. After ReLU "
    "many inputs of the max-pool are exactly 0, so windows hold tied maxima where max is not "
    "differentiable; central differences then give delta/2 to each tied entry, which no correct backward "
    "gives. Check each layer at a RANDOM normal input of the same shape (no zeros, no ties, no kinks)."
)
LB_DX_ONLY = (
    "a broken parameter gradient was missed: you compared only the input gradient dx. A layer with "
    "parameters can pass dx on correctly and still compute a wrong dw (here: a rotated kernel gradient); "
    "compare every entry of layer.grads with the numerical gradient of L with respect to layer.params too."
)
LB_ONES_DOUT = (
    "a broken layer was missed: with an upstream gradient of ones (the test loss sum(forward)) every entry "
    "of dout is the same, so a backward that sends dout[k] to the place of dout[i] (here: the columns of dy "
    "mixed up) gives the right numbers. Use a random dout, the test loss sum(forward * dout)."
)
LB_ONE_BASED = (
    "the index is off by one: return the position of the layer in net.layers, counted from 0 "
    "(net.layers[index] is the broken layer; layer l of the text, counted from 1, is net.layers[l - 1])."
)


# --------------------------------------------------------------------------- global average pooling


def _ref_gap(x, dy):
    n, c, h, w = x.shape
    return x.mean(axis=(2, 3)), np.broadcast_to(dy[:, :, None, None] / (h * w), x.shape).copy()


def _gap_no_division(x, dy):
    return x.mean(axis=(2, 3)), np.broadcast_to(dy[:, :, None, None], x.shape).copy()


def _gap_batch(x, dy):
    n, c, h, w = x.shape
    return x.mean(axis=(2, 3)), np.broadcast_to(dy[:, :, None, None] / (n * h * w), x.shape).copy()


def _gap_trailing(x, dy):
    h, w = x.shape[2:]
    return x.mean(axis=(2, 3)), np.broadcast_to(dy / (h * w), x.shape).copy()


def _gap_tile(x, dy):
    h, w = x.shape[2:]
    return x.mean(axis=(2, 3)), np.tile(dy / (h * w), (1, h * w)).reshape(x.shape)


def _gap_forward_sum(x, dy):
    return x.sum(axis=(2, 3)), _ref_gap(x, dy)[1]


def _gap_forward_axes(x, dy):
    return x.mean(axis=(0, 2, 3)), _ref_gap(x, dy)[1]


def _compose_gap(*fns):
    """One function of the case arguments from a Layer class or from (gap_forward, gap_backward).
    A wrong call is reported when the case runs (the composition itself never raises)."""
    if len(fns) == 1 and isinstance(fns[0], type):
        layer_class = fns[0]

        def from_class(x, dy):
            layer = layer_class()
            y = layer.forward(x)
            return y, layer.backward(dy)
        return from_class
    if len(fns) != 2:
        def wrong_call(x, dy):
            raise TypeError(f"pass the two functions, check_global_avg_pool(gap_forward, gap_backward) "
                            f"(or one Layer class); got {len(fns)} argument(s)")
        return wrong_call
    forward, backward = fns

    def from_functions(x, dy):
        out = forward(x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"gap_forward must return a pair (y, cache), got {type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        y, cache = out
        if np.shape(y) != x.shape[:2]:      # dy would not fit: report y only
            return y, _ref_gap(x, dy)[1]
        return y, backward(dy, cache)
    return from_functions


def _gap_case(label, shape, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-4, 5, size=shape).astype(float)
    dy = r.integers(1, 9, size=shape[:2]).astype(float) * 6.0
    return Case(label, (x, dy))


check_global_avg_pool = Checker(
    title="global average pooling layer",
    reference=_ref_gap,
    outputs=("y", "dx"),
    arg_names=("x", "dy"),
    compose=_compose_gap,
    cases=[
        _gap_case("N=2, C=2, 2x2 maps ((N, C) == (H, W): np.broadcast_to(dy, x.shape) runs)", (2, 2, 2, 2), 1),
        _gap_case("N=2, C=3, 1x4 maps", (2, 3, 1, 4), 2),
        _gap_case("N=3, C=4, 3x5 maps", (3, 4, 3, 5), 3),
    ],
    mutants=[
        Mutant("no_division", GAP_NO_DIVISION, _gap_no_division, ("dx",)),
        Mutant("divided_by_batch", GAP_BATCH, _gap_batch, ("dx",)),
        Mutant("wrong_axes", GAP_WRONG_AXES, _gap_trailing, ("dx",)),
        Mutant("wrong_axes_tile", GAP_WRONG_AXES, _gap_tile, ("dx",)),
        Mutant("forward_sum", GAP_FORWARD_SUM, _gap_forward_sum, ("y",)),
        Mutant("forward_axes", GAP_FORWARD_AXES, _gap_forward_axes, ("y",)),
    ],
)


# --------------------------------------------------------------------------- find the broken layer


class _Broken:
    """Mixin: the report shows which layer was broken and how."""

    bug = ""

    def __repr__(self):
        return f"{super().__repr__()}   <- broken: {self.bug}"


class _BadConv(_Broken, M.Conv2d):
    bug = "kernel gradient rotated by 180 degrees (dx is right)"

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["w"] = self.grads["w"][:, :, ::-1, ::-1].copy()
        return dx


class _BadReLU(_Broken, M.ReLU):
    bug = "the mask is missing (dx = dy)"

    def backward(self, dy):
        return np.array(dy, dtype=float)


class _BadPool(_Broken, M.MaxPool2d):
    bug = "delta goes to every entry of its window"

    def backward(self, dy):
        kh, kw = self.size
        return np.repeat(np.repeat(dy, kh, axis=2), kw, axis=3)


class _BadDense(_Broken, M.Dense):
    bug = "the columns of dy are mixed up in dx (dw and db are right)"

    def backward(self, dy):
        super().backward(dy)
        return dy[:, ::-1] @ self.params["w"].T


def _network(broken=None):
    """conv(1 -> 2, 3x3, pad 1) -> ReLU -> max-pool 2 -> flatten -> dense(8 -> 3); layer `broken` broken."""
    conv_cls = _BadConv if broken == 0 else M.Conv2d
    relu_cls = _BadReLU if broken == 1 else M.ReLU
    pool_cls = _BadPool if broken == 2 else M.MaxPool2d
    dense_cls = _BadDense if broken == 4 else M.Dense
    net = M.Sequential([conv_cls(in_channels=1, out_channels=2, kernel=3, pad=1, rng=3), relu_cls(),
                        pool_cls(size=2), M.Flatten(), dense_cls(in_features=8, out_features=3, rng=4)])
    # a positive kernel and a negative bias: the ReLU leaves the top-left quadrant at exactly 0
    net.layers[0].params["w"][...] = np.abs(net.layers[0].params["w"]) + 0.1
    net.layers[0].params["b"][...] = -0.5
    return net


def _lb_input():
    x = np.random.default_rng(7).uniform(0.2, 1.0, size=(2, 1, 4, 4))
    x[:, :, :2, :2] = -1.0          # after conv + ReLU: a pooling window of zeros (tied maxima)
    return x


_LB_X = _lb_input()


def _lb_case(label, broken):
    return Case(label, (_network(broken), _LB_X, -1 if broken is None else broken))


def _locate_variant(net, x, *, real_inputs=False, params=True, ones=False, offset=0, tol=1e-6, seed=0):
    """locate_bug with one optional mistake (returns -1 for None)."""
    r = np.random.default_rng(seed)
    _, acts = net.forward(x, keep=True)
    inputs = [x] + acts[:-1]
    for index, layer in enumerate(net.layers):
        a = np.array(inputs[index], dtype=float) if real_inputs else r.normal(size=inputs[index].shape)
        dout = np.ones(acts[index].shape) if ones else r.normal(size=acts[index].shape)

        def loss(a_in, layer=layer, dout=dout):
            return np.sum(layer.forward(a_in) * dout)

        def loss_p(_, layer=layer, a=a, dout=dout):
            return np.sum(layer.forward(a) * dout)

        layer.forward(a)
        analytic = {"x": layer.backward(dout), **layer.grads}
        numeric = {"x": numerical_gradient(loss, a.copy())}
        if params:
            for name, p in layer.params.items():
                numeric[name] = numerical_gradient(loss_p, p)
        if any(rel_error(analytic[k], numeric[k]) > tol for k in numeric):
            return index + offset
    return -1


def _lb(**flags):
    def fn(net, x, _answer):
        return _locate_variant(net, x, **flags)
    return fn


def _ref_locate(net, x, _answer):
    return _answer


def _compose_locate(fn):
    def composed(net, x, _answer):
        got = fn(net, x)
        if got is None:
            return -1
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            raise TypeError(f"locate_bug must return a layer index (int) or None, got {got!r}")
        return int(got)
    return composed


check_locate_bug = Checker(
    title="find the broken layer",
    reference=_ref_locate,
    outputs=("layer",),
    arg_names=("net", "x", "_answer"),
    compose=_compose_locate,
    cases=[
        _lb_case("a correct network (answer None, shown as -1); its ReLU leaves a pooling window of zeros",
                 None),
        _lb_case("the convolution's kernel gradient is rotated (its dx is right)", 0),
        _lb_case("the dense layer mixes up the columns of dy in dx", 4),
        _lb_case("the ReLU forgot its mask", 1),
        _lb_case("the max-pool sends delta to every entry of its window", 2),
    ],
    mutants=[
        Mutant("real_inputs", LB_REAL_INPUTS, _lb(real_inputs=True)),
        Mutant("dx_only", LB_DX_ONLY, _lb(params=False)),
        Mutant("ones_dout", LB_ONES_DOUT, _lb(ones=True)),
        Mutant("one_based", LB_ONE_BASED, _lb(offset=1)),
    ],
)
