"""Every co-occurrence check runs in --quick form (`scanflow verify cooccurrence --quick`): 4-15 in the
default suite, the checks with their own programs under `-m slow`. Quick: the exact checks 1-3 on the small setting,
the TR m-sweep with GD at m = 64, 128 and 2 seeds (tau <= 24), FIG for 4,500 epochs (slow-marked). The
checks share their runs (cached), so the first test pays for them; tests/test_cooccurrence_engine.py uses
the same m = 64 program."""

import pytest

import scanflow.papers.cooccurrence.checks  # noqa: F401  registers the checks
from scanflow.verify import REGISTRY, Context

CHECKS = list(REGISTRY["cooccurrence"])
# Known findings: expected to pass by the paper but failing numerically; pinned so a change is noticed.
# 14: Thm 3.2(d) G1+G3 <= -Omega(1) and G2+G3 <= -Omega(1) on all of (T1, T2) fails early in Phase 2
# (at T1, G ~ (0.67, 0.67, -0.50): the random words carry the type-2/3 margins).
# 15-long: the test/train loss ratio keeps growing far into Phase 2 (memorisation of training random words).
FINDINGS = {"14", "15-long"}


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
    if name == "14":  # the finding is the G1+G3 / G2+G3 sign early in Phase 2, the rest holds
        assert all(v for k, v in r.measured.items() if k.endswith("value-Gram signs"))
        assert any("'G1+G3 < 0' holds at fraction" in k for k in r.measured)
    assert r.figure is None or (tmp_path / r.figure).is_file()
