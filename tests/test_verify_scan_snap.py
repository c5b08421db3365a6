"""Every simulating Scan and Snap check runs in --quick form, so an engine or theory regression
fails CI. (S2, S8, S9 run in tests/test_theory_scan_snap.py, S11 in tests/test_scan_snap_sweeps.py.)"""

import pytest

import scanflow.checks.scan_snap.sim_checks  # noqa: F401  registers the checks
from scanflow.verify import REGISTRY, Context

SIM_CHECKS = ["S1", "S3", "S4", "S5", "S6", "S7", "S7-overlap", "S10", "S12", "S13"]


@pytest.mark.parametrize("name", SIM_CHECKS)
def test_quick_check_verdict(name, tmp_path):
    c = REGISTRY["scan-snap"][name]
    r = c.fn(Context(quick=True, fig_dir=tmp_path))
    assert r.measured and r.predicted and r.tolerance
    # expected-pass checks must pass; S7-overlap is expected to fail (strong overlap breaks Theorem 1)
    assert r.passed == (c.expected == "pass"), (name, r.measured)
    assert r.figure is None or (tmp_path / r.figure).is_file()
