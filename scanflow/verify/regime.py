"""Assumption meters and regime paths: what a verdict needs to be fair to the paper.

A theorem holds under assumptions. A check declares them as **meters**, computed on its own setting
and printed with the side of the inequality the theorem requires::

    meter("A2: |lambda_1(E)|", lam1, "<", 1 / K, ref="Tian et al. 2023, Assumption A2")

and, where the claim is asymptotic ("for n >= Omega(L^2)", "for t >> K^2"), a **regime path**: the
same measurement at settings that move deeper into the theorem's regime. Its prediction is a trend,
the violation shrinking toward zero along the path; `trend` fits it over seeds::

    path = trend("n", [60, 120, 240, 480], violations_by_seed, why="Thm 2 needs n >= Omega(L^2)")

`scanflow.verify.framework.verdict` turns a failed gate into FAIL only when every meter is met and
no regime path shows the violation shrinking (CONVERGES), else OUTSIDE (an assumption is broken).
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

    def text(self) -> str:
        v = self.value if isinstance(self.value, str) else _f(self.value)
        return f"{self.name} = {v} (needs {self.required}): {'met' if self.met else 'NOT MET'}"


def meter(name: str, value, op: str, bound, ref: str = "", note: str = "") -> Assumption:
    """A numeric assumption ``value op bound``; ``>>`` / ``<<`` mean a factor of 10 at least."""
    if op not in _OPS:
        raise ValueError(f"op: expected one of {list(_OPS)}, got {op!r}")
    v = float(value)
    met = bool(math.isfinite(v) and _OPS[op](v, float(bound)))
    return Assumption(name, v, f"{op} {_f(bound)}", met, ref, note)


def holds(name: str, ok: bool, required: str, ref: str = "", note: str = "", value: str | None = None) -> Assumption:
    """A yes/no assumption (e.g. "the network is homogeneous": no biases)."""
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
    shrinks: bool  # the violation decreases along the path beyond seed noise (slope + 2 se < 0) ...
    reaches_zero: bool  # ... and the last point satisfies the claim within 2 se
    why: str = ""
    log_x: bool = True
    extra: dict = field(default_factory=dict)

    def text(self) -> str:
        pts = ", ".join(f"{_f(x)}: {_f(v)}±{_f(s)}" for x, v, s in zip(self.xs, self.violation, self.se))
        unit = f"per decade of {self.axis}" if self.log_x else f"per unit of {self.axis}"
        state = ("shrinks" + (" to within noise of 0" if self.reaches_zero else "")) if self.shrinks else "does not shrink"
        return (f"violation along {self.axis} [{pts}]: slope {_f(self.slope)} ± {_f(self.slope_se)} {unit}; "
                f"{state}" + (f" ({self.why})" if self.why else ""))

    def as_dict(self) -> dict:
        return asdict(self)


def trend(axis: str, xs, violations, why: str = "", log_x: bool = True) -> Regime:
    """Fit the trend of a violation along a regime path.

    `violations[i]` holds the violation at ``xs[i]`` per seed (an array; a scalar counts as one seed
    with no spread). The slope is the least-squares slope of the seed means against ``log10 x`` (or
    x), weighted by 1/se^2 when every point has a spread, with its standard error. The violation
    shrinks when ``slope + 2 se < 0`` and the mean at the last point is below the first; it
    reaches zero when the last mean is <= 2 se."""
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
    if ok.sum() >= 2:
        tbar = np.sum(w * tt) / np.sum(w)
        sxx = np.sum(w * (tt - tbar) ** 2)
        slope = float(np.sum(w * (tt - tbar) * (mm - np.sum(w * mm) / np.sum(w))) / sxx)
        resid = mm - (np.sum(w * mm) / np.sum(w) + slope * (tt - tbar))
        dof = max(int(ok.sum()) - 2, 1)
        # the larger of the residual scatter and the seed noise: a 2-point path has no residual, only seeds
        scatter = float(np.sum(w * resid**2) / dof / sxx) if ok.sum() > 2 else 0.0
        noise = float(1.0 / sxx) if (s[ok] > 0).all() else 0.0
        slope_se = math.sqrt(max(scatter, noise))
    else:
        slope, slope_se = math.nan, math.nan
    shrinks = bool(math.isfinite(slope) and slope + 2 * slope_se < 0 and m[ok][-1] < m[ok][0])
    reaches = bool(shrinks and m[ok][-1] <= 2 * s[ok][-1])
    return Regime(axis, xs, means, ses, slope, slope_se, shrinks, reaches, why, log_x)


def _f(x) -> str:
    x = float(x)
    if x != 0 and math.isfinite(x) and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


__all__ = ["Assumption", "Regime", "holds", "meter", "trend"]
