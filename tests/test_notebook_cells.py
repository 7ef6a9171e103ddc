"""The shape of every chapter notebook: lessons in front, proofs one click away.

- A code cell visible to the reader (in the HTML or in JupyterLab) has at most 20 lines and at
  most 3 `assert` lines; checks sit in cells hidden in both.
- A cell hidden in the HTML is hidden in JupyterLab too, and the other way round.
- Markdown uses only what renders in JupyterLab as well: no footnotes, no `{doc}` roles, and
  `{eq}` references only to equations of the same notebook.
- Exercises: a stub that raises NotImplementedError, a checker call on it, and a hidden solution
  between BEGIN/END SOLUTION markers that defines the same function.
- Notebooks are stored without outputs.
"""

from __future__ import annotations

import json
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
HIDE_TAGS = {"hide-input", "hide-cell", "remove-cell", "remove-input"}
ASSERT_LINE = re.compile(r"\s*(assert\b|np\.testing\.assert|assert_)")
MAX_LINES, MAX_ASSERTS = 20, 3


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def hidden_in_lab(cell: dict) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


def ids(paths):
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_visible_code_cells_are_short(path):
    rows = []
    for i, c in enumerate(cells(path)):
        if c["cell_type"] != "code" or (tags(c) & HIDE_TAGS and hidden_in_lab(c)):
            continue
        lines = source(c).strip().splitlines()
        asserts = sum(1 for line in lines if ASSERT_LINE.match(line))
        if len(lines) > MAX_LINES or asserts > MAX_ASSERTS:
            rows.append(f"cell {i}: {len(lines)} lines, {asserts} asserts")
    assert not rows, f"{path.name}: visible code cells over {MAX_LINES} lines or {MAX_ASSERTS} asserts: {rows}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_hidden_in_html_means_hidden_in_jupyterlab(path):
    rows = []
    for i, c in enumerate(cells(path)):
        if c["cell_type"] != "code":
            continue
        html_hidden = bool(tags(c) & HIDE_TAGS)
        if html_hidden != hidden_in_lab(c):
            rows.append(f"cell {i}: tags {sorted(tags(c))}, jupyter.source_hidden={hidden_in_lab(c)}")
        if "remove-cell" in tags(c) and not c["metadata"].get("jupyter", {}).get("outputs_hidden"):
            rows.append(f"cell {i}: remove-cell without jupyter.outputs_hidden")
    assert not rows, f"{path.name}: {rows}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_stored_outputs(path):
    dirty = [i for i, c in enumerate(cells(path))
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs"


def equation_labels(text: str) -> set[str]:
    return set(re.findall(r"\$\$\s*\(([A-Za-z0-9_-]+)\)", text))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_markdown_renders_in_jupyterlab_too(path):
    text = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")
    problems = []
    footnotes = sorted(set(re.findall(r"\[\^([^\]]+)\]", text)))
    if footnotes:
        problems.append(f"footnotes {footnotes}")
    if "{doc}" in text:
        problems.append("{doc} roles (write a relative link to the .ipynb)")
    foreign = sorted(set(re.findall(r"\{eq\}`([^`]+)`", text)) - equation_labels(text))
    if foreign:
        problems.append(f"{{eq}} references to other notebooks' equations {foreign}")
    assert not problems, f"{path.name}: {problems}"


def defined_functions(code: str) -> list[str]:
    return re.findall(r"^def (\w+)\(", code, flags=re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_exercises_have_stub_check_and_hidden_solution(path):
    nb = cells(path)
    stubs = [(i, c) for i, c in enumerate(nb) if "exercise" in tags(c)]
    solutions = {name: c for c in nb if c["cell_type"] == "code" and "solution" in tags(c)
                 for name in defined_functions(source(c))}
    for i, stub in stubs:
        code = source(stub)
        assert "NotImplementedError" in code, f"{path.name} cell {i}: the stub must raise NotImplementedError"
        names = defined_functions(code)
        assert names, f"{path.name} cell {i}: an exercise stub defines the function to write"
        later = "\n".join(source(c) for c in nb[i + 1:i + 3] if c["cell_type"] == "code")
        assert re.search(r"\bcheck_\w+\(", later), f"{path.name} cell {i}: no checker call after the stub"
        for name in names:
            sol = solutions.get(name)
            assert sol is not None, f"{path.name}: no solution cell defines {name}"
            assert "### BEGIN SOLUTION" in source(sol) and "### END SOLUTION" in source(sol)
            assert {"hide-input"} <= tags(sol) and hidden_in_lab(sol), f"{path.name}: solution of {name} is visible"
            stub_sig = re.search(rf"^def {name}\(.*?\):", code, flags=re.M | re.S).group(0)
            sol_sig = re.search(rf"^def {name}\(.*?\):", source(sol), flags=re.M | re.S).group(0)
            assert stub_sig == sol_sig, f"{path.name}: stub and solution of {name} differ: {stub_sig} / {sol_sig}"
            # the grader reads the report the solution cell displays: its last statement shows it
            last = ast.parse(source(sol)).body[-1]
            assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and \
                getattr(last.value.func, "attr", None) == "raise_if_wrong", \
                f"{path.name}: the solution of {name} must end with check_...(...).raise_if_wrong()"
    for c in nb:
        if "solution" in tags(c) and c["cell_type"] == "code":
            assert re.search(r"\bcheck_\w+\(", source(c)) or "raise_if_wrong" in source(c) or \
                any(n in source(c) for n in ("assert",)), f"{path.name}: a solution cell must prove it passes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_relative_links_resolve(path):
    text = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#")[0]
        if not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{path.name}: links to missing files {broken}"
