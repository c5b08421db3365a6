"""Foundation of the word co-occurrence workload (notes: docs/papers/cooccurrence.md).

Data proportions and validation; the parameter gradient flow (scanflow.engine.flow) against the
exact reduced ODE of spec §4; the two conserved quantities; the §4 identities E1-E3 and the
reduced vector field (with per-group rates) at a point; measurements with hand-computed values;
T1 detection. Runs in float64 (x64 is enabled by conftest.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.engine.config import FlowConfig
from scanflow.papers.cooccurrence import data as dat
from scanflow.engine.flow import init_flow_state, solve_chunk, vector_field
from scanflow.papers.cooccurrence import measure as meas
from scanflow.papers.cooccurrence import model as mdl
from scanflow.papers.cooccurrence import theory as th

EPS64 = float(np.finfo(np.float64).eps)

# small, attention-active setting: c0 = 1 (sigma0 = 1/sqrt(Lm)) so that M, KK, QQ move by ~1e-2 over
# the run instead of ~1e-8 (spec §5.2), making the flow-vs-reduced comparison discriminating.
N, L, M_, M1 = 6, 4, 8, 4
D = dat.min_vocab_distinct(N, L)  # 13


@pytest.fixture(scope="module")
def small():
    data = dat.make_dataset(jax.random.key(0), N, L, D, dtype=jnp.float64)
    s0, s1 = mdl.init_scales(L, M_, M1, c0=1.0)
    params = mdl.init(jax.random.key(1), D, M_, M1, s0, s1, dtype=jnp.float64)
    return data, params


# ----------------------------------------------------------------------------------------- data


def test_proportions_layout_and_distinct_words():
    n, Ln = 60, 5
    d = dat.min_vocab_distinct(n, Ln)
    assert d == 163  # spec §2 example
    ds = dat.make_dataset(jax.random.key(3), n, Ln, d)
    tok, typ, y = np.asarray(ds.tokens_NxL), np.asarray(ds.type_N), np.asarray(ds.y_N)
    np.testing.assert_array_equal(dat.type_counts(ds), [30, 10, 10, 10])
    np.testing.assert_array_equal(y, np.where(typ == 1, 1.0, -1.0))
    has = lambda k: (tok == k).sum(1)
    np.testing.assert_array_equal(has(dat.MU3), np.ones(n))  # mu3 exactly once in every sentence
    np.testing.assert_array_equal(has(dat.MU1), np.isin(typ, [1, 2]).astype(int))
    np.testing.assert_array_equal(has(dat.MU2), np.isin(typ, [1, 3]).astype(int))
    rnd = tok[tok >= dat.FIRST_RANDOM]
    assert rnd.size == dat.num_random_slots(n, Ln) == 160 and np.unique(rnd).size == rnd.size
    assert rnd.max() < d
    np.testing.assert_array_equal(np.asarray(ds.random_NxL), tok >= 3)
    np.testing.assert_array_equal(np.asarray(ds.X_NxLxd).argmax(-1), tok)
    np.testing.assert_array_equal(np.asarray(ds.X_NxLxd).sum(-1), np.ones((n, Ln)))
    # mu3's position is not fixed (random permutation of slots): it visits several positions
    assert np.unique(np.argmax(tok == dat.MU3, axis=1)).size > 1


def test_validation_errors_name_the_argument():
    k = jax.random.key(0)
    with pytest.raises(ValueError, match="^n:"):
        dat.make_dataset(k, 62, 5, 1000)
    with pytest.raises(ValueError, match="^L:"):
        dat.make_dataset(k, 6, 2, 1000)
    with pytest.raises(ValueError, match="^d:.*163"):
        dat.make_dataset(k, 60, 5, 162)
    dat.make_dataset(k, 60, 5, 163)  # the boundary is allowed


def test_repeat_option_and_unseen_test_set():
    k1, k2 = jax.random.split(jax.random.key(5))
    rep = dat.make_dataset(k1, 60, 5, 20, repeat_random_words=True)  # d far below 163: words must repeat
    r = np.asarray(rep.tokens_NxL)
    assert np.unique(r[r >= 3]).size < (r >= 3).sum() and r.max() < 20
    np.testing.assert_array_equal(dat.type_counts(rep), [30, 10, 10, 10])
    train = dat.make_dataset(k1, 12, 4, 60)
    test = dat.make_test_set(k2, train, 18)
    np.testing.assert_array_equal(dat.type_counts(test), [9, 3, 3, 3])
    tr, te = np.asarray(train.tokens_NxL), np.asarray(test.tokens_NxL)
    assert not np.intersect1d(tr[tr >= 3], te[te >= 3]).size  # unseen random words only
    assert (te == dat.MU3).sum() == 18
    with pytest.raises(ValueError, match="^n_test:"):
        dat.make_test_set(k2, train, 10)
    full = dat.make_dataset(k1, 12, 4, dat.min_vocab_distinct(12, 4))
    with pytest.raises(ValueError, match="^train:"):
        dat.make_test_set(k2, full, 6)


# ------------------------------------------------------------------------------- exact identities


def test_reduced_field_and_identities_match_autodiff_at_a_point(small):
    """d/dt of to_reduced(theta) along theta' = -eta grad L (jvp) equals reduced_field, with unequal
    group rates; E1-E3 of spec §4 equal the same jvp. Both sides are exact formulas, so the tolerance
    is float64 round-off: ~1e3 accumulated operations * eps * magnitude of the terms -> 1e4 eps scale."""
    data, params = small
    lrs = {"W_Q": 0.7, "W_K": 1.3, "W_V": 0.9, "W": 1.1, "a": 0.0}
    loss_fn = lambda p: mdl.loss(p, data)

    @jax.jit
    def both(params):
        tangent = vector_field(loss_fn, lrs)(0.0, params, None)
        red, dred = jax.jvp(th.to_reduced, (params,), (tangent,))
        tangent1 = vector_field(loss_fn, mdl.learning_rates(1.0))(0.0, params, None)
        _, d1 = jax.jvp(th.to_reduced, (params,), (tangent1,))
        ids = (th.e1_rate(params, data), th.e2_rate_d(params, data), th.e3_rate_dxd(params, data))
        return th.reduced_field(red, data, M_, float(M1), lrs), dred, d1, ids

    pred, dred, d1, (e1, e2, e3) = both(params)
    for k in th.REDUCED_KEYS:
        scale = float(jnp.abs(dred[k]).max())
        assert scale > 1e-6, k  # the rate is not trivially zero
        np.testing.assert_allclose(np.asarray(pred[k]), np.asarray(dred[k]), rtol=0, atol=1e4 * EPS64 * scale, err_msg=k)
    # E1-E3 are stated for unit rates
    for got, want in [(e1, d1["s"]), (e2, d1["beta"]), (e3, d1["C"])]:
        scale = float(jnp.abs(want).max())
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e4 * EPS64 * scale)


def test_parameter_flow_matches_reduced_ode_and_conserves(small):
    """Parameter gradient flow (solve_chunk, Tsit5, rtol 1e-10) vs the reduced ODE (same tolerances).

    Tolerance derivation: diffrax's PID controller keeps each step's local error below
    atol + rtol*|y| in RMS norm over the P state components, hence below sqrt(P)*(atol + rtol*|y|) in
    any one component. Without contraction the global error is at most the sum of the local errors
    of all N steps, so each solve is within N*sqrt(P)*(atol + rtol*Y), Y = max|y| of the compared
    variable; the comparison uses N = N_param + N_reduced and P = max(P_param, P_reduced). The same
    bound applied to theta gives the conserved-quantity bound via |d(W^T W)| <= 2 m1 max|W| max|dW|.
    A guard checks that each compared quantity moves far more (>= 1e3x) than its tolerance.
    """
    data, params = small
    rtol, atol = 1e-10, 1e-12
    cfg = FlowConfig(rtol=rtol, atol=atol)
    ts = np.array([1.0, 2.0, 3.0, 4.0])
    loss_fn = lambda p: mdl.loss(p, data)

    def rec(p):
        return {"red": th.to_reduced(p), "cons": th.conserved_quantities(p), "maxabs": jnp.stack(
            [jnp.abs(p[g]).max() for g in ("W", "W_V", "W_K", "W_Q")]), "loss": mdl.loss(p, data)}

    st, recs = jax.jit(lambda s: solve_chunk(loss_fn, lambda t, p: rec(p), cfg, s, mdl.learning_rates(1.0), 1.0, ts.size))(
        init_flow_state(params, jnp.float64))
    assert int(st.status) == 0
    red0 = th.to_reduced(params)
    ys, stats = th.integrate_reduced(red0, data, M_, ts, a2=float(params["a"] @ params["a"]), rtol=rtol, atol=atol)
    assert float(recs["loss"][-1]) < 0.5 * float(mdl.loss(params, data))  # the run really trains

    n_steps = int(st.num_steps) + stats["num_steps"]
    P_param = sum(x.size for x in jax.tree.leaves(params))
    P_red = sum(np.asarray(v).size for v in red0.values())
    sqrtP = math.sqrt(max(P_param, P_red))
    for k in th.REDUCED_KEYS:
        got, want = np.asarray(recs["red"][k]), ys[k]
        Y = float(np.abs(want).max())
        tol = n_steps * sqrtP * (atol + rtol * Y)
        err = np.abs(got - want).reshape(ts.size, -1).max(1)
        assert np.all(err <= tol), (k, err, tol)
        moved = float(np.abs(want[-1] - np.asarray(red0[k])).max())
        assert moved >= 1e3 * tol, (k, moved, tol)

    theta_max = float(np.asarray(recs["maxabs"]).max())
    dtheta = int(st.num_steps) * math.sqrt(P_param) * (atol + rtol * theta_max)
    tol_c = 2 * 2 * max(M1, M_) * theta_max * dtheta  # two Gram terms, each <= 2 * width * max|x| * max|dx|
    c0 = th.conserved_quantities(params)
    for j, name in enumerate(("W^TW - W_V W_V^T", "W_K W_K^T - W_Q W_Q^T")):
        drift = np.abs(np.asarray(recs["cons"][j]) - np.asarray(c0[j])).max()
        assert drift <= tol_c, (name, drift, tol_c)
    # guard: the individual Grams do move by far more than the tolerance
    WtW = lambda W: W.T @ W
    W_end = st.params
    assert float(jnp.abs(WtW(W_end["W"]) - WtW(params["W"])).max()) >= 1e3 * tol_c
    assert float(jnp.abs(W_end["W_K"] @ W_end["W_K"].T - params["W_K"] @ params["W_K"].T).max()) >= 1e2 * tol_c


# --------------------------------------------------------------------------------- measurements


def test_measurements_hand_values():
    """W_K = W_Q = 0 gives uniform attention, so F(X) = sum_h G(x_h) (spec §1); beta set by hand."""
    d, m = 5, 5
    beta = np.array([1.0, 0.5, -2.0, 0.25, -0.5])
    params = {"W_Q": jnp.zeros((m, d)), "W_K": jnp.zeros((m, d)), "W_V": jnp.eye(m),
              "W": jnp.asarray(np.stack([beta, np.zeros(d)])), "a": jnp.array([1.0, -1.0])}
    tokens = [[0, 1, 2], [0, 2, 3], [1, 2, 4], [2, 3, 4]]
    data = dat.dataset_from_tokens(tokens, [1, 2, 3, 4], d, dtype=jnp.float64)
    F = [1 + 0.5 - 2, 1 - 2 + 0.25, 0.5 - 2 - 0.5, -2 + 0.25 - 0.5]  # = -0.5, -0.75, -2.0, -2.25
    yF = [F[0], -F[1], -F[2], -F[3]]
    np.testing.assert_allclose(np.asarray(mdl.margins_N(params, data)), yF, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(meas.per_type_loss_4(params, data)),
                               [math.log1p(math.exp(-z)) for z in yF], rtol=1e-13)
    g = [1 / (1 + math.exp(z)) for z in yF]
    np.testing.assert_allclose(np.asarray(meas.group_masses_4(params, data)), g, rtol=1e-13)
    R = (g[1] + g[2] + g[3] - g[0]) / (g[0] - g[1])
    np.testing.assert_allclose(float(meas.R_of_masses(meas.group_masses_4(params, data))), R, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(meas.G_targets_3(params)), [1.0, 0.5, -2.0], rtol=1e-14)
    st = meas.G_random_stats(params, data)  # random slots hold G = 0.25, -0.5, 0.25, -0.5, all y = -1
    np.testing.assert_allclose([float(st["mean"]), float(st["max_abs"]), float(st["mean_signed"])],
                               [-0.125, 0.5, 0.125], rtol=1e-14)
    # scores: W_K = diag(1..5), W_Q = all-ones -> nu^T W_K^T W_Q mu = nu + 1 (row = key nu)
    p2 = dict(params, W_K=jnp.diag(jnp.arange(1.0, 6.0)), W_Q=jnp.ones((m, d)), W_V=jnp.diag(jnp.arange(1.0, 6.0)))
    np.testing.assert_allclose(np.asarray(meas.score_corr_3x3(p2)), np.repeat([[1.0], [2.0], [3.0]], 3, axis=1))
    np.testing.assert_allclose(np.asarray(meas.value_gram_3x3(p2)), np.diag([1.0, 4.0, 9.0]))


def test_T1_detection_on_synthetic_records():
    ts = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    margins = np.array([[-0.1, 0.2, 0.3], [0.1, -0.01, 0.3], [0.1, 0.0, 0.3], [0.2, 0.1, 0.4], [0.2, -0.1, 0.5]])
    assert meas.T1_index(margins) == 3  # a margin of exactly 0 is not "correct"; later dips are ignored
    assert meas.T1_time(ts, margins) == 1.5
    assert meas.T1_index(margins[:3]) == -1 and math.isnan(meas.T1_time(ts[:3], margins[:3]))


def test_phase2_box_sign_violation_and_t_star_on_synthetic_records():
    """The Phase-2 box (every y F > C, Def. F.1), the Thm 3.2(c, d) violation and T* (first L_hat <= 1/m)."""
    margins = np.array([[-0.1, 0.2], [0.05, 0.3], [0.2, 0.1], [0.3, 0.4]])
    assert th.PHASE2_MARGIN_C == pytest.approx(10 * th.LEMMA_D8_OUTPUT) == pytest.approx(0.1)
    assert meas.phase2_index(margins, 0.0) == meas.T1_index(margins) == 1
    assert meas.phase2_index(margins, th.PHASE2_MARGIN_C) == 3 and meas.phase2_index(margins, 1.0) == -1
    G = np.array([[0.67, 0.67, -0.50], [0.6, 0.7, -0.75], [0.3, 0.3, -0.5]])
    np.testing.assert_allclose(meas.thm32_sign_violation(G), [0.17, -0.05, -0.1])  # G1+G3; G2+G3; -(G1+G2+G3)
    assert th.t_star_loss(64) == 1 / 64 and meas.first_below([0.5, 0.02, 0.01, 0.001], th.t_star_loss(64)) == 2
    assert meas.first_below([0.5, 0.2], 0.01) == -1
    assert th.n_over_L2(60, 5) == pytest.approx(2.4) and th.m_over_width_floor(64, 16, 5) == pytest.approx(2.56)


def test_init_scales_match_spec():
    s0, s1 = mdl.init_scales(5, 128, 16)
    assert s0 == pytest.approx(0.02 / math.sqrt(640)) and s1 == pytest.approx(0.25)
    assert float(th.tau(2.0, s1, 128, 16)) == pytest.approx(2.0 * 128)  # sigma1^2 m m1 = m
    p = mdl.init(jax.random.key(0), 163, 128, 16, s0, s1)
    assert set(np.unique(np.asarray(p["a"]))) == {-1.0, 1.0}
    assert p["W"].shape == (16, 128) and p["W_V"].shape == (128, 163)
