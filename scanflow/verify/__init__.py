"""The check framework shared by every paper: declare checks, run them, write a report.

A check is a function decorated with `check(...)`: it receives a `Context` (quick mode, a figure
directory, the seed count to use) and returns a `Result` holding the prediction (computed by a
theory function, never typed in), the measurement, the tolerance with its justification and a
pass/fail bit; the gate helpers of `scanflow.verify.compare` produce the bit and the
tolerance text from the same numbers. `run_checks` runs a paper's checks and `write_report` writes report.md and
verdicts.json. A check the paper itself does not support is declared ``expected="fail"`` with
the reason; its failure is reported as XFAIL and does not fail the run.

A check also declares the assumptions of the result it tests (`meter`, `holds`: computed on its own
setting, printed with the side each inequality needs) and, for an asymptotic claim, a regime path
(`trend`: the violation along settings deeper into the regime). A failed gate is then FAIL only
inside every assumption and without a converging path; else OUTSIDE or CONVERGES (`VERDICT_SCALE`).
"""

from scanflow.verify.compare import Gate, all_of, at_least, at_most, between, close, within_se
from scanflow.verify.framework import (
    REGISTRY,
    VERDICT_SCALE,
    Check,
    Context,
    Result,
    check,
    exit_code,
    run_checks,
    verdict,
    write_report,
)
from scanflow.verify.regime import Assumption, Regime, holds, meter, trend

__all__ = [
    "REGISTRY", "VERDICT_SCALE", "Assumption", "Check", "Context", "Gate", "Regime", "Result", "all_of", "at_least",
    "at_most", "between", "check", "close", "exit_code", "holds", "meter", "run_checks", "trend", "verdict",
    "within_se", "write_report",
]
