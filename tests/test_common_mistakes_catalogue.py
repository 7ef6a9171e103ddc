"""The common-mistakes appendix: its catalogue of the checkers skips none of them.

- The page's catalogue cell (taken from the notebook) runs every mutant of every checker, the
  checkers of two functions included, and lists every check of the property checkers.
- Outside the page: every checker of two functions names each of its mutants when its mutants
  are run directly, and passes its own reference the same way.
- The float32 section uses a loss that is not linear in W (else its step-size trade-off could
  not show).
- The convolution family's mutants are listed and checked by name; the mistakes that no checker
  catches and the symptom index name real runs of the training lab and link sections that exist.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

from cnnbook.exercises import CHECKERS, PropertyChecker

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "common_mistakes.ipynb"
PAIRS = {name: ch for name, ch in CHECKERS.items() if getattr(ch, "compose", None) is not None}


def code_cells() -> list[str]:
    return ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_checkers_of_two_functions():
    assert {"check_leaky_relu", "check_label_smoothing"} <= set(PAIRS)


@pytest.mark.parametrize("name,key", [(n, m.key) for n, ch in sorted(PAIRS.items()) for m in ch.mutants])
def test_two_function_checkers_name_every_mutant(name, key):
    direct = dataclasses.replace(PAIRS[name], compose=None)
    report = direct(direct.mutant(key).fn)
    assert not report.ok and key in report.mistakes, str(report)
    assert direct.mutant(key).diagnosis in report.diagnosis


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_two_function_checkers_pass_their_reference(name):
    direct = dataclasses.replace(PAIRS[name], compose=None)
    assert direct(direct.reference).ok


def test_the_pages_catalogue_covers_every_checker():
    cell = [c for c in code_cells() if "catalogue, rows = {}, []" in c]
    assert len(cell) == 1
    ns = {"CHECKERS": CHECKERS, "PropertyChecker": PropertyChecker, "dataclasses": dataclasses,
          "html": __import__("html"), "HTML": lambda text: text, "display": lambda *args: None}
    exec(compile(cell[0], "<common_mistakes: catalogue>", "exec"), ns)
    expected = {(n, m.key) for n, ch in CHECKERS.items() if not isinstance(ch, PropertyChecker) for m in ch.mutants}
    assert set(ns["catalogue"]) == expected
    assert {n for n, _ in ns["catalogue"]} >= set(PAIRS)
    listed = {(n, label) for n, _, label, _ in ns["rows"]}
    for name, ch in CHECKERS.items():
        if isinstance(ch, PropertyChecker):
            assert {(name, label) for label, _ in ch.checks} <= listed, name
    for (name, key), (report, mutant) in ns["catalogue"].items():
        assert key in report.mistakes, (name, key)


def test_the_float32_section_uses_a_curved_loss():
    cell = [c for c in code_cells() if "def check_error(" in c]
    assert len(cell) == 1
    assert "activations.sigmoid" in cell[0] and "curved=True" in cell[0]


# --------------------------------------------------------------------------- the runs: mistakes and symptoms


def markdown() -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]
                     if c["cell_type"] == "markdown")


def section(heading: str) -> str:
    text = markdown()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown table in text, split into cells."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def lab_runs() -> set[str]:
    """The names of the training lab's runs: the keys of its RUNS dict."""
    lab = json.loads((NOTEBOOK.parent / "training.ipynb").read_text())
    for cell in lab["cells"]:
        if cell["cell_type"] != "code" or "RUNS = {" not in "".join(cell["source"]):
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "RUNS":
                return {k.value for k in node.value.keys}
    raise AssertionError("the training lab has no RUNS table")


def check_rows_link_and_name_real_runs(rows):
    from test_appendices import check_chapter_link
    runs = lab_runs()
    for cells in rows:
        last = cells[-1]
        links = re.findall(r"\]\(((?:training|cnn)\.ipynb#[a-z0-9-]+)\)", last)
        assert links, f"row {cells[0]!r}: no link to a section of the lab or of the CNN chapter"
        for target in links:
            why = check_chapter_link(target)
            assert why is None, f"row {cells[0]!r}: {why}"
        if "lab" in last.split("[")[0]:
            named = re.findall(r'"([^"]+)"', last)
            assert named and set(named) <= runs, f"row {cells[0]!r}: {set(named) - runs} are no runs of the lab"


SYMPTOMS = ["The loss stuck at 2.30", "NaN after a few steps", "Accuracy stuck at 10%",
            "Only the first layer fails the gradient check", "Training slows as the pool grows"]


def test_the_symptom_index_lists_the_five_symptoms_each_with_the_run_that_shows_it():
    rows = table_rows(section("## 9. Symptom → cause"))
    assert [cells[0] for cells in rows] == SYMPTOMS
    check_rows_link_and_name_real_runs(rows)
    nan_row = rows[1][-1]
    assert '"N(0, 1), log(softmax) as written"' in nan_row          # a run that really gives NaN


LAB_MISTAKES = ["test set", "missing $1/N$", "All-zero initial weights", r"$\mathcal N(0, 1)$",
                r"above $2(1 + \mu)/\lambda_{\max}$", "computed as written", "tie routed to every maximum",
                r"initial loss ≠ $\ln 10$", "edge detectors"]


def test_the_mistakes_no_checker_catches_each_have_their_run():
    rows = table_rows(section("## 8. Mistakes that no checker catches"))
    assert len(rows) == len(LAB_MISTAKES)
    for phrase, cells in zip(LAB_MISTAKES, rows):
        assert phrase in cells[0], (phrase, cells[0])
    check_rows_link_and_name_real_runs(rows)
    # where a checker catches the same mistake, the key named is one of its mutants
    keys = {m.key for ch in CHECKERS.values() if not isinstance(ch, PropertyChecker) for m in ch.mutants}
    named_keys = {k for cells in rows for k in re.findall(r"`(\w+)`", cells[-1])}
    assert named_keys == {"missing_1_over_n", "every_tie"} and named_keys <= keys


CONV_FAMILY = {"check_output_padding": ["op_zero", "op_stride_minus_one", "op_no_pad", "op_no_dilation", "op_span_dk"],
               "check_conv_transpose2d": ["tconv_flipped", "tconv_assign", "tconv_no_stride", "tconv_not_cropped",
                                          "tconv_no_output_padding"],
               "check_avgpool_divisors": ["div_floor", "div_extra_window", "div_always_k", "div_pad_not_counted",
                                          "div_pad_counted"]}


@pytest.mark.parametrize("name", sorted(CONV_FAMILY))
def test_the_convolution_family_mistakes_are_in_the_catalogue(name):
    assert [m.key for m in CHECKERS[name].mutants] == CONV_FAMILY[name]
    checks = [c for c in code_cells() if "for listed in [" in c]
    assert len(checks) == 1
    prose = section("## 7. What the checkers recognise")
    for key in CONV_FAMILY[name]:
        assert f'"{key}"' in checks[0] and f"`{key}`" in prose, key
