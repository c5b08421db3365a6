"""The assumptions of the co-occurrence results as meters (`scanflow.verify.meter` / `holds`), one builder each.

Every check evaluates the meters of the result it tests on its own setting (for an m-sweep: the least
favourable width, named). The formulas and thresholds are in `scanflow.papers.cooccurrence.theory`
(`n_over_L2`, `m_over_width_floor`, `LEMMA_D8_OUTPUT`, `PHASE2_MARGIN_C`, `t_star_loss`); this module
only states which side of each inequality the paper needs and where (Yang et al. 2024; user note
docs/papers/cooccurrence.md, "Assumptions"). ``>>`` reads as a factor of 10 at least (`scanflow.verify.regime`).
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.cooccurrence import theory as th
from scanflow.papers.cooccurrence.config import min_vocab_distinct
from scanflow.verify import holds, meter

PAPER = "Yang et al. 2024"


def n_samples(n: int, L: int, where: str = ""):
    """Condition 1: n >= Omega~(L^2)."""
    return meter("Condition 1: n / L^2" + (f" ({where})" if where else ""), th.n_over_L2(n, L), ">>", 1,
                 ref=f"{PAPER}, Condition 1 (n >= Omega~(L^2))")


def width(ms, m1: int, L: int):
    """Condition 1: m >= Omega~(max{m1, L^2}), at the smallest width of the check (naming where it is met)."""
    ms = sorted(int(m) for m in np.atleast_1d(ms))
    ok = [m for m in ms if th.m_over_width_floor(m, m1, L) >= 10]
    note = "" if len(ms) == 1 else (f"met from m = {ok[0]} on" if ok else f"met at none of m = {ms}")
    return meter(f"Condition 1: m / max(m1, L^2) (m = {ms[0]})", th.m_over_width_floor(ms[0], m1, L), ">>", 1,
                 ref=f"{PAPER}, Condition 1 (m >= Omega~(max(m1, L^2)))", note=note)


def small_init(F0: float):
    """Lemma D.8: the init is small enough that max_i |F(0)(X_i)| <= 0.01 (measured)."""
    return meter("small init: max_i |F(0)(X_i)| (measured)", F0, "<=", th.LEMMA_D8_OUTPUT,
                 ref=f"{PAPER}, Condition 1 / Lemma D.8 (|F(0)| <= 0.01)",
                 note="(Condition 1's sigma0 = 1/Theta~(sqrt(L m)) must hide a small constant; TR's c0 = 0.02 gives ~0.05)")


def data_model(n: int, L: int, d: int, tokens_NxL, type_N):
    """Assumption 2.3: exact type shares (n/2, n/6, n/6, n/6) and every training random word distinct (which needs
    d >= 3 + n(L - 7/3)), read off the training set itself."""
    tok, typ = np.asarray(tokens_NxL), np.asarray(type_N)
    shares = [int(np.sum(typ == k)) for k in (1, 2, 3, 4)] == [n // 2, n // 6, n // 6, n // 6] and n % 6 == 0
    rand = tok[tok >= 3]
    distinct = rand.size == np.unique(rand).size
    low = min_vocab_distinct(n, L)
    how = (f"shares {'exact' if shares else 'NOT exact'}; " +
           (f"{rand.size} distinct random words (d = {d} >= {low})" if distinct else
            f"{rand.size} random slots hold {np.unique(rand).size} words (d = {d} < {low}): words repeat"))
    return holds("Assumption 2.3: exact type shares, distinct training random words", shares and distinct,
                 "n/2, n/6, n/6, n/6 and no repeat (d >= 3 + n(L - 7/3))", ref=f"{PAPER}, Assumption 2.3 (i)-(ii)",
                 value=how)


def readout(a_init: str, train_a: bool):
    """Sec. 2.2: the readout a is fixed with a_j = +-1 (E1's factor m1 = sum a_j^2; the exact reduction needs a fixed)."""
    ok = a_init == "sign" and not train_a
    return holds("readout a fixed, a_j = +-1", ok, "fixed +-1", ref=f"{PAPER}, Sec. 2.2 (a fixed, uniform on +-1)",
                 value=f"{a_init}{', trained' if train_a else ', fixed'}")


def phase2_box(min_margin: float, what: str = "at the start of the gated window"):
    """Def. F.1: Phase 2 has every margin y_i F_i > C (C = theory.PHASE2_MARGIN_C)."""
    return meter(f"Phase-2 box: min_i y_i F_i {what}", min_margin, ">", th.PHASE2_MARGIN_C,
                 ref=f"{PAPER}, Def. F.1 / Thm E.27 (y_i F_i > C, Theta(1) at T1)",
                 note=f"C = {th.PHASE2_MARGIN_C:g} = 10 x Lemma D.8's 0.01 (theory.PHASE2_MARGIN_C)")


def horizon(reached: bool, what: str, value: str, ref: str):
    """The run reaches the time the claim is made at (T1, the Phase-2 box, T*)."""
    return holds(f"horizon reaches {what}", reached, f"reaches {what}", ref=f"{PAPER}, {ref}", value=value)


def setting(info: dict, F0: float, ms=None) -> list:
    """The meters every simulation check carries: Condition 1 (n, m), small init, Assumption 2.3, the readout.
    `info`: a run's workload info (n, L, m, m1, d, a_init, train_a); `ms`: the widths of an m-sweep."""
    n, L, m1 = int(info["n"]), int(info["L"]), int(info["m1"])
    return [n_samples(n, L), width(ms if ms is not None else [info["m"]], m1, L), small_init(F0),
            data_model(n, L, int(info["d"]), info["tokens_NxL"], info["type_N"]),
            readout(str(info["a_init"]), bool(info["train_a"]))]


__all__ = ["PAPER", "data_model", "horizon", "n_samples", "phase2_box", "readout", "setting", "small_init", "width"]
