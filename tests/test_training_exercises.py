"""The checker of the training lab's exercise: the right answer passes, every known mistake is named,
the mistakes written by hand are recognised, an untouched stub is 'not attempted'."""

from __future__ import annotations

import pytest

from cnnbook.exercises.training import check_momentum_stable_lr


def test_right_answers_pass():
    assert check_momentum_stable_lr(lambda lam, mu: 2 * (1 + mu) / lam).ok
    assert check_momentum_stable_lr(lambda lam, mu: (2 + 2 * mu) * lam**-1).ok


@pytest.mark.parametrize("key", [m.key for m in check_momentum_stable_lr.mutants])
def test_every_mutant_is_named(key):
    report = check_momentum_stable_lr(check_momentum_stable_lr.mutant(key).fn)
    assert not report.ok and report.mistakes == (key,)


@pytest.mark.parametrize("fn, key", [
    (lambda lam, mu: 2 / lam, "no_momentum"),
    (lambda lam, mu: 2 * (1 - mu) / lam, "one_minus_mu"),
    (lambda lam, mu: 2 / lam / (1 - mu), "over_one_minus_mu"),
    (lambda lam, mu: (1 + mu) / lam, "half"),
])
def test_hand_written_mistakes(fn, key):
    report = check_momentum_stable_lr(fn)
    assert report.mistakes == (key,) and check_momentum_stable_lr.mutant(key).diagnosis in report.diagnosis


def test_stub_and_crash_are_reported_not_raised():
    def stub(lam, mu):
        raise NotImplementedError

    assert "not attempted" in str(check_momentum_stable_lr(stub)).lower()
    assert not check_momentum_stable_lr(lambda lam, mu: 1 / 0).ok
    assert not check_momentum_stable_lr(lambda lam, mu: None).ok
