"""The check framework shared by every paper: declare checks, run them, write a report.

A check is a function decorated with `check(...)`: it receives a `Context` (quick mode, a figure
directory, the seed count to use) and returns a `Result` holding the prediction (computed by a
theory function, never typed in), the measurement, the tolerance with its justification and a
pass/fail bit; the gate helpers of `scanflow.verify.compare` produce the bit and the
tolerance text from the same numbers. `run_checks` runs a paper's checks and `write_report` writes report.md and
verdicts.json. A check the paper itself does not support is declared ``expected="fail"`` with
the reason; its failure is reported as XFAIL and does not fail the run.

A check also declares the assumptions of the result it tests (`meter`, `holds`: measured on its own
setting, printed with the side each inequality needs). Its home setting has every meter met: PASS /
FAIL are decided there. A failed gate where a meter is unmet is CONVERGES only when a regime path
(`trend`, >= 3 points, measured on the failed gate's quantity) reaches the claim, else FAIL; a
passed gate where a meter is unmet is UNTESTED (not counted as verified). `observe` adds an OUTSIDE
observation beside the verdict (`VERDICT_SCALE`). `mutation` declares a bug the checks must catch
(`scanflow verify PAPER --mutant NAME`). `verify("scan-snap", quick=True)` is ``scanflow verify scan-snap
--quick`` from Python (`scanflow.verify.session`): it writes the same report and returns the same exit status.
"""

from scanflow.verify.compare import (Gate, all_of, at_least, at_most, between, close, exact, holds_that, ratio_within,
                                     seed_mean, trend_sign, within_se)
from scanflow.verify.framework import (
    REGISTRY,
    VERDICT_SCALE,
    Check,
    Context,
    Observation,
    Result,
    check,
    exit_code,
    observe,
    run_checks,
    verdict,
    write_report,
)
from scanflow.verify.mutation import mutation
from scanflow.verify.regime import Assumption, Regime, holds, meter, trend
from scanflow.verify.session import list_papers, verify

__all__ = [
    "REGISTRY", "VERDICT_SCALE", "Assumption", "Check", "Context", "Gate", "Observation", "Regime", "Result",
    "all_of", "at_least", "at_most", "between", "check", "close", "exit_code", "holds", "holds_that", "meter",
    "mutation", "observe", "run_checks", "trend", "verdict", "within_se", "write_report", "exact", "ratio_within",
    "seed_mean", "trend_sign", "verify", "list_papers",
]
