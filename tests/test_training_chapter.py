"""The training lab's text: the pooling experiment as issue 13 asks for it (pools 1, 2, 4, max and average,
the rate explained by the Gram matrix and tied to the fully-connected chapter's bound, what is and is not
shown, the reader's linear neuron), the NaN run, and the links into the lab's sections from the
convolution chapter and the common-mistakes appendix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"


def cells(name):
    return json.loads((BOOK / f"{name}.ipynb").read_text())["cells"]


def markdown(name):
    return "\n".join("".join(c["source"]) for c in cells(name) if c["cell_type"] == "markdown")


def code(name):
    return "\n".join("".join(c["source"]) for c in cells(name) if c["cell_type"] == "code")


def between(text, start, end=None):
    i = text.index(start)
    return text[i:text.index(end, i)] if end else text[i:]


def test_the_kernel_experiment_runs_every_pool_size_max_and_average():
    assert 'SETTINGS = [(1, "max"), (2, "max"), (4, "max"), (2, "avg"), (4, "avg")]' in code("training")
    assert "plot_kernel_recovery(" in code("training") and ".errors" in code("training")


def test_the_rate_is_least_squares_on_the_passed_on_patches_tied_to_the_fully_connected_bound():
    why = between(markdown("training"), "### Why: least squares", "### Too few patches")
    assert "(train-ls)" in why and "A^\\top A" in why
    assert "[fully-connected chapter](fully_connected.ipynb)" in why and "2/\\lambda_{\\max}" in why
    assert "\\lambda_{\\min}" in why
    checks = code("training")
    assert "abs(measured / predicted - 1) < 1e-4" in checks            # predicted pace = measured pace


def test_the_section_says_what_it_shows_and_what_it_does_not():
    end = between(markdown("training"), "### What these runs show, and what they do not", ":::{admonition}")
    assert "They show" in end and "They do not show" in end
    assert "we did not run it" in end


def test_the_readers_linear_neuron_is_reproduced_at_his_rate_and_explained_by_the_bound():
    neuron = between(markdown("training"), "### The same bound from the other end", "### What these runs show")
    assert "$x = (1, 2, 3)$" in neuron and "$(3, 2, 1)$" in neuron and "$0.25$" in neuron
    assert "3.5 > 2" in neuron
    assert "np.isclose(0.25 * lam_neuron[-1], 3.5) and 3.5 > 2" in code("training")


def test_a_run_of_the_lab_ends_in_nan_and_the_summary_names_the_symptom():
    assert '"N(0, 1), log(softmax) as written"' in code("training")
    assert "naive_run.diverged_at == 1" in code("training")
    assert "**Symptom: NaN after a few steps.**" in markdown("training")


@pytest.mark.parametrize("name", ["convolution", "common_mistakes"])
def test_links_into_the_lab_reach_its_sections(name):
    from test_appendices import check_chapter_link
    targets = re.findall(r"\]\((training\.ipynb#[a-z0-9-]+)\)", markdown(name))
    assert targets
    assert [why for t in targets if (why := check_chapter_link(t))] == []
