"""Every co-occurrence check runs in --quick form (`scanflow verify cooccurrence --quick`): 4-15 in the
default suite, the checks with their own programs under `-m slow`. Quick: the exact checks 1-3 on the small setting,
the TR m-sweep with GD at m = 64, 128 and 2 seeds (tau <= 24), FIG for 4,500 epochs (slow-marked); check 14's n path
adds n = 120 to the m = 64 program (data.n a static sweep axis), 15-long runs flow at n = 60, 120 to T* (slow-marked).
The checks share their runs (cached), so the first test pays for them; tests/test_cooccurrence_engine.py uses
the same m = 64 program."""

import pytest

import scanflow.papers.cooccurrence.checks  # noqa: F401  registers the checks
from scanflow.verify import REGISTRY, Context, verdict
from scanflow.verify.framework import Outcome

CHECKS = list(REGISTRY["cooccurrence"])
# Verdicts other than PASS (`scanflow.verify.framework.verdict`): 14 and 15-long fail at TR's n = 60 = 2.4 L^2 (Condition 1
# asks n >= Omega~(L^2)) and their violation shrinks along the n path (CONVERGES): 14, Thm 3.2(d)'s G1+G3, G2+G3 < 0 from
# the Phase-2 box on (random words carry part of the type-2/3 margins at small n); 15-long, L(T*) <= e L_hat(T*) (the
# distinct training random words are memorised, ~1/n each). 15-FIG breaks Assumption 2.3(ii) (XFAIL).
VERDICTS = {"14": "CONVERGES", "15-long": "CONVERGES", "15-FIG": "XFAIL"}
FINDINGS = {"14", "15-long"}  # the gate fails (expected to pass by the paper), pinned so a change is noticed


def test_all_fifteen_checks_are_registered():
    numbers = {name.split("-")[0] for name in CHECKS}
    assert numbers == {str(k) for k in range(1, 16)}


# The FIG checks, 15-long and 1-3 need their own compiled programs (m1 = 256, d = 64; flow runs): slow-marked
# to keep the default suite within its time budget (the FIG config is validated in test_cooccurrence_engine.py,
# the flow against the reduced ODE in test_cooccurrence_core.py).
# 1-3 (float64 flow vs reduced ODE on a small setting) repeat tests/test_cooccurrence_core.py at TR's c0.
SLOW = {n for n in CHECKS if n.endswith("-FIG")} | {"15-long", "1", "2", "3"}  # own compiled programs
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CHECKS]


@pytest.mark.parametrize("name", PARAMS)
def test_quick_check_verdict(name, tmp_path):
    c = REGISTRY["cooccurrence"][name]
    r = c.fn(Context(quick=True, fig_dir=tmp_path))
    assert r.measured and r.predicted and r.tolerance
    assert r.passed == (c.expected == "pass" and name not in FINDINGS), (name, r.measured)
    assert verdict(Outcome(c, r, 0.0)) == VERDICTS.get(name, "PASS"), (name, r.tolerance)
    assert r.assumptions and r.sources, name  # every check carries its meters and the sources of its predictions
    assert r.figure is None or (tmp_path / r.figure).is_file()
    meters = {}
    for a in r.assumptions:  # the first meter of a name is the check's own setting (a path end may repeat it)
        meters.setdefault(a.name.split(" (")[0], a)
    if c.mode == "P":  # TR: n = 60 = 2.4 L^2, outside n >= Omega~(L^2) read as >= 10 L^2; distinct random words
        assert not meters["Condition 1: n / L^2"].met and abs(meters["Condition 1: n / L^2"].value - 2.4) < 1e-12
        assert meters["Assumption 2.3: exact type shares, distinct training random words"].met
    if c.mode == "C":  # FIG breaks Assumption 2.3(ii) (words repeat) and Condition 1 (m1 = 256 > m = 128)
        assert not meters["Assumption 2.3: exact type shares, distinct training random words"].met
    if name == "14":  # the G signs from the Phase-2 box on; the value-Gram signs hold; the n path shrinks
        assert meters["Phase-2 box: min_i y_i F_i at the box entry"].met
        assert r.regime.xs == [60.0, 120.0] and r.regime.shrinks
        assert r.regime.violation[0] > 0.05 and r.regime.violation[1] < r.regime.violation[0] / 2
        assert "runs with v12" in r.tolerance and "(measured 1: ok)" in r.tolerance.split("runs with v12")[1][:140]
    if name == "15-long":  # T* is reached; the test/train ratio at T* falls with n
        assert meters["horizon reaches T*"].met and r.regime.shrinks
