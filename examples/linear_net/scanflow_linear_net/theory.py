r"""Closed forms for a two-layer linear network under gradient flow, and the checks' error bounds.

Setting. y = W2 W1 x with W1: h x d, W2: o x h, trained on whitened data (Sigma_xx = E[x x^T] = I)
with targets whose input-output correlation is Sigma_yx = E[y x^T] = U S V^T (U: o x r, V: d x r
orthonormal columns, S = diag(s_1..s_r)). The squared loss is

    E 1/2 ||y - W2 W1 x||^2 = 1/2 tr Sigma_yy - tr(Sigma_yx^T W2 W1) + 1/2 tr(W1^T W2^T W2 W1 Sigma_xx)
                            = 1/2 ||Sigma_yx - W2 W1||_F^2 + const                     (Sigma_xx = I)

(Saxe, McClelland & Ganguli 2014, ICLR, Sec. 1-2; the constant is 1/2 tr Sigma_yy - 1/2 ||Sigma_yx||_F^2).
With E = Sigma_yx - W2 W1 the gradients are  dL/dW1 = -W2^T E,  dL/dW2 = -E W1^T.

Units. scanflow integrates theta_g' = -eta_g grad_g L with time t in units of the learning rate (one
GD step of rate eta advances t by 1; `scanflow.engine.flow`). Saxe et al. write tau dW/dt = -grad L
with tau = 1/eta, so their t *is* scanflow's t (both count steps). In "physical" units where the
flow is theta' = -grad L (no rate), t_phys = eta * t. Everything below is in scanflow's units:

    W1' = eta1 W2^T E,     W2' = eta2 E W1^T.                                              (F)

(1) Conservation law (Du, Hu & Lee 2018, Thm 2.1; the balancedness of Arora, Cohen & Hazan 2018). From (F),

    d/dt (W1 W1^T) = W1' W1^T + W1 W1'^T = eta1 (W2^T E W1^T + W1 E^T W2)      (h x h)
    d/dt (W2^T W2) = W2'^T W2 + W2^T W2' = eta2 (W1 E^T W2 + W2^T E W1^T)      (h x h)

The two brackets are the same symmetric matrix, so

    d/dt (W1 W1^T / eta1 - W2^T W2 / eta2) = 0,                                           (C)

and with eta1 = eta2 the balancedness matrix W1 W1^T - W2^T W2 (h x h: both products live on the
hidden layer) is conserved exactly. With eta1 != eta2 the unweighted matrix is *not* conserved: its
derivative is (eta1 - eta2) (W2^T E W1^T + W1 E^T W2). (The o x o / d x d products W2 W2^T, W1^T W1
are not even the same size, and are not conserved.)

(2) Decoupled dynamics (Saxe et al. 2014, Sec. 2). Take the aligned balanced init
W1(0) = R diag(sqrt a0) V^T, W2(0) = U diag(sqrt a0) R^T with R (h x r) orthonormal columns. Then
E = U (S - A) V^T with A = diag(a_alpha), and (F) gives W1' = R [eta1 B2 (S - B2 B1)] V^T,
W2' = U [eta2 (S - B2 B1) B1] R^T: the ansatz W1 = R B1 V^T, W2 = U B2 R^T with diagonal B1, B2 is
preserved, and each mode alpha evolves on its own:

    b1' = eta1 b2 (s - b1 b2),   b2' = eta2 b1 (s - b1 b2).

With eta1 = eta2 = eta and b1(0) = b2(0) (balanced; (C) keeps b1 = b2 = b), the mode strength
a = b1 b2 = u_alpha^T W2 W1 v_alpha obeys the logistic equation (Saxe et al.'s tau du/dt = 2u(s-u))

    a' = 2 eta a (s - a),

whose solution (Saxe et al.'s u_f(t), t in steps, tau = 1/eta) is

    a(t) = s e^{2 eta s t} / (e^{2 eta s t} - 1 + s / a0)  =  s / (1 + (s/a0 - 1) e^{-2 eta s t}).   (S)

(In physical time t_phys = eta t the exponent is 2 s t_phys: the rate enters only through eta t.)
a reaches s/2 at t_half = ln(s/a0 - 1) / (2 eta s) = (tau / 2s) ln(s/a0 - 1) ~ (tau/2s) ln(s/a0)
(Saxe et al.'s learning time t = (tau/2s) ln(u_f (s - u0) / (u0 (s - u_f))) at u_f = s/2), so the
modes are learned in order of decreasing singular value (for a common a0: t_half decreases in s
wherever s > 5 a0, i.e. ln(s/a0 - 1) > s/(s - a0)). logit(a/s) = ln(a / (s - a)) is exactly linear in t with slope 2 eta s, which the checks use
to read t_half off the records.

Error bounds used by the checks (no loosened constants: everything follows from the solver's
tolerances, its step count and float64). diffrax's PID controller accepts a step only when the
RMS over all n parameters of err_i / (atol + rtol max(|y0_i|, |y1_i|)) is <= 1, where err is the
embedded error estimate; assuming (as local extrapolation with Tsit5 makes standard) that the
true local error of the propagated solution is at most that estimate, every accepted step and the
dense interpolation at a save point add a parameter error of 2-norm at most

    e = sqrt(n) (atol + (rtol + 4 eps) max|theta|)                  (eps = float64 unit roundoff)

(the 4 eps covers the rounding of the step update itself).

* Conservation: the exact flow conserves Q(theta) = W1 W1^T w1 - W2^T W2 w2 (w = 1 or 1/eta), so a
  local error is never amplified in Q: Q(theta_N) - Q(theta_0) = sum_n DQ(theta_n) e_n + O(e^2),
  with ||DQ(theta) e||_F <= 2 max(w) (||W1|| ||e_W1|| + ||W2|| ||e_W2||) <= 2 sqrt2 max(w) max||W|| ||e||.
  Over N accepted steps plus one interpolation, and two evaluations of Q in float64 (a product with
  inner dimension k has error <= k eps ||A||_F^2 in Frobenius norm):

    drift <= (N + 1) max(w) (2 sqrt2 max||W||_F e + e^2) + 2 eps (d w1 ||W1||_F^2 + o w2 ||W2||_F^2 + ||Q||_F).

* Mode strength: to first order a perturbation of the parameters changes a_alpha only through the
  mode's own components (cross-mode and off-manifold components enter a_alpha quadratically), by at
  most sqrt(2 a) ||e||, and the logistic carries a change at time t_n to time t > t_n with gain
  da(t)/da(t_n) = a(t)(s - a(t)) / (a_n (s - a_n)) <= max(1, s^2 / (4 a_n (s - a_n))). The product of
  the two is at most K = max(s / sqrt(2 a0), sqrt(2 s)) (a increases from a0 to s), so

    |a_num(t) - a(t)| <= (N + 1) K e + (initial-condition and evaluation rounding, ~ (h+d+o) eps K_0).

* t_half: read off by linear interpolation of logit(a/s) between the two records around s/2 (exact
  for (S)); an error da in a moves logit(a/s) by at most s da / (a (s - a)) and the crossing by that
  over the slope 2 eta s: dt <= da / (2 eta min a(s - a)) over the two records.
"""

from __future__ import annotations

import math

import numpy as np

EPS64 = float(np.finfo(np.float64).eps) / 2  # unit roundoff of float64


# ----------------------------------------------------------------------------- closed forms


def mode_strength(t, s: float, a0: float, eta: float):
    """Saxe et al. (2014), Sec. 2, in scanflow's time units: a(t) = s / (1 + (s/a0 - 1) e^{-2 eta s t})."""
    t = np.asarray(t, np.float64)
    return s / (1.0 + (s / a0 - 1.0) * np.exp(-2.0 * eta * s * t))


def half_time(s: float, a0: float, eta: float) -> float:
    """Exact time at which a(t) = s/2: ln(s/a0 - 1) / (2 eta s)."""
    return math.log(s / a0 - 1.0) / (2.0 * eta * s)


def half_time_approx(s: float, a0: float, eta: float) -> float:
    """Saxe et al.'s small-init estimate (tau / 2s) ln(s / a0), tau = 1/eta."""
    return math.log(s / a0) / (2.0 * eta * s)


def logit(a, s):
    """ln(a / (s - a)): linear in t with slope 2 eta s along (S)."""
    a = np.asarray(a, np.float64)
    return np.log(a) - np.log(s - a)


def conserved_rate(W1, W2, E, eta1: float, eta2: float):
    """d/dt of (W1 W1^T/eta1 - W2^T W2/eta2) along (F): zero for every W1, W2, E (a numeric identity check)."""
    dW1, dW2 = eta1 * W2.T @ E, eta2 * E @ W1.T
    d_a = (dW1 @ W1.T + W1 @ dW1.T) / eta1
    d_b = (dW2.T @ W2 + W2.T @ dW2) / eta2
    return d_a - d_b


# ----------------------------------------------------------------------------- measurements


def half_time_measured(t, a, s: float) -> float:
    """The first time a(t) crosses s/2, by linear interpolation of logit(a/s) between records (nan if never)."""
    a = np.asarray(a, np.float64)
    above = np.nonzero(a >= s / 2)[0]
    if above.size == 0 or above[0] == 0:
        return float("nan")
    k = above[0]
    l0, l1 = logit(a[k - 1], s), logit(a[k], s)
    return float(t[k - 1] + (0.0 - l0) / (l1 - l0) * (t[k] - t[k - 1]))


# ----------------------------------------------------------------------------- tolerances


def step_error(n_params: int, rtol: float, atol: float, max_abs: float) -> float:
    """2-norm bound on the error one accepted step adds (see the module docstring)."""
    return math.sqrt(n_params) * (atol + (rtol + 4 * EPS64) * max_abs)


def conservation_bound(n_steps: int, n_params: int, rtol: float, atol: float, max_abs: float, max_norm_W: float,
                       norm_W1_sq: float, norm_W2_sq: float, norm_Q: float, d: int, o: int,
                       w1: float = 1.0, w2: float = 1.0) -> float:
    """Bound on max_t ||Q(t) - Q(0)||_F for Q = w1 W1 W1^T - w2 W2^T W2 (see the module docstring)."""
    e = step_error(n_params, rtol, atol, max_abs)
    w = max(w1, w2)
    solver = (n_steps + 1) * w * (2 * math.sqrt(2) * max_norm_W * e + e * e)
    rounding = 2 * EPS64 * (d * w1 * norm_W1_sq + o * w2 * norm_W2_sq + norm_Q)
    return solver + rounding


def mode_bound(n_steps: int, n_params: int, rtol: float, atol: float, max_abs: float, s: float, a0: float,
               h: int, d: int, o: int, eta_s_t_max: float) -> float:
    """Bound on max_t |a_num(t) - a(t)| for one mode (see the module docstring)."""
    e = step_error(n_params, rtol, atol, max_abs)
    K = max(s / math.sqrt(2 * a0), math.sqrt(2 * s))
    gain0 = max(1.0, s * s / (4 * a0 * (s - a0))) if a0 < s else 1.0
    initial = (h + d + o) * EPS64 * a0 * gain0  # R, U, V orthonormal to rounding: a(0) = a0 (1 + O(k eps))
    evaluation = (h + d + o) * EPS64 * 2 * s + 8 * EPS64 * s * max(1.0, 2 * eta_s_t_max)  # u^T W2 W1 v and (S)
    return (n_steps + 1) * K * e + initial + evaluation


def half_time_bound(da: float, a_lo: float, a_hi: float, s: float, eta: float) -> float:
    """Error of the logit-interpolated crossing time given an error da in a at the two records."""
    m = min(a_lo * (s - a_lo), a_hi * (s - a_hi))
    return da / (2 * eta * m)


__all__ = [
    "conservation_bound",
    "conserved_rate",
    "half_time",
    "half_time_approx",
    "half_time_bound",
    "half_time_measured",
    "logit",
    "mode_bound",
    "mode_strength",
    "step_error",
]
