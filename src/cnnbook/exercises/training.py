"""Checkers of the chapter "Training dynamics: a lab".

* :data:`check_momentum_stable_lr` -- ``fn(lam, mu) -> float``, the learning rate
  above which gradient descent with momentum (m <- mu m + g, theta <- theta - eta m)
  diverges on a quadratic of curvature lam.

The first case has mu = 0.5, where every known mistake gives a different number;
with mu = 0 most of them coincide with the right answer.
"""

from __future__ import annotations

from ._core import Case, Checker, Mutant

NO_MOMENTUM = (
    "that is the bound without momentum, 2/lambda: with momentum the recursion is theta_{t+1} = "
    "(1 + mu - eta lambda) theta_t - mu theta_{t-1}, whose roots stay inside the unit circle while "
    "0 < eta lambda < 2 (1 + mu)."
)
ONE_MINUS_MU = (
    "the factor is 1 + mu, not 1 - mu: momentum makes the steady steps 1/(1 - mu) times longer, but "
    "the stability edge of (1 + mu - eta lambda) r - mu (the condition |a_1| < 1 + a_0 with a_0 = mu) "
    "moves UP, to 2 (1 + mu) / lambda."
)
OVER_ONE_MINUS_MU = (
    "dividing by 1 - mu treats momentum as a plain rate eta/(1 - mu) for every gradient; that holds for "
    "a steady gradient, not at the edge of stability, where the gradient flips sign every step and "
    "the velocity's terms partly cancel: the edge is 2 (1 + mu) / lambda."
)
ONE_STEP = (
    "that is half the bound: (1 + mu)/lambda is where the root of (1 + mu - eta lambda) crosses 0; the "
    "recursion only blows up at eta lambda = 2 (1 + mu), where one root reaches -1."
)


def _ref(lam, mu):
    return 2.0 * (1.0 + mu) / lam


check_momentum_stable_lr = Checker(
    title="largest stable learning rate with momentum",
    reference=_ref,
    outputs=("eta",),
    arg_names=("lam", "mu"),
    cases=[
        Case("lambda = 1, mu = 0.5: the bound is 3", (1.0, 0.5)),
        Case("lambda = 14, mu = 0: the fully-connected chapter's neuron, 1/7", (14.0, 0.0)),
        Case("lambda = 37.5, mu = 0.9: about this network at its start", (37.5, 0.9)),
        Case("lambda = 0.25, mu = 0.99", (0.25, 0.99)),
    ],
    mutants=[
        Mutant("no_momentum", NO_MOMENTUM, lambda lam, mu: 2.0 / lam),
        Mutant("one_minus_mu", ONE_MINUS_MU, lambda lam, mu: 2.0 * (1.0 - mu) / lam),
        Mutant("over_one_minus_mu", OVER_ONE_MINUS_MU, lambda lam, mu: 2.0 / ((1.0 - mu) * lam)),
        Mutant("half", ONE_STEP, lambda lam, mu: (1.0 + mu) / lam),
    ],
)
check_momentum_stable_lr.name = "check_momentum_stable_lr"   # also set when registered in CHECKERS
