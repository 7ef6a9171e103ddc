"""The bibliography (references.bib, rendered on book/references.md by sphinxcontrib-bibtex) and
the book's citations agree.

How the book cites (docs/authoring.md, "Citations"):

- the Markdown pages of book/ use ``{cite:p}`key``` / ``{cite:t}`key```; the strict build fails on
  a key that is not in references.bib;
- a notebook cannot (jupyterlab-myst shows a ``{cite}`` as "Citation Not Found"): it links the
  work's author-year label to the references page, ``[Polyak, 1964](references.md)``. The label
  is what the HTML prints for ``{cite:p}``: "Surname", "Surname and Surname" or "Surname et al.",
  a comma and the year ("n.d." without one); a work whose source shows no author is cited by its
  ``shorttitle`` in italics, ``[*Backpropagation*, n.d.](references.md)``.

The tests fail on: a ``{cite}`` in a notebook; a citation link whose text is no entry's label; an
author-year citation in the prose, "(Surname & Surname, 2016; ...)", that matches no entry; a
link to the references page with an anchor (the HTML build cannot resolve it); an entry that
nothing outside the references page cites; and on entries that cannot be cited unambiguously.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from test_appendices import (BOOK, ROOT, config, markdown_cells, toc_chapters, toc_notebooks)

BIB = ROOT / "references.bib"
REFERENCES = BOOK / "references.md"

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
REF_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\(references\.md(#[^)\s]*)?\)")
GENERIC = re.compile(r"(?i)^(the )?references( appendix| page)?$")
SURNAME = r"(?:(?:van|von|de|der|di|le)\s+)*[A-Z][\w'’-]*"
NAMES = rf"{SURNAME}(?:\s+et\s+al\.|(?:,\s+{SURNAME})*,?\s+(?:&|and)\s+{SURNAME})?"
YEAR = r"(?:1[89]|20)\d\d"
# "(Dumoulin & Visin, 2016; see ...)", "(He, Zhang, Ren and Sun, 2015, ...)", "Mathieu, Henaff & LeCun (2013; ..."
PAREN_CITE = re.compile(rf"\((?:[^()]*?;\s*)?(?P<names>{NAMES}),?\s+(?P<year>{YEAR})(?=[,;)])")
TEXT_CITE = re.compile(rf"(?P<names>{NAMES})\s+\((?P<year>{YEAR})(?=[,;)])")


@functools.cache
def entries():
    from pybtex.database import parse_file

    return parse_file(str(BIB), bib_format="bibtex").entries


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[{}\\]", "", text)).strip()


def surnames(entry) -> list[str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    return [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]


def label(entry) -> str:
    """The author-year label, as sphinxcontrib-bibtex's author_year style prints it (unstyled)."""
    names = surnames(entry)
    if not names:
        who = "*" + _plain(entry.fields["shorttitle"]) + "*"
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("*", "").replace("_", "")).strip()


@functools.cache
def labels() -> dict[str, str]:
    """normalised label -> key."""
    return {normalise(label(e)): key for key, e in entries().items()}


def md_pages() -> list[Path]:
    return [BOOK / f"{name}.md" for name, _ in toc_chapters() if (BOOK / f"{name}.md").exists()]


def cited_keys(role_body: str) -> list[str]:
    # {cite:p}`{see}key1,key2{p. 3}`: keys, without the pre- and post-text in braces
    return [k.strip() for k in re.sub(r"\{[^}]*\}", "", role_body).split(",") if k.strip()]


def resolve_author_year(names: str, year: str) -> str | None:
    first = re.split(r",|\s+&\s+|\s+and\s+|\s+et\s+al\.", names)[0].strip()
    for key, e in entries().items():
        s = surnames(e)
        if s and e.fields.get("year") == year and (s[0] == first or s[0].split()[-1] == first):
            return key
    return None


def citations() -> tuple[dict[str, list[str]], list[str]]:
    """key -> places that cite it (the references page itself left out), and the problems found."""
    where: dict[str, list[str]] = {}
    problems = []
    known = entries()
    for page in md_pages():
        if page == REFERENCES:
            continue
        for body in CITE_ROLE.findall(page.read_text()):
            for key in cited_keys(body):
                if key in known:
                    where.setdefault(key, []).append(page.name)
                else:
                    problems.append(f"{page.name}: {{cite}} of {key!r}, which is not in references.bib")
    texts = [(p.name, p.read_text()) for p in md_pages() if p != REFERENCES]
    texts += [(f"{n}.ipynb", "\n".join(markdown_cells(n))) for n in toc_notebooks()]
    for name, text in texts:
        if name.endswith(".ipynb") and CITE_ROLE.search(text):
            problems.append(f"{name}: {{cite}} in a notebook renders as 'Citation Not Found' in "
                            f"JupyterLab; link the label instead, [Author, Year](references.md)")
        for link_text, frag in REF_LINK.findall(text):
            if frag:
                problems.append(f"{name}: link [{link_text}](references.md{frag}): the HTML build resolves "
                                "no anchor of the references page; link the page")
            if GENERIC.match(normalise(link_text)):
                continue
            for part in normalise(link_text).split("; "):
                key = labels().get(part)
                if key:
                    where.setdefault(key, []).append(name)
                else:
                    problems.append(f"{name}: citation [{link_text}](references.md) names no entry of "
                                    f"references.bib (labels: {sorted(labels())})")
        if name.endswith(".ipynb"):
            for rx in (PAREN_CITE, TEXT_CITE):
                for m in rx.finditer(text):
                    key = resolve_author_year(m["names"], m["year"])
                    if key:
                        where.setdefault(key, []).append(name)
                    else:
                        problems.append(f"{name}: the citation '{m['names']}, {m['year']}' matches no "
                                        "entry of references.bib (first author and year)")
    return where, problems


def test_entries_can_be_cited_unambiguously():
    problems = []
    seen: dict[str, str] = {}
    for key, e in entries().items():
        if not re.fullmatch(r"[a-z0-9-]+", key):
            problems.append(f"{key}: keys are lower-case letters, digits and hyphens, so that the "
                            f"entry's anchor is exactly references.html#cite-{key}")
        if "title" not in e.fields:
            problems.append(f"{key}: no title")
        if not surnames(e) and "shorttitle" not in e.fields:
            problems.append(f"{key}: no author (nor editor): give it a shorttitle to be cited by")
        lab = normalise(label(e)) if (surnames(e) or "shorttitle" in e.fields) else None
        if lab in seen:
            problems.append(f"{key} and {seen[lab]} have the same label {lab!r}")
        if lab:
            seen[lab] = key
    assert not problems, "references.bib:\n" + "\n".join(problems)


def test_every_citation_resolves():
    _, problems = citations()
    assert not problems, "\n".join(problems)


def test_every_entry_is_cited():
    where, _ = citations()
    uncited = sorted(set(entries()) - set(where))
    assert not uncited, (f"entries of references.bib that no chapter or appendix cites: {uncited} "
                         "(cite them where the book uses them, or remove them)")


def test_references_page_and_configuration():
    text = REFERENCES.read_text()
    assert re.search(r"```\{bibliography\}\n:all:\n```", text), (
        "references.md renders the whole of references.bib with a {bibliography} directive and :all:")
    sphinx = config()["sphinx"]["config"]
    assert "sphinxcontrib.bibtex" in sphinx["extensions"]
    assert sphinx["bibtex_bibfiles"] == ["references.bib"]
    assert sphinx["bibtex_reference_style"] == "author_year"  # the labels the notebooks use
    assert sphinx["bibtex_cite_id"] == "cite-{key}"           # stable anchors


# --------------------------------------------------------------------------- the checks themselves


def _entry(bibtex: str):
    from pybtex.database import parse_string

    return next(iter(parse_string(bibtex, "bibtex").entries.values()))


@pytest.mark.parametrize("bibtex, expected", [
    ("@misc{a, author={Polyak, Boris T.}, title={T}, year={1964}}", "Polyak, 1964"),
    ("@misc{a, author={Dumoulin, Vincent and Visin, Francesco}, title={T}, year={2016}}", "Dumoulin and Visin, 2016"),
    ("@misc{a, author={A, B and C, D and E, F}, title={T}, year={2013}}", "A et al., 2013"),
    ("@misc{a, author={Goto, K. and van de Geijn, Robert A.}, title={T}, year={2008}}", "Goto and van de Geijn, 2008"),
    ("@misc{a, author={{Open Data Science}}, title={T}}", "Open Data Science, n.d."),
    ("@misc{a, title={Long}, shorttitle={Short}}", "*Short*, n.d."),
])
def test_label(bibtex, expected):
    assert label(_entry(bibtex)) == expected


@pytest.mark.parametrize("text, found", [
    ("(Dumoulin & Visin, 2016, \"A guide\"; see the [references](references.md))", ("Dumoulin & Visin", "2016")),
    ("(He, Zhang, Ren and Sun, 2015, *Delving*)", ("He, Zhang, Ren and Sun", "2015")),
    ("networks (Yu & Koltun, 2016; see", ("Yu & Koltun", "2016")),
    ("a paper (see also Howard et al., 2017)", None),
    ("x (Howard et al., 2017; see", ("Howard et al.", "2017")),
    ("drawn (He, Zhang,\nRen and Sun, 2015, *Delving*)", ("He, Zhang,\nRen and Sun", "2015")),
    ("(in 2016, a post)", None),
])
def test_parenthetical_citations_are_found(text, found):
    m = PAREN_CITE.search(text)
    assert (m and (m["names"], m["year"])) == found


def test_textual_citations_are_found():
    m = TEXT_CITE.search("Mathieu, Henaff & LeCun (2013; see the [references](references.md))")
    assert (m["names"], m["year"]) == ("Mathieu, Henaff & LeCun", "2013")
