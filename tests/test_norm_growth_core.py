"""Core measurements and theory of the norm-growth paper (norm-growth spec §1, §2.4, §4, §5).

Every tolerance is derived in the test (float64 rounding, an analytic bound, or a z = 4 sampling
error from the number of independent samples); none is tuned to the observed value. Seeds are
fixed, so each test is deterministic; a derived 4-sigma tolerance would fail by chance with
probability ~6e-5 for a fresh seed.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.measure import norm_growth as ng
from scanflow.measure import saturation as sat
from scanflow.papers.norm_growth import theory as th

EPS = np.finfo(np.float64).eps
Z = 4.0  # two-sided z for sampling tolerances (false-failure probability 6e-5)


# ----------------------------------------------------------------------------- norms and exponents


def test_norms_steps_and_groups_on_a_pytree():
    rng = np.random.default_rng(0)
    tree = {"attn": {"W_Q": rng.standard_normal((5, 3, 2)), "W_K": rng.standard_normal((5, 3, 2))},
            "mlp": rng.standard_normal((5, 7))}
    flat = np.concatenate([tree["attn"]["W_K"].reshape(5, -1), tree["attn"]["W_Q"].reshape(5, -1),
                           tree["mlp"]], axis=1)
    np.testing.assert_allclose(ng.total_norm_R(tree), np.linalg.norm(flat, axis=1), rtol=1e-14)
    g = ng.group_norms(tree)
    np.testing.assert_allclose(g["attn"] ** 2 + g["mlp"] ** 2, ng.total_norm_R(tree) ** 2, rtol=1e-13)
    np.testing.assert_allclose(ng.step_norm_R1(tree), np.linalg.norm(np.diff(flat, axis=0), axis=1),
                               rtol=1e-14)
    # alignment of theta_{k+1} = 2 theta_k is exactly 1; cosine to final of a scaled copy is 1
    sc = {"w": np.stack([flat[0] * 2.0**k for k in range(4)])}
    np.testing.assert_allclose(ng.alignment_R1(sc), 1.0, atol=1e-14)
    np.testing.assert_allclose(ng.cosine_to_final_R(sc), 1.0, atol=1e-14)


def test_growth_exponent_of_exact_power_law_is_exact():
    t = np.unique(np.ceil(1.05 ** np.arange(0, 200)))
    t = np.concatenate([[0.0], t])  # step 0 is logged (spec §4) and must be dropped, not crash
    for p in (0.125, 0.25, 0.5, 1.0):
        rho = np.where(t > 0, 3.0 * np.maximum(t, 1) ** p, 3.0)
        _, p_loc = ng.local_exponent(t, rho)
        _, p_win = ng.windowed_exponent(t, rho, factor=10.0)
        # only rounding of log: |error| <= few eps * |log rho| / min Delta log t
        tol = 8 * EPS * np.log(rho.max()) / np.diff(np.log(t[1:])).min()
        assert np.max(np.abs(p_loc - p)) < tol
        assert np.max(np.abs(p_win - p)) < tol
        assert len(p_win) > 10


# ----------------------------------------------------------------------------- law fits


def _ols_se_a(g_R, sigma):
    gc = g_R - g_R.mean()
    return sigma / math.sqrt(np.dot(gc, gc))


@pytest.mark.parametrize("truth", ["sqrt_t", "log_t", "sqrt_log_t"])
def test_fits_pick_the_right_law_with_covering_intervals(truth):
    t = np.geomspace(10.0, 1e4, 60)
    g = {"sqrt_t": np.sqrt, "log_t": np.log, "sqrt_log_t": lambda x: np.sqrt(np.log(x))}
    a_true, b_true = 2.0, 5.0
    clean = a_true * g[truth](t) + b_true
    sigma = 0.002 * clean.mean()
    rng = np.random.default_rng(1)
    rho = clean + sigma * rng.standard_normal(t.size)

    fits = ng.compare_laws(t, rho, laws={k: g[k] for k in g}, L_values=(), n_boot=2000,
                           seed=2, level=0.99, power=(truth == "sqrt_t"))
    # Precondition (derived): with noise, SSE_wrong - SSE_true = ||r0||^2 + 2 sigma r0.eps + O(sigma^2
    # chi^2_2), r0 the noiseless misfit of the wrong law. The selection is safe when
    # ||r0||^2 > 2 Z sigma ||r0|| + 2 * 20 sigma^2 (chi^2_2 > 20 has probability 5e-5).
    for k in g:
        if k == truth:
            continue
        r0 = ng.fit_linear_law(t, clean, g[k], n_boot=0).sse
        assert r0 > 2 * Z * sigma * math.sqrt(r0) + 40 * sigma**2, (k, r0, sigma)
    assert ng.best_law({k: fits[k] for k in g}) == truth
    f = fits[truth]
    lo, hi = f.ci["a"]
    assert lo <= a_true <= hi
    # the interval is not trivially wide: half-width within x2 of the OLS z_{0.995} * SE(a)
    half = 0.5 * (hi - lo)
    z99 = 2.5758
    assert 0.5 < half / (z99 * _ols_se_a(g[truth](t), sigma)) < 2.0
    assert f.r2 > 0.99
    if truth == "sqrt_t":
        pw = fits["t^p"]
        plo, phi = pw.ci["p"]
        assert plo <= 0.5 <= phi and plo <= pw.params["p"] <= phi
        assert phi - plo < 0.1


def test_loglog_fit_recovers_exponent():
    t = np.geomspace(1.0, 1e5, 50)
    r = ng.fit_loglog(t, 0.7 * t**0.3, n_boot=200, seed=0)
    assert abs(r.params["p"] - 0.3) < 1e-12 and abs(r.params["log_a"] - math.log(0.7)) < 1e-12
    assert r.ci["p"][1] - r.ci["p"][0] < 1e-12  # noiseless: every resample gives the same line


# ----------------------------------------------------------------------------- directions, C7


def test_c2x_of_gaussian_random_walk_is_one_over_sqrt2():
    """Spec §5 C7: consecutive cosine -> 1 but C_2x stays at 1/sqrt 2 for a random walk."""
    W, T, d = 300, 32, 400
    rng = np.random.default_rng(3)
    steps = rng.standard_normal((W, T, d))
    traj = np.concatenate([np.zeros((W, 1, d)), np.cumsum(steps, axis=1)], axis=1)  # records 0..T
    t = np.arange(T + 1, dtype=np.float64)
    per_walk, cons = [], []
    for w in range(W):
        tt, c2 = ng.cosine_2x(t, traj[w])
        assert list(tt) == list(range(1, T // 2 + 1))
        per_walk.append(c2[-1])  # the pair (T/2, T): one value per independent walk
        cons.append(ng.cosine_consecutive_R1(traj[w])[-1])
    per_walk = np.array(per_walk)
    mean, se = per_walk.mean(), per_walk.std(ddof=1) / math.sqrt(W)
    pred = th.gaussian_walk_c2x_mean(d)  # 1/sqrt2 + O(1/d) correction, remainder O(1/d^2)
    tol = Z * se + 1.0 / d**2
    print(f"C_2x measured {mean:.5f} +- {se:.5f} (W={W}), predicted {pred:.5f}, 1/sqrt2 = "
          f"{th.random_walk_c2x_limit():.5f}")
    assert abs(mean - pred) < tol
    assert abs(pred - th.random_walk_c2x_limit()) < 1.0 / d  # the finite-d correction is O(1/d)
    assert mean + tol < 0.75  # clearly not directional convergence
    # consecutive cosine at t = T-1 -> T is ~ sqrt((T-1)/T): the paper's measure looks converged
    assert np.mean(cons) > 0.95


def test_orthogonal_walk_norm_and_c2x():
    """Spec §5 C7 setting (misaligned constant steps): ||theta_t||^2 = rho0^2 + s^2 t exactly."""
    t, traj = th.orthogonal_walk(T=64, d=200, n_walks=100, step=1.0, rho0=1.0, seed=4)
    rho = np.linalg.norm(traj, axis=-1)
    np.testing.assert_allclose(rho**2, np.broadcast_to(1.0 + t, rho.shape), rtol=1e3 * EPS)
    al = np.array([ng.alignment_R1(traj[w]) for w in range(100)])
    assert np.max(np.abs(al)) < 1e3 * EPS
    c = np.array([ng.cosine_2x(t, traj[w])[1][-1] for w in range(100)])
    se = c.std(ddof=1) / 10.0
    # misaligned walk: cos(theta_t, theta_2t) ~ ||theta_t|| / ||theta_2t|| = sqrt(33/65)
    assert abs(c.mean() - math.sqrt(33 / 65)) < Z * se + 1.0 / 200


# ----------------------------------------------------------------------------- C6


@pytest.mark.parametrize("a", [0.25, 1.0, 2.0])
def test_c6_misaligned_recurrence_exponent(a):
    t, rho = th.recurrence_norm("misaligned", 10**6, kappa=math.sqrt(a), eta0=1.0)
    _, p = ng.local_exponent(t[-2:], rho[-2:])
    # exact local exponent 1/2 ln(1+a/t)/ln(1+1/t) = a/2 (1 + (1-a)/(2t) + ...): error ~ a|1-a|/(4t)
    assert abs(p[0] - th.misaligned_exponent(math.sqrt(a), 1.0)) < 1e-4
    t, rho = th.recurrence_norm("constant", 1000, rho0=2.0, step=0.5)
    np.testing.assert_allclose(rho**2, 4.0 + 0.25 * (t - 1), rtol=1e-14)


# ----------------------------------------------------------------------------- saturated softmax


def test_zeta_ties_masks_and_c1_bound():
    s = jnp.array([1.0, 3.0, 3.0, 0.0, 3.0, -2.0, 2.5, 1.5])
    z = sat.saturated_attention(s, tau=0.0)
    np.testing.assert_array_equal(np.asarray(z), [0, 1 / 3, 1 / 3, 0, 1 / 3, 0, 0, 0])
    # C1: softmax(c s) -> zeta(s); TV = mass off M <= ((n-|M|)/|M|) e^{-c gap}; ties stay equal
    m, gap = th.softmax_zeta_gap(np.asarray(s))
    assert (m, gap) == (3, 0.5)
    cs = np.array([5.0, 20.0, 40.0])
    tv = np.array([float(sat.tv_to_saturated(s, c=c, tau=0.0)) for c in cs])
    assert np.all(tv <= th.softmax_zeta_tv_bound(np.asarray(s), cs) * (1 + 1e-12))
    slope = (math.log(tv[2]) - math.log(tv[1])) / (cs[2] - cs[1])
    # log TV = -c gap + log(sum_{j not in M} e^{-c(gap_j - gap)}/(|M| + ...)) lies in
    # [-c gap - log(n), -c gap + log(n)], so the slope error is <= 2 log(n) / Delta c
    assert abs(slope + gap) <= 2 * math.log(8) / (cs[2] - cs[1])
    p = sat.softmax_attention(s, c=40.0)
    assert p[1] == p[2] == p[4]
    # -inf masking: a masked key never enters M, however large its score
    mask = jnp.array([True, False, True, True, True, True, True, True])
    np.testing.assert_array_equal(np.asarray(sat.saturated_attention(s, mask, tau=0.0)),
                                  [0, 0, 0.5, 0, 0.5, 0, 0, 0])
    big = jnp.array([0.0, 100.0, 1.0])
    np.testing.assert_array_equal(np.asarray(sat.saturated_attention(big, jnp.array([1, 0, 1], bool))),
                                  [0, 0, 1])
    assert float(sat.softmax_attention(big, jnp.array([1, 0, 1], bool))[1]) == 0.0
    # fully masked rows: zeros, no NaN
    assert np.all(np.asarray(sat.saturated_attention(s, jnp.zeros(8, bool))) == 0)
    assert np.all(np.asarray(sat.softmax_attention(s, jnp.zeros(8, bool))) == 0)
    # tie tolerance: a near-tie within tau * range joins M
    near = jnp.array([0.0, 1.0, 1.0 - 1e-9, 0.5])
    assert int(jnp.sum(sat.argmax_set(near, tau=1e-6))) == 2
    assert int(jnp.sum(sat.argmax_set(near, tau=0.0))) == 1


def _causal(n):
    return jnp.tril(jnp.ones((n, n), bool))


def test_multiplicative_masking_regression():
    """Spec §2.4: the official code's scores * mask leaks future keys and, under saturation, yields
    the (n-1)/2 + 1/n "uniform over the masked future" pattern; -inf masking does not."""
    n = 12
    mask = _causal(n)
    rng = np.random.default_rng(5)
    s = -jnp.asarray(rng.uniform(0.5, 2.0, (n, n)))  # negative, distinct visible scores
    good = sat.saturated_attention(s, mask)
    bad = sat.saturated_attention(sat.multiplicative_mask_scores(s, mask))  # code: no -inf after
    m_good, _, _ = sat.attended_counts(good, mask)
    m_bad, _, _ = sat.attended_counts(bad)
    assert np.all(np.asarray(m_good) == 1)
    ref = th.multiplicative_mask_reference(n)
    assert float(jnp.mean(m_bad.astype(jnp.float64))) == pytest.approx(ref["mean_m"], abs=1e-12)
    assert float(jnp.mean((m_bad > 1).astype(jnp.float64))) == pytest.approx(ref["split"], abs=1e-12)
    assert float(jnp.sum(jnp.where(mask, 0.0, bad))) > 0  # attends to the future
    assert float(jnp.sum(jnp.where(mask, 0.0, good))) == 0
    # soft model: lookahead leak is > 0 with multiplication, exactly 0 with -inf
    leak_bad = jnp.sum(jnp.where(mask, 0.0, sat.softmax_attention(sat.multiplicative_mask_scores(s, mask))))
    leak_good = jnp.sum(jnp.where(mask, 0.0, sat.softmax_attention(s, mask)))
    assert float(leak_bad) > 0.1 and float(leak_good) == 0.0
    # a constant-score (mean) head under correct masking is prefix-uniform: (n+1)/2, split (n-1)/n
    m_u, n_vis, r_u = sat.attended_counts(sat.saturated_attention(-jnp.ones((n, n)), mask), mask)
    ref_u = th.prefix_uniform_reference(n)
    assert float(jnp.mean(m_u.astype(jnp.float64))) == pytest.approx(ref_u["mean_m"], abs=1e-12)
    assert float(jnp.mean((m_u > 1).astype(jnp.float64))) == pytest.approx(ref_u["split"], abs=1e-12)
    assert float(jnp.min(r_u)) == 1.0
    assert ref["mean_m"] != ref_u["mean_m"]


def test_head_classification_argmax_uniform_two_of_eight():
    B, H, n = 3, 3, 8
    rng = np.random.default_rng(6)
    s = np.zeros((B, H, n, n))
    s[:, 0] = rng.standard_normal((B, n, n))  # generic scores: unique argmax per query
    s[:, 1] = 0.7  # constant scores: uniform (mean head)
    for b in range(B):
        for q in range(n):
            j = rng.choice(n, 2, replace=False)
            s[b, 2, q] = rng.uniform(-1, 0, n)
            s[b, 2, q, j] = 5.0  # exact 2-way tie: selective average over 2 of 8
    A = sat.saturated_attention(jnp.asarray(s))
    out = sat.classify_heads(A)
    assert list(out["class_H"]) == [sat.LOCAL, sat.GLOBAL, sat.SELECTIVE]
    np.testing.assert_allclose(out["mean_m_H"], [1.0, 8.0, 2.0])
    np.testing.assert_allclose(out["split_H"], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(out["mean_r_H"], [1 / 8, 1.0, 2 / 8])
    assert out["head_fraction"] == {"local": 1 / 3, "global": 1 / 3, "selective": 1 / 3}
    assert out["pair_fraction"] == pytest.approx({"local": 1 / 3, "global": 1 / 3, "selective": 1 / 3})
    # the looser rule "mean m <= 2" would call the 2-of-8 head local (spec §4(d) rule choice)
    assert sat.classify_heads(A, local_rule="mean")["class_H"][2] == sat.LOCAL
    # saturation of c * s: softmax at c = 1000 equals zeta to float64 here (min gap * 1000 >> 40)
    A_c = sat.softmax_attention(jnp.asarray(s), c=1000.0)
    gaps = [th.softmax_zeta_gap(row)[1] for row in s.reshape(-1, n)]
    bound = (n - 1) * math.exp(-1000.0 * min(gaps))
    assert float(jnp.max(sat.tv_distance(A_c, A))) <= bound + 1e-15


def test_scaling_helpers_and_sat():
    params = {"attn": {"W_Q": jnp.ones((2, 2)), "W_K": 2 * jnp.ones((2, 2)), "W_V": jnp.ones(2)},
              "mlp": {"w": 3 * jnp.ones(3)}}
    s = sat.scale_keys(params, ["attn/W_Q", "attn/W_K"], 10.0)
    assert float(s["attn"]["W_Q"][0, 0]) == 10 and float(s["attn"]["W_K"][0, 0]) == 20
    assert float(s["attn"]["W_V"][0]) == 1 and float(s["mlp"]["w"][0]) == 3
    a = sat.scale_all(params, 1000.0)
    assert float(a["mlp"]["w"][0]) == 3000
    with pytest.raises(KeyError):
        sat.scale_keys(params, ["attn/W_X"], 2.0)

    # a 2-homogeneous toy: h = W2 relu(W1 x): sat = 1 exactly for every c (spec §4(c))
    def apply(p, x):
        return jax.nn.relu(x @ p["W1"]) @ p["W2"]

    rng = np.random.default_rng(7)
    p = {"W1": jnp.asarray(rng.standard_normal((4, 5))), "W2": jnp.asarray(rng.standard_normal((5, 3)))}
    x = jnp.asarray(rng.standard_normal((6, 4)))
    np.testing.assert_allclose(sat.sat_curve(apply, p, x, [1.0, 3.0, 1000.0]), 1.0, atol=1e-14)
    logits = apply(p, x)
    assert float(sat.prediction_agreement(logits, apply(sat.scale_all(p, 1000.0), x))) == 1.0
    assert float(sat.prediction_agreement(logits, -logits)) == 0.0
    valid = jnp.array([1, 1, 0, 0, 0, 0], bool)
    assert float(sat.sat(logits, -logits, valid)) == pytest.approx(-1.0, abs=1e-14)


# ----------------------------------------------------------------------------- C3


def test_c3_scale_invariant_gd_identity_and_quarter_law():
    rng = np.random.default_rng(8)
    X = jnp.asarray(rng.standard_normal((20, 5)))
    y = jnp.asarray(np.sign(rng.standard_normal(20)))

    def loss(w):  # logistic regression on w / ||w||: scale invariant (spec §5 C3)
        return jnp.mean(jax.nn.softplus(-3.0 * y * (X @ (w / jnp.linalg.norm(w)))))

    grad = jax.jit(jax.grad(loss))
    w = jnp.asarray(rng.standard_normal(5))
    g = grad(w)
    assert abs(float(w @ g)) / float(jnp.linalg.norm(w) * jnp.linalg.norm(g)) < 1e-12
    for c in (3.0, 1000.0):
        np.testing.assert_allclose(np.asarray(grad(c * w)) * c, np.asarray(g), rtol=1e-12, atol=0)
    eta = 0.5
    for _ in range(100):
        g = grad(w)
        w_new = w - eta * g
        pred = th.scale_invariant_norm_sq_next(float(w @ w), eta, float(g @ g))
        assert abs(float(w_new @ w_new) - pred) <= 1e-12 * pred
        w = w_new

    # t^{1/4} law: L(w) = atan2(w1, w0) has ||grad L|| = 1/||w|| exactly, i.e. G = 1
    def angle(w):
        return jnp.arctan2(w[1], w[0])

    ga = jax.grad(angle)
    eta, rho0, T = 0.1, 1.0, 2**16

    def step(w, _):
        w = w - eta * ga(w)
        return w, jnp.sum(w * w)

    _, nsq = jax.jit(lambda w: jax.lax.scan(step, w, None, length=T))(jnp.array([rho0, 0.0]))
    t = np.arange(1, T + 1, dtype=np.float64)
    rho4 = np.asarray(nsq) ** 2
    law4 = th.scale_invariant_norm_law(t, rho0, eta, 1.0) ** 4
    excess = rho4 - law4
    rounding = 8 * t * EPS * rho4  # <= a few ulps per step, accumulated over t steps
    assert np.all(excess >= -rounding)
    assert np.all(excess <= th.scale_invariant_norm4_error_bound(t, rho0, eta, 1.0) + rounding)
    # exponent over the last decade, two-point: law's own value (-> 1/4), error <= 2 max|dlog rho|/ln 10
    sel = np.array([T // 10 - 1, T - 1])
    _, p_meas = ng.local_exponent(t[sel], rho4[sel] ** 0.25)
    _, p_law = ng.local_exponent(t[sel], law4[sel] ** 0.25)
    dlog = np.max(th.scale_invariant_norm4_error_bound(t[sel], rho0, eta, 1.0) / (4 * law4[sel]))
    print(f"C3 exponent over t in [{t[sel[0]]:.0f}, {t[sel[1]]:.0f}]: measured {p_meas[0]:.6f}, "
          f"law {p_law[0]:.6f}, asymptote 0.25")
    assert abs(p_meas[0] - p_law[0]) <= 2 * dlog / math.log(10) + 1e-12
    # and the law's own exponent differs from 1/4 by rho0^4 / (4 (rho0^4 + 2 eta^2 G^2 t)) at most
    assert abs(p_law[0] - 0.25) <= rho0**4 / (4 * (rho0**4 + 2 * eta**2 * t[sel[0]]))


# ----------------------------------------------------------------------------- C4 helper


def test_svm_max_margin_solver():
    np.testing.assert_allclose(th.svm_max_margin(np.array([[1.0, 2.0], [-1.0, -2.0]]),
                                                 np.array([1.0, -1.0]))[0],
                               th.svm_symmetric_pair([1.0, 2.0]), rtol=1e-12)
    X = np.array([[1.0, 2.0], [2.0, 0.5], [-1.0, -1.5], [-2.0, -0.3], [3.0, 3.0]])
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    w, alpha = th.svm_max_margin(X, y)
    margins = y * (X @ w)
    assert np.all(margins >= 1 - 1e-10)
    assert np.all(np.abs(margins[alpha > 0] - 1) < 1e-10)  # complementary slackness
    np.testing.assert_allclose(w, (alpha * y) @ X, rtol=1e-12)  # stationarity
    assert th.logistic_gd_lr_bound(X) == pytest.approx(8.0 / np.linalg.norm(X, 2) ** 2)


# ----------------------------------------------------------------------------- the workload's parameter layout


def test_workload_unflatten_inverts_ravel_and_groups():
    """The recorded ``params`` axis is jax's leaf order: `unflatten` is the inverse of ravel_pytree for every
    block (bias, residual, FFN, learned positions), with leading (record) axes kept."""
    from jax.flatten_util import ravel_pytree

    from scanflow.engine.config import config_from_dict
    from scanflow.models import causal
    from scanflow.papers.norm_growth import workload as wl

    for over in ([], ["model.bias=false", "model.residual=false"], ["model.d_ff=8", "model.pos=learned",
                                                                    "model.n_layers=2", "model.final_norm=true"]):
        cfg = config_from_dict({"workload": "norm_growth", "x64": True, "data": {"seq_len": 6, "vocab": 5}}, over)
        p = causal.init(jax.random.PRNGKey(1), wl.spec_of(cfg), 1.0, jnp.float64)
        flat = np.asarray(ravel_pytree(p)[0])
        back = wl.unflatten(cfg, np.stack([flat, 2 * flat]))
        for x, y in zip(jax.tree.leaves(p), jax.tree.leaves(back)):
            np.testing.assert_array_equal(y[0], np.asarray(x))
            np.testing.assert_array_equal(y[1], 2 * np.asarray(x))
        assert wl.groups_of(cfg) == sorted(p)
        with pytest.raises(ValueError, match="params"):
            wl.unflatten(cfg, flat[:-1])
