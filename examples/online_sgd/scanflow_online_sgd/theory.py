"""Exact second moments of online SGD on a Gaussian linear teacher (float64, NumPy only).

The model: x ~ N(0, I_d), y = w*.x + sigma xi with xi ~ N(0, 1) independent of x, one fresh (x, y) per
step, loss l(w) = (w.x - y)^2 / 2, w_0 = 0, w_{t+1} = w_t - eta (w_t.x - y) x.

Derivation. With e_t = w_t - w* and a fresh sample, w_t.x - y = e_t.x - sigma xi, so

    e_{t+1} = (I - eta x x^T) e_t + eta sigma xi x.

Square and take the expectation over (x, xi), which are independent of e_t:

    E||e_{t+1}||^2 = E[e^T (I - eta x x^T)^2 e] + 2 eta sigma E[xi] (...) + eta^2 sigma^2 E[xi^2] E||x||^2
                   = e^T (I - 2 eta E[x x^T] + eta^2 E[x x^T x x^T]) e + eta^2 sigma^2 d.

For x ~ N(0, I_d), E[x x^T] = I and E[x x^T x x^T] = E[||x||^2 x x^T] = (d + 2) I (Isserlis: E[x_i^2 x_j^2]
= 1 + 2 delta_ij, summed over j: d + 2 on the diagonal; off-diagonal terms have an odd power and vanish).
So the map is a multiple of the identity and the recursion closes on the scalar m_t = E||e_t||^2:

    m_{t+1} = r m_t + eta^2 sigma^2 d,    r = 1 - 2 eta + eta^2 (d + 2),

whose solution from m_0 = ||w*||^2 (w_0 = 0) is

    m_t = r^t ||w*||^2 + eta^2 sigma^2 d (1 - r^t) / (1 - r)     (r != 1; t eta^2 sigma^2 d at r = 1).

It is exact at every t (no small-eta or large-d limit). It is stable iff |r| < 1, i.e. 0 < eta < 2/(d + 2)
(r >= 1 - 1/(d + 2) > 0 always), and then m_t -> eta^2 sigma^2 d / (1 - r) = eta sigma^2 d / (2 - eta (d + 2)),
the noise floor. Gradient flow on the population loss (w' = -eta (w - w*), time in steps) would instead give
exp(-2 eta t) ||w*||^2 with no floor: the eta^2 terms (the sample's fourth moment and the label noise) are
what online SGD adds.
"""

from __future__ import annotations

import numpy as np


def rate(eta, d: int):
    """r = 1 - 2 eta + eta^2 (d + 2): the factor E||e||^2 contracts by per step (without noise)."""
    eta = np.asarray(eta, np.float64)
    return 1.0 - 2.0 * eta + eta**2 * (d + 2)


def mean_err2(t, eta, d: int, sigma: float, w_star_norm2: float):
    """E||w_t - w*||^2 after t steps from w_0 = 0 (exact; broadcasts over t and eta)."""
    t = np.asarray(t, np.float64)
    eta = np.asarray(eta, np.float64)
    r = rate(eta, d)
    rt = r**t
    noise = eta**2 * sigma**2 * d
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(r == 1.0, t, (1.0 - rt) / (1.0 - r))  # sum_{k < t} r^k
    return rt * w_star_norm2 + noise * growth


def noise_floor(eta, d: int, sigma: float):
    """lim_t E||w_t - w*||^2 = eta sigma^2 d / (2 - eta (d + 2)) (needs r < 1: 0 < eta < 2/(d + 2))."""
    eta = np.asarray(eta, np.float64)
    return eta * sigma**2 * d / (2.0 - eta * (d + 2))


def flow_err2(t, eta, w_star_norm2: float):
    """The gradient-flow prediction exp(-2 eta t) ||w*||^2 (no eta^2 terms): wrong for online SGD at large eta."""
    return np.exp(-2.0 * np.asarray(eta, np.float64) * np.asarray(t, np.float64)) * w_star_norm2


def teacher(d: int, seed: int) -> np.ndarray:
    """w*: a standard Gaussian vector drawn from `seed`, normalised to ||w*|| = 1 (float64)."""
    g = np.random.default_rng(seed).standard_normal(d)
    return g / np.linalg.norm(g)


def monte_carlo(t_max: int, eta: float, d: int, sigma: float, w_star: np.ndarray, n: int, seed: int = 0):
    """||w_t - w*||^2 for t = 0..t_max over `n` independent online-SGD runs in float64 NumPy: shape (n, t_max + 1)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n, d))
    out = np.empty((n, t_max + 1))
    out[:, 0] = np.sum((w - w_star) ** 2, axis=1)
    for t in range(t_max):
        x = rng.standard_normal((n, d))
        y = x @ w_star + sigma * rng.standard_normal(n)
        w -= eta * ((np.einsum("nd,nd->n", x, w) - y))[:, None] * x
        out[:, t + 1] = np.sum((w - w_star) ** 2, axis=1)
    return out


__all__ = ["flow_err2", "mean_err2", "monte_carlo", "noise_floor", "rate", "teacher"]
