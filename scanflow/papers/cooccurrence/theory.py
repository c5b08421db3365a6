"""Theory of the word co-occurrence paper (Yang et al. 2024): spec §4 exact identities, the exact
reduced ODE, conserved quantities, the tau clock, and cheap closed-form predictions of §5.

Everything is float64. The reduced ODE (`integrate_reduced`) runs under ``jax.enable_x64(True)``
itself, as `scanflow.papers.scan_snap.theory.reduced_ode` does, and returns float64 NumPy arrays.

Reduced variables (spec §4 [DERIVED]): beta = W_V^T W^T a (G(mu) = beta . mu), s = ||W^T a||^2,
C = W_V^T W_V, M = W_K^T W_Q (entry [nu, mu] = <key(nu), query(mu)>), KK = W_K^T W_K, QQ = W_Q^T W_Q.

Generalisations beyond the spec (reduce to it at the defaults): per-group learning rates ``lrs``
(the flow of `scanflow.engine.flow`, theta_g' = -eta_g grad_g) and ``a2 = sum_j a_j^2`` (= m1 for
a_j = +-1). The reduction is exact only for a fixed readout a (eta_a = 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.cooccurrence.data import Dataset

REDUCED_KEYS = ("beta", "s", "C", "M", "KK", "QQ")
_UNIT = {"W_Q": 1.0, "W_K": 1.0, "W_V": 1.0, "W": 1.0}


# ------------------------------------------------------------------------------ mapping, clock


def to_reduced(params: dict) -> dict:
    """Full parameters -> (beta, s, C, M, KK, QQ) of spec §4."""
    u = params["W"].T @ params["a"]
    WV, WK, WQ = params["W_V"], params["W_K"], params["W_Q"]
    return {"beta": WV.T @ u, "s": u @ u, "C": WV.T @ WV, "M": WK.T @ WQ, "KK": WK.T @ WK, "QQ": WQ.T @ WQ}


def conserved_quantities(params: dict, lrs: dict | None = None) -> tuple[jax.Array, jax.Array]:
    """(W^T W - W_V W_V^T, W_K W_K^T - W_Q W_Q^T), both m x m, conserved by gradient flow (spec §4 [DERIVED]).

    With per-group rates the conserved forms are W^T W / eta_W - W_V W_V^T / eta_V and
    W_K W_K^T / eta_K - W_Q W_Q^T / eta_Q (F depends on (W, W_V) only via W W_V, on (W_K, W_Q) via W_K^T W_Q).
    """
    e = _UNIT if lrs is None else lrs
    W, WV, WK, WQ = params["W"], params["W_V"], params["W_K"], params["W_Q"]
    return W.T @ W / e["W"] - WV @ WV.T / e["W_V"], WK @ WK.T / e["W_K"] - WQ @ WQ.T / e["W_Q"]


def tau(t, sigma1, m, m1):
    """Natural clock tau = sigma1^2 m m1 t (spec §3; for GD t = lr * steps)."""
    return np.asarray(sigma1, np.float64) ** 2 * m * m1 * np.asarray(t, np.float64)


def t_from_tau(tau_, sigma1, m, m1):
    """Inverse of `tau`."""
    return np.asarray(tau_, np.float64) / (np.asarray(sigma1, np.float64) ** 2 * m * m1)


# ---------------------------------------------------------------------- reduced vector field (§4)


def _reduced_pieces(red: dict, data: Dataset, m):
    """Softmax, z_i, F_i and the matrix A of spec §4, from the reduced variables only."""
    X = data.X_NxLxd.astype(red["M"].dtype)  # [i, l, token]
    S_NxLxL = jnp.einsum("nla,ab,nhb->nlh", X, red["M"].T, X) / jnp.sqrt(m)  # [i, query l, key h]
    P = jax.nn.softmax(S_NxLxL, axis=-1)
    c_NxL = P.sum(axis=1)  # weight of key position h in z_i = X_i sum_l p_l
    r_NxL = X @ red["beta"]
    F_N = (c_NxL * r_NxL).sum(-1)
    rbar_NxL = jnp.einsum("nlh,nh->nl", P, r_NxL)
    dr_NxLxL = P * (r_NxL[:, None, :] - rbar_NxL[:, :, None])  # dr[i, l, h] = (delta r_l)[h]
    return X, c_NxL, F_N, dr_NxLxL


def reduced_field(red: dict, data: Dataset, m, a2, lrs: dict | None = None) -> dict:
    """d/dt of (beta, s, C, M, KK, QQ) along gradient flow (spec §4 [DERIVED], exact for fixed a):

        beta' = (eta_V s I + eta_W a2 C) Z,  Z = sum_i w_i z_i,  w_i = g_i y_i / n
        s'    = 2 eta_W a2 sum_i w_i F_i
        C'    = eta_V (Z beta^T + beta Z^T)
        M'    = (eta_K A QQ + eta_Q KK A) / sqrt(m),  A = sum_i w_i sum_l X_i dr_l x_l^T
        KK'   = eta_K (A M^T + M A^T) / sqrt(m),  QQ' = eta_Q (A^T M + M^T A) / sqrt(m)
    """
    e = _UNIT if lrs is None else lrs
    X, c_NxL, F_N, dr = _reduced_pieces(red, data, m)
    w_N = jax.nn.sigmoid(-data.y_N.astype(F_N.dtype) * F_N) * data.y_N / F_N.shape[0]  # g(yF) y / n
    Z_d = jnp.einsum("n,nh,nha->a", w_N, c_NxL, X)
    A = jnp.einsum("n,nlh,nha,nlb->ab", w_N, dr, X, X)
    beta, C, M, KK, QQ = red["beta"], red["C"], red["M"], red["KK"], red["QQ"]
    sm = jnp.sqrt(m)
    return {
        "beta": e["W_V"] * red["s"] * Z_d + e["W"] * a2 * (C @ Z_d),
        "s": 2.0 * e["W"] * a2 * (w_N @ F_N),
        "C": e["W_V"] * (jnp.outer(Z_d, beta) + jnp.outer(beta, Z_d)),
        "M": (e["W_K"] * A @ QQ + e["W_Q"] * KK @ A) / sm,
        "KK": e["W_K"] * (A @ M.T + M @ A.T) / sm,
        "QQ": e["W_Q"] * (A.T @ M + M.T @ A) / sm,
    }


def integrate_reduced(red0: dict, data: Dataset, m: int, t_grid, a2=None, lrs: dict | None = None,
                      rtol: float = 1e-10, atol: float = 1e-12, max_steps: int = 200_000):
    """Integrate the reduced ODE with diffrax Tsit5 + PIDController(rtol, atol), saved at ``t_grid``
    (sorted, > 0, starting time 0). ``a2`` = sum_j a_j^2 is required (m1 for a_j = +-1; the reduced
    variables do not contain it).

    Returns (ys, stats): ys maps each reduced key to a float64 array with leading axis len(t_grid);
    stats = {"num_steps": int}. Raises RuntimeError if the solver does not succeed.
    """
    import diffrax

    if a2 is None:
        raise ValueError("a2: pass sum_j a_j^2 (m1 for a_j = +-1)")
    t_grid = np.asarray(t_grid, np.float64)
    if t_grid.ndim != 1 or t_grid.size == 0 or np.any(np.diff(t_grid) < 0) or t_grid[0] <= 0:
        raise ValueError("t_grid: must be a non-empty, sorted 1-D array of times > 0")
    with jax.enable_x64(True):
        f64 = lambda x: jnp.asarray(np.asarray(x), jnp.float64)
        y0 = {k: f64(red0[k]) for k in REDUCED_KEYS}
        data64 = jax.tree.map(lambda x: jnp.asarray(np.asarray(x), jnp.float64 if np.asarray(x).dtype.kind == "f"
                                                    else np.asarray(x).dtype), data)
        e = None if lrs is None else {k: float(v) for k, v in lrs.items()}

        @jax.jit
        def solve(ts, y0, data64):
            term = diffrax.ODETerm(lambda t, y, args: reduced_field(y, data64, float(m), float(a2), e))
            sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), t0=0.0, t1=ts[-1], dt0=None, y0=y0,
                                      saveat=diffrax.SaveAt(ts=ts),
                                      stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                                      max_steps=max_steps, throw=False)
            return sol.ys, sol.result == diffrax.RESULTS.successful, sol.stats["num_steps"]

        ys, ok, steps = solve(jnp.asarray(t_grid), y0, data64)
        if not bool(ok):
            raise RuntimeError("integrate_reduced: diffrax did not converge")
        return {k: np.asarray(v, np.float64) for k, v in ys.items()}, {"num_steps": int(steps)}


# ------------------------------------------------------------- §1 gradient-flow equations (App. B)


def param_flow_formulas(params: dict, data: Dataset) -> dict:
    """The §1 (App. B) gradient-flow equations, unit rates, fixed a (d a/dt = 0), w_i = g_i y_i / n:

        dw_j/dt  = sum_i w_i a_j V_i sum_l p_l               (V_i = W_V X_i)
        dW_V/dt  = sum_i w_i u (X_i sum_l p_l)^T             (u = W^T a)
        dW_K/dt  = (1/sqrt m) sum_i w_i sum_l q_l (X_i dr_l)^T      (q_l = W_Q x_l)
        dW_Q/dt  = (1/sqrt m) sum_i w_i sum_l K_i dr_l x_l^T        (K_i = W_K X_i)

    with dr_l = p_l o (r - (r . p_l) 1), r = X_i^T W_V^T u. Written from the spec, independently of autodiff."""
    from scanflow.papers.cooccurrence.model import attention_NxLxL, outputs_N, u_m

    X = data.X_NxLxd  # [i, position, token]
    P = attention_NxLxL(params, data)  # [i, query l, key h]
    F = outputs_N(params, data)
    w_N = jax.nn.sigmoid(-data.y_N * F) * data.y_N / F.shape[0]
    a, u = params["a"], u_m(params)
    WV, WK, WQ = params["W_V"], params["W_K"], params["W_Q"]
    m = WQ.shape[0]
    c_NxL = P.sum(axis=1)  # sum_l p_l, per key position
    Xp_Nxd = jnp.einsum("nh,nhd->nd", c_NxL, X)  # X_i sum_l p_l
    r_NxL = X @ (WV.T @ u)
    rbar_NxL = jnp.einsum("nlh,nh->nl", P, r_NxL)
    dr_NxLxL = P * (r_NxL[:, None, :] - rbar_NxL[:, :, None])
    q_NxLxm = jnp.einsum("nld,md->nlm", X, WQ)
    k_NxLxm = jnp.einsum("nhd,md->nhm", X, WK)
    return {
        "W": jnp.outer(a, WV @ (w_N @ Xp_Nxd)),
        "W_V": jnp.outer(u, w_N @ Xp_Nxd),
        "W_K": jnp.einsum("n,nlm,nlh,nhd->md", w_N, q_NxLxm, dr_NxLxL, X) / jnp.sqrt(m),
        "W_Q": jnp.einsum("n,nhm,nlh,nld->md", w_N, k_NxLxm, dr_NxLxL, X) / jnp.sqrt(m),
        "a": jnp.zeros_like(a),
    }


def reduced_outputs_N(red: dict, data: Dataset, m) -> jax.Array:
    """F_i = beta . z_i computed from the reduced variables alone (spec §4)."""
    return _reduced_pieces(red, data, m)[2]


# --------------------------------------------------------------------- exact identities E1-E3 (§4)


def _g_y_over_n(params: dict, data: Dataset):
    from scanflow.papers.cooccurrence.model import outputs_N

    F = outputs_N(params, data)
    return jax.nn.sigmoid(-data.y_N * F) * data.y_N / F.shape[0], F


def e1_rate(params: dict, data: Dataset) -> jax.Array:
    """E1 (Eq. 5 / Lemma F.4): d||W^T a||^2/dt = (2 sum_j a_j^2 / n) sum_i g_i y_i F_i (= 2 m1/n ... for a = +-1)."""
    w, F = _g_y_over_n(params, data)
    return 2.0 * (params["a"] @ params["a"]) * (w @ F)


def e2_rate_d(params: dict, data: Dataset) -> jax.Array:
    """E2 (Eq. 4 / Def. E.18), for every token mu at once:
    dG(mu)/dt = ||u||^2 (1/n) sum_{i: mu in X_i} g_i y_i sum_l p^{(i)}_{q<-l,k<-mu}
               + m1 (1/n) sum_i g_i y_i sum_l p_l^T V_i^T W_V mu   (m1 -> sum_j a_j^2)."""
    from scanflow.papers.cooccurrence.model import attention_NxLxL, u_m

    w, _ = _g_y_over_n(params, data)
    P = attention_NxLxL(params, data)
    key_mass_Nxd = jnp.einsum("nlh,nhd->nd", P, data.X_NxLxd)  # sum_l p_{q<-l, k<-mu}
    u = u_m(params)
    WV = params["W_V"]
    V_NxLxm = jnp.einsum("nhd,md->nhm", data.X_NxLxd, WV)
    val_Nxm = jnp.einsum("nlh,nhm->nm", P, V_NxLxm)  # sum_l V_i p_l
    return (u @ u) * (w @ key_mass_Nxd) + (params["a"] @ params["a"]) * ((w @ val_Nxm) @ WV)


def e3_rate_dxd(params: dict, data: Dataset) -> jax.Array:
    """E3 (Lemma F.11): d/dt mu^T W_V^T W_V nu = G(nu)(1/n) sum_{i: mu in X_i} g_i y_i sum_l p_{q<-l,k<-mu} + (mu<->nu)."""
    from scanflow.papers.cooccurrence.model import G_d, attention_NxLxL

    w, _ = _g_y_over_n(params, data)
    mass_d = w @ jnp.einsum("nlh,nhd->nd", attention_NxLxL(params, data), data.X_NxLxd)
    G = G_d(params)
    return jnp.outer(mass_d, G) + jnp.outer(G, mass_d)


# ------------------------------------------------------------------------- closed forms (§5)


def gdot0_target(sigma0, sigma1, m, m1):
    """[DERIVED] (spec §5.2, check 5): dG(mu1)/dt(0) ~ dG(mu2)/dt(0) ~ (sigma0^2 + sigma1^2) m m1 / 6."""
    return (np.asarray(sigma0, np.float64) ** 2 + np.asarray(sigma1, np.float64) ** 2) * m * m1 / 6.0


def gdot0_random(y, n, sigma0, sigma1, m, m1):
    """[DERIVED] (spec §5.2, Lemma E.6): a random word of sample i has dG/dt(0) ~ y_i (sigma0^2+sigma1^2) m m1 / (2n)."""
    return np.asarray(y, np.float64) * 3.0 * gdot0_target(sigma0, sigma1, m, m1) / n


def gram_init_radius(sigma0, m, d, delta):
    """Lemma D.1/D.3 [EXACT]: off-diagonal Grams and |<W_K mu_a, W_Q mu_b>| <= sigma0^2 m (sqrt(4 log(2d/delta)/m)
    + 4 log(2d/delta)/m); ||W mu||^2 = sigma0^2 m (1 +- the same bracket)."""
    lg = 4.0 * np.log(2.0 * d / delta)
    return np.asarray(sigma0, np.float64) ** 2 * m * (np.sqrt(lg / m) + lg / m)


def output_init_bound(sigma0, sigma1, L, m, m1, n, delta):
    """Lemma D.8 [EXACT]: max_i |F^(0)(X_i)| <= 2 sigma0 sigma1 sqrt(2 L m1 m log(2 L n / delta))."""
    return 2.0 * sigma0 * sigma1 * np.sqrt(2.0 * L * m1 * m * np.log(2.0 * L * n / delta))


def sign_count_interval(m1, delta):
    """Lemma D.6 [EXACT]: #{a_j = +1} (and -1) lies in m1 (1/2 +- sqrt(2 log(4/delta)/m1))."""
    r = np.sqrt(2.0 * np.log(4.0 / delta) / m1)
    return m1 * (0.5 - r), m1 * (0.5 + r)


def phase2_loss(t, T1, loss_T1, kappa, sigma1, m, m1):
    """Thm F.8 form: L_hat(t) = 1 / (kappa sigma1^2 m m1 (t - T1) + 1/L_hat(T1)); kappa is the unspecified
    Theta constant ([SIM] ~0.1, check 12)."""
    return 1.0 / (kappa * tau(np.asarray(t, np.float64) - T1, sigma1, m, m1) + 1.0 / loss_T1)


def score_change_scale(sigma0, sigma1, L, m, m1):
    """Thm 3.3 [ORDER]: |C12|, |C21|, |C31|, |C32| = Theta(sigma0^2 m/(sqrt(m) L sigma1^2 m m1)
    + sigma0^2 sqrt(m)/(sqrt(m) sigma1^2 m m1)) (times log-factors)."""
    s0, k = np.asarray(sigma0, np.float64) ** 2, np.asarray(sigma1, np.float64) ** 2 * m * m1
    return s0 * m / (np.sqrt(m) * L * k) + s0 * np.sqrt(m) / (np.sqrt(m) * k)


def phase1_score_change_scale(L, m):
    """Thm E.28 [ORDER]: |Delta nu^T W_K^T W_Q mu| over [0, T1] is O~(m^{-3/2} (1/L + m^{-1/2}))."""
    return m ** -1.5 * (1.0 / L + m ** -0.5)


def balance_bound(margins_N, type_N):
    """Lemma F.5: |S2/S3 - 1| <= 6 max|r - 1| with r over [(1 + min_{I2} e^{-yF})/(1 + max_{I3} e^{-yF}),
    (1 + max_{I2} e^{-yF})/(1 + min_{I3} e^{-yF})]. (Reading of spec §5.4: the bound uses the worse end.)"""
    e = np.exp(-np.asarray(margins_N, np.float64))
    t = np.asarray(type_N)
    e2, e3 = e[t == 2], e[t == 3]
    lo, hi = (1 + e2.min()) / (1 + e3.max()), (1 + e2.max()) / (1 + e3.min())
    return 6.0 * max(abs(lo - 1.0), abs(hi - 1.0))


# ------------------------------------------------------------- assumptions and thresholds (§3, §5)


def n_over_L2(n, L):
    """Condition 1: n >= Omega~(L^2); the meter is n / L^2 (2.4 for TR's n = 60, L = 5)."""
    return float(n) / float(L) ** 2


def m_over_width_floor(m, m1, L):
    """Condition 1: m >= Omega~(max{m1, L^2}); the meter is m / max(m1, L^2)."""
    return float(m) / max(float(m1), float(L) ** 2)


# Lemma D.8: Condition 1's hidden constants must make max_i |F^(0)(X_i)| <= 0.01 (the small-init requirement
# of the Phase-1 analysis; `output_init_bound` is the lemma's concentration bound).
LEMMA_D8_OUTPUT = 0.01

# Def. F.1 (Phase-2 box): every margin y_i F_i > C for a constant C > 0 the paper leaves unspecified (Thm E.27:
# y_i F_i = Theta(1) at T1). OUR reading (not the paper's number): Theta(1) >> the paper's one explicit output scale,
# Lemma D.8's |F(0)| <= 0.01, with >> as a factor of 10 (`scanflow.verify.regime`): C = 0.1. It is a meter (is the
# gated window inside the box?), never the definition of the window (`PHASE2_START_FACTOR`).
PHASE2_MARGIN_C = 10 * LEMMA_D8_OUTPUT
PHASE2_MARGIN_C_WHY = "C unspecified in Def. F.1; ours: 10 x Lemma D.8's |F(0)| <= 0.01 (Theta(1) >> the init scale)"

# The Phase-2 window of every check of Thm 3.2, Lemmas F.5-F.6, Thm F.8 and Thm 3.3 (checks 9-15), fixed once before
# measuring: Phase 1 ends at T1 = C_T1 / (sigma1^2 m m1) (Def. E.2, Thm E.26) with C_T1 unspecified; the run's own
# first all-correct time T1_0 (min_i y_i F_i = 0, check 6) is the earliest reading of it. Phase 2 is read as starting
# at 2 T1_0 (ours: the factor 2 is not the paper's; it is fixed here once, for every check, and the Phase-2 box meter
# then measures whether the window is inside the box) and runs to the end of the run (T2 = poly(m) is far beyond it).
PHASE2_START_FACTOR = 2.0
PHASE2_START_WHY = ("Phase 2 = [2 T1_0, end], T1_0 the run's first all-correct time; the factor 2 is ours (Def. E.2 "
                    "fixes T1 only up to the constant C_T1)")

# Thm 3.3: "random words add only O(1) to F", so a test margin (unseen random words, G ~ 0) is the training
# margin less at most O(1): L(T*) <= e^{O(1)} L_hat(T*). O(1) is read as 1 (OUR reading, not the paper's number: the
# unit of the theory's Theta(1) quantities at T1): test/train <= e.
GENERALISATION_FACTOR = float(np.e)
GENERALISATION_WHY = "Thm 3.3 bounds the random words' share of F by O(1); ours: O(1) read as 1, so test/train <= e"


def t_star_loss(m):
    """Thm F.20 / 3.3: T* is the first time with L_hat = Theta(1/poly(m)); read with poly(m) = m (the lowest
    degree, the earliest T*): T* = first t with L_hat <= 1/m (tau* ~ m / kappa ~ 400-700 at m = 64)."""
    return 1.0 / float(m)


R_STAR_INTERVAL = (1.0, 2.0)  # Lemma F.6: attracting root R* of the R(t) quadratic; R(T1) in [1, 3]
R_T1_INTERVAL = (1.0, 3.0)
R_HEURISTIC = 1.5  # [DERIVED heuristic] n -> inf max-margin G ∝ (2, 2, -3): S1:S2:S3:S4 -> 7:5:5:0
S2_OVER_S3_BOX = (0.5, 2.0)  # Def. F.1 Phase-2 box


__all__ = ["GENERALISATION_FACTOR", "GENERALISATION_WHY", "LEMMA_D8_OUTPUT", "PHASE2_MARGIN_C", "PHASE2_MARGIN_C_WHY",
           "PHASE2_START_FACTOR", "PHASE2_START_WHY", "REDUCED_KEYS", "R_HEURISTIC",
           "R_STAR_INTERVAL", "R_T1_INTERVAL", "S2_OVER_S3_BOX", "balance_bound", "conserved_quantities", "e1_rate",
           "e2_rate_d", "e3_rate_dxd", "gdot0_random", "gdot0_target", "gram_init_radius", "integrate_reduced",
           "m_over_width_floor", "n_over_L2", "output_init_bound", "param_flow_formulas",
           "phase1_score_change_scale", "phase2_loss", "reduced_field", "reduced_outputs_N", "score_change_scale",
           "sign_count_interval", "t_from_tau", "t_star_loss", "tau", "to_reduced"]
