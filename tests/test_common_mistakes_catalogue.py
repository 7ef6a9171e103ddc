"""The common-mistakes appendix: its catalogue of the checkers skips none of them.

- The page's catalogue cell (taken from the notebook) runs every mutant of every checker, the
  checkers of two functions included, and lists every check of the property checkers.
- Outside the page: every checker of two functions names each of its mutants when its mutants
  are run directly, and passes its own reference the same way.
- The float32 section uses a loss that is not linear in W (else its step-size trade-off could
  not show).
"""

from __future__ import annotations

import dataclasses
import json
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
