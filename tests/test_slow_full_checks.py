"""Full-size Scan and Snap checks (the settings `scanflow verify scan-snap` uses), behind the `slow`
marker: `python -m pytest -m slow` (about 4 minutes on 2 cores). The default suite runs the quick
forms (tests/test_verify_scan_snap.py)."""

import pytest

import scanflow.papers.scan_snap.checks  # noqa: F401  registers every check
from scanflow.verify import REGISTRY, Context

FINDINGS: set = set()  # checks expected to pass by the paper that fail numerically (none since S10-prop's rework)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGISTRY["scan-snap"]))
def test_full_check_verdict(name, tmp_path):
    c = REGISTRY["scan-snap"][name]
    r = c.fn(Context(quick=False, fig_dir=tmp_path))
    assert r.passed == (c.expected == "pass" and name not in FINDINGS), (name, r.measured)
