"""Scan and Snap checks S1-S13 (spec §6). Importing this package registers them, in order."""

from scanflow.papers.scan_snap.checks import theory_checks  # noqa: F401  S2, S8, S9 (no simulation)
from scanflow.papers.scan_snap.checks import sim_checks  # noqa: F401  S1, S3-S7, S10, S12, S13
from scanflow.papers.scan_snap.checks import sweep_checks  # noqa: F401  S11 (Fig-6 sweep)
from scanflow.papers.scan_snap import mutations  # noqa: F401  the simulator bugs these checks must catch (ss-*)

# Shown by `scanflow verify` without a paper (measured on 2 CPU cores, README "Checking a paper").
EXPECTED_DURATION = "about 8.5 min (--quick: about 2 min) on 2 CPU cores"

__all__ = ["mutations", "sim_checks", "sweep_checks", "theory_checks"]
