"""Assumption meters and regime paths: what a verdict needs to be fair to the paper.

A theorem holds under assumptions. A check declares them as **meters**, computed on its own setting
and printed with the side of the inequality the theorem requires::

    meter("A2: |lambda_1(E)|", lam1, "<", 1 / K, ref="Tian et al. 2023, Assumption A2")

and, where the claim is asymptotic ("for n >= Omega(L^2)", "for t >> K^2"), a **regime path**: the
same measurement at settings that move deeper into the theorem's regime. Its prediction is a trend,
the violation shrinking toward zero along the path; `trend` fits it over seeds::

    path = trend("n", [60, 120, 240, 480], violations_by_seed, why="Thm 2 needs n >= Omega(L^2)")

A meter measures: its value is computed from the run (or from the config, when the assumption is
about the config: "one learning rate" compares the groups' rates), never typed in as ``True``. It
must not restate the check's own gate. A threshold that is ours and not the paper's says so
(``ours="why this value"``), and the report labels it.

`scanflow.verify.framework.verdict` decides PASS / FAIL where every meter is met (the check's home
setting). A failed gate with an unmet meter is CONVERGES only when a regime path of >= 3 points,
measured on the quantity of the gate that failed, reaches the claim (`Regime.reaches`); else FAIL,
with the unmet assumption named beside it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field

import numpy as np

_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    # "much larger / smaller": by a factor of 10 at least (the reading stated in every report)
    ">>": lambda v, b: v >= 10 * b,
    "<<": lambda v, b: v <= b / 10,
}


@dataclass
class Assumption:
    """One assumption of the theorem, evaluated on the check's setting."""

    name: str  # what is measured, e.g. "A2: (K-1) rho"
    value: float | str  # its value in this setting (a string for a yes/no property)
    required: str  # the side the theorem needs, e.g. "< 1", ">> 100" (>> reads as >= 10x)
    met: bool
    ref: str = ""  # where the assumption is stated: spec section, equation, theorem
    note: str = ""
    ours: str = ""  # the threshold is ours, not the paper's: why this value

    def text(self) -> str:
        v = self.value if isinstance(self.value, str) else _f(self.value)
        return f"{self.name} = {v} (needs {self.required}): {'met' if self.met else 'NOT MET'}"


def meter(name: str, value, op: str, bound, ref: str = "", note: str = "", ours: str = "") -> Assumption:
    """A numeric assumption ``value op bound``, the value measured on the run (or read off its config);
    ``>>`` / ``<<`` mean a factor of 10 at least. `ours`: the bound is our reading, not the paper's
    (why this value); the report labels it."""
    if op not in _OPS:
        raise ValueError(f"op: expected one of {list(_OPS)}, got {op!r}")
    v = float(value)
    met = bool(math.isfinite(v) and _OPS[op](v, float(bound)))
    return Assumption(name, v, f"{op} {_f(bound)}", met, ref, note, ours)


def holds(name: str, ok: bool, required: str, ref: str = "", note: str = "", value: str | None = None) -> Assumption:
    """A yes/no assumption (e.g. "the network is homogeneous": no biases). `ok` is computed from the
    run or its config (e.g. ``not spec.bias``), never a literal: a constant measures nothing."""
    if not isinstance(ok, (bool, np.bool_)):
        raise TypeError(f"holds({name!r}): ok must be a bool computed from the run, got {type(ok).__name__}")
    return Assumption(name, value if value is not None else ("yes" if ok else "no"), required, bool(ok), ref, note)


@dataclass
class Regime:
    """A measurement along a path into the theorem's regime, with its trend over seeds."""

    axis: str  # the quantity varied, e.g. "n" or "common weight"
    xs: list  # its values, ordered deeper into the regime
    violation: list  # mean violation at each value (0 or below: the claim holds there)
    se: list  # its standard error over seeds
    slope: float  # d violation / d step along the path (fitted; per unit of log10 x when log_x)
    slope_se: float
    shrinks: bool  # the violation decreases along the path beyond seed noise (slope + 2 se < 0)
    reaches: bool  # the path reaches the claim: last mean <= 0, or the fitted trend (- 2 se) crosses 0 within it
    why: str = ""
    log_x: bool = True
    extra: dict = field(default_factory=dict)
    gate: str = ""  # the gate quantity (a `Gate` term name) whose violation the path measures

    @property
    def decides(self) -> bool:
        """Can carry a CONVERGES verdict: >= 3 points, named gate, shrinking and reaching the claim."""
        return len(self.xs) >= 3 and bool(self.gate) and self.shrinks and self.reaches

    def text(self) -> str:
        pts = ", ".join(f"{_f(x)}: {_f(v)}±{_f(s)}" for x, v, s in zip(self.xs, self.violation, self.se))
        unit = f"per decade of {self.axis}" if self.log_x else f"per unit of {self.axis}"
        state = ("shrinks" + (" and reaches the claim" if self.reaches else ", but does not reach the claim")
                 if self.shrinks else "does not shrink")
        on = f" of '{self.gate}'" if self.gate else ""
        return (f"violation{on} along {self.axis} [{pts}]: slope {_f(self.slope)} ± {_f(self.slope_se)} {unit}; "
                f"{state}" + (f" ({self.why})" if self.why else ""))

    def as_dict(self) -> dict:
        return asdict(self)


def trend(axis: str, xs, violations, why: str = "", log_x: bool = True, gate: str = "") -> Regime:
    """Fit the trend of a violation along a regime path.

    `violations[i]` holds the violation at ``xs[i]`` per seed (an array; a scalar counts as one seed
    with no spread): the amount by which the gate named `gate` misses its claim there, so that
    ``<= 0`` means the claim holds. The slope is the least-squares slope of the seed means against
    ``log10 x`` (or x), weighted by 1/se^2 when every point has a spread, with its standard error.
    The violation shrinks when ``slope + 2 se < 0`` and the mean at the last point is below the
    first. The path reaches the claim when its last mean is <= 0, or when it shrinks and the fitted
    trend at the last point, less twice its standard error, is <= 0 (the trend crosses the claim's
    tolerance within the path's range). A CONVERGES verdict needs >= 3 points (`Regime.decides`)."""
    xs = [float(x) for x in xs]
    if len(xs) < 2 or len(xs) != len(violations):
        raise ValueError(f"trend: expected >= 2 path points with one violation array each, got {len(xs)} / "
                         f"{len(violations)}")
    means, ses = [], []
    for v in violations:
        a = np.asarray(v, float).ravel()
        a = a[np.isfinite(a)]
        means.append(float(a.mean()) if a.size else math.nan)
        ses.append(float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else 0.0)
    t = np.log10(xs) if log_x else np.asarray(xs)
    m, s = np.asarray(means), np.asarray(ses)
    ok = np.isfinite(m)
    w = 1.0 / np.maximum(s[ok], 1e-12) ** 2 if (s[ok] > 0).all() else np.ones(ok.sum())
    tt, mm = t[ok], m[ok]
    fit_end = math.nan
    if ok.sum() >= 2:
        tbar = np.sum(w * tt) / np.sum(w)
        mbar = np.sum(w * mm) / np.sum(w)
        sxx = np.sum(w * (tt - tbar) ** 2)
        slope = float(np.sum(w * (tt - tbar) * (mm - mbar)) / sxx)
        resid = mm - (mbar + slope * (tt - tbar))
        dof = max(int(ok.sum()) - 2, 1)
        # the larger of the residual scatter and the seed noise: a 2-point path has no residual, only seeds
        scatter = float(np.sum(w * resid**2) / dof / sxx) if ok.sum() > 2 else 0.0
        noise = float(1.0 / sxx) if (s[ok] > 0).all() else 0.0
        slope_se = math.sqrt(max(scatter, noise))
        sigma2 = slope_se**2 * sxx  # the variance scale of the fit (residual or seed noise)
        fit_se = math.sqrt(sigma2 * (1 / np.sum(w) + (tt[-1] - tbar) ** 2 / sxx))
        fit_end = float(mbar + slope * (tt[-1] - tbar)) - 2 * fit_se
    else:
        slope, slope_se = math.nan, math.nan
    last = m[ok][-1] if ok.any() else math.nan
    shrinks = bool(math.isfinite(slope) and slope + 2 * slope_se < 0 and last < m[ok][0])
    reaches = bool(ok.any() and (last <= 0 or (shrinks and fit_end <= 0)))
    return Regime(axis, xs, means, ses, slope, slope_se, shrinks, reaches, why, log_x, gate=gate)


def _f(x) -> str:
    x = float(x)
    if x != 0 and math.isfinite(x) and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


__all__ = ["Assumption", "Regime", "holds", "meter", "trend"]
