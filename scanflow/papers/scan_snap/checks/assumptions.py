"""The assumptions of Scan and Snap's results as meters (`scanflow.verify.meter` / `holds`), one builder each.

Every check evaluates the meters of the result it tests on its own setting (for a check with several
settings: the least favourable one, named). The formulas are in `scanflow.papers.scan_snap.theory`
(`a2_lambda1`, `t0_prime`, `thm4_asymptotic_onset`, ...); this module only states which side of each
inequality the paper needs and where (Tian et al. 2023; user note docs/papers/scan_snap.md,
"Assumptions"). ``>>`` reads as a factor of 10 at least (`scanflow.verify.regime`).

Every meter measures: structural conditions are read off the model or the run's config (the data mode,
the class weights the population loss actually applies, the initial parameter norms the run recorded,
the model's response to a permutation of the context), never typed in as ``True``. This module is the one
definition of each condition: norm-growth's NG-scan-snap imports `long_sequences`, `lr_ratio`, `a2_overlap`,
`a2_vocabulary`, `thm1_*` and `zero_init` from here.
"""

from __future__ import annotations

import functools

import numpy as np

from scanflow.engine.dataset import config_of
from scanflow.papers.scan_snap import theory
from scanflow.verify import holds, meter

PAPER = "Tian et al. 2023"


@functools.lru_cache(maxsize=1)
def _permutation_response() -> tuple[float, str]:
    """Max |logit change| of the Y/Z model when the contextual tokens of a sequence are permuted (random
    Y, Z; M = 12, T = 24, 8 sequences), and the parameter groups of the model. Measured on the model code."""
    import jax
    import jax.numpy as jnp

    from scanflow.papers.scan_snap import model as yz
    from scanflow.papers.scan_snap.data import Sequences

    M, T1, B = 12, 23, 8
    k = jax.random.split(jax.random.PRNGKey(7), 4)
    params = yz.init(k[0], M, 1.0, jnp.float64)
    ctx = jax.random.randint(k[1], (B, T1), 0, M - 2)
    perm = jax.vmap(lambda kk, row: jax.random.permutation(kk, row))(jax.random.split(k[2], B), ctx)
    q = jnp.full((B,), M - 2, jnp.int32)
    y = jnp.full((B,), M - 1, jnp.int32)

    def logits(c):
        v = yz.attended_positionwise_BxM(params["Z"], Sequences(c, q, y))
        return (v / jnp.linalg.norm(v, axis=-1, keepdims=True)) @ params["Y"]

    diff = float(jnp.max(jnp.abs(logits(ctx) - logits(perm))))
    return diff, ", ".join(sorted(params))


def no_positional_encoding():
    """A1(a): no positional encoding, measured: the model's logits do not change when the contextual tokens
    are permuted (the position-by-position forward pass, random parameters, float64)."""
    diff, groups = _permutation_response()
    return meter("A1a: max |logit change| under a permutation of the context", diff, "<=", 1e-12,
                 ref=f"{PAPER}, Assumption A1(a)",
                 note=f"model.attended_positionwise_BxM, random Y, Z, fp64; parameter groups: {groups}")


def long_sequences(mode: str, T: int | None = None):
    """A1(b): T -> infinity. `mode` is the run's ``data.mode`` (read off its config): the population mode
    trains on the exact T -> inf loss; a sampled (C) run has finite T."""
    ok = mode == "population"
    value = "inf (population)" if ok else f"T = {T} ({mode})"
    note = ("data.mode = population: the exact T -> inf loss" if ok else
            f"finite T: token frequencies within {float(theory.hoeffding_radius(T, 0.05)):.3f} of P "
            "(Lemma 18, delta = 0.05)" if T else f"data.mode = {mode}")
    return holds("A1b: T -> inf", ok, "T -> inf (data.mode = population)",
                 ref=f"{PAPER}, Assumption A1(b), Lemma 2", note=note, value=value)


def mode_of(ds) -> str:
    """The data mode of a run (``data.mode`` of the resolved config its Dataset carries)."""
    return config_of(ds)["data"]["mode"]


def lr_ratio(ratio: float, where: str = ""):
    """A1(c): the decoder learns much faster than the attention, eta_Y >> eta_Z (the groups' configured rates)."""
    return meter("A1c: eta_Y / eta_Z" + (f" ({where})" if where else ""), ratio, ">>", 1,
                 ref=f"{PAPER}, Assumption A1(c)")


def lr_ratio_of(ds, where: str = ""):
    """A1(c) read off a run: the smallest eta_Y / eta_Z over its points (the rates the groups get, ``ds.lr_Y``)."""
    r = np.asarray(ds["lr_Y"].values, float) / np.asarray(ds["lr_Z"].values, float)
    return lr_ratio(float(r.min()), where or "smallest over the points")


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


def class_weights(spec) -> np.ndarray:
    """The weight pi_n each class gets in the simulator's population loss, measured through its gradient: at
    Y = Z = 0, dL/dY[l, target_n] = -pi_n f_nl (1 - 1/M) for a token l distinct to class n."""
    import jax
    import jax.numpy as jnp

    from scanflow.papers.scan_snap import model as yz

    with jax.enable_x64(True):
        params = yz.init(jax.random.PRNGKey(0), spec.M, 0.0, jnp.float64)
        g = np.asarray(jax.grad(yz.population_loss)(params, spec)["Y"])
    P = np.asarray(spec.probs_KxM)
    f = P / np.linalg.norm(P, axis=1, keepdims=True)
    pi = []
    for n in range(spec.K):
        l = int(np.nonzero(spec.distinct_KxM[n])[0][-1])
        pi.append(-g[l, spec.target_K[n]] / (f[n, l] * (1 - 1 / spec.M)))
    return np.asarray(pi)


def uniform_classes(spec=None):
    """Theorem 1: classes drawn uniformly (pi_n = 1/K), measured: the class weights of the simulator's
    population loss (`class_weights`), max_n |K pi_n - 1|."""
    if spec is None:
        from scanflow.papers.scan_snap.data import official_layout

        spec = official_layout()
    pi = class_weights(spec)
    return meter("Thm 1: uniform classes, max_n |K pi_n - 1|", float(np.max(np.abs(spec.K * pi - 1))), "<=", 1e-9,
                 ref=f"{PAPER}, Theorem 1 (pi_n = 1/K)",
                 note=f"pi_n measured through dL/dY of the population loss at zero init (K = {spec.K}); fp64 rounding")


def zero_init(Y: bool = True, Z: bool = True, ok: bool | None = None, ref: str = "", ds=None, params=None):
    """Y(0) = 0 and/or Z(0) = 0, measured: from a run (`ds`: the recorded ||Y||, ||Z|| at step 0, every point
    and seed), from the initial parameters (`params`), or a bool the caller computed (`ok`)."""
    what = " and ".join(n for n, on in (("Y(0) = 0", Y), ("Z(0) = 0", Z)) if on)
    if ds is not None:
        norms = [float(np.max(np.abs(ds[f"norm_{g}"].isel(step=0).values))) for g, on in (("Y", Y), ("Z", Z)) if on]
        return meter(f"zero init: max ||{what.replace(' and ', '||, ||').replace('(0) = 0', '(0)')}||",
                     max(norms), "==", 0, ref=ref or f"{PAPER}, Lemma 5 / Theorems 2-4 (zero init)",
                     note="the run's recorded norms at step 0")
    if params is not None:
        ok = all(float(np.max(np.abs(np.asarray(params[g])))) == 0.0 for g, on in (("Y", Y), ("Z", Z)) if on)
    if ok is None:
        raise TypeError("zero_init: pass the run (ds=), its initial params (params=) or a computed bool (ok=)")
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
    "a2_overlap", "a2_vocabulary", "class_weights", "disjoint_supports", "long_sequences", "lr_ratio", "lr_ratio_of",
    "mode_of", "no_positional_encoding", "one_common_token", "single_query", "symmetric_classes", "thm1_eta_Y",
    "thm1_time", "thm1_vocabulary", "uniform_classes", "zero_init",
]
