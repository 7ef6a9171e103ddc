"""The fully-connected chapter: what its text promises, and its exercises as a student meets them.

- "Three classic mistakes" lists three, and the chapter plants each one on purpose (labelled as
  deliberate) and catches it; the chapter's checker names each of them.
- The three backprop equations and the SGD update are labelled, and the SGD step is written out
  as an algorithm that cites them.
- Every exercise: the stub as the book shows it gives "not attempted yet" (no exception), a wrong
  attempt is named, and the solution, taken from the cell the book shows, passes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook.exercises import (check_column_fc_backward, check_fc_backward, check_largest_stable_lr,
                               check_mlp2_backward)

ROOT = Path(__file__).resolve().parent.parent
NB = json.loads((ROOT / "book" / "fully_connected.ipynb").read_text())
CELLS = NB["cells"]


def src(cell) -> str:
    return "".join(cell["source"])


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


MARKDOWN = "\n".join(src(c) for c in CELLS if c["cell_type"] == "markdown")


def section(title: str) -> list[dict]:
    """The cells from the heading `title` to the next heading of the same or a higher level."""
    start = next(i for i, c in enumerate(CELLS) if c["cell_type"] == "markdown" and title in src(c))
    level = re.search(r"^(#+) " + re.escape(title), src(CELLS[start]), flags=re.M).group(1)
    out = [CELLS[start]]
    for c in CELLS[start + 1:]:
        if c["cell_type"] == "markdown" and re.search(rf"^#{{1,{len(level)}}} ", src(c), flags=re.M):
            break
        out.append(c)
    return out


# --------------------------------------------------------------------------- three classic mistakes


def test_three_classic_mistakes_are_three_and_each_is_planted_and_caught():
    cells = section("Three classic mistakes")
    text = "\n".join(src(c) for c in cells if c["cell_type"] == "markdown")
    items = re.findall(r"^(\d)\. \*\*(.+?)\*\*", text, flags=re.M)
    assert [n for n, _ in items] == ["1", "2", "3"], items
    assert "on purpose" in text                       # the planted bugs are announced as such
    demo = [c for c in cells if c["cell_type"] == "code" and "Deliberate bug caught" in src(c)]
    assert len(demo) == 1 and not tags(demo[0]), "the demonstration is a visible lesson cell"
    bugs = re.findall(r'^\s*"(\d)\. [^"]+": lambda', src(demo[0]), flags=re.M)
    assert bugs == ["1", "2", "3"]


def _planted_bugs():
    """The chapter's three planted bugs, as the book shows them, in fc_backward's signature."""
    cells = section("Three classic mistakes")
    code = next(src(c) for c in cells if c["cell_type"] == "code" and "Deliberate bug caught" in src(c))
    block = code[:code.index("\n}\n") + 3]            # the `bugs = {...}` literal
    ns: dict = {}
    exec(block, ns)
    return {name: (lambda f: lambda dy, c: f(dy, c.x, c.w))(f) for name, f in ns["bugs"].items()}


def test_the_checker_names_each_planted_mistake():
    bugs = _planted_bugs()
    names = sorted(bugs)
    assert check_fc_backward(bugs[names[0]]).mistakes == ("w_untransposed",)
    assert check_fc_backward(bugs[names[1]]).mistakes == ("db_wrong_axis",)
    assert set(check_fc_backward(bugs[names[2]]).mistakes) == {"dw_extra_1_over_n", "db_extra_1_over_n"}


# --------------------------------------------------------------------------- equations and the algorithm


@pytest.mark.parametrize("label", ["fc-bp1", "fc-bp2", "fc-bp3", "fc-sgd", "fc-mlp-forward"])
def test_backprop_equations_are_labelled(label):
    assert re.search(rf"\$\$\s*\({re.escape(label)}\)", MARKDOWN), label


def test_the_sgd_step_is_written_as_an_algorithm_citing_the_equations():
    block = re.search(r":::\{admonition\} Algorithm.*?\n:::", MARKDOWN, flags=re.S)
    assert block, "no algorithm admonition"
    body = block.group(0)
    assert re.findall(r"^\d\. ", body, flags=re.M) == ["1. ", "2. ", "3. ", "4. "]
    for label in ("fc-bp1", "fc-bp2", "fc-bp3", "fc-sgd"):
        assert f"{{eq}}`{label}`" in body, label


def test_the_hidden_layer_equation_has_the_transpose_and_z_as_pre_activation():
    assert r"\delta^l = \left(\delta^{l+1}\, (W^{l+1})^\top\right) \odot f'(z^l)" in MARKDOWN
    # s is the stride: the pre-activation is z, in the text and in the code
    assert not re.search(r"(?<![A-Za-z\\])s\^", MARKDOWN), "the pre-activation is z, not s"
    assert r"\delta^l = \frac{\partial E}{\partial z^l}" in MARKDOWN
    code = "\n".join(src(c) for c in CELLS if c["cell_type"] == "code")
    assert not re.search(r"\bs[123]\b|\bs\[l\]|\"s\{l\}\"", code), "a pre-activation variable named s"


def test_indices_start_at_zero():
    assert r"\sum_{k=0}^{D-1}" in MARKDOWN and r"\sum_{n=0}^{N-1}" in MARKDOWN
    assert not re.search(r"\\sum_\{\w=1\}", MARKDOWN), "a sum starting at 1"
    # The written-out example (N = 2, D = 3, M = 2) runs from index 0 to 1 or 2.
    for zero_based in ("x_{00}", "w_{00}", r"\delta_{00}", "x_{12}", "w_{21}", r"\delta_{11}"):
        assert zero_based in MARKDOWN, zero_based
    for one_based in ("x_{13}", "x_{23}", "w_{31}", "w_{32}", r"\delta_{21}", r"\delta_{22}"):
        assert one_based not in MARKDOWN, one_based


# --------------------------------------------------------------------------- the exercises, as a student


STUDENT = {
    "column_fc_backward": (check_column_fc_backward,
                           lambda d, X, W: (W @ d, d @ X.T, d.sum(axis=1)), "w_untransposed"),
    "largest_stable_lr": (check_largest_stable_lr,
                          lambda x: 1.0 / np.sum(np.asarray(x, float) ** 2), "one_step_rate"),
    "mlp2_backward": (check_mlp2_backward, None, "missing_1_over_n"),
}


def _wrong_mlp2(X, T, W1, b1, W2, b2):
    a1 = np.tanh(X @ W1 + b1)
    d2 = a1 @ W2 + b2 - T                              # forgot the 1/N of the batch mean
    d1 = (d2 @ W2.T) * (1 - a1**2)
    return {"W1": X.T @ d1, "b1": d1.sum(axis=0), "W2": a1.T @ d2, "b2": d2.sum(axis=0)}


def _cell_defining(name: str, tag: str) -> str:
    found = [src(c) for c in CELLS if c["cell_type"] == "code" and tag in tags(c)
             and re.search(rf"^def {name}\(", src(c), flags=re.M)]
    assert len(found) == 1, f"{len(found)} {tag} cells define {name}"
    return found[0]


@pytest.mark.parametrize("name", sorted(STUDENT))
def test_exercise_flow(name):
    checker, wrong, mistake = STUDENT[name]
    wrong = wrong or _wrong_mlp2
    stub_ns = {"np": np}
    exec(_cell_defining(name, "exercise"), stub_ns)
    untouched = checker(stub_ns[name])                 # must not raise
    assert untouched.status == "not attempted", untouched
    assert mistake in checker(wrong).mistakes
    solution = _cell_defining(name, "solution")
    shown = solution[solution.index("### BEGIN SOLUTION"):solution.index("### END SOLUTION")]
    sol_ns = {"np": np}
    exec(shown, sol_ns)
    assert checker(sol_ns[name]).raise_if_wrong().ok
    assert solution.rstrip().endswith(f"{checker.name}({name}).raise_if_wrong()")
