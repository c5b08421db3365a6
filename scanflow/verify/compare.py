"""Comparisons that produce the pass bit and the tolerance text from the same numbers.

A check states its gate once::

    gate = all_of(
        at_least("min R^2", r2, 0.99, why="the 1/(a t + b) form"),
        within_se("kappa slope vs m", slope, 0.0, se, slack=0.15, why="kappa independent of m"),
    )
    return Result(predicted=..., measured=..., **gate.result_fields())

`gate.passed` and `gate.text` are derived together, so the prose can never disagree with the rule.
Every comparison is also recorded with its numbers (`gate.terms`: name, rule, measured, ok, ours) for
verdicts.json and the report's table, and the framework reads which terms failed (a regime path must
measure one of them to carry a CONVERGES verdict). A threshold that is ours and not the paper's
says so: ``at_most("ratio", r, 2.0, ours="why 2")``; the report labels it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def _f(x) -> str:
    x = float(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


@dataclass(frozen=True)
class Gate:
    """One or more comparisons: `passed` is their AND, `text` their statement with the numbers."""

    passed: bool
    text: str
    terms: tuple = field(default=())

    def result_fields(self) -> dict:
        """``passed``, ``tolerance`` and ``terms`` for `scanflow.verify.Result`."""
        return {"passed": self.passed, "tolerance": self.text, "terms": [list(t) for t in self.terms]}

    @property
    def failed(self) -> list[str]:
        """The names of the comparisons that failed."""
        return [t[0] for t in self.terms if not t[3]]

    def __and__(self, other: "Gate") -> "Gate":
        return all_of(self, other)


def _gate(ok: bool, name: str, rule: str, measured, why: str, ours: str = "") -> Gate:
    ok = bool(ok) and math.isfinite(float(measured))
    text = (f"{name}: {rule} (measured {_f(measured)}: {'ok' if ok else 'VIOLATED'})" + (f"; {why}" if why else "") +
            (f" [our threshold: {ours}]" if ours else ""))
    return Gate(ok, text, ((name, rule, float(measured), ok, ours),))


def at_most(name: str, measured, bound, why: str = "", ours: str = "") -> Gate:
    """measured <= bound."""
    return _gate(float(measured) <= float(bound), name, f"<= {_f(bound)}", measured, why, ours)


def at_least(name: str, measured, bound, why: str = "", ours: str = "") -> Gate:
    """measured >= bound."""
    return _gate(float(measured) >= float(bound), name, f">= {_f(bound)}", measured, why, ours)


def between(name: str, measured, lo, hi, why: str = "", strict: bool = False, ours: str = "") -> Gate:
    """lo <= measured <= hi (strict: lo < measured < hi)."""
    m = float(measured)
    ok = (lo < m < hi) if strict else (lo <= m <= hi)
    rule = f"in ({_f(lo)}, {_f(hi)})" if strict else f"in [{_f(lo)}, {_f(hi)}]"
    return _gate(ok, name, rule, measured, why, ours)


def close(name: str, measured, predicted, rtol: float = 0.0, atol: float = 0.0, why: str = "", ours: str = "") -> Gate:
    """|measured - predicted| <= atol + rtol |predicted|."""
    tol = atol + rtol * abs(float(predicted))
    err = abs(float(measured) - float(predicted))
    parts = [f"{_f(atol)}" if atol else "", f"{_f(rtol)}*|{_f(predicted)}|" if rtol else ""]
    rule = f"|x - {_f(predicted)}| <= {' + '.join(p for p in parts if p) or '0'} = {_f(tol)}"
    return _gate(err <= tol, name, rule, measured, why, ours)


def within_se(name: str, measured, predicted, se, n_se: float = 2.0, slack: float = 0.0, why: str = "",
              ours: str = "") -> Gate:
    """|measured - predicted| <= slack + n_se * se (seed statistics; `slack` is the band the claim allows)."""
    tol = slack + n_se * float(se)
    err = abs(float(measured) - float(predicted))
    rule = f"|x - {_f(predicted)}| <= {_f(slack) + ' + ' if slack else ''}{n_se:g} se ({_f(se)}) = {_f(tol)}"
    return _gate(err <= tol, name, rule, measured, why, ours)


def holds_that(name: str, ok: bool, measured, rule: str, why: str = "", ours: str = "") -> Gate:
    """A yes/no comparison computed elsewhere (e.g. an ordering), with the number it rests on."""
    return _gate(bool(ok), name, rule, measured, why, ours)


def all_of(*gates: Gate) -> Gate:
    """Every gate passes; the text lists each with its outcome."""
    return Gate(all(g.passed for g in gates), "; ".join(g.text for g in gates), sum((g.terms for g in gates), ()))


__all__ = ["Gate", "all_of", "at_least", "at_most", "between", "close", "holds_that", "within_se"]
