"""Norm-growth checks (issue 5): quick verdicts, the LM trainer, the toy tasks and the mask artefact on the
causal model.

Default tests: the theory checks C1-C7 and NG-cooccurrence in --quick form (no transformer training),
the trainer's record exactness on a tiny model, the toy-task samplers and the multiplicative-mask
regression on `scanflow.models.causal`. The checks that train the causal transformer (C8, C8-postLN,
C9, C10) and NG-scan-snap compile larger programs (about 25 s each on 2 CPU cores) and run under
``-m slow``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scanflow.checks.norm_growth  # noqa: F401  registers the checks
from scanflow.checks.norm_growth.transformer_checks import artefact_params
from scanflow.data.toy_tasks import ToyTask
from scanflow.dynamics import lm
from scanflow.measure import saturation as sat
from scanflow.models import causal
from scanflow.theory import norm_growth as th
from scanflow.verify import REGISTRY, Context

FAST = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "NG-cooccurrence"]
SLOW = ["C8", "C8-postLN", "C9", "C10", "NG-scan-snap"]
# Known findings in --quick form (expected to pass by the paper, fail numerically); pinned so that a change is noticed
FINDINGS_QUICK = {"C8-postLN"}


def _run(name, tmp_path):
    c = REGISTRY["norm-growth"][name]
    r = c.fn(Context(quick=True, fig_dir=tmp_path))
    assert r.measured and r.predicted and r.tolerance
    assert r.figure is None or (tmp_path / r.figure).is_file()
    return c, r


@pytest.mark.parametrize("name", FAST)
def test_quick_check_verdict(name, tmp_path):
    c, r = _run(name, tmp_path)
    assert r.passed == (c.expected == "pass"), (name, r.measured)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_quick_transformer_check_verdict(name, tmp_path):
    c, r = _run(name, tmp_path)
    assert r.passed == (c.expected == "pass" and name not in FINDINGS_QUICK), (name, r.measured)
    if name == "C8-postLN":  # the standard post-LN block is close to, but not at, saturation after 500 steps
        assert 0.9 < min(r.measured["sat(1000) per seed"]) < 0.99


def test_every_registered_check_is_tested():
    assert set(REGISTRY["norm-growth"]) == set(FAST) | set(SLOW)


# ----------------------------------------------------------------------------- trainer


def test_lm_train_records_match_a_plain_loop():
    """Nested-scan records equal a Python loop of the same optax steps (float64 rounding only), and the
    step norm / alignment are those of the recorded step."""
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.standard_normal((16, 3)))
    y = jnp.asarray(rng.standard_normal(16))

    def loss_fn(p, batch):
        return jnp.mean((batch["x"] @ p["w"]["a"] + p["b"] - batch["y"]) ** 2)

    def data_fn(i):
        k = jnp.mod(i, 4)
        return {"x": jax.lax.dynamic_slice_in_dim(X, 4 * k, 4), "y": jax.lax.dynamic_slice_in_dim(y, 4 * k, 4)}

    p0 = {"w": {"a": jnp.ones(3)}, "b": jnp.asarray(0.5)}
    steps, every, lr = 12, 3, 0.1
    pT, rec = jax.jit(lambda p: lm.train(None, p, data_fn, lr, steps, every, "sgd", loss_fn=loss_fn))(p0)
    assert rec["norm"].shape == (steps // every + 1,)
    assert np.isnan(rec["alignment"][0]) and rec["step_norm"][0] == 0.0
    tx = optax.sgd(lr)
    p, s = p0, tx.init(p0)
    flat = lambda q: jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(q)])  # noqa: E731
    for i in range(steps):
        loss, g = jax.value_and_grad(loss_fn)(p, data_fn(i))
        u, s = tx.update(g, s, p)
        p_new = optax.apply_updates(p, u)
        if (i + 1) % every == 0:
            j = (i + 1) // every
            d = flat(p_new) - flat(p)
            np.testing.assert_allclose(rec["loss"][j], loss, rtol=1e-13)
            np.testing.assert_allclose(rec["norm"][j], jnp.linalg.norm(flat(p_new)), rtol=1e-13)
            np.testing.assert_allclose(rec["step_norm"][j], jnp.linalg.norm(d), rtol=1e-12)
            np.testing.assert_allclose(rec["alignment"][j], d @ flat(p) / (jnp.linalg.norm(d) * jnp.linalg.norm(flat(p))),
                                       rtol=1e-10)
            np.testing.assert_allclose(rec["group_norm"]["w"][j], jnp.linalg.norm(p_new["w"]["a"]), rtol=1e-13)
            np.testing.assert_allclose(flat(jax.tree_util.tree_map(lambda a: a[j], rec["params"])), flat(p_new), rtol=1e-13)
        p = p_new
    np.testing.assert_allclose(flat(pT), flat(p), rtol=1e-13)
    with pytest.raises(ValueError, match="record_every"):
        lm.train(None, p0, data_fn, lr, 10, 3, "sgd", loss_fn=loss_fn)
    with pytest.raises(ValueError, match="optimizer"):
        lm.train(None, p0, data_fn, lr, 12, 3, "rmsprop", loss_fn=loss_fn)


# ----------------------------------------------------------------------------- toy tasks


def test_toy_task_samplers():
    b = jax.jit(lambda k: ToyTask("running_max", seq_len=9, vocab=7).sample(k, 50))(jax.random.PRNGKey(0))
    x, y = np.asarray(b["x"]), np.asarray(b["y"])
    assert x.shape == (50, 9) and x.min() >= 0 and x.max() < 7
    np.testing.assert_array_equal(y, np.maximum.accumulate(x, axis=1))
    b = jax.jit(lambda k: ToyTask("majority", seq_len=9).sample(k, 50))(jax.random.PRNGKey(1))
    x, y = np.asarray(b["x"]), np.asarray(b["y"])
    assert set(np.unique(x)) <= {0, 1}
    np.testing.assert_array_equal(y, (2 * np.cumsum(x, 1) > np.arange(1, 10)).astype(int))
    with pytest.raises(ValueError, match="task"):
        ToyTask("copy", seq_len=4)
    with pytest.raises(ValueError, match="vocab"):
        ToyTask("majority", seq_len=4, vocab=3)


def test_argmax_head_reference_matches_sampling():
    """The exact multiplicity law of the prefix max against direct counting on sampled sequences."""
    V, T, N = 6, 8, 20000
    x = np.asarray(ToyTask("running_max", seq_len=T, vocab=V).sample(jax.random.PRNGKey(2), N)["x"])
    ms = np.array([[np.sum(x[i, : n] == x[i, : n].max()) for n in range(4, T + 1)] for i in range(N)])
    ref = th.argmax_head_reference(V, T)
    per_seq = ms.mean(1)
    se = per_seq.std(ddof=1) / math.sqrt(N)
    assert abs(per_seq.mean() - ref["mean_m"]) < 4 * se  # z = 4 sampling tolerance
    split = (ms > 1).mean(1)
    assert abs(split.mean() - ref["split"]) < 4 * split.std(ddof=1) / math.sqrt(N)
    assert abs(sum(th.max_multiplicity_pmf(V, 5).values()) - 1) < 1e-14


# ----------------------------------------------------------------------------- mask artefact on the model


def test_causal_multiplicative_mask_artefact():
    """Spec §2.4 on scanflow.models.causal: mask="multiply" lets masked future keys (score 0) win when the
    visible scores are negative: saturated support (n-1)/2 + 1/n, split (n-2)/n; "neg_inf" attends one key."""
    n, B = 9, 8
    x = jnp.asarray(np.random.default_rng(3).integers(0, 11, (B, n)))
    p = artefact_params(causal.CausalSpec(vocab=11, d_model=8, pos="learned", max_len=n), jax.random.PRNGKey(4))
    modes = ("multiply", "neg_inf")  # the same parameters under both masks, one compiled program
    specs = [causal.CausalSpec(vocab=11, d_model=8, pos="learned", max_len=n, mask=m) for m in modes]
    future = ~jnp.tril(jnp.ones((n, n), bool))

    def measure(q):
        out = []
        for sp in specs:
            s = causal.scores(q, x, sp)[0]
            A = jax.nn.softmax(s, axis=-1)  # the model's soft attention (softmax of its masked scores)
            out.append((s, sat.attended_counts(sat.saturated_attention(s))[0], jnp.sum(jnp.where(future, A, 0.0))))
        return out

    res = {}
    for mode, (s, m, leak) in zip(modes, jax.jit(measure)(p)):
        res[mode] = (s, np.asarray(m))
        assert (float(leak) > 0.1) if mode == "multiply" else (float(leak) == 0.0)
    s_vis = np.asarray(res["neg_inf"][0])
    assert np.all(s_vis[np.isfinite(s_vis)] < 0)  # the precondition of the reference pattern
    ref = th.multiplicative_mask_reference(n)
    m_bad, m_good = res["multiply"][1], res["neg_inf"][1]
    assert float(m_bad.mean()) == pytest.approx(ref["mean_m"], abs=1e-12)
    assert float((m_bad > 1).mean()) == pytest.approx(ref["split"], abs=1e-12)
    assert np.all(m_good == 1)


@pytest.mark.slow
def test_sims_norm_growth_figs_smoke(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "sims" / "norm_growth_figs.py"
    spec = importlib.util.spec_from_file_location("norm_growth_figs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("C8_homogeneous_norm.png", "C8_homogeneous_cosines.png", "C9_scale_curves.png",
                 "C10_support_hist.png", "NG_scan_snap.png", "NG_cooccurrence.png"):
        assert (tmp_path / name).is_file(), name


@pytest.mark.slow
def test_train_seeds_vmapped_and_no_recompile_on_new_hyperparameters():
    """lr, init_scale and qk_scale are arguments of one program (no recompile); seeds differ; qk_scale = 0
    keeps W_Q, W_K at exactly 0 under Adam (the structural mean head of C10)."""
    task = ToyTask("majority", seq_len=6)
    spec = causal.CausalSpec(vocab=2, d_model=8, pos="none", max_len=6)
    kw = dict(spec=spec, task=task, steps=8, record_every=4, batch=4)
    key = jax.random.PRNGKey(0)
    f64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    p2, r2 = lm.train_seeds(key, f64(1e-2), f64(1.0), f64(0.0), n_seeds=2, **kw)
    n0 = lm.train_seeds._cache_size()
    lm.train_seeds(key, f64(3e-2), f64(0.5), f64(1.0), n_seeds=2, **kw)
    assert lm.train_seeds._cache_size() == n0
    assert r2["loss"].shape == (2, 3)
    qk = [p2["attn"]["layer_0"][k] for k in ("q", "k")]
    assert all(float(jnp.max(jnp.abs(x))) == 0.0 for x in jax.tree_util.tree_leaves(qk))
    assert float(jnp.max(jnp.abs(p2["attn"]["layer_0"]["v"]["w"][0] - p2["attn"]["layer_0"]["v"]["w"][1]))) > 0
