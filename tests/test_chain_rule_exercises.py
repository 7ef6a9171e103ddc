"""The chain-rule chapter's exercises and inline code, checked outside the notebook.

- check_node_ops (a PropertyChecker) names every mistake of its catalogue, written by hand as a
  reader would write it, and its private copy of the graph engine agrees with the engine the
  chapter shows (taken from the notebook's cells).
- check_five_point also checks the exercise's two claims (slope 4, better than the central
  difference) and names a function that matches the cases but breaks a claim.
- Every checker passes the reference solution taken from the notebook's solution cell, and says
  "not attempted" on the notebook's stub.
- The chapter's inline stages (weighted sum, sigmoid, squared error) agree with the package's
  layers that later chapters introduce, so the first chapter and the package cannot drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cnnbook import activations, fc, losses
from cnnbook.exercises import CHECKERS, PropertyChecker, check_five_point, check_node_ops, check_tanh_neuron
from cnnbook.exercises.chain_rule import F_EDGES, NODE_POINTS, _add, _backward, _d4, _mul, _Node, f_plain

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "chain_rule.ipynb"


def code_cells(tag: str | None = None, without: str | None = None) -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
            and (tag is None or tag in c["metadata"].get("tags", []))
            and (without is None or without not in c["metadata"].get("tags", []))]


def chapter_namespace(*names: str) -> dict:
    """Execute the lesson cells of the chapter that define the given functions or classes."""
    ns: dict = {"np": np}
    for name in names:
        pattern = re.compile(rf"^(def|class) {name}\b", re.M)
        found = [src for src in code_cells(without="solution") if pattern.search(src)
                 and "NotImplementedError" not in src]
        assert len(found) == 1, f"{name}: {len(found)} cells define it"
        exec(compile(found[0], f"<chain_rule: {name}>", "exec"), ns)
    return ns


ENGINE = ("Node", "mul", "add", "sin_of_sum", "topological_order", "backward")


@pytest.fixture(scope="module")
def chapter():
    return chapter_namespace(*ENGINE)


# --------------------------------------------------------------------------- the engine


def test_checker_engine_is_the_chapters(chapter):
    """Same gradients and counts on the layered graph and on f, with either engine."""
    Node, mul, add, backward = (chapter[k] for k in ("Node", "mul", "add", "backward"))
    for point in NODE_POINTS:
        results = []
        for N, m, a, bwd in [(Node, mul, add, backward), (_Node, _mul, _add, _backward)]:
            x1, x2 = N(point[0]), N(point[1])
            e = N(np.exp(x1.value * x2.value), (m(x1, x2),), (np.exp(x1.value * x2.value),))
            q = a(x1, x2)
            f = a(e, N(q.value**2, (q,), (2 * q.value,)))
            results.append((bwd(f), f.value, x1.grad, x2.grad))
        assert results[0] == results[1]
        assert results[0][0] == F_EDGES
        assert_allclose(results[0][1], f_plain(point), rtol=1e-14)


# --------------------------------------------------------------------------- node_ops


def make_ops(Node, exp_value=np.exp, exp_local=np.exp, sq_value=lambda a: a**2, sq_local=lambda a: 2 * a,
             exp_parents=lambda a: (a,), sq_parents=lambda a: (a,)):
    def node_exp(a):
        parents = exp_parents(a)
        return Node(exp_value(a.value), parents, tuple(exp_local(a.value) for _ in parents))

    def node_square(a):
        parents = sq_parents(a)
        return Node(sq_value(a.value), parents, tuple(sq_local(a.value) for _ in parents))
    return node_exp, node_square


def test_reference_solution_from_the_notebook_passes(chapter):
    ns = dict(chapter)
    (solution,) = [src for src in code_cells("solution") if "def node_exp" in src]
    ns["check_node_ops"] = check_node_ops
    exec(compile(solution, "<solution>", "exec"), ns)          # ends with .raise_if_wrong()
    report = check_node_ops(ns["node_exp"], ns["node_square"])
    assert report.ok and report.passed == report.total == 3, report


def test_stub_is_not_attempted(chapter):
    ns = dict(chapter)
    (stub,) = [src for src in code_cells("exercise") if "def node_exp" in src]
    exec(stub, ns)
    report = check_node_ops(ns["node_exp"], ns["node_square"])
    assert not report.ok and report.status == "not attempted", report


def test_half_done_stub_is_reported_not_raised(chapter):
    Node = chapter["Node"]
    node_exp, _ = make_ops(Node)

    def node_square(a):
        raise NotImplementedError
    report = check_node_ops(node_exp, node_square)
    assert report.status == "wrong" and "NotImplementedError" in report.diagnosis


@pytest.mark.parametrize("key,changes", [
    ("exp_value", dict(exp_value=lambda a: a)),
    ("exp_local_is_a", dict(exp_local=lambda a: a)),
    ("exp_local_is_1", dict(exp_local=lambda a: 1.0)),
    ("exp_local", dict(exp_local=lambda a: -np.exp(a))),
    ("square_value", dict(sq_value=lambda a: 2 * a)),
    ("square_missing_2", dict(sq_local=lambda a: a)),
    ("square_local_is_value", dict(sq_local=lambda a: a**2)),
    ("square_local", dict(sq_local=lambda a: 2.0)),
    ("no_parent", dict(exp_parents=lambda a: ())),
    ("wrong_parent", dict(sq_parents=lambda a: (_Node(a.value),))),
    # a * a: the right gradient (a + a) through two edges
    ("edge_count", dict(sq_parents=lambda a: (a, a), sq_local=lambda a: a)),
])
def test_every_node_ops_mistake_is_named(chapter, key, changes):
    report = check_node_ops(*make_ops(chapter["Node"], **changes))
    assert not report.ok and report.mistakes == (key,), (key, str(report))
    assert report.status == "wrong"


def test_node_ops_shape_mistakes(chapter):
    Node = chapter["Node"]
    node_exp, node_square = make_ops(Node)
    assert check_node_ops(lambda a: np.exp(a.value), node_square).mistakes == ("not_a_node",)
    assert check_node_ops(lambda a: Node(np.exp(a.value), (a,), ()), node_square).mistakes == ("local_count",)
    # node_square written with the chapter's mul: right, with the edge count off by one
    report = check_node_ops(node_exp, lambda a: chapter["mul"](a, a))
    assert report.mistakes == ("edge_count",) and "9 multiplications" in report.diagnosis


def test_node_ops_is_a_registered_property_checker():
    assert CHECKERS["check_node_ops"] is check_node_ops and isinstance(check_node_ops, PropertyChecker)


# --------------------------------------------------------------------------- five-point


def test_five_point_claims_pass_on_the_formula():
    report = check_five_point(_d4)
    assert report.ok and "slope 4.0" in report.diagnosis and "below the central" in report.diagnosis


def test_five_point_claims_name_what_the_cases_miss():
    # the formula at the checker's steps (h >= 0.05), the central difference below
    def slope_breaker(f, x, h):
        return _d4(f, x, h) if h >= 0.05 else (f(x + h) - f(x - h)) / (2 * h)
    report = check_five_point(slope_breaker)
    assert not report.ok and report.mistakes == ("slope",) and "slope" in report.diagnosis, report
    assert report.status == "wrong" and "all 3 cases agree" in report.diagnosis

    # right for h >= 1e-2, but the step never goes below 1e-2
    def clamped(f, x, h):
        return _d4(f, x, max(h, 1e-2))
    report = check_five_point(clamped)
    assert not report.ok and report.mistakes == ("not_better",), report


@pytest.mark.parametrize("name,checker", [("tanh_neuron_grads", check_tanh_neuron),
                                          ("five_point_derivative", check_five_point)])
def test_solutions_from_the_notebook_pass_and_stubs_are_not_attempted(name, checker):
    (solution,) = [src for src in code_cells("solution") if f"def {name}" in src]
    ns = {"np": np, checker.name: checker}
    exec(compile(solution, "<solution>", "exec"), ns)
    assert checker(ns[name]).ok
    (stub,) = [src for src in code_cells("exercise") if f"def {name}" in src]
    exec(stub, ns)
    assert checker(ns[name]).status == "not attempted"


# --------------------------------------------------------------------------- the inline stages


@pytest.fixture(scope="module")
def stages():
    return chapter_namespace("weighted_sum_forward", "sigmoid_forward")


def test_inline_stages_agree_with_the_package(stages):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal()
    t = rng.uniform(0, 1, size=5)
    dz = rng.standard_normal(5)
    z, cache = stages["weighted_sum_forward"](x, w, b)
    z_pkg, cache_pkg = fc.fc_forward(x, w.reshape(3, 1), np.array([b]))
    assert_allclose(z, z_pkg[:, 0], rtol=1e-14)
    dx, dw, db = stages["weighted_sum_backward"](dz, cache)
    dx_pkg, dw_pkg, db_pkg = fc.fc_backward(dz.reshape(5, 1), cache_pkg)
    assert_allclose(dx, dx_pkg, rtol=1e-13)
    assert_allclose(dw, dw_pkg[:, 0], rtol=1e-13)
    assert_allclose(db, db_pkg[0], rtol=1e-13)

    y, y_cache = stages["sigmoid_forward"](z)
    y_pkg, sig_cache = activations.sigmoid_forward(z)
    assert_allclose(y, y_pkg, rtol=1e-14)
    assert_allclose(stages["sigmoid_backward"](dz, y_cache), activations.sigmoid_backward(dz, sig_cache),
                    rtol=1e-14)

    E, dy = stages["squared_error"](y, t)
    E_pkg, dy_pkg = losses.mse(y.reshape(5, 1), t.reshape(5, 1))
    assert_allclose(E, E_pkg, rtol=1e-14)
    assert_allclose(dy, dy_pkg[:, 0], rtol=1e-14)
