"""Word co-occurrence checks 1-15 (Yang et al. 2024, spec §7). Importing this package registers them, in order."""

from scanflow.papers.cooccurrence.checks import exact_checks  # noqa: F401  1-3 (float64 identities, small setting)
from scanflow.papers.cooccurrence.checks import sim_checks  # noqa: F401  4-15 (HOME m-sweep, 15-long and FIG)
from scanflow.papers.cooccurrence import mutations  # noqa: F401  registers the co-* mutations

# Shown by `scanflow verify` without a paper (measured on 2 busy CPU cores, README "Word co-occurrence").
EXPECTED_DURATION = "about 12 min (--quick: about 2 min) on 2 CPU cores"

__all__ = ["exact_checks", "mutations", "sim_checks"]
