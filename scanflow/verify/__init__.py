"""The check framework shared by every paper: declare checks, run them, write a report.

A check is a function decorated with `check(...)`: it receives a `Context` (quick mode, a figure
directory, the seed count to use) and returns a `Result` holding the prediction (computed by a
theory function, never typed in), the measurement, the tolerance with its justification and a
pass/fail bit. `run_checks` runs a paper's checks and `write_report` writes report.md and
verdicts.json. A check the paper itself does not support is declared ``expected="fail"`` with
the reason; its failure is reported as XFAIL and does not fail the run.
"""

from scanflow.verify.framework import (
    REGISTRY,
    Check,
    Context,
    Result,
    check,
    exit_code,
    run_checks,
    verdict,
    write_report,
)

__all__ = ["REGISTRY", "Check", "Context", "Result", "check", "exit_code", "run_checks", "verdict", "write_report"]
