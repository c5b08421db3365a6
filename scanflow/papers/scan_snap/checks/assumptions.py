"""The assumptions of Scan and Snap's results as meters (`scanflow.verify.meter` / `holds`), one builder each.

Every check evaluates the meters of the result it tests on its own setting (for a check with several
settings: the least favourable one, named). The formulas are in `scanflow.papers.scan_snap.theory`
(`a2_lambda1`, `t0_prime`, `thm4_asymptotic_onset`, ...); this module only states which side of each
inequality the paper needs and where (Tian et al. 2023; user note docs/papers/scan_snap.md,
"Assumptions"). ``>>`` reads as a factor of 10 at least (`scanflow.verify.regime`).
"""

from __future__ import annotations

import numpy as np

from scanflow.papers.scan_snap import theory
from scanflow.verify import holds, meter

PAPER = "Tian et al. 2023"


def no_positional_encoding():
    """A1(a): no positional encoding. Structural: the Y/Z model reads a sequence only through its bag."""
    return holds("A1a: no positional encoding", True, "none", ref=f"{PAPER}, Assumption A1(a)",
                 note="structural: the Y/Z model has none (model.py)")


def long_sequences(mode: str, T: int | None = None):
    """A1(b): T -> infinity. Met by the population mode (exact T -> inf loss); a sampled (C) run has finite T."""
    if mode == "population":
        return holds("A1b: T -> inf", True, "T -> inf", ref=f"{PAPER}, Assumption A1(b), Lemma 2",
                     note="(P) population mode: the exact T -> inf loss", value="inf (population)")
    return holds("A1b: T -> inf", False, "T -> inf", ref=f"{PAPER}, Assumption A1(b), Lemma 2", value=f"T = {T}",
                 note=f"finite T: token frequencies within {float(theory.hoeffding_radius(T, 0.05)):.3f} of P "
                 "(Lemma 18, delta = 0.05)")


def lr_ratio(ratio: float, where: str = ""):
    """A1(c): the decoder learns much faster than the attention, eta_Y >> eta_Z."""
    return meter("A1c: eta_Y / eta_Z" + (f" ({where})" if where else ""), ratio, ">>", 1,
                 ref=f"{PAPER}, Assumption A1(c)")


def a2_overlap(probs_KxM, where: str = ""):
    """A2 (weak correlation): |lambda_1(E)| < 1/K, E = F^T F - I at zero init (`theory.a2_lambda1`)."""
    K = np.asarray(probs_KxM).shape[0]
    return meter("A2: |lambda_1(E)|, E = F^T F - I" + (f" ({where})" if where else ""), theory.a2_lambda1(probs_KxM),
                 "<", 1.0 / K, ref=f"{PAPER}, Assumption A2 (|lambda_1(E)| < 1/K)",
                 note="f_n = P(.|n)/||P(.|n)|| at zero init (theory.overlap_gram)")


def a2_vocabulary(M: float, K: int, where: str = ""):
    """A2: M >> K^2."""
    return meter("A2: M / K^2" + (f" ({where})" if where else ""), M / K**2, ">>", 1,
                 ref=f"{PAPER}, Assumption A2 (M >> K^2)")


def thm1_vocabulary(M: float, where: str = ""):
    """Theorem 1: M >> 100."""
    return meter("Thm 1: M" + (f" ({where})" if where else ""), M, ">>", 100, ref=f"{PAPER}, Theorem 1 (M >> 100)")


def thm1_eta_Y(eta_Y: float, M: float, where: str = ""):
    """Theorem 1: M^-0.99 << eta_Y < 1 (two meters)."""
    tag = f" ({where})" if where else ""
    return [meter("Thm 1: eta_Y" + tag, eta_Y, "<", 1, ref=f"{PAPER}, Theorem 1 (eta_Y < 1)"),
            meter("Thm 1: eta_Y M^0.99" + tag, eta_Y * M**0.99, ">>", 1, ref=f"{PAPER}, Theorem 1 (M^-0.99 << eta_Y)")]


def thm1_time(t: float, K: int, where: str = ""):
    """Theorem 1: t >> K^2 (at the times the claim is evaluated)."""
    return meter("Thm 1: t / K^2" + (f" ({where})" if where else ""), t / K**2, ">>", 1,
                 ref=f"{PAPER}, Theorem 1 (t >> K^2)")


def uniform_classes():
    """Theorem 1: classes drawn uniformly (pi_n = 1/K). Structural: the generator and the population loss do so."""
    return holds("Thm 1: uniform classes (pi_n = 1/K)", True, "uniform", ref=f"{PAPER}, Theorem 1",
                 note="data.py draws the class uniformly; the population loss weights classes equally")


def zero_init(Y: bool = True, Z: bool = True, ok: bool = True, ref: str = ""):
    what = " and ".join(n for n, on in (("Y(0) = 0", Y), ("Z(0) = 0", Z)) if on)
    return holds(f"zero init: {what}", ok, what, ref=ref or f"{PAPER}, Lemma 5 / Theorems 2-4 (zero init)")


def single_query(spec, ref: str):
    """All classes share one query token (Corollary 2, the Sec. 6 heuristic setting)."""
    n = len(set(np.asarray(spec.query_K).tolist()))
    return holds("all classes share one query", n == 1, "one query", ref=ref, value=f"{n} query token(s)")


def one_common_token(spec, ref: str):
    n = int(spec.common_M.sum())
    return holds("one common token", n == 1, "exactly one", ref=ref, value=f"{n} common token(s)")


def symmetric_classes(spec, ref: str = f"{PAPER}, Corollary 2"):
    """Corollary 2: each common token has the same P(l|n) in every class, and the distinct sets are
    symmetric (a bijection preserving P): the sorted distinct probabilities agree across classes."""
    P = spec.probs_KxM
    common = spec.common_M
    same_common = bool(np.allclose(P[:, common], P[:1, common])) if common.any() else True
    dist = [np.sort(P[n, spec.distinct_KxM[n]]) for n in range(spec.K)]
    same_distinct = all(d.shape == dist[0].shape and np.allclose(d, dist[0]) for d in dist)
    return holds("common P(l|n) equal across classes, distinct sets symmetric", same_common and same_distinct,
                 "yes", ref=ref)


def disjoint_supports(spec, ref: str):
    """E = F^T F - I = 0: no class overlaps another (the decoder decouples exactly; Eq. 10 gives xi = 0)."""
    gram = theory.overlap_gram(spec.probs_KxM)
    off = float(np.max(np.abs(gram - np.diag(np.diag(gram))))) if spec.K > 1 else 0.0
    return meter("max_n!=n' f_n^T f_n' (disjoint supports)", off, "==", 0, ref=ref)


__all__ = [
    "a2_overlap", "a2_vocabulary", "disjoint_supports", "long_sequences", "lr_ratio", "no_positional_encoding",
    "one_common_token", "single_query", "symmetric_classes", "thm1_eta_Y", "thm1_time", "thm1_vocabulary",
    "uniform_classes", "zero_init",
]
