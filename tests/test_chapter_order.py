"""No chapter uses a `cnnbook` function that only a later chapter derives.

INTRODUCED says which chapter derives each function of the package (a module's entry covers
every function in it, an entry for a single function overrides it). The test reads every code
cell of every chapter, finds the `cnnbook` names it uses (``module.function`` after an import
of the module, or a name imported from a module) and fails on a use before the introduction.
`cnnbook.plotting`, `cnnbook.widgets`, `cnnbook.exercises` and `cnnbook.reference` (the autodiff
framework a chapter checks its own formulas against) are tools, usable anywhere.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

import cnnbook

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"plotting", "widgets", "exercises", "reference"}

INTRODUCED = {
    "gradcheck": "chain_rule",
    "activations": "activations",
    "softmax": "softmax",
    "losses": "losses",
    "fc": "fully_connected",
    "pooling": "pooling",
    "conv": "convolution",
    "conv.im2col": "fast_code",
    "conv.col2im": "fast_code",
    "matrices": "conv_family",
    "conv.conv_transpose2d_forward": "conv_family",
    "conv.conv_transpose2d_backward": "conv_family",
    "conv.conv_transpose2d_forward_naive": "conv_family",
    "conv.conv_transpose2d_backward_naive": "conv_family",
    "conv.transpose_output_size": "conv_family",
    "pooling.global_avgpool_forward": "conv_family",
    "pooling.global_avgpool_backward": "conv_family",
    "pooling.global_avgpool_forward_naive": "conv_family",
    "pooling.global_avgpool_backward_naive": "conv_family",
    "pooling.pool_output_size": "conv_family",
    "model": "cnn",
    "data": "cnn",
    "training": "training",
    "timing": "fast_code",
    "memory": "fast_code",
}


def chapters() -> list[str]:
    """The numbered chapters in reading order, from _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = []
    for part in toc["parts"]:
        if part.get("numbered"):
            names += [Path(ch["file"]).name for ch in part["chapters"]]
    return names


def introduced_in(module: str, name: str) -> str | None:
    return INTRODUCED.get(f"{module}.{name}", INTRODUCED.get(module))


def cnnbook_uses(source: str) -> set[tuple[str, str]]:
    """(module, name) pairs of the package used by a notebook's code."""
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(source)
    aliases: dict[str, str] = {}   # local name -> cnnbook module
    uses: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "cnnbook":
            for a in node.names:
                aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnbook."):
            module = node.module.split(".")[1]
            for a in node.names:
                uses.add((module, a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("cnnbook."):
                    aliases[a.asname or a.name] = a.name.split(".")[1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            uses.add((aliases[node.value.id], node.attr))
    return {(m, n) for m, n in uses if m not in TOOLS}


def code_of(chapter: str) -> str:
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_every_module_of_the_package_has_a_chapter():
    modules = {p.stem for p in (ROOT / "src" / "cnnbook").glob("*.py") if not p.stem.startswith("_")}
    assert modules - TOOLS <= {k for k in INTRODUCED if "." not in k}, modules
    order = chapters()
    assert set(INTRODUCED.values()) <= set(order)


@pytest.mark.parametrize("chapter", chapters())
def test_no_chapter_uses_a_later_result(chapter):
    order = chapters()
    here = order.index(chapter)
    late = []
    for module, name in sorted(cnnbook_uses(code_of(chapter))):
        home = introduced_in(module, name)
        assert home is not None, f"{chapter} uses cnnbook.{module}.{name}, which no chapter introduces"
        if order.index(home) > here:
            late.append(f"cnnbook.{module}.{name} (introduced in {home})")
    assert not late, f"{chapter} uses results of later chapters: {late}"


def test_the_detector_sees_both_import_styles():
    src = "from cnnbook import fc, widgets as w\nfrom cnnbook.conv import im2col\nfc.fc_backward(1, 2)\nw.explorer()"
    assert cnnbook_uses(src) == {("fc", "fc_backward"), ("conv", "im2col")}
