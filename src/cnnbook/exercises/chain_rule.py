"""Checkers for the chapter "Chain rule, computational graphs and numerical gradients".

* :data:`check_tanh_neuron` -- ``fn(x, w, b, t) -> (dE_dw, dE_db)`` for
  y = tanh(w . x + b), E = (t - y)^2 / 2.
* :data:`check_node_ops` -- ``(node_exp, node_square)``: two operations for the chapter's
  scalar reverse-mode engine, judged by their values, their local derivatives, the gradient of
  f(x1, x2) = exp(x1 x2) + (x1 + x2)^2 and the number of edges of its graph.
* :data:`check_five_point` -- ``fn(f, x, h) -> float``, the fourth-order difference; after the
  cases agree with the formula, it checks the exercise's two claims: truncation slope 4 for sin
  at x = 1, and at h = 1e-3 an error below the central difference's best.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..gradcheck import numerical_gradient
from ._core import Case, Checker, Mutant, PropertyChecker, Report

TANH_ON_OUTPUT = (
    "tanh' was evaluated at the output: you computed 1 - tanh(y)^2 = 1 - tanh(tanh(z))^2; the local "
    "derivative is 1 - tanh(z)^2 = 1 - y^2, from the output y directly."
)
SIGMOID_SLOPE = "that is the sigmoid's local derivative y (1 - y); for tanh it is 1 - y^2."
NO_LOCAL = (
    "the activation's local derivative is missing: delta = dE/dz = (y - t) * tanh'(z), not y - t."
)
SIGN = "the sign is flipped: dE/dy = y - t (from E = (t - y)^2 / 2, the inner derivative is -1)."


def _neuron(kind):
    def fn(x, w, b, t):
        z = x @ w + b
        y = np.tanh(z)
        slope = {"ok": 1 - y**2, "tanh_on_output": 1 - np.tanh(y) ** 2, "sigmoid_slope": y * (1 - y),
                 "no_local": 1.0, "sign": -(1 - y**2)}[kind]
        delta = (y - t) * slope
        return delta * x, delta
    return fn


check_tanh_neuron = Checker(
    title="tanh neuron",
    reference=_neuron("ok"),
    outputs=("dE_dw", "dE_db"),
    arg_names=("x", "w", "b", "t"),
    cases=[
        Case("the hand-check point: x = (1, 2), w = (0.5, 0.25), b = ln(3)/2 - 1, t = 1 (y = 1/2)",
             (np.array([1.0, 2.0]), np.array([0.5, 0.25]), np.log(3) / 2 - 1, 1.0)),
        Case("x = (0.5, -1, 2), w = (1, 0.5, -0.25), b = 0.1, t = -0.5",
             (np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, -0.25]), 0.1, -0.5)),
        Case("x = (-2, 1, 0.3, 1.2), w = (0.2, -0.7, 1.1, 0.4), b = -0.3, t = 0.8",
             (np.array([-2.0, 1.0, 0.3, 1.2]), np.array([0.2, -0.7, 1.1, 0.4]), -0.3, 0.8)),
    ],
    mutants=[Mutant(k, d, _neuron(k)) for k, d in [("tanh_on_output", TANH_ON_OUTPUT),
                                                   ("sigmoid_slope", SIGMOID_SLOPE),
                                                   ("no_local", NO_LOCAL), ("sign", SIGN)]],
)


# --------------------------------------------------------------------------- the graph engine
# A copy of the chapter's scalar engine (section "Reverse mode reuses partial results"): the
# reader's operations return the chapter's `Node`; the engine only reads the attributes
# value, parents, local and grad, so it runs on either class.  tests/test_chain_rule_exercises.py
# checks that it gives the same gradients and counts as the engine the chapter shows.


class _Node:
    """A scalar in a computational graph, as the chapter's Node."""

    def __init__(self, value, parents=(), local=()):
        self.value = float(value)
        self.parents = tuple(parents)
        self.local = tuple(local)
        self.grad = 0.0


def _mul(q, r):
    return _Node(q.value * r.value, (q, r), (r.value, q.value))


def _add(q, r):
    return _Node(q.value + r.value, (q, r), (1.0, 1.0))


def _backward(output) -> int:
    """Reverse mode: node.grad = d output / d node; returns the number of multiplications."""
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(output)
    for node in order:
        node.grad = 0.0
    output.grad, multiplications = 1.0, 0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local):
            parent.grad += node.grad * local
            multiplications += 1
    return multiplications


NODE_POINTS = [(0.5, -1.0), (1.0, 2.0), (-0.3, 0.7)]
"""The points at which the gradient of f is compared with the numerical one."""

F_EDGES = 8
"""Edges of the graph of f = exp(x1 x2) + (x1 + x2)^2: two into x1 x2, two into x1 + x2, one into
the exp, one into the square, two into the final sum."""


def f_plain(v):
    """f(x1, x2) = exp(x1 x2) + (x1 + x2)^2 on plain floats (v: an array of two)."""
    return np.exp(v[0] * v[1]) + (v[0] + v[1]) ** 2


def _is_node(out) -> bool:
    return all(hasattr(out, k) for k in ("value", "parents", "local"))


def _op_checks(op_name: str, op_key: str, value, derivative, wrong_locals):
    """The checks of one operation at a = 0.7: a node, its value, its parent, its local derivative.

    value, derivative: the correct functions of a; wrong_locals: (key, function of a, message)
    for the local derivatives that are wrong in a known way."""

    def check(node_exp, node_square):
        op = {"node_exp": node_exp, "node_square": node_square}[op_name]
        a_value = 0.7
        a = _Node(a_value)
        out = op(a)
        if not _is_node(out):
            raise AssertionError(f"[not_a_node]: {op_name}(a) returned the {type(out).__name__} {out}, "
                                 f"not a Node: return Node(value, (a,), (local derivative,))")
        if not np.isclose(out.value, value(a_value), rtol=1e-14, atol=0):
            raise AssertionError(f"[{op_key}_value]: {op_name}(a).value is {out.value:.6g} at a = {a_value}, "
                                 f"expected {value(a_value):.6g}")
        parents, local = tuple(out.parents), tuple(out.local)
        if len(parents) != len(local):
            raise AssertionError(f"[local_count]: {op_name}(a) has {len(parents)} parent(s) but {len(local)} "
                                 "local derivative(s); backward pairs them up one to one (zip), so each "
                                 "parent needs exactly one local derivative")
        if not parents:
            raise AssertionError(f"[no_parent]: {op_name}(a) has no parents, so backward never reaches a "
                                 "and its gradient stays 0: the parents are (a,)")
        if not any(p is a for p in parents):
            raise AssertionError(f"[wrong_parent]: the parent of {op_name}(a) is not the node a itself "
                                 "(a new Node with the same value is another node): backward adds the "
                                 "gradient to that copy, and a gets none")
        got = sum(float(d) for p, d in zip(parents, local) if p is a)
        want = derivative(a_value)
        if not np.isclose(got, want, rtol=1e-12, atol=0):
            for key, wrong, message in wrong_locals:
                if np.isclose(got, wrong(a_value), rtol=1e-12, atol=0):
                    raise AssertionError(f"[{key}]: {message} (at a = {a_value}: expected {want:.6g}, "
                                         f"got {got:.6g})")
            raise AssertionError(f"[{op_key}_local]: the local derivative of {op_name}(a) is {got:.6g} at "
                                 f"a = {a_value}, expected {want:.6g}")

    return check


def _check_f(node_exp, node_square):
    for point in NODE_POINTS:
        x1, x2 = _Node(point[0]), _Node(point[1])
        f = _add(node_exp(_mul(x1, x2)), node_square(_add(x1, x2)))
        if not np.isclose(f.value, f_plain(point), rtol=1e-14, atol=0):
            raise AssertionError(f"[f_value]: the forward value of f at {point} is {f.value:.6g}, "
                                 f"expected {f_plain(point):.6g}")
        count = _backward(f)
        if count != F_EDGES:
            raise AssertionError(
                f"[edge_count]: backward did {count} multiplications, but f has {F_EDGES} edges (two into "
                "x1 x2, two into x1 + x2, one into the exp, one into the square, two into the sum): each "
                "operation lists its single parent once, with the whole local derivative (listing a "
                "twice, as in a * a, gives the right gradient but one edge too many)")
        numeric = numerical_gradient(f_plain, np.array(point))
        got = np.array([x1.grad, x2.grad])
        if not np.allclose(got, numeric, rtol=1e-7, atol=0):
            raise AssertionError(f"[gradient]: at (x1, x2) = {point} the engine gives the gradient "
                                 f"{np.round(got, 6)}, the numerical one is {np.round(numeric, 6)}")


check_node_ops = PropertyChecker(
    title="node_exp and node_square",
    checks=[
        ("node_exp: value, parent and local derivative at a = 0.7",
         _op_checks("node_exp", "exp", np.exp, np.exp, [
             ("exp_local_is_a", lambda a: a, "the local derivative of e^a is e^a, the node's own value; "
              "you stored a"),
             ("exp_local_is_1", lambda a: 1.0, "the local derivative of e^a is e^a, the node's own value, "
              "not 1")])),
        ("node_square: value, parent and local derivative at a = 0.7",
         _op_checks("node_square", "square", lambda a: a**2, lambda a: 2 * a, [
             ("square_missing_2", lambda a: a, "the local derivative of a^2 is 2a: the factor 2 is missing"),
             ("square_local_is_value", lambda a: a**2, "the local derivative of a^2 is 2a; you stored the "
              "value a^2")])),
        ("f(x1, x2) = exp(x1 x2) + (x1 + x2)^2 at three points: value, edge count, gradient", _check_f),
    ],
)


def quartic(x):
    """x^4 - 2 x^3 + x; its derivative at 1.5 is 1."""
    return x**4 - 2 * x**3 + x


def _d4(f, x, h):
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


FIVE_POINT_STEPS = 10.0 ** -np.arange(0, 14.5, 0.5)
"""The steps of the chapter's error plot: 1, 10^-0.5, ..., 1e-14."""


def _central_errors_sin() -> np.ndarray:
    """Errors of the central difference (cnnbook.gradcheck) for sin at x = 1, over FIVE_POINT_STEPS."""
    return np.array([abs(numerical_gradient(lambda v: np.sin(v[0]), np.array([1.0]), h=h)[0] - np.cos(1.0))
                     for h in FIVE_POINT_STEPS])


def _claim_slope(fn) -> str:
    err = np.abs([fn(np.sin, 1.0, h) - np.cos(1.0) for h in FIVE_POINT_STEPS])
    sel = (FIVE_POINT_STEPS >= 1e-2) & (FIVE_POINT_STEPS <= 1e-1)
    fitted = np.polyfit(np.log10(FIVE_POINT_STEPS[sel]), np.log10(err[sel]), 1)[0]
    if not abs(fitted - 4) < 0.1:
        raise AssertionError(f"[slope]: for sin at x = 1 the error falls with slope {fitted:.2f} on the "
                             "log-log plot for h in [1e-2, 1e-1], expected 4 (a fourth-order formula)")
    return f"truncation slope {fitted:.2f} for sin at x = 1"


def _claim_beats_central(fn) -> str:
    err = abs(fn(np.sin, 1.0, 1e-3) - np.cos(1.0))
    best = _central_errors_sin().min()
    if not err < best:
        raise AssertionError(f"[not_better]: at h = 1e-3 the error for sin at x = 1 is {err:.1e}, not below "
                             f"the central difference's best {best:.1e}")
    return f"error {err:.0e} at h = 1e-3, below the central difference's best {best:.0e}"


@dataclass
class _CheckerWithClaims(Checker):
    """A Checker that, once every case agrees with the reference, also checks claims about the
    reader's function: (label, fn) pairs; a claim returns a short note or raises
    AssertionError("[key]: what is wrong")."""

    claims: Sequence[tuple[str, Callable]] = ()

    def _run(self, *fns) -> Report:
        report = super()._run(*fns)
        if not report.ok:
            return report
        fn = self.compose(*fns) if self.compose is not None else fns[0]
        notes = []
        for label, claim in self.claims:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    notes.append(claim(fn))
            except AssertionError as err:
                text = str(err)
                key, _, text = text.partition(": ") if text.startswith("[") else ("[claim]", "", text)
                return Report(self.title, False, f"all {report.total} cases agree with the formula, but the "
                              f"claim \"{label}\" fails: {text}", (key.strip("[]"),), None, report.passed,
                              report.total)
            except Exception as err:  # noqa: BLE001 - any reader error becomes a report
                return Report(self.title, False, f"{label}: your function raised {type(err).__name__}: {err}",
                              ("exception",), None, report.passed, report.total)
        report.diagnosis = f"correct (all {report.total} cases agree with cnnbook; " + "; ".join(notes) + ")"
        return report


check_five_point = _CheckerWithClaims(
    title="five-point derivative",
    reference=_d4,
    outputs=("D4",),
    arg_names=("f", "x", "h"),
    cases=[Case("f = quartic (x^4 - 2x^3 + x), x = 1.5, h = 0.1: exactly 1", (quartic, 1.5, 0.1)),
           Case("f = sin, x = 1, h = 0.05", (np.sin, 1.0, 0.05)),
           Case("f = exp, x = -0.5, h = 0.2", (np.exp, -0.5, 0.2))],
    mutants=[
        Mutant("denominator_6h", "the denominator is 6h: the weights (-1, 8, -8, 1) of steps (2h, h, -h, -2h) "
               "add up to 12h in the Taylor expansion's first-order term, so divide by 12h.",
               lambda f, x, h: _d4(f, x, h) * 2),
        Mutant("signs_swapped", "the signs are swapped: +8 f(x + h) and -8 f(x - h), -f(x + 2h) and +f(x - 2h).",
               lambda f, x, h: -_d4(f, x, h)),
        Mutant("central", "that is the ordinary central difference (f(x + h) - f(x - h)) / 2h, not the "
               "five-point formula.", lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h)),
    ],
    claims=[("the truncation error has slope 4", _claim_slope),
            ("at h = 1e-3 it beats the central difference at its best step", _claim_beats_central)],
)
