"""Norm-growth checks C1-C10 (Merrill et al. 2021; norm-growth spec §5) and the norm-growth lens
applied to the other papers (NG-scan-snap, NG-cooccurrence). Importing registers them, in order."""

from scanflow.papers.norm_growth.checks import theory_checks  # noqa: F401  C1-C7 (no transformer)
from scanflow.papers.norm_growth.checks import transformer_checks  # noqa: F401  C8-C10 (causal transformer)
from scanflow.papers.norm_growth.checks import other_papers  # noqa: F401  NG-scan-snap, NG-cooccurrence

# Shown by `scanflow verify` without a paper (measured on 2 shared CPU cores, README "Norm growth").
EXPECTED_DURATION = "about 10 min (--quick: about 2-4 min) on 2 CPU cores"
from scanflow.papers.norm_growth import mutations  # noqa: F401,E402  ng-* simulator bugs (scanflow verify --mutant)

__all__ = ["mutations", "other_papers", "theory_checks", "transformer_checks"]
