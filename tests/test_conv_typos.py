"""The convolution chapter's Exercise 5: the index typos in the Tencent Cloud article's expansions of
dE/dw, and its checker ``check_dw_typos``.

The checker decides by computation (dE/dw is bilinear in delta and x, so conv2d_backward on unit
arrays gives every coefficient); these tests check that computation against the index rule of
eq. (conv-dw), the article's three typos, the reference solution taken from the notebook cell the
book shows, and that every mistake in the checker's catalogue is named.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import numpy as np
import pytest

from cnnbook import conv
from cnnbook.exercises import CHECKERS, check_dw_typos
from cnnbook.exercises.conv import (TENCENT_DW, _TYPO_CASES, _rule_terms, _typos_of, evaluate_expansion,
                                    expansion_terms)

ROOT = Path(__file__).resolve().parent.parent
X_EX, DELTA_EX = np.arange(9.0).reshape(3, 3), np.array([[19.0, 25.0], [37.0, 43.0]])


def dw_rule(i, j, u, v, s, k):
    """eq. (conv-dw): delta[i, j] multiplies x[i*s + u, j*s + v]."""
    return i * s + u, j * s + v


@pytest.mark.parametrize("x_shape, kernel_shape, stride", [((3, 3), (2, 2), 1), ((5, 5), (3, 3), 2),
                                                           ((4, 6), (2, 3), 1), ((7, 6), (3, 2), 2),
                                                           ((7, 7), (2, 2), 3)])
def test_the_terms_found_by_computation_follow_the_index_rule(x_shape, kernel_shape, stride):
    right = expansion_terms(x_shape, kernel_shape, stride)
    assert right == _rule_terms(x_shape, kernel_shape, stride, dw_rule)
    # and the sums of those terms are conv2d_backward's kernel gradient on random data
    rng = np.random.default_rng(3)
    x = rng.normal(size=x_shape)
    y, cache = conv.conv2d_forward(x[None, None], np.zeros((1, 1, *kernel_shape)), np.zeros(1), stride=stride)
    delta = rng.normal(size=y.shape[2:])
    dw = conv.conv2d_backward(delta[None, None], cache)[1][0, 0]
    for uv, terms in right.items():
        assert evaluate_expansion(terms, x, delta) == pytest.approx(dw[uv], rel=1e-12)


def test_the_article_has_three_typos_that_change_two_sums():
    wrong, missing = _typos_of(TENCENT_DW, expansion_terms((3, 3), (2, 2), 1))
    assert wrong == {((0, 1), ((1, 1), (0, 1))), ((1, 1), ((2, 1), (1, 0))), ((1, 1), ((2, 2), (1, 1)))}
    assert missing == {((0, 1), ((1, 1), (1, 2))), ((1, 1), ((1, 0), (2, 1))), ((1, 1), ((1, 1), (2, 2)))}
    printed = [evaluate_expansion(TENCENT_DW[uv], X_EX, DELTA_EX) for uv in [(0, 0), (0, 1), (1, 0), (1, 1)]]
    assert printed == [308, 260, 680, None]          # None: delta[2, 1] does not exist
    # PyTorch's numbers in the article: 308 432 / 680 804
    y, cache = conv.conv2d_forward(X_EX[None, None], np.arange(4.0).reshape(1, 1, 2, 2), np.zeros(1))
    np.testing.assert_array_equal(y[0, 0], DELTA_EX)
    np.testing.assert_array_equal(conv.conv2d_backward(y, cache)[1][0, 0], [[308, 432], [680, 804]])


def test_the_planted_case_holds_four_typos_and_the_right_case_none():
    cases = list(_TYPO_CASES.values())
    assert len(cases) == 3
    right = expansion_terms((5, 5), (3, 3), 2)
    correct, planted = cases[1][0], cases[2][0]
    assert _typos_of(correct, right) == (set(), set())
    wrong, missing = _typos_of(planted, right)
    assert len(wrong) == 3 and len(missing) == 4     # three replaced terms and one left out


def solution_from_notebook():
    """find_typos as the book shows it: the function definition of the solution cell."""
    nb = json.loads((ROOT / "book" / "convolution.ipynb").read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])
             and "def find_typos(" in "".join(c["source"])]
    assert len(cells) == 1
    tree = ast.parse("".join(cells[0]["source"]))
    fn = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "find_typos"]
    namespace = {"np": np, "conv": conv}
    exec(compile(ast.Module(body=fn, type_ignores=[]), "solution", "exec"), namespace)
    return namespace["find_typos"]


def test_the_books_solution_passes_and_the_checker_is_registered():
    assert CHECKERS["check_dw_typos"] is check_dw_typos
    report = check_dw_typos(solution_from_notebook())
    assert report.ok and report.status == "passed", report


# --------------------------------------------------------------------------- the catalogue


def by_rule(rule):
    def fn(expansion, x_shape, kernel_shape, stride):
        return _typos_of(expansion, _rule_terms(x_shape, kernel_shape, stride, rule))
    return fn


def right_answer(expansion, x_shape, kernel_shape, stride):
    return _typos_of(expansion, expansion_terms(x_shape, kernel_shape, stride))


def edited(edit):
    def fn(*args):
        wrong, missing = right_answer(*args)
        return edit(set(wrong), set(missing))
    return fn


def unit_arrays_without_bounds(expansion, x_shape, kernel_shape, stride):
    """A reader's computation that sets delta[i, j] = 1 for every term, in range or not."""
    for terms in expansion.values():
        for ij, pq in terms:
            delta = np.zeros((2, 2))
            delta[ij] = 1.0
    return right_answer(expansion, x_shape, kernel_shape, stride)


@pytest.mark.parametrize("fn, key, passed, text", [
    (by_rule(lambda i, j, u, v, s, k: (i + u, j + v)), "typo_no_stride", 1, "the rule for stride 1"),
    (by_rule(lambda i, j, u, v, s, k: (i * s + k[0] - 1 - u, j * s + k[1] - 1 - v)), "typo_flipped", 0,
     "Nothing is flipped"),
    (edited(lambda w, m: (m, w)), "typo_swapped", 0, "swapped"),
    (edited(lambda w, m: (w, set())), "missing_not_listed", 0, "missing set is empty"),
    (edited(lambda w, m: (w - {((0, 1), ((1, 1), (0, 1)))}, m)), "missed_typo", 0,
     "∇w₀₁ as written = 260, conv2d_backward gives 432"),
    (edited(lambda w, m: (w - {((1, 1), ((2, 1), (1, 0)))}, m)), "missed_typo", 0, "δ₂₁ does not exist"),
    (edited(lambda w, m: (w | {((0, 0), ((0, 0), (0, 0)))}, m)), "false_alarm", 0, "it is right"),
    (edited(lambda w, m: (w, m - {((0, 1), ((1, 1), (1, 2)))})), "missed_missing", 0, "δ₁₁·x₁₂ in ∇w₀₁"),
    (edited(lambda w, m: (w, m | {((0, 0), ((0, 0), (0, 0)))})), "false_missing", 0, "already in the sum"),
    (lambda *args: None, "bad_return", 0, "return a pair (wrong, missing)"),
    (lambda *args: ({1, 2}, set()), "bad_return", 0, "must be a set (or list)"),
    (unit_arrays_without_bounds, "exception", 0, "IndexError"),
])
def test_every_mistake_is_named(fn, key, passed, text):
    report = check_dw_typos(fn)
    assert not report.ok and report.mistakes == (key,), report
    assert report.passed == passed, report
    assert text in report.diagnosis, report.diagnosis


def test_lists_instead_of_sets_are_fine_and_the_input_is_not_touched():
    before = copy.deepcopy(TENCENT_DW)

    def as_lists(expansion, *args):
        wrong, missing = right_answer(expansion, *args)
        expansion.clear()                             # a reader's function may mangle its argument
        return [list(map(list, t)) for t in wrong], list(missing)

    assert check_dw_typos(as_lists).ok
    assert TENCENT_DW == before


def test_an_untouched_stub_is_not_attempted():
    def find_typos(expansion, x_shape, kernel_shape, stride):
        raise NotImplementedError

    report = check_dw_typos(find_typos)
    assert report.status == "not attempted" and not report.ok
