"""Norm-growth checks (issue 5): quick verdicts, the ``norm_growth`` workload on the engine, the toy tasks and
the mask artefact on the causal model.

Default tests: the theory checks C1-C7 and NG-cooccurrence in --quick form (NG-cooccurrence trains the
co-occurrence model through the engine, 2000 GD steps), the workload's records on a tiny model (step size,
alignment and gradient alignment against the recorded parameters, no recompile on new dynamic values), a
``scanflow run configs/norm_growth_running_max.yaml`` with tiny overrides, config errors, the toy-task samplers
and the multiplicative-mask regression on `scanflow.models.causal`. The checks that train the causal transformer
(C8, C8-postLN, C9, C10) and NG-scan-snap compile larger programs (about 25 s each on 2 CPU cores) and run under
``-m slow``.
"""

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanflow.papers.norm_growth.checks  # noqa: F401  registers the checks
from scanflow.engine import sweep as sweep_mod
from scanflow.engine.config import ConfigError, config_from_dict, load_config
from scanflow.engine.dataset import manifest_of
from scanflow.engine.results import load_run
from scanflow.papers.norm_growth import workload as wl
from scanflow.papers.norm_growth.checks import transformer_checks as tc
from scanflow.papers.norm_growth.checks.transformer_checks import artefact_params
from scanflow.papers.norm_growth.data import ToyTask
from scanflow.measure import norm_growth as ng
from scanflow.measure import saturation as sat
from scanflow.models import causal
from scanflow.papers.norm_growth import theory as th
from scanflow.verify import REGISTRY, Context
from scanflow.verify.framework import Outcome, verdict

ROOT = Path(__file__).resolve().parents[1]
FAST = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "NG-cooccurrence"]
SLOW = ["C8", "C8-postLN", "C9", "C10", "C10-count", "NG-scan-snap"]
# Verdicts in --quick form other than PASS, pinned so that a change is noticed: C8-postLN is outside the paper's
# homogeneity argument and C10-count's mean head is not supported by the paper (both declared expected="fail");
# NG-scan-snap has no home setting (Theorem 4's assumptions are out of reach), so its held gate is UNTESTED.
VERDICTS_QUICK = {"C8-postLN": "XFAIL", "C10-count": "XFAIL", "NG-scan-snap": "UNTESTED"}
# The assumption meters not met in --quick form (every other meter of every check is met: their home settings)
UNMET_QUICK = {"C8-postLN": {"no biases", "block approximately homogeneous"},
               "NG-scan-snap": {"A2: |lambda_1(E)|, E = F^T F - I", "Thm 1: M", "Thm 1: eta_Y"}}


def _run(name, tmp_path):
    c = REGISTRY["norm-growth"][name]
    r = c.fn(Context(quick=True, fig_dir=tmp_path))
    assert r.measured and r.predicted and r.tolerance
    assert r.figure is None or (tmp_path / r.figure).is_file()
    assert r.assumptions and r.sources, name  # every check states its assumptions and its predictions' sources
    assert {a.name for a in r.unmet} == UNMET_QUICK.get(name, set()), (name, [a.text() for a in r.unmet])
    return c, r, verdict(Outcome(c, r, 0.0))


@pytest.mark.parametrize("name", FAST)
def test_quick_check_verdict(name, tmp_path):
    c, r, v = _run(name, tmp_path)
    assert v == "PASS" and c.expected == "pass", (name, r.measured)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_quick_transformer_check_verdict(name, tmp_path):
    c, r, v = _run(name, tmp_path)
    assert v == VERDICTS_QUICK.get(name, "PASS"), (name, v, r.tolerance)
    if name == "C8-postLN":  # the standard post-LN block is close to, but not at, saturation after 500 steps
        assert 0.9 < min(r.measured["sat(1000) per seed"]) < 0.99 and c.expected == "fail"
        assert "App. D" in c.why_fail and "post-norm" in c.why_fail
        nb = r.measured["(beside it, not gated) no biases, residual kept: sat(1000) per seed"]
        assert len(nb) == 2 and r.regime is not None
    if name == "C10-count":  # the natural head is selective under saturation; the head built in at init is global
        assert r.regime is not None and not r.regime.shrinks and c.expected == "fail"
        assert set(r.failed_terms) >= {"seed 0: mean r of the saturated head"}
        assert len(r.outside) == 1 and r.outside[0].passed, [o.text() for o in r.outside]
    if name == "C8":  # sat -> 1 along training, measured on the gate's own term
        assert r.regime.shrinks and r.regime.gate == tc.SAT_TERM and tc.SAT_TERM in [t[0] for t in r.terms]
    if name == "C9":  # every random-init block rises by more than C9_RISE_MIN; no regime path can excuse a failure
        rises = [t for t in r.terms if "rise of cos" in t[0]]
        assert len(rises) == 4 and all(t[2] >= tc.C9_RISE_MIN and t[4] for t in rises) and r.regime is None


def test_homogeneity_meters_read_the_block():
    """Table 1 / App. D: only a bias-free block without a residual around its normed branch is homogeneous."""
    met = lambda **kw: [a.met for a in tc.homogeneity_meters(causal.CausalSpec(vocab=4, d_model=4, **kw))]  # noqa: E731
    assert met(bias=False, residual=False) == [True, True]
    assert met(bias=True, residual=True, norm="post") == [False, False]
    assert met(bias=False, residual=True, norm="pre") == [True, False]


def test_paper_prenorm_block_is_approximately_one_homogeneous():
    """C9's LN(F(X)) + X stack (App. D): without biases its output before the decoder has degree -> 1, so the
    logits have local degree -> 2 (decoder degree 1); the post-norm LN(X + F(X)) stack does not have a constant
    degree at small c (its residual has degree 1, its branches degree 3)."""
    spec = causal.CausalSpec(vocab=5, d_model=8, n_heads=2, n_layers=2, d_ff=8, norm="post", pos="learned",
                             max_len=6, bias=False)
    p = causal.init(jax.random.PRNGKey(0), spec, 1.0, jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 5, (3, 6)))
    f = jax.jit(lambda q: tc.paper_prenorm_logits(q, x, spec))

    def k_hat(c):
        return float(th.empirical_degree(jnp.linalg.norm(f(sat.scale_all(p, c))),
                                         jnp.linalg.norm(f(sat.scale_all(p, 2 * c))), 2.0))

    assert abs(k_hat(32.0) - 2.0) < 1e-6 < abs(k_hat(0.25) - 2.0)
    curves = tc.scale_curves(lambda q, xx: tc.paper_prenorm_logits(q, xx, spec),
                             jax.tree.map(lambda a: a[None], p), x, np.array([1.0, 10.0, 1000.0]))
    assert curves.shape == (1, 3) and abs(curves[0, -1] - 1) < 1e-12 and curves[0, 1] > curves[0, 0]
    sb = dataclasses.replace(spec, bias=True)  # with biases (Fig. 4's other variant), explicit broadcasting
    assert tc.paper_prenorm_logits(causal.init(jax.random.PRNGKey(1), sb, 1.0, jnp.float64), x, sb).shape == (3, 6, 5)


def test_every_registered_check_is_tested():
    assert set(REGISTRY["norm-growth"]) == set(FAST) | set(SLOW)
    assert {n for n, c in REGISTRY["norm-growth"].items() if c.expected == "fail"} == {"C8-postLN", "C10-count"}
    # every check names its home setting, or why it has none (then its docstring says so)
    for n, c in REGISTRY["norm-growth"].items():
        assert bool(c.home) != bool(c.no_home), n
        assert not c.no_home or c.expected == "fail" or "no home" in (c.fn.__doc__ or "").lower(), n


def test_no_literal_meters():
    """A meter measures: no ``holds("...", True, ...)`` in the paper's checks (issue 20)."""
    import re

    for f in (ROOT / "scanflow/papers/norm_growth").rglob("*.py"):
        assert not re.search(r'holds\("[^"]*", *(True|False) *,', f.read_text()), f


def test_mutations_are_declared_and_every_simulation_check_is_killed():
    from scanflow.verify.mutation import mutations

    ms = mutations("norm-growth")
    checks = REGISTRY["norm-growth"]
    assert len(ms) >= 3 and all(n.startswith("ng-") for n in ms)
    killed = set()
    for m in ms.values():
        assert m.bug and set(m.kills) <= set(checks), m.name
        killed |= set(m.kills)
    must = {n for n, c in checks.items() if c.mode != "T" and c.expected == "pass"}
    assert must <= killed, must - killed


def test_uniform_attention_mutation_patches_the_model():
    """ng-uniform-attention replaces the attention scores where the model looks them up at trace time, and undoes it."""
    from scanflow.verify.mutation import mutated

    spec = causal.CausalSpec(vocab=5, d_model=8, n_heads=2, pos="learned", max_len=6, bias=False)
    p = causal.init(jax.random.PRNGKey(0), spec, 1.0, jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 5, (2, 6)))
    uniform = jnp.tril(jnp.ones((6, 6))) / jnp.arange(1, 7)[:, None]
    with mutated("ng-uniform-attention"):
        A = jax.jit(lambda q: causal.apply(q, x, spec)[1])(p)
        assert np.allclose(A, uniform[None, None, None], atol=1e-14)
        assert jnp.all(jnp.isneginf(causal.scores(p, x, spec)[..., 0, 1]))  # the mask is kept
    A = jax.jit(lambda q: causal.apply(q, x, spec)[1])(p)
    assert not np.allclose(A, uniform[None, None, None], atol=1e-3)


@pytest.mark.parametrize("name, factor", [("ng-lr-fiftieth", 1 / 50), ("ng-weight-decay", None)])
def test_optimizer_mutations_change_the_engine_update(name, factor):
    """The optimizer mutations patch `scanflow.engine.discrete.make_optimizer` (the alias the engine calls): an SGD
    step of the patched optimizer is 1/50 of the real one, or adds the decay -WEIGHT_DECAY * theta."""
    from scanflow.engine import discrete
    from scanflow.papers.norm_growth import mutations as mu
    from scanflow.verify.mutation import mutated

    cfg = config_from_dict(TINY).train
    params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.5])}
    grads = {"a": jnp.array([0.3, 0.1]), "b": jnp.array([-0.2])}
    lrs = {"a": jnp.asarray(0.1), "b": jnp.asarray(0.1)}

    def step():
        tx = discrete.make_optimizer(cfg, lrs)
        return tx.update(grads, tx.init(params), params)[0]

    real = step()
    with mutated(name):
        bad = step()
    for k in params:
        want = factor * real[k] if factor else real[k] - mu.WEIGHT_DECAY * params[k]
        np.testing.assert_allclose(bad[k], want, rtol=1e-12)
    np.testing.assert_allclose(step()["a"], real["a"])  # undone


# ----------------------------------------------------------------------------- the workload on the engine

TINY = {
    "name": "tiny", "workload": "norm_growth", "x64": True,
    "data": {"task": "majority", "seq_len": 5, "vocab": 2, "batch": 4, "eval_batch": 8},
    "model": {"d_model": 4, "norm": "post", "pos": "learned", "bias": True, "residual": True},
    "train": {"method": "sgd", "optimizer": "sgd", "steps": 6, "record_every": 1},
    "sweep": {"seeds": 2, "root_seed": 3, "lr": {"eta": [0.3, 0.1]}},
}


@pytest.fixture(scope="module")
def tiny_run():
    cfg = config_from_dict(TINY)
    return cfg, sweep_mod.run_sweep(cfg)


def test_workload_records_match_recorded_params(tiny_run):
    """At record_every = 1: step_norm = ||theta_t - theta_{t-1}||, alignment = cos(delta_t, theta_{t-1}) from the
    recorded parameters; plain SGD's update is -eta grad, so grad_alignment = alignment; norms and group norms
    are those of the recorded parameters; record 0 is the init of the engine's key fold_in(fold_in(root, seed), 0)."""
    cfg, out = tiny_run
    a = out.arrays
    P, S, R = a["norm"].shape
    assert (P, S, R) == (2, 2, 7) and a["params"].shape[:3] == (2, 2, 7)
    th_ = a["params"]
    d = np.diff(th_, axis=2)
    np.testing.assert_allclose(a["step_norm"][:, :, 1:], np.linalg.norm(d, axis=-1), rtol=1e-10)
    cos = np.sum(d * th_[:, :, :-1], -1) / (np.linalg.norm(d, axis=-1) * np.linalg.norm(th_[:, :, :-1], axis=-1))
    np.testing.assert_allclose(a["alignment"][:, :, 1:], cos, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a["grad_alignment"][:, :, 1:], cos, rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(a["alignment"][:, :, 1:]) <= 1) and np.all(a["step_norm"][:, :, 0] == 0)
    assert np.isnan(a["alignment"][:, :, 0]).all()
    np.testing.assert_allclose(a["norm"], np.linalg.norm(th_, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(np.sum(a["group_norm"] ** 2, -1), a["norm"] ** 2, rtol=1e-12)
    assert list(out.coords["group"]) == ["attn", "decoder", "embed", "norm"]
    # the learning rate is the grid point's: a bigger eta takes a bigger first step from the same init
    np.testing.assert_array_equal(th_[0, :, 0], th_[1, :, 0])
    assert np.all(a["step_norm"][0, :, 1] > a["step_norm"][1, :, 1])
    # record 0 is the init; `unflatten` rebuilds the tree from the flat record
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(3), 1), 0)
    p0 = causal.init(key, wl.spec_of(cfg), 1.0, jnp.float64)
    tree = wl.unflatten(cfg, th_[0, 1, 0])
    for x, y in zip(jax.tree.leaves(p0), jax.tree.leaves(tree)):
        np.testing.assert_array_equal(np.asarray(x), y)
    # direction cosines from records: C_final of the last record is 1
    assert abs(ng.cosine_to_final_R(th_[0, 0])[-1] - 1) < 1e-14


def test_workload_dynamic_fields_do_not_recompile(tiny_run):
    """init_scale, qk_scale and eta are arrays of one program; qk_scale = 0 keeps W_Q, W_K (and biases) at
    exactly 0 (the structural mean head of C10); init_scale scales the init."""
    cfg, out = tiny_run
    n_chunk = sweep_mod.TRACE_COUNT["chunk"]
    cfg2 = config_from_dict(TINY, ["model.qk_scale=0.0", "model.init_scale=0.5", "sweep.lr.eta=[0.2, 0.05]"])
    out2 = sweep_mod.run_sweep(cfg2)
    assert sweep_mod.TRACE_COUNT["chunk"] == n_chunk
    tree = wl.unflatten(cfg2, out2.arrays["params"])
    qk = [tree["attn"]["layer_0"][k] for k in ("q", "k")]
    assert all(float(np.max(np.abs(x))) == 0.0 for x in jax.tree.leaves(qk))
    v = tree["attn"]["layer_0"]["v"]["w"]
    assert float(np.max(np.abs(v[0, 0] - v[0, 1]))) > 0  # seeds differ
    v1 = wl.unflatten(cfg, out.arrays["params"])["attn"]["layer_0"]["v"]["w"]
    np.testing.assert_allclose(v[:, :, 0], 0.5 * v1[:, :, 0], rtol=1e-14)


def test_yaml_configs_are_the_checks_settings():
    """configs/norm_growth_*.yaml are the full-mode settings of C8, C8-postLN and C10 (b)."""
    pairs = {"norm_growth_running_max.yaml": ("homogeneous", False), "norm_growth_postln.yaml": ("post-LN", False),
             "norm_growth_majority.yaml": ("count", True)}
    for name, (setting, zero_qk) in pairs.items():
        y = load_config(ROOT / "configs" / name)
        c = tc.config(setting, quick=False, zero_qk=zero_qk)
        assert (y.workload, y.x64, y.data, y.model, y.train, y.sweep) == (c.workload, c.x64, c.data, c.model,
                                                                          c.train, c.sweep), name


@pytest.mark.parametrize("override, field", [
    ("data.task=copy", "data.task"), ("data.vocab=1", "data.vocab"), ("data.batch=0", "data.batch"),
    ("model.n_heads=3", "model.n_heads"), ("model.norm=mid", "model.norm"), ("model.qk_scale=-1", "model.qk_scale"),
    ("model.init_scale=0", "model.init_scale"), ("model.d_ff=-1", "model.d_ff"), ("model.residual=2", "model.residual"),
    ("train.method=flow", "train.method"), ("sweep.lr={Y: [1]}", "sweep.lr"), ("model.heads=2", "model.heads"),
])
def test_config_errors_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        config_from_dict(TINY, [override])
    with pytest.raises(ConfigError, match="^data.vocab: expected 2 for the majority task"):
        config_from_dict(TINY, ["data.vocab=3"])


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "scanflow.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_cli_run_norm_growth_config(tmp_path):
    """``scanflow run configs/norm_growth_running_max.yaml`` with tiny overrides writes a run directory with its
    records and figures; a bad field exits 2 with one line and writes nothing."""
    cfg = str(ROOT / "configs" / "norm_growth_running_max.yaml")
    tiny = ["train.steps=4", "train.record_every=2", "sweep.seeds=1", "data.batch=4", "data.eval_batch=8",
            "model.d_model=4"]
    r = _cli("run", cfg, *tiny, "--out", "tmp", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (run_dir,) = (tmp_path / "tmp").iterdir()
    run = load_run(run_dir)
    assert run["params"].shape == (1, 1, 3, manifest_of(run)["workload_info"]["n_params"])
    assert run["group_norm"].dims == ("point", "seed", "step", "group")
    assert list(run["group"].values) == ["attn", "decoder", "embed", "norm"]
    assert {p.name for p in (run_dir / "figures").iterdir()} == {f"{n}.{x}" for n in ("norm", "cosines", "training")
                                                                  for x in ("png", "pdf")}
    bad = _cli("run", cfg, "model.n_heads=3", "--out", "bad", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert bad.stderr.startswith("scanflow: error: model.n_heads: expected a divisor of model.d_model=16, got 3")
    assert not (tmp_path / "bad").exists()


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
        assert (tmp_path / name).is_file() and (tmp_path / name).with_suffix(".pdf").is_file(), name
