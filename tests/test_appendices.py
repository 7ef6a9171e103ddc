"""The formula sheet and the glossary stay consistent with the chapters.

Formula sheet (book/formula_sheet.md):

- every ``{eq}`label``` names an equation of the chapter that its section is derived in (the
  section's "Derived in [the ... chapter](NAME.ipynb)" line; the sections without one, the shapes
  and the worked values, may name any chapter's equations);
- every labelled equation of every numbered chapter is on the sheet, so a chapter with labelled
  results always has a section and entries (this applies to a chapter as soon as it has labels);
- every section link ``[...](NAME.ipynb#anchor)`` reaches a heading of that notebook.

Glossary (book/glossary.md):

- every entry links, with "Defined in", "Treated in" or "Not treated ...; the nearest section is",
  to a heading of a chapter, and the link reaches it;
- "Defined in": the section it links uses the term (or one of the entry's other names);
- "Not treated": no chapter uses the term or its other names;
- every numbered chapter with sections has at least one entry, and the translation table lists
  exactly the entries, with the same Russian, Chinese and chapter.

Anchors: the HTML book resolves ``file.ipynb#anchor`` only for the heading slugs that myst-parser
makes (``myst_heading_anchors`` in _config.yml, depth included); the slugs are computed here with
myst-parser's own functions, exactly as the build computes them.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SHEET = BOOK / "formula_sheet.md"
GLOSSARY = BOOK / "glossary.md"

LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
EQ_ROLE = re.compile(r"\{eq\}`([^`]+)`")


# --------------------------------------------------------------------------- the book


@functools.cache
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


@functools.cache
def toc_chapters() -> tuple[tuple[str, bool], ...]:
    """(notebook or page name, numbered) for every file of _toc.yml, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = []
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            out.append((Path(ch["file"]).name, bool(part.get("numbered"))))
    return tuple(out)


def numbered_chapters() -> list[str]:
    return [name for name, numbered in toc_chapters() if numbered and (BOOK / f"{name}.ipynb").exists()]


def toc_notebooks() -> list[str]:
    return [name for name, _ in toc_chapters() if (BOOK / f"{name}.ipynb").exists()]


@functools.cache
def markdown_cells(name: str) -> tuple[str, ...]:
    nb = json.loads((BOOK / f"{name}.ipynb").read_text())
    return tuple("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def equation_labels(text: str) -> list[str]:
    """Labels of `$$ ... $$ (label)` equations and of {math} directives with :label:."""
    return re.findall(r"\$\$[ \t]*\(([^)\s]+)\)", text) + re.findall(r"(?m)^\s*:label:\s*(\S+)", text)


@functools.cache
def chapter_labels(name: str) -> tuple[str, ...]:
    return tuple(lab for text in markdown_cells(name) for lab in equation_labels(text))


def heading_anchors_depth() -> int:
    # under sphinx.config: jupyter-book passes only a few keys of its `parse:` section to myst-parser
    depth = ((config().get("sphinx") or {}).get("config") or {}).get("myst_heading_anchors")
    assert isinstance(depth, int) and depth >= 2, (
        "_config.yml must set sphinx: config: myst_heading_anchors (the depth of the headings that get "
        "an anchor, e.g. 3): the appendices link chapter sections as NAME.ipynb#heading-slug, which the "
        "HTML build resolves only for those headings")
    return depth


@functools.cache
def _md_parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    extensions = set((config().get("parse") or {}).get("myst_enable_extensions") or [])
    return create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)


@functools.cache
def sections(name: str) -> tuple[tuple[str, int, str], ...]:
    """(slug, level, text) of every heading of a notebook that gets an anchor, with the Markdown of
    its section (up to the next heading of the same or a higher level). Slugs are myst-parser's:
    the heading's text and inline code (math left out), made unique over the whole notebook."""
    from markdown_it.tree import SyntaxTreeNode
    from myst_parser.mdit_to_docutils.base import compute_unique_slug

    depth = heading_anchors_depth()
    seen: dict[str, int] = {}
    flat: list[tuple[int, str | None, str]] = []  # (level, slug, markdown) chunks in order
    for src in markdown_cells(name):
        lines = src.split("\n")
        heads = []
        for node in SyntaxTreeNode(_md_parser().parse(src)).walk():
            if node.type == "heading":
                level = int(node.tag[1])
                slug = None
                if level <= depth:
                    slug = compute_unique_slug(node, seen, None)
                    seen[slug] = 1
                heads.append((node.map[0], level, slug))
        pos = 0
        for line, level, slug in heads:
            flat.append((0, None, "\n".join(lines[pos:line])))
            flat.append((level, slug, ""))
            pos = line
        flat.append((0, None, "\n".join(lines[pos:])))
    out = []
    for k, (level, slug, _) in enumerate(flat):
        if not level or slug is None:
            continue
        body = []
        for level2, _, text in flat[k + 1:]:
            if level2 and level2 <= level:
                break
            body.append(text)
        out.append((slug, level, "\n".join(body)))
    return tuple(out)


def section_text(name: str, slug: str) -> str | None:
    return next((text for s, _, text in sections(name) if s == slug), None)


def check_chapter_link(target: str) -> str | None:
    """None if `NAME.ipynb#slug` (or `NAME.ipynb`) reaches a chapter of the book, else why not."""
    file, _, frag = target.partition("#")
    name = file.removesuffix(".ipynb")
    if not file.endswith(".ipynb") or not (BOOK / file).exists():
        return f"{target}: no such notebook in book/"
    if name not in toc_notebooks():
        return f"{target}: {file} is not in _toc.yml"
    if frag and section_text(name, frag) is None:
        slugs = [s for s, _, _ in sections(name)]
        return f"{target}: no heading of {file} has the anchor {frag!r} (its anchors: {slugs})"
    return None


def term_pattern(term: str) -> re.Pattern:
    """A term in running text: any case, a space or a hyphen between its words, a plural."""
    words = [re.escape(w) for w in re.split(r"[\s-]+", term.strip())]
    return re.compile(r"(?<![\w-])" + r"[\s-]+".join(words) + r"(?:s|es)?(?![\w])", re.IGNORECASE)


# --------------------------------------------------------------------------- the formula sheet


def sheet_sections() -> list[tuple[str, str | None, str]]:
    """(title, chapter the section is derived in or None, text) of every ## section of the sheet."""
    text = SHEET.read_text()
    parts = re.split(r"(?m)^## ", text)[1:]
    out = []
    for part in parts:
        title, _, body = part.partition("\n")
        m = re.search(r"Derived in \[[^\]]*\]\(([\w-]+)\.ipynb\)", body)
        out.append((title.strip(), m.group(1) if m else None, body))
    return out


def test_sheet_labels_exist_in_their_chapter():
    all_labels = {lab: name for name in toc_notebooks() for lab in chapter_labels(name)}
    problems = []
    for title, chapter, body in sheet_sections():
        for lab in EQ_ROLE.findall(body):
            if lab not in all_labels:
                problems.append(f"section {title!r}: {{eq}}`{lab}` is no labelled equation of any chapter")
            elif chapter and all_labels[lab] != chapter:
                problems.append(f"section {title!r} (derived in {chapter}.ipynb): {{eq}}`{lab}` is an "
                                f"equation of {all_labels[lab]}.ipynb")
    assert not problems, "formula sheet:\n" + "\n".join(problems)


def test_every_labelled_equation_is_on_the_sheet():
    on_sheet = set(EQ_ROLE.findall(SHEET.read_text()))
    derived = {chapter for _, chapter, _ in sheet_sections() if chapter}
    problems = []
    for name in numbered_chapters():
        labels = chapter_labels(name)
        if labels and name not in derived:
            problems.append(f"{name}.ipynb has labelled equations but no section "
                            f"('Derived in [the ... chapter]({name}.ipynb)') on the sheet")
        missing = [lab for lab in labels if lab not in on_sheet]
        if missing:
            problems.append(f"{name}.ipynb: labelled equations missing from the sheet: {missing}")
    assert not problems, "formula sheet:\n" + "\n".join(problems)


def test_equation_labels_are_unique_across_chapters():
    seen: dict[str, str] = {}
    dupes = []
    for name in toc_notebooks():
        for lab in chapter_labels(name):
            if lab in seen:
                dupes.append(f"{lab} in {seen[lab]}.ipynb and {name}.ipynb")
            seen.setdefault(lab, name)
    assert not dupes, f"the sheet's {{eq}} references are global, labels must be unique: {dupes}"


@pytest.mark.parametrize("page", [SHEET, GLOSSARY], ids=["formula_sheet", "glossary"])
def test_section_links_resolve(page):
    problems = [why for _, target in LINK.findall(page.read_text())
                if ".ipynb" in target and not re.match(r"[a-z]+:", target)
                and (why := check_chapter_link(target))]
    assert not problems, f"{page.name}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the glossary

KINDS = {"Defined in": "defined", "Treated in": "treated",
         "Not treated in this book; the nearest section is": "not treated"}


def glossary_entries() -> list[dict]:
    text = GLOSSARY.read_text()
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S)
    assert block, "glossary.md has no {glossary} directive"
    lines = [ln for ln in block.group(1).split("\n") if not ln.startswith(":")]
    entries, terms, body = [], [], []
    for ln in lines + [""]:
        if ln and not ln.startswith(" "):
            if body:
                entries.append((terms, "\n".join(body)))
                terms, body = [], []
            terms.append(ln.strip())
        elif terms:
            body.append(ln)
    if terms:
        entries.append((terms, "\n".join(body)))
    out = []
    for terms, body in entries:
        m = re.search(r"Русский: (.*?) · 中文: (.*?) · (Defined in|Treated in|Not treated in this "
                      r"book; the nearest section is) \[[^\]]*\]\(([^)]+)\)\.", body)
        out.append({"terms": terms, "body": body, "ru": m and m.group(1), "zh": m and m.group(2),
                    "kind": m and KINDS[m.group(3)], "target": m and m.group(4)})
    return out


def test_every_glossary_entry_links_its_section():
    problems = []
    for e in glossary_entries():
        name = e["terms"][0]
        if not e["kind"]:
            problems.append(f"{name}: no line 'Русский: ... · 中文: ... · Defined in [...](NAME.ipynb#section).'")
            continue
        if "#" not in e["target"]:
            problems.append(f"{name}: links {e['target']}, a whole chapter; link the section")
            continue
        why = check_chapter_link(e["target"])
        if why:
            problems.append(f"{name}: {why}")
            continue
        if e["kind"] == "defined":
            chapter, slug = e["target"].removesuffix("").split(".ipynb#")
            text = section_text(chapter, slug)
            if not any(term_pattern(t).search(text) for t in e["terms"]):
                problems.append(f"{name}: 'Defined in' {e['target']}, but that section never says "
                                f"{' or '.join(map(repr, e['terms']))} (link the section that defines it, "
                                "or say 'Treated in' if it treats the idea under other words)")
    assert not problems, "glossary:\n" + "\n".join(problems)


def test_terms_marked_not_treated_are_used_by_no_chapter():
    problems = []
    for e in glossary_entries():
        if e["kind"] != "not treated":
            continue
        for name in toc_notebooks():
            text = "\n".join(markdown_cells(name))
            for t in e["terms"]:
                m = term_pattern(t).search(text)
                if m:
                    around = text[max(0, m.start() - 60):m.end() + 60].replace("\n", " ")
                    problems.append(f"{e['terms'][0]!r} is marked 'not treated' but {name}.ipynb uses "
                                    f"it: ...{around}... (link the section that treats it)")
    assert not problems, "glossary:\n" + "\n".join(problems)


def test_every_chapter_has_glossary_entries():
    linked = {e["target"].split(".ipynb")[0] for e in glossary_entries() if e["target"]}
    missing = [name for name in numbered_chapters()
               if any(level >= 2 for _, level, _ in sections(name)) and name not in linked]
    assert not missing, f"chapters with sections but no glossary entry pointing at them: {missing}"


def test_translation_table_matches_the_entries():
    text = GLOSSARY.read_text()
    table = text[text.index("## Translation table"):]
    rows = re.findall(r"\* - \{term\}`([^`]+)`[^\n]*\n  - (.*)\n  - (.*)\n  - \[[^\]]*\]\(([\w-]+\.ipynb)\)", table)
    by_term = {t: (ru, zh, f) for t, ru, zh, f in rows}
    problems = []
    if len(rows) != len(by_term):
        problems.append("a term appears twice in the table")
    entries = {e["terms"][0]: e for e in glossary_entries()}
    for term, e in entries.items():
        if term not in by_term:
            problems.append(f"{term}: not in the translation table")
            continue
        ru, zh, f = by_term[term]
        if (ru, zh) != (e["ru"], e["zh"]):
            problems.append(f"{term}: the table says {ru!r} / {zh!r}, the entry {e['ru']!r} / {e['zh']!r}")
        if e["target"] and f != e["target"].split("#")[0]:
            problems.append(f"{term}: the table puts it in {f}, the entry links {e['target']}")
    problems += [f"{t}: in the table but no entry" for t in by_term if t not in entries]
    assert not problems, "glossary:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the checks themselves


def test_slugs_are_myst_parsers(tmp_path, monkeypatch):
    """The slug rules on headings with math, code, punctuation and a repeat."""
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [
        "# A chapter\n\n## Sigmoid $\\sigma$\n\ntext\n\n### The `im2col` matrix: 4×4, fast!\n\n"
        "## Checks\n\nfirst\n\n## Checks\n\nsecond\n\n#### Deep heading\n"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(__import__(__name__), "BOOK", tmp_path)
    markdown_cells.cache_clear()
    sections.cache_clear()
    try:
        got = [(s, lvl) for s, lvl, _ in sections("x")]
        text = dict((s, t) for s, _, t in sections("x"))
    finally:
        markdown_cells.cache_clear()
        sections.cache_clear()
    assert got == [("a-chapter", 1), ("sigmoid-", 2), ("the-im2col-matrix-44-fast", 3),
                   ("checks", 2), ("checks-1", 2)], got
    assert "first" in text["checks"] and "second" not in text["checks"]
    assert "text" in text["sigmoid-"] and "first" not in text["sigmoid-"]


def test_term_pattern():
    assert term_pattern("weight sharing").search("Weight-sharing is")
    assert term_pattern("minibatch").search("two minibatches")
    assert not term_pattern("batch").search("minibatch")
    assert not term_pattern("validation set").search("the validation of a set")
