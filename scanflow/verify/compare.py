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


def seed_mean(name: str, samples, predicted, alpha: float = 0.05, slack: float = 0.0, n_se: float | None = None,
              axis: str | int = "seed", why: str = "", ours: str = "") -> Gate:
    """The mean over seeds of `samples` matches `predicted` within `slack` + `n_se` standard errors, at every
    remaining element (a record, a point): seed statistics, the tolerance a stochastic claim can be held to.
    By default `n_se` is Student's quantile t(1 - alpha / 2K, n - 1) over the K elements (Bonferroni), so that a true
    prediction fails with probability at most `alpha` however many records are compared (2 se at each of
    20 records would fail a true claim 64% of the time).

    `samples` is an `xarray.DataArray` with a ``seed`` dimension (or an array, seeds on `axis`); `predicted`
    broadcasts against the mean. Needs >= 2 seeds (a standard error). The measured number is the worst
    deviation in standard errors (less the slack), so the text shows how close the gate came."""
    import numpy as np

    if hasattr(samples, "dims"):
        ax = samples.dims.index(axis) if isinstance(axis, str) else axis
        values = np.asarray(samples.values, np.float64)
    else:
        ax = 0 if isinstance(axis, str) else axis
        values = np.asarray(samples, np.float64)
    n = values.shape[ax]
    if n < 2:
        raise ValueError(f"{name}: seed_mean needs >= 2 seeds for a standard error, got {n}")
    mean = values.mean(axis=ax)
    se = values.std(axis=ax, ddof=1) / math.sqrt(n)
    pred = np.broadcast_to(np.asarray(predicted, np.float64), mean.shape)
    if n_se is None:
        from scipy.stats import t as student  # a dependency of jax

        n_se = float(student.ppf(1 - alpha / (2 * max(1, mean.size)), n - 1))  # the se is estimated from n seeds
        family = f" (Student t, Bonferroni: a true prediction fails with probability {alpha:g})"
    else:
        family = ""
    # float64 rounding of the mean is no deviation (identical seeds give se = 0: compare them exactly)
    dev = np.abs(mean - pred) - slack - 64 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(pred))
    with np.errstate(divide="ignore", invalid="ignore"):  # se = 0 (identical seeds): any deviation is infinite
        z = np.where(dev <= 0, 0.0, dev / se)
    worst = int(np.argmax(np.where(np.isfinite(z), z, np.inf))) if z.size else 0
    zw = float(np.ravel(z)[worst]) if z.size else 0.0
    ok = bool(np.all(np.isfinite(mean)) and np.all(z <= n_se))
    where = f" at element {tuple(int(i) for i in np.unravel_index(worst, mean.shape))}" if mean.ndim else ""
    rule = (f"|mean over {n} seeds - prediction| <= {_f(slack) + ' + ' if slack else ''}{n_se:.3g} se at every one of "
            f"{mean.size} element(s){family} (worst{where}: mean {_f(np.ravel(mean)[worst])}, prediction "
            f"{_f(np.ravel(pred)[worst])}, se {_f(np.ravel(se)[worst])})")
    return _gate(ok, name, rule, zw, why, ours)


def trend_sign(name: str, x, y, sign: int = 1, n_se: float = 2.0, why: str = "", ours: str = "") -> Gate:
    """The least-squares slope of y on x has the sign `sign` (+1 / -1) by at least `n_se` standard errors.
    `y` may hold several seeds per x (``y.shape == (len(x), seeds)``): every (x, seed) pair is a point."""
    import numpy as np

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if y.ndim == 2:
        x = np.repeat(x, y.shape[1])
        y = y.reshape(-1)
    if x.size < 3:
        raise ValueError(f"{name}: trend_sign needs >= 3 points, got {x.size}")
    xc = x - x.mean()
    sxx = float((xc**2).sum())
    slope = float((xc * (y - y.mean())).sum() / sxx) if sxx > 0 else float("nan")
    resid = y - y.mean() - slope * xc
    se = math.sqrt(float((resid**2).sum()) / (x.size - 2) / sxx) if sxx > 0 else float("nan")
    ok = sign * slope - n_se * se > 0
    rule = f"slope {'>' if sign > 0 else '<'} 0 by {n_se:g} se (slope {_f(slope)}, se {_f(se)}, {x.size} points)"
    return _gate(ok, name, rule, slope, why, ours)


def exact(name: str, measured, predicted, ulps: float = 64.0, why: str = "", ours: str = "") -> Gate:
    """An exact identity in float64: every |measured - predicted| <= `ulps` * eps64 * max(1, |predicted|).
    The measured number is the worst error in units of that bound's eps (float64's rounding, not a fit)."""
    import numpy as np

    m = np.asarray(measured, np.float64)
    p = np.broadcast_to(np.asarray(predicted, np.float64), m.shape)
    eps = np.finfo(np.float64).eps
    err = np.abs(m - p) / (eps * np.maximum(1.0, np.abs(p)))
    worst = float(np.max(err)) if err.size else 0.0
    ok = bool(np.all(np.isfinite(m))) and worst <= ulps
    rule = f"|x - prediction| <= {ulps:g} eps64 * max(1, |prediction|) over {m.size} value(s) (float64 identity)"
    return _gate(ok, name, rule, worst, why, ours)


def ratio_within(name: str, measured, predicted, factor: float, why: str = "", ours: str = "") -> Gate:
    """measured / predicted in [1/factor, factor] (a law that holds up to a constant factor)."""
    r = float(measured) / float(predicted) if float(predicted) != 0 else float("inf")
    return _gate(1 / factor <= r <= factor, name, f"measured/predicted in [{_f(1 / factor)}, {_f(factor)}] "
                 f"(predicted {_f(predicted)})", r, why, ours)


def all_of(*gates: Gate) -> Gate:
    """Every gate passes; the text lists each with its outcome."""
    return Gate(all(g.passed for g in gates), "; ".join(g.text for g in gates), sum((g.terms for g in gates), ()))


__all__ = ["Gate", "all_of", "at_least", "at_most", "between", "close", "exact", "holds_that", "ratio_within",
           "seed_mean", "trend_sign", "within_se"]
