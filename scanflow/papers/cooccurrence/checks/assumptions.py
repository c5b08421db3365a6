"""The assumptions of the co-occurrence results as meters (`scanflow.verify.meter` / `holds`), one builder each.

Each condition is defined ONCE here, with its threshold and where the threshold comes from; every check of this paper
(and the norm-growth paper's NG-cooccurrence) builds its meters from these functions. Every meter measures: its value
is read off the run (the margins at record 0, the recorded learning rates, the training set) or its config (n, L, m,
m1), never typed in. The formulas are in `scanflow.papers.cooccurrence.theory` (`n_over_L2`, `m_over_width_floor`,
`LEMMA_D8_OUTPUT`, `PHASE2_MARGIN_C`). ``>>`` reads as a factor of 10 at least (`scanflow.verify.regime`); where the
paper writes Omega~ (constants and logs hidden) that factor is OUR reading, labelled as such.

- Condition 1, samples: n / L^2 >> 1 (`n_samples`).
- Condition 1, width: m / max(m1, L^2) >> 1 (`width`).
- Small init (Lemma D.8): the measured max_i |F(0)(X_i)| <= 0.01 (`small_init`). This is the one reading of "small
  init": Condition 1's sigma0 = 1/Theta~(sqrt(L m)) hides a constant c0, and Lemma D.8 is what the proofs use of it.
- Assumption 2.3: exact type shares and distinct training random words, read off the training set (`data_model`).
- Sec. 2.2: a fixed with a_j = +-1 (`readout`); gradient flow with one rate for W_Q, W_K, W_V, W and none for a,
  compared from the rates the run actually used (`one_rate`).
- Def. F.1: the gated Phase-2 window is inside the box min_i y_i F_i > C (`phase2_box`; C is ours).
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.cooccurrence import theory as th
from scanflow.papers.cooccurrence.config import min_vocab_distinct
from scanflow.verify import holds, meter

PAPER = "Yang et al. 2024"
OMEGA_OURS = "Omega~ hides constants and logs; ours: read as a factor 10 (the framework's >>)"
GROUPS = ("W_Q", "W_K", "W_V", "W")


def n_samples(n: int, L: int, where: str = ""):
    """Condition 1: n >= Omega~(L^2), read as n / L^2 >= 10."""
    return meter("Condition 1: n / L^2" + (f" ({where})" if where else ""), th.n_over_L2(n, L), ">>", 1,
                 ref=f"{PAPER}, Condition 1 (n >= Omega~(L^2))", ours=OMEGA_OURS)


def width(ms, m1: int, L: int):
    """Condition 1: m >= Omega~(max{m1, L^2}) at the smallest width of the check (naming where it is met), read as
    m / max(m1, L^2) >= 10."""
    ms = sorted(int(m) for m in np.atleast_1d(ms))
    ok = [m for m in ms if th.m_over_width_floor(m, m1, L) >= 10]
    note = "" if len(ms) == 1 else (f"met from m = {ok[0]} on" if ok else f"met at none of m = {ms}")
    return meter(f"Condition 1: m / max(m1, L^2) (m = {ms[0]})", th.m_over_width_floor(ms[0], m1, L), ">>", 1,
                 ref=f"{PAPER}, Condition 1 (m >= Omega~(max(m1, L^2)))", note=note, ours=OMEGA_OURS)


def small_init(F0: float):
    """Small init, the one definition: Lemma D.8's max_i |F(0)(X_i)| <= 0.01, measured on the run's record 0 (every
    seed). sigma0 = c0/sqrt(L m) gives |F(0)| ~ c0 |N(0, 1)|: c0 = 0.002 meets it, the user note's TR c0 = 0.02 does
    not (~0.06)."""
    return meter("small init: max_i |F(0)(X_i)| (measured)", F0, "<=", th.LEMMA_D8_OUTPUT,
                 ref=f"{PAPER}, Lemma D.8 (max_i |F(0)(X_i)| <= 0.01; Condition 1's sigma0 = 1/Theta~(sqrt(L m)))")


def data_model(n: int, L: int, d: int, tokens_NxL, type_N):
    """Assumption 2.3: exact type shares (n/2, n/6, n/6, n/6) and every training random word distinct (which needs
    d >= 3 + n(L - 7/3)), read off the training set itself."""
    tok, typ = np.asarray(tokens_NxL), np.asarray(type_N)
    counts = [int(np.sum(typ == k)) for k in (1, 2, 3, 4)]
    shares = counts == [n // 2, n // 6, n // 6, n // 6] and n % 6 == 0
    rand = tok[tok >= 3]
    distinct = rand.size == np.unique(rand).size
    low = min_vocab_distinct(n, L)
    how = (f"shares {counts} {'exact' if shares else 'NOT n/2, n/6, n/6, n/6'}; " +
           (f"{rand.size} distinct random words (d = {d} >= {low})" if distinct else
            f"{rand.size} random slots hold {np.unique(rand).size} words: words repeat"))
    return holds("Assumption 2.3: exact type shares, distinct training random words", bool(shares and distinct),
                 "n/2, n/6, n/6, n/6 and no repeat (d >= 3 + n(L - 7/3))", ref=f"{PAPER}, Assumption 2.3 (i)-(ii)",
                 value=how)


def readout(a_init: str, train_a: bool):
    """Sec. 2.2: the readout a is fixed with a_j = +-1 (E1's factor m1 = sum a_j^2; the exact reduction needs a fixed)."""
    ok = a_init == "sign" and not train_a
    return holds("readout a fixed, a_j = +-1", bool(ok), "fixed +-1", ref=f"{PAPER}, Sec. 2.2 (a fixed, uniform on +-1)",
                 value=f"{a_init}{', trained' if train_a else ', fixed'}")


def one_rate(lrs: dict):
    """Gradient flow dtheta/dt = -grad L_hat: one rate for W_Q, W_K, W_V, W and none for a, compared from the rates
    the run actually used (`lrs`: {group: rate or array of rates}, e.g. a run's ``lr_W_Q`` ... ``lr_a`` records)."""
    r = {g: np.asarray(lrs[g], np.float64).ravel() for g in (*GROUPS, "a")}
    trained = np.stack([r[g] for g in GROUPS])
    spread = float(np.max(np.abs(trained / trained[0:1] - 1.0))) if np.all(trained[0] > 0) else float("inf")
    ok = bool(spread <= 1e-12 and np.all(r["a"] == 0.0))
    value = ", ".join(f"{g} {float(r[g][0]):.4g}" for g in (*GROUPS, "a"))
    return holds("one learning rate for W_Q, W_K, W_V, W; none for a (plain gradient flow / GD)", ok,
                 "equal rates, a fixed", ref=f"{PAPER}, Sec. 2.2 (gradient flow on W, W_V, W_K, W_Q; a fixed)",
                 value=f"{value} (max relative spread {spread:.2g})")


def phase2_box(min_margin: float, what: str = "at the start of the Phase-2 window"):
    """Def. F.1: Phase 2 has every margin y_i F_i > C (C = theory.PHASE2_MARGIN_C, ours), measured at the start of the
    window `scanflow.papers.cooccurrence.checks.common.phase2_window` (a window fixed by T1, not by C)."""
    return meter(f"Phase-2 box: min_i y_i F_i {what}", min_margin, ">", th.PHASE2_MARGIN_C,
                 ref=f"{PAPER}, Def. F.1 / Thm E.27 (y_i F_i > C, Theta(1) at T1)", ours=th.PHASE2_MARGIN_C_WHY)


def horizon(reached: bool, what: str, value: str, ref: str):
    """The run reaches the time the claim is made at (T1, the Phase-2 window, T*)."""
    return holds(f"horizon reaches {what}", bool(reached), f"reaches {what}", ref=f"{PAPER}, {ref}", value=value)


def run_rates(ds) -> dict:
    """{group: rates} of a run (its ``lr_<group>`` point labels, one per point of the Dataset)."""
    return {g: ds[f"lr_{g}"].values for g in (*GROUPS, "a")}


def setting(info: dict, F0: float, ms=None, lrs: dict | None = None) -> list:
    """The meters every simulation check carries: Condition 1 (n, m), small init, Assumption 2.3, the readout, and (given
    the run's rates `lrs`) one learning rate. `info`: a run's workload info (n, L, m, m1, d, a_init, train_a); `ms`:
    the widths of an m-sweep."""
    n, L, m1 = int(info["n"]), int(info["L"]), int(info["m1"])
    out = [n_samples(n, L), width(ms if ms is not None else [info["m"]], m1, L), small_init(F0),
           data_model(n, L, int(info["d"]), info["tokens_NxL"], info["type_N"]),
           readout(str(info["a_init"]), bool(info["train_a"]))]
    if lrs is not None:
        out.append(one_rate(lrs))
    return out


__all__ = ["PAPER", "data_model", "horizon", "n_samples", "one_rate", "phase2_box", "readout", "run_rates", "setting",
           "small_init", "width"]
