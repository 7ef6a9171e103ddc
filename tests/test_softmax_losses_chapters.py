"""The softmax chapter (3) and the loss-functions chapter (4) as a student meets them.

- Every exercise of the two chapters: the untouched stub (taken from the notebook) gets "not
  attempted yet", the reference solution (taken from the notebook's solution cell) passes, and
  reader-written mistakes are named.
- One treatment of each topic: the stable softmax (max subtraction) lives in the softmax chapter;
  log-sum-exp / log-softmax, the fused softmax + cross-entropy and its numerics in the losses
  chapter. The softmax chapter uses no loss function (losses come after it).
- Notation: indices from 0 in the losses chapter (no sums from 1), epsilon only as machine epsilon
  (the clip threshold is p_min, the label-smoothing amount gamma), in the notebooks and in the
  checkers' texts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnbook import activations, losses
from cnnbook import softmax as sm
from cnnbook.exercises import (CHECKERS, check_label_smoothing, check_log_softmax_jacobian,
                               check_softmax_backward, check_softmax_mse_grad)
from cnnbook.exercises import losses as ex_losses
from cnnbook.exercises import softmax as ex_softmax

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ("softmax", "losses")


def cells(name: str) -> list[dict]:
    return json.loads((ROOT / "book" / f"{name}.ipynb").read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def markdown(name: str) -> str:
    return "\n".join(source(c) for c in cells(name) if c["cell_type"] == "markdown")


def code(name: str) -> str:
    return "\n".join(source(c) for c in cells(name) if c["cell_type"] == "code")


def namespace() -> dict:
    return {"np": np, "sm": sm, "losses": losses, "activations": activations}


def solution_code(src: str) -> str:
    return src.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]


def exercises(name: str) -> list[tuple[str, str, str]]:
    """(stub source, checker call, solution source) of every exercise of a chapter."""
    nb = cells(name)
    out = []
    for i, c in enumerate(nb):
        if "exercise" not in tags(c):
            continue
        call = next(m.group(0) for d in nb[i + 1:i + 3] if d["cell_type"] == "code"
                    for m in [re.search(r"check_\w+\([^)]*\)", source(d))] if m)
        names = re.findall(r"^def (\w+)\(", source(c), flags=re.M)
        sol = next(source(d) for d in nb if "solution" in tags(d) and d["cell_type"] == "code"
                   and all(re.search(rf"^def {n}\(", source(d), flags=re.M) for n in names))
        out.append((source(c), call, sol))
    return out


EXERCISES = [(name, *ex) for name in CHAPTERS for ex in exercises(name)]


def test_the_chapters_have_their_exercises():
    calls = sorted(call.split("(")[0] for _, _, call, _ in EXERCISES)
    assert calls == sorted(["check_softmax_backward", "check_log_softmax_jacobian", "check_mse_sum",
                            "check_bce_with_logit", "check_label_smoothing", "check_mse_grad_flat_targets",
                            "check_softmax_mse_grad"])


@pytest.mark.parametrize("name,stub,call,solution", EXERCISES, ids=[e[2] for e in EXERCISES])
def test_stub_is_not_attempted_and_the_shown_solution_passes(name, stub, call, solution):
    ns = namespace() | CHECKERS
    exec(stub, ns)
    report = eval(call, ns)
    assert report.status == "not attempted" and not report.ok, str(report)
    exec(solution_code(solution), ns)
    assert eval(call, ns).ok, str(eval(call, ns))


# --------------------------------------------------------------------------- reader-written attempts


def test_softmax_backward_attempts():
    def loops(dy, y):                                     # a right answer with loops
        out = np.zeros_like(dy)
        for r in range(len(dy)):
            s = sum(dy[r, i] * y[r, i] for i in range(dy.shape[1]))
            out[r] = y[r] * (dy[r] - s)
        return out
    assert check_softmax_backward(loops).ok
    assert check_softmax_backward(lambda dy, y: dy * y * (1 - y)).mistakes == ("diagonal_only",)


def test_log_softmax_jacobian_attempts():
    def divide_by_column(z):                              # dy_i/dz_j divided by y_j: the transpose
        return sm.softmax_jacobian(z) / sm.softmax(z)[None, :]
    assert check_log_softmax_jacobian(divide_by_column).mistakes == ("transposed",)
    assert check_log_softmax_jacobian(lambda z: np.eye(len(z)) - np.tile(sm.softmax(z), (len(z), 1))).ok


def test_softmax_mse_attempts_and_where_the_checker_lives():
    assert check_softmax_mse_grad is ex_losses.check_softmax_mse_grad    # an exercise of chapter 4
    assert not hasattr(ex_softmax, "check_softmax_mse_grad")

    def via_jacobians(z, t):
        y = sm.softmax(z, axis=1)
        g = (y - t) / len(z)
        return np.stack([g[r] @ sm.softmax_jacobian(z[r]) for r in range(len(z))])
    assert check_softmax_mse_grad(via_jacobians).ok

    def no_mean(z, t):
        y = sm.softmax(z, axis=1)
        return np.stack([(y - t)[r] @ sm.softmax_jacobian(z[r]) for r in range(len(z))])
    report = check_softmax_mse_grad(no_mean)
    assert report.mistakes == ("missing_1_over_n",) and "missing 1/N" in report.diagnosis


def test_label_smoothing_speaks_of_gamma():
    def other_smoothing(labels, K, gamma):                # gamma/(K-1) on the other classes
        t = np.full((len(labels), K), gamma / (K - 1))
        t[np.arange(len(labels)), labels] = 1 - gamma
        return t
    report = check_label_smoothing(other_smoothing, np.log)
    assert report.mistakes == ("k_minus_1",)
    assert "gamma" in report.diagnosis and "eps" not in report.diagnosis
    assert "gamma" in str(report) and "eps" not in str(report)


def test_checker_texts_use_gamma_not_epsilon():
    for module in (ex_losses, ex_softmax):
        text = Path(module.__file__).read_text()
        assert not re.search(r"\beps\b|epsilon|ε", text), module.__name__


# --------------------------------------------------------------------------- one treatment each


def test_softmax_chapter_uses_no_loss_function():
    assert not re.search(r"\blosses\.", code("softmax"))
    assert "from cnnbook import losses" not in code("softmax")


def test_each_topic_is_treated_once():
    soft, loss = markdown("softmax"), markdown("losses")
    # the stable softmax (max subtraction) in chapter 3 ...
    assert "(softmax-shift)" in soft and "softmax_stable" in code("softmax")
    # ... log-softmax via log-sum-exp, and the fused softmax + cross-entropy, in chapter 4
    for text in ("(softmax-logsoftmax)", "(softmax-ce)", "frameworks fuse", "log_softmax_stable"):
        assert text not in soft + code("softmax"), text
    assert "(loss-logsumexp)" in loss and "Why frameworks fuse" in loss
    # the example z = (1000, -1000, 0) is the losses chapter's; the softmax chapter explains its softmax only
    assert not re.search(r"\bsm\.log_softmax\b|log_softmax_(stable|inline)", code("softmax"))


def test_the_new_properties_are_stated_and_checked():
    soft, loss = markdown("softmax"), markdown("losses")
    for label in ("softmax-covariance", "softmax-hessian", "softmax-lse", "softmax-logprob-grad"):
        assert f"({label})" in soft, label
    for label in ("loss-mse-torch", "loss-mse-ratio", "loss-mse-nll", "loss-ce-nll", "loss-ce-kl"):
        assert f"({label})" in loss, label
    assert "torch.nn.MSELoss" in loss


def test_losses_chapter_counts_from_zero():
    text = markdown("losses") + code("losses")
    assert not re.search(r"_\{[a-z]=1\}", text), "a sum from 1"
    assert "class 2 (the middle one)" not in text and "class 1 (the middle one)" in text
    assert "E_2 = " not in text and "E_0 = " in text


@pytest.mark.parametrize("name", CHAPTERS)
def test_epsilon_means_only_machine_epsilon(name):
    text = markdown(name)
    assert "varepsilon" not in text and "\\epsilon" not in text, name
    assert not re.search(r"\beps\b", code(name)), name


def test_losses_chapter_derives_the_weight_gradient_it_uses():
    assert "fc." not in code("losses") and "(loss-weight-sum)" in markdown("losses")


# --------------------------------------------------------------------------- the two new identities


def test_softmax_jacobian_is_a_covariance_and_the_hessian_of_logsumexp():
    rng = np.random.default_rng(3)
    for n in (2, 4, 9):
        z = rng.normal(size=n) * 2
        y, J = sm.softmax(z), sm.softmax_jacobian(z)
        e = np.eye(n)
        np.testing.assert_allclose(sum(y[c] * np.outer(e[c] - y, e[c] - y) for c in range(n)), J, atol=1e-15)
        assert np.linalg.eigvalsh(J).min() > -1e-15
        lse = lambda v: np.log(np.sum(np.exp(v)))
        h = 1e-4
        H = np.array([[(lse(z + h * (e[i] + e[j])) - lse(z + h * (e[i] - e[j])) - lse(z - h * (e[i] - e[j]))
                        + lse(z - h * (e[i] + e[j]))) / (4 * h * h) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(H, J, atol=1e-6)


def test_mse_conventions_differ_by_two_over_k():
    rng = np.random.default_rng(4)
    for N, K in ((1, 1), (3, 2), (5, 7)):
        y, t = rng.normal(size=(N, K)), rng.normal(size=(N, K))
        E, dy = losses.mse(y, t)
        np.testing.assert_allclose(np.mean((y - t) ** 2) / E, 2 / K, rtol=1e-12)
        np.testing.assert_allclose(2 * (y - t) / (N * K) / dy, 2 / K, rtol=1e-12)
