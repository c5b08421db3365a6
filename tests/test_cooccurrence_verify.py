"""Every co-occurrence check runs in --quick form (`scanflow verify cooccurrence --quick`): 4-15 in the
default suite, the checks with their own programs under `-m slow`. Quick: the exact checks 1-3 on the small setting,
the HOME m-sweep (L = 3, n = 96, m1 = 8, c0 = 0.002: every assumption met as measured) with GD at m = 128, 256 and
2 seeds (tau <= 40), FIG for 4,500 epochs (slow-marked), 15-long by flow at m = 128 to T* (slow-marked). The checks
share their runs (cached), so the first test pays for them."""

import pytest

import scanflow.papers.cooccurrence.checks  # noqa: F401  registers the checks and the co-* mutations
from scanflow.verify import REGISTRY, Context, verdict
from scanflow.verify.framework import Outcome
from scanflow.verify.mutation import mutations

CHECKS = list(REGISTRY["cooccurrence"])
# Verdicts other than PASS (`scanflow.verify.framework.verdict`): the FIG checks are the paper's own experiment,
# outside the assumptions by design (no_home): 8-FIG and 13-FIG hold there (UNTESTED, never counted as verified),
# 15-FIG is a control expected to fail (XFAIL: repeated random words are memorised).
VERDICTS = {"8-FIG": "UNTESTED", "13-FIG": "UNTESTED", "15-FIG": "XFAIL"}


def test_all_fifteen_checks_are_registered():
    numbers = {name.split("-")[0] for name in CHECKS}
    assert numbers == {str(k) for k in range(1, 16)}


def test_every_check_has_a_home_or_says_why_not():
    for name, c in REGISTRY["cooccurrence"].items():
        assert bool(c.home) != bool(c.no_home), name
        if c.no_home:
            assert c.mode == "C" and c.fn.__doc__ and "no_home" in c.fn.__doc__, name


def test_every_simulation_check_is_killed_by_a_declared_mutation():
    """The co-* mutations (scanflow/papers/cooccurrence/mutations.py) are registered with the paper, each kills at least
    one check, and every check that is not a theory identity (mode T) or an expected failure is killed by one."""
    muts = mutations("cooccurrence")
    assert len(muts) >= 3 and all(n.startswith("co-") for n in muts)
    assert all(m.kills for m in muts.values()), {n: m.kills for n, m in muts.items()}
    killed = {k for m in muts.values() for k in m.kills}
    assert killed <= set(CHECKS), killed - set(CHECKS)
    need = {n for n, c in REGISTRY["cooccurrence"].items() if c.mode != "T" and c.expected == "pass"}
    assert need <= killed, need - killed


# The FIG checks, 15-long and 1-3 need their own compiled programs (m1 = 256, d = 64; flow runs): slow-marked
# to keep the default suite within its time budget (the FIG config is validated in test_cooccurrence_engine.py,
# the flow against the reduced ODE in test_cooccurrence_core.py).
SLOW = {n for n in CHECKS if n.endswith("-FIG")} | {"15-long", "1", "2", "3"}  # own compiled programs
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CHECKS]


@pytest.mark.parametrize("name", PARAMS)
def test_quick_check_verdict(name, tmp_path):
    c = REGISTRY["cooccurrence"][name]
    r = c.fn(Context(quick=True, fig_dir=tmp_path))
    assert r.measured and r.predicted and r.tolerance and r.terms
    assert r.passed == (c.expected == "pass"), (name, r.tolerance)
    assert verdict(Outcome(c, r, 0.0)) == VERDICTS.get(name, "PASS"), (name, r.tolerance)
    assert r.assumptions and r.sources, name  # every check carries its meters and the sources of its predictions
    assert r.figure is None or (tmp_path / r.figure).is_file()
    meters = {a.name.split(" (")[0]: a for a in r.assumptions}
    if c.mode == "P":  # HOME: inside Condition 1 (n / L^2 = 96 / 9), the small init and Assumption 2.3, as measured
        assert meters["Condition 1: n / L^2"].met and abs(meters["Condition 1: n / L^2"].value - 96 / 9) < 1e-12
        assert meters["Condition 1: m / max(m1, L^2)"].met and meters["small init: max_i |F(0)(X_i)|"].met
        assert meters["small init: max_i |F(0)(X_i)|"].value <= 0.01
        assert meters["Assumption 2.3: exact type shares, distinct training random words"].met
        assert meters["one learning rate for W_Q, W_K, W_V, W; none for a"].met
    if c.mode == "C":  # FIG breaks Assumption 2.3(ii) (words repeat) and Condition 1 (m1 = 256 > m = 128)
        assert not meters["Assumption 2.3: exact type shares, distinct training random words"].met
    if name in {"9", "10", "11", "12", "13", "14", "15"}:  # one Phase-2 window, [2 T1_0, end], inside the box
        box = meters["Phase-2 box: min_i y_i F_i at the start of the Phase-2 window"]
        assert box.met and box.value > 0.2 and box.ours  # not chosen to pass: 0.3 measured against C = 0.1 (ours)
    if name == "7":  # the scores move in Phase 1 at the order of the bound (a frozen attention would not)
        t = {x[0]: x for x in r.terms}["score: log-log slope of |D| vs m"]
        assert t[3] and -2.2 < t[2] < -1.0
