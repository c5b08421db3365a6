"""Closed-form and reduced-ODE predictions of Scan and Snap (Tian et al. 2023), spec §3.

Everything here is float64 NumPy except `reduced_ode` (diffrax, float64 via ``jax.enable_x64``)
and `h_closed_jax` (its JAX twin, used inside the ODE). Root finding is done with vectorised
safeguarded Newton iterations started from a proven upper bound of the root of a convex
increasing function, so each iteration decreases monotonically onto the root (no scipy needed).

Notation (spec §3.2-§3.4): M vocabulary size, K number of classes (next tokens), eta_Y / eta_Z
decoder / attention learning rates, nu = eta_Y / eta_Z, t = total (batch-1) steps, s = t / K the
per-class update count. h(s) is the continuous decoder coefficient (Lemma 6); the logit margin
is M h.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "h_star",
    "h_closed",
    "h_closed_jax",
    "dh_dt",
    "x0",
    "omega1",
    "t0_prime",
    "t0",
    "t0_asymptotic",
    "gamma",
    "gamma_ratio_limit",
    "gamma_stage2_ratio",
    "gamma_peak_x",
    "gamma_peak_time",
    "Gamma",
    "B",
    "B_paper",
    "B_at_t0_paper_formula",
    "relative_gain",
    "scan_order_ratio",
    "reduced_ode",
    "first_update_ratio",
    "hoeffding_radius",
    "B_asymptotic",
    "overlap_gram",
    "a2_lambda1",
    "C0_heuristic",
    "thm4_asymptotic_onset",
]

_MAX_NEWTON = 200


def _newton_from_above(f, fprime, x, tol=0.0):
    """Vectorised Newton for convex increasing f started at x >= root: iterates decrease monotonically.

    Stops when no entry moves any more (float64 fixed point) or after _MAX_NEWTON iterations."""
    x = np.array(x, dtype=np.float64, copy=True)
    for _ in range(_MAX_NEWTON):
        step = f(x) / fprime(x)
        step = np.where(np.isfinite(step), step, 0.0)
        # monotone from above: a negative step can only come from rounding at the root
        step = np.maximum(step, 0.0)
        x_new = x - step
        if np.all(np.abs(x_new - x) <= tol + 4 * np.finfo(np.float64).eps * np.abs(x)):
            return x_new
        x = x_new
    return x


# ----------------------------------------------------------------------------- decoder: h*, h


def h_star(s_max: int, M: float, eta: float) -> np.ndarray:
    """Lemma 5 (exact, discrete): h*(0) = 0, h*(s) = h*(s-1) + eta / ((M-1) + exp(M h*(s-1))).

    Returns the array h*(0), ..., h*(s_max). The target logit after s updates of one class is
    (M-1) h*(s), every other logit is -h*(s), the margin is M h*(s)."""
    M, eta = float(M), float(eta)
    out = [0.0]
    h = 0.0
    for _ in range(int(s_max)):  # plain Python floats (IEEE float64): ~10x faster than NumPy scalars
        h = h + eta / ((M - 1.0) + math.exp(M * h))
        out.append(h)
    return np.array(out, dtype=np.float64)


def h_closed(t, M: float, eta: float) -> np.ndarray:
    """Lemma 6 (continuous h): the root of e^{M h} + (M-1) M h = M eta t + 1, vectorised over t >= 0.

    Solved for x = M h as expm1(x) + (M-1) x = M eta t (expm1 keeps small t exact) by Newton from
    the upper bound x <= min(M eta t / M = eta t, ln(M eta t + 1)) (e^x >= 1 + x gives the first,
    (M-1)x >= 0 the second); f is convex and increasing, so the iterates decrease monotonically.
    Relative accuracy ~1e-15 in h (residual of the defining equation ~1e-16 relative)."""
    t = np.asarray(t, dtype=np.float64)
    M = float(M)
    rhs = M * eta * t  # = e^x - 1 + (M-1) x
    start = np.minimum(eta * t, np.log1p(rhs))

    def f(x):
        return np.expm1(x) + (M - 1.0) * x - rhs

    def fp(x):
        return np.exp(x) + (M - 1.0)

    x = _newton_from_above(f, fp, start)
    return x / M


def h_closed_jax(t, M, eta, iters: int = 40):
    """JAX twin of `h_closed` (Lemma 6) for use inside jitted code: `iters` monotone Newton steps
    (lax.fori_loop) from the same upper bound. Works in whatever float precision is enabled."""
    import jax
    import jax.numpy as jnp

    rhs = M * eta * t
    start = jnp.minimum(eta * t, jnp.log1p(rhs))

    def body(_, x):
        step = (jnp.expm1(x) + (M - 1.0) * x - rhs) / (jnp.exp(x) + (M - 1.0))
        return x - jnp.maximum(step, 0.0)

    return jax.lax.fori_loop(0, iters, body, start) / M


def dh_dt(t, K: float, M: float, eta_Y: float) -> np.ndarray:
    """d/dt h(t/K) = eta_Y / (K ((M-1) + e^{M h(t/K)})): Lemma 6 differentiated,
    (M e^{Mh} + (M-1) M) h'(s) = M eta_Y, with s = t/K."""
    h = h_closed(np.asarray(t, dtype=np.float64) / K, M, eta_Y)
    return eta_Y / (K * ((M - 1.0) + np.exp(M * h)))


# ----------------------------------------------------------------------------- stage boundaries


def x0(M) -> np.ndarray:
    """Lemmas 8-9: x0 = (1 + omega1) ln M, the larger root of e^x = (M-1) x (needs M - 1 > e).

    Newton on g(x) = x - ln((M-1) x) (convex, increasing for x > 1) from the upper bound
    2 ln(M-1) + 2, where g = L + 2 - ln(2L + 2) > 0 for L = ln(M-1) > 0."""
    M = np.asarray(M, dtype=np.float64)
    if np.any(M - 1.0 <= np.e):
        raise ValueError("x0 needs M - 1 > e (otherwise e^x = (M-1)x has no larger root)")
    L = np.log(M - 1.0)
    return _newton_from_above(lambda x: x - L - np.log(x), lambda x: 1.0 - 1.0 / x, 2.0 * L + 2.0)


def omega1(M) -> np.ndarray:
    """Lemmas 8-9: omega1 = x0 / ln M - 1 (so x0 = (1 + omega1) ln M)."""
    return x0(M) / np.log(np.asarray(M, dtype=np.float64)) - 1.0


def t0_prime(K, M, eta_Y) -> np.ndarray:
    """Lemma 9 / Theorem 4: end of stage 1 (scan), t'0 = K ln M / eta_Y."""
    return K * np.log(np.asarray(M, dtype=np.float64)) / eta_Y


def t0(K, M, eta_Y) -> np.ndarray:
    """Lemma 9 / Theorem 4: start of stage 2 (snap) with the exact x0, i.e. the time at which the
    margin M h(t/K) reaches x0: t0 = K (2 (M-1) x0 - 1) / (M eta_Y) (spec §3.2 table; Lemma 6 with
    e^{x0} = (M-1) x0)."""
    M = np.asarray(M, dtype=np.float64)
    return K * (2.0 * (M - 1.0) * x0(M) - 1.0) / (M * eta_Y)


def t0_asymptotic(K, M, eta_Y) -> np.ndarray:
    """Theorem 4 leading order: t0 ~ 2 K ln M / eta_Y (the (1 + o(1)) factor dropped)."""
    return 2.0 * K * np.log(np.asarray(M, dtype=np.float64)) / eta_Y


# ----------------------------------------------------------------------------- gamma, Gamma, B


def gamma(t, K, M, eta_Y) -> np.ndarray:
    """Lemmas 8-9 speed-control coefficient gamma(t) = (M-1)^2 h(t/K) / ((M-1) + e^{M h(t/K)}),
    h from Lemma 6 (`h_closed`)."""
    M = float(M)
    x = M * h_closed(np.asarray(t, dtype=np.float64) / K, M, eta_Y)
    # written with e^{-x} so that very large t cannot overflow
    return (M - 1.0) ** 2 * (x / M) * np.exp(-x) / ((M - 1.0) * np.exp(-x) + 1.0)


def gamma_ratio_limit(M) -> np.ndarray:
    """Exact limits of the Lemma-9 stage ratios (derived from Lemma 6): both
    gamma / (eta_Y t/K) as t -> 0 (h(s) ~ eta s/M) and gamma eta_Y t / (K ln(M eta_Y t/K)) as t -> inf
    (e^{Mh} ~ M eta s) tend to ((M-1)/M)^2, not to 1; the stage approximations assume M >> 1."""
    M = np.asarray(M, dtype=np.float64)
    return ((M - 1.0) / M) ** 2


def gamma_stage2_ratio(t, K, M, eta_Y) -> np.ndarray:
    """Lemma 9 stage-2 check quantity gamma(t) / [K ln(M eta_Y t/K) / (eta_Y t)]."""
    t = np.asarray(t, dtype=np.float64)
    return gamma(t, K, M, eta_Y) * eta_Y * t / (K * np.log(M * eta_Y * t / K))


def gamma_peak_x(M) -> np.ndarray:
    """Spec §3.2: the gamma peak is at margin x* = M h solving e^{x*} (x* - 1) = M - 1 (d gamma/dh = 0).

    Newton on p(x) = e^x (x-1) - (M-1) (convex, increasing for x > 0) from the upper bound
    max(ln(M-1) + 1, 2)."""
    M = np.asarray(M, dtype=np.float64)
    start = np.maximum(np.log(np.maximum(M - 1.0, 1e-300)) + 1.0, 2.0)
    return _newton_from_above(lambda x: np.exp(x) * (x - 1.0) - (M - 1.0), lambda x: x * np.exp(x), start)


def gamma_peak_time(K, M, eta_Y) -> np.ndarray:
    """Spec §3.2: time of the gamma peak, t = K (e^{x*} + (M-1) x* - 1) / (M eta_Y) (Lemma 6 at M h = x*)."""
    M = np.asarray(M, dtype=np.float64)
    xs = gamma_peak_x(M)
    return K * (np.exp(xs) + (M - 1.0) * xs - 1.0) / (M * eta_Y)


def Gamma(t, K, M, eta_Y, eta_Z) -> np.ndarray:
    """Theorem 4 / Eqs 124-129: Gamma(t) = eta_Z int_0^t gamma = eta_Z K (M-1)^2 h(t/K)^2 / (2 eta_Y)
    (exact given Lemma 6, since gamma = (M-1)^2 K h dh/dt / eta_Y)."""
    h = h_closed(np.asarray(t, dtype=np.float64) / K, M, eta_Y)
    return eta_Z * K * (M - 1.0) ** 2 * h**2 / (2.0 * eta_Y)


def B(t, K, M, eta_Y, eta_Z, C0: float = 1.0) -> np.ndarray:
    """Theorem 4, corrected form (spec §3.4): B_n(t) = 1/4 ln(1 + 4 Gamma(t) / C0) = -z_ml(t), the exact
    integral of the reduced ODE z' = -C0^{-1} eta_Z gamma e^{4z}, z(0) = 0."""
    return 0.25 * np.log1p(4.0 * Gamma(t, K, M, eta_Y, eta_Z) / C0)


def B_paper(t, K, M, eta_Y, eta_Z, C0: float = 1.0) -> np.ndarray:
    """Theorem 4 as printed in the paper: B_n(t) = 1/4 ln(C0 + 4 Gamma(t)) (misses -1/4 ln C0; equal to
    `B` at C0 = 1)."""
    return 0.25 * np.log(C0 + 4.0 * Gamma(t, K, M, eta_Y, eta_Z))


def B_at_t0_paper_formula(K, M, nu, C0: float = 1.0) -> np.ndarray:
    """Theorem 4's printed B_n(t0) = 1/4 ln(C0 + 2K(M-1)^2 M^-2 nu^-1 ln^2(2(1+omega1) M ln M)), i.e. the
    stage-2 approximation h ~ ln(M eta_Y t/K)/M evaluated at t0 = 2(1+omega1) K ln M/eta_Y."""
    M = np.asarray(M, dtype=np.float64)
    L = np.log(2.0 * (1.0 + omega1(M)) * M * np.log(M))
    return 0.25 * np.log(C0 + 2.0 * K * (M - 1.0) ** 2 / (M**2 * nu) * L**2)


# ----------------------------------------------------------------------------- Theorem 3


def relative_gain(r0, chi):
    """Theorem 3: r_{l/l'|n}(t) = r_{l/l'|n}(0) chi_l(t), chi_l = e^{2 (z_ml(t) - z_ml(0))}."""
    return np.asarray(r0) * np.asarray(chi)


def scan_order_ratio(r0, chi):
    """Theorem 3 scan order: (f_nl / f_nl0)^2 = 1 / (1 + r_{l0/l}(0) chi_l0(t))."""
    return 1.0 / (1.0 + np.asarray(r0) * np.asarray(chi))


# ----------------------------------------------------------------------------- reduced ODE (Thm 4)

_ODE_CACHE: dict = {}


def _ode_solver(rtol: float, atol: float, max_steps: int):
    key = (rtol, atol, max_steps)
    if key in _ODE_CACHE:
        return _ODE_CACHE[key]
    import diffrax
    import jax
    import jax.numpy as jnp

    def field(t, y, p):
        K, M, eta_Y, eta_Z, C0 = p[0], p[1], p[2], p[3], p[4]
        x = M * h_closed_jax(t / K, M, eta_Y)
        g = (M - 1.0) ** 2 * (x / M) * jnp.exp(-x) / ((M - 1.0) * jnp.exp(-x) + 1.0)
        rate = eta_Z * g * jnp.exp(4.0 * y[0]) / C0
        return jnp.stack([-rate, rate])

    @jax.jit
    def solve(ts, p):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            diffrax.Tsit5(),
            t0=0.0,
            t1=ts[-1],
            dt0=None,
            y0=jnp.zeros(2, dtype=ts.dtype),
            args=p,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
        )
        return sol.ys, sol.result == diffrax.RESULTS.successful

    _ODE_CACHE[key] = solve
    return solve


def reduced_ode(t_grid, K, M, eta_Y, eta_Z, C0: float = 1.0, rtol: float = 1e-10, atol: float = 1e-12,
                max_steps: int = 100_000):
    """Theorem 4 / Eqs 124-131, integrated numerically (not via the closed form): with z(0) = B(0) = 0,

        z' = -C0^{-1} eta_Z gamma(t) e^{4z},    B' = C0^{-1} eta_Z gamma(t) e^{4z},

    gamma from the closed-form h (Lemma 6, solved in JAX by `h_closed_jax` at every evaluation),
    integrated with diffrax Tsit5 + PIDController(rtol, atol) and saved at `t_grid` (sorted, >= 0).

    Precision: the solve always runs in float64 — this function enters ``jax.enable_x64(True)``
    itself, so callers need not enable x64. Returns float64 NumPy arrays (z, B) on `t_grid`.
    Raises RuntimeError if diffrax does not report success."""
    import jax
    import jax.numpy as jnp

    t_grid = np.asarray(t_grid, dtype=np.float64)
    if t_grid.ndim != 1 or t_grid.size == 0 or np.any(np.diff(t_grid) < 0) or t_grid[0] < 0:
        raise ValueError("t_grid must be a non-empty, sorted 1-D array of times >= 0")
    with jax.enable_x64(True):
        solve = _ode_solver(float(rtol), float(atol), int(max_steps))
        if t_grid[-1] == 0.0:
            return np.zeros_like(t_grid), np.zeros_like(t_grid)
        # pad to a power-of-two length >= 256 (repeating the last time) so that typical grids share
        # one compiled program
        n = t_grid.size
        size = max(256, 1 << (n - 1).bit_length())
        ts = jnp.asarray(np.concatenate([t_grid, np.full(size - n, t_grid[-1])]), dtype=jnp.float64)
        p = jnp.asarray([K, M, eta_Y, eta_Z, C0], dtype=jnp.float64)
        ys, ok = solve(ts, p)
        ys = np.asarray(ys, dtype=np.float64)[:n]
        if not bool(ok):
            raise RuntimeError("reduced_ode: diffrax did not converge")
    return ys[:, 0], ys[:, 1]


# --------------------------------------------------------------------------- attention at t = 0, data


def first_update_ratio(P_l, P_l0):
    """Theorems 2/3 at t = 0 (zero init): the first nonzero Z update of distinct tokens l, l0 of one
    class has ratio dz_l / dz_l0 = (P(l|n) / P(l0|n))^2, because dz_ml ∝ c_l f_l with c, f ∝ P."""
    return (np.asarray(P_l, dtype=np.float64) / P_l0) ** 2


def hoeffding_radius(T, delta):
    """Lemma 18: with probability >= 1 - delta an empirical token frequency over the T-1 contextual
    tokens lies within sqrt(ln(2/delta) / (2 (T-1))) of P(l|m,n)."""
    return np.sqrt(np.log(2.0 / delta) / (2.0 * (np.asarray(T, dtype=np.float64) - 1.0)))


def B_asymptotic(t, K, M, eta_Y, eta_Z):
    """Theorem 4, t >> (M eta_Y)^-1 e^{1/sqrt(2 nu)}: B_n ~ 1/2 ln ln(M eta_Y t/K) + 1/4 ln(2K(M-1)^2/(nu M^2)).

    The leading -1/2 ln ln t law of the common-token logit (z_c = -B); differences of B at
    several t do not depend on the constant term.
    """
    t = np.asarray(t, dtype=np.float64)
    nu = eta_Y / eta_Z
    return 0.5 * np.log(np.log(M * eta_Y * t / K)) + 0.25 * np.log(2 * K * (M - 1) ** 2 / (nu * M**2))


# ----------------------------------------------------------------------------- assumptions (A2, Sec. 6)


def overlap_gram(c_KxM) -> np.ndarray:
    """F^T F for F = [f_1 .. f_K], f_n = c_n / ||c_n|| (Tian et al. 2023, Assumption A2 notation).

    `c_KxM` is the attention of each class (Eq. 5); at zero init c_n = P(.|n), so the overlaps are
    f_n^T f_n' = <P_n, P_n'> / (||P_n|| ||P_n'||)."""
    c = np.asarray(c_KxM, dtype=np.float64)
    f = c / np.linalg.norm(c, axis=-1, keepdims=True)
    return f @ f.T


def a2_lambda1(c_KxM) -> float:
    """Assumption A2 (weak correlation): |lambda_1(E)|, the largest eigenvalue magnitude of
    E = F^T F - I (`overlap_gram`); A2 requires |lambda_1(E)| < 1/K. With every off-diagonal overlap equal
    to rho this is (K-1) rho."""
    E = overlap_gram(c_KxM)
    np.fill_diagonal(E, 0.0)  # ||f_n|| = 1 by definition: E's diagonal is 0 (not the rounding of f_n . f_n - 1)
    return float(np.max(np.abs(np.linalg.eigvalsh((E + E.T) / 2))))


def C0_heuristic(P_n, l: int, K: int) -> float:
    """Sec. 6 heuristic (Theorem 4): C0 = rho0^4 / K, with the normaliser rho0 = ||P_n|| / P(l|n) of the
    common token l held at its zero-init value (beta ~ f^T f' ~ e^{2 z_ml} / rho0^2)."""
    P_n = np.asarray(P_n, dtype=np.float64)
    return float((np.linalg.norm(P_n) / P_n[l]) ** 4 / K)


def thm4_asymptotic_onset(M, eta_Y, eta_Z) -> float:
    """Theorem 4: the -1/2 ln ln t form of B_n holds for t >> (M eta_Y)^-1 e^{1/sqrt(2 nu)}, nu = eta_Y/eta_Z."""
    nu = eta_Y / eta_Z
    return float(np.exp(1.0 / np.sqrt(2.0 * nu)) / (M * eta_Y))
