"""Scan and Snap on real text (issue 7) as an engine workload: measurements, the workload (chunk
order, clip + SGD, one program for eta x seed), ``scanflow run configs/real_text.yaml`` and the quick
form of ``scanflow verify real-text``, on a text the test writes itself (CI has no corpus)."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scanflow.engine.config import ConfigError, TrainConfig, load_config
from scanflow.engine.dataset import config_of, manifest_of
from scanflow.engine.results import load_run
from scanflow.models import causal
from scanflow.papers.real_text.config import QUICK, path_override
from scanflow.papers.real_text.measure import (
    FROZEN_SLOPE,
    change_loglog_slope,
    change_per_window,
    frozen_phase_start,
    freeze_analysis,
    freeze_step,
    jonckheere_decreasing,
    mean_attention_entropy,
    uniform_causal_entropy,
)
from scanflow.verify import REGISTRY, Context, run_checks

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "real_text.yaml"
# a tiny model on the written text: compiles in a few seconds
TINY = ("data.vocab_cap=50", "data.batch=4", "data.bptt=8", "data.eval_batch=2", "data.max_valid_tokens=400",
        "data.probe=2", "model.d_model=8", "model.d_ff=8", "train.steps=20", "train.record_every=10",
        "sweep.seeds=2", "sweep.lr.eta=[1,5]")


def write_skip_bigram_text(path: Path, n_lines: int, seed: int, n_words: int = 60, line_len: int = 20) -> None:
    """Lines where word t+1 = f(word t-1) for a fixed permutation f (10% random words): predicting the
    next word needs attention to the previous position, so the attention must become sparse."""
    rng = np.random.default_rng(seed)
    f = np.random.default_rng(123).permutation(n_words)
    lines = []
    for _ in range(n_lines):
        x = list(rng.integers(n_words, size=2))
        while len(x) < line_len:
            x.append(int(rng.integers(n_words)) if rng.random() < 0.1 else int(f[x[-2]]))
        lines.append(" ".join(f"w{i}" for i in x))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("skip_bigram")
    write_skip_bigram_text(d / "test.txt", 1000, seed=0)  # no train.txt: trains on test.txt, as on WikiText-2 here
    write_skip_bigram_text(d / "valid.txt", 200, seed=1)
    return d


def tiny(corpus_dir, *overrides):
    return load_config(CONFIG, [path_override(corpus_dir), *TINY, *overrides])


# ------------------------------------------------------------------------------------------ measurements


def test_entropy_of_uniform_and_one_hot_causal_attention():
    T = 7
    uniform = jnp.tril(jnp.ones((T, T))) / jnp.arange(1, T + 1)[:, None]
    # exact: mean_t ln(t+1) (float64)
    np.testing.assert_allclose(mean_attention_entropy(uniform[None]), uniform_causal_entropy(T), rtol=1e-12)
    assert uniform_causal_entropy(T) == pytest.approx(np.log(5040) / 7, rel=1e-12)  # ln(7!)/7
    np.testing.assert_allclose(mean_attention_entropy(jnp.eye(T)[None]), 0.0, atol=1e-15)


def test_change_per_window_and_freeze_step():
    # 5 records, 1 run, 1 probe sequence of T = 2: row 1 moves by 0.5, 0.1, 0.0, 0.0 between records
    a = np.zeros((5, 1, 1, 2, 2))
    a[:, 0, 0, 0, 0] = 1.0
    row1 = [0.0, 0.5, 0.6, 0.6, 0.6]  # weight on key 0 of query 1
    a[:, 0, 0, 1, 0] = row1
    a[:, 0, 0, 1, 1] = 1 - np.asarray(row1)
    ch = change_per_window(a, lag=1)[:, 0]  # TV of row 1 averaged with row 0 (which never moves)
    np.testing.assert_allclose(ch, [0.25, 0.05, 0.0, 0.0], atol=1e-15)
    steps = np.array([100, 200, 300, 400])
    assert freeze_step(ch, steps, eps=0.1) == 200  # below 0.1 from step 200 on
    assert freeze_step(ch, steps, eps=0.3) == 100  # never above
    assert np.isnan(freeze_step(np.array([0.3, 0.01, 0.2]), steps[:3], eps=0.1))  # moves again at the end
    with pytest.raises(ValueError, match="lag"):
        change_per_window(a, lag=5)
    # the same maps as a run's (point, seed, record, probe, query, key) array recorded every 100 steps
    fa = freeze_analysis(np.moveaxis(a, 0, 1)[None], np.arange(5) * 100, window=100, drop=10.0)
    np.testing.assert_allclose(fa["change"][0, 0], ch, atol=1e-15)
    assert fa["peak"][0, 0] == 0.25 and fa["freeze"][0, 0] == 300 and fa["peak_step"][0, 0] == 100
    with pytest.raises(ValueError, match="record_every"):
        freeze_analysis(np.moveaxis(a, 0, 1)[None], np.arange(5) * 30, window=100)


def test_frozen_phase_window_and_slope():
    """Thm 4's frozen phase starts at t0 = (t0 / t_peak) x the peak step, t0 / t_peak from Lemma 9 (3.03, 3.23, 3.23,
    3.10 at M = 34, 100, 1000, 1e4: the scan-snap calibration table); the slope over [t0, T] of an exact power law
    is its exponent, NaN when fewer than 4 records lie in the window."""
    for M, r in ((34, 9.93 / 3.28), (100, 12.78 / 3.96), (1000, 18.21 / 5.64), (10_000, 23.33 / 7.52)):
        assert float(frozen_phase_start(1.0, M)) == pytest.approx(r, rel=0.01)
    t = np.arange(100, 1501, 50, dtype=float)
    assert change_loglog_slope(3.0 / t, t, 300.0) == pytest.approx(-1.0, abs=1e-12)
    assert change_loglog_slope(t**0.2, t, 300.0) == pytest.approx(0.2, abs=1e-12)
    assert np.isnan(change_loglog_slope(1.0 / t, t, 1400.0)) and FROZEN_SLOPE == -1.0


def test_jonckheere_trend_test_detects_order_and_not_its_absence():
    x = np.array([[3.0, 3.1, 2.9], [2.5, 2.6, 2.4], [2.0, 2.1, 1.9], [1.5, 1.6, 1.4], [1.0, 1.1, 0.9]])
    down = jonckheere_decreasing(x)
    assert down["J"] == down["J_max"] == 90  # every cross-group pair ordered
    assert down["p"] < 1e-3 and down["z"] > 4
    assert jonckheere_decreasing(x[::-1])["p"] > 0.99  # increasing: no evidence of a decrease
    # swapping groups 2 and 4 reverses the 3 group pairs (2,3), (3,4), (2,4): J = 90 - 27
    y = x[[0, 3, 2, 1, 4]]
    assert jonckheere_decreasing(y)["J"] == 63
    assert jonckheere_decreasing(y)["p"] > down["p"]


# ------------------------------------------------------------------------------------------------ configs


def test_configs_hold_the_full_settings(corpus_dir):
    ref = load_config(CONFIG, [path_override(corpus_dir)])
    d, m, t, s = ref.data, ref.model, ref.train, ref.sweep
    assert (ref.workload, d.vocab_cap, d.batch, d.bptt, d.eval_batch, d.max_valid_tokens, d.probe) == (
        "real_text", 2000, 20, 35, 10, 60_000, 4)
    assert (m.variant, m.d_model, m.d_ff, m.n_layers, m.n_heads, m.ffn_lr_mult) == ("reference", 64, 64, 1, 1, 1.0)
    assert (t.method, t.optimizer, t.clip_norm, t.steps, t.record_every) == ("sgd", "sgd", 0.5, 1500, 50)
    assert (s.seeds, tuple(s.lr["eta"])) == (3, (1.0, 2.0, 3.0, 4.0, 5.0))
    ana = load_config(ROOT / "configs" / "real_text_analysed.yaml", [path_override(corpus_dir)])
    assert ana.model.variant == "analysed"
    assert dataclasses.replace(ana, name=ref.name, model=ref.model) == ref  # trained exactly the same way
    q = load_config(CONFIG, [path_override(corpus_dir), *QUICK])  # the quick setting is a valid override set
    assert (q.train.steps, q.model.d_model, q.data.vocab_cap) == (300, 32, 200)


@pytest.mark.parametrize("overrides, words", [
    ([], ["data.path", "corpus path"]),  # required
    (["data.path=/nonexistent/corpus"], ["data.path", "/nonexistent/corpus", "neither a text file nor a directory"]),
    (["model.variant=big"], ["model.variant", "reference", "analysed"]),
    (["data.probe=20"], ["data.probe", "data.eval_batch"]),
    (["model.n_heads=3"], ["model.n_heads", "divisor"]),
    (["data.bptt=0"], ["data.bptt", ">= 1"]),
    (["model.ffn_lr_mult=-1"], ["model.ffn_lr_mult"]),
    (["data.vocab_cap=2"], ["data.vocab_cap", ">= 3"]),
    (["train.method=flow"], ["train.method", "sgd"]),
    (["sweep.lr.Y=[1]"], ["sweep.lr", "eta"]),
])
def test_bad_config_is_one_line_naming_the_field(corpus_dir, overrides, words):
    base = [] if overrides == [] or overrides[0].startswith("data.path") else [path_override(corpus_dir)]
    with pytest.raises(ConfigError) as e:
        load_config(CONFIG, [*base, *overrides])
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_a_corpus_too_small_for_the_batching_fails_at_config_time(corpus_dir):
    with pytest.raises(ConfigError) as e:
        tiny(corpus_dir, "data.batch=100000")
    assert "\n" not in str(e.value) and "batch" in str(e.value) and "tokens" in str(e.value)


# ----------------------------------------------------------------------------------------------- workload


def test_loss_of_step_i_uses_chunk_i_mod_C(corpus_dir):
    from scanflow.papers.real_text.workload import WORKLOAD, corpus_of, model_spec

    cfg = tiny(corpus_dir)
    problem = WORKLOAD.build(cfg)
    corpus = corpus_of(cfg.data)
    spec = model_spec(cfg, corpus.vocab.size)
    C = corpus.train_x.shape[0]
    assert C == problem.info["train_chunks"] and C > 3
    params = jax.jit(problem.init)(jax.random.PRNGKey(0), {})
    assert jax.tree.leaves(params)[0].dtype == jnp.float32  # x64: false in the config
    loss = jax.jit(problem.loss)

    ref = jax.jit(lambda p, x, y: causal.loss(p, {"x": x, "y": y}, spec))

    def chunk_loss(c):
        return ref(params, jnp.asarray(corpus.train_x[c]), jnp.asarray(corpus.train_y[c]))

    for i in (0, 1, C - 1, C, C + 1, 3 * C + 2):
        got = loss(params, jax.random.PRNGKey(i), jnp.asarray(i, jnp.int32))
        np.testing.assert_allclose(got, chunk_loss(i % C), rtol=1e-6, err_msg=f"step {i}")
    # the chunks differ, so the test would see another chunk (or a key-drawn batch): the key does not matter
    assert abs(float(chunk_loss(0)) - float(chunk_loss(1))) > 1e-3
    assert float(loss(params, jax.random.PRNGKey(7), jnp.asarray(C, jnp.int32))) == float(
        loss(params, jax.random.PRNGKey(8), jnp.asarray(0, jnp.int32)))


def test_clip_then_sgd_is_the_reference_step_by_hand():
    """Global-norm clip over all groups, then p - eta_g * g; eta_ffn = ffn_lr_mult * eta (the old _sgd_step)."""
    from scanflow.engine.optim import make_optimizer
    from scanflow.papers.real_text.workload import hyperparams

    cfg = type("Cfg", (), {"x64": True, "sweep": type("S", (), {"lr": {"eta": (2.0,)}})(),
                           "model": type("M", (), {"ffn_lr_mult": 2.0})()})()
    hp = hyperparams(cfg, {"groups": ["attn", "ffn"]})
    assert {g: float(v[0]) for g, v in hp["lr"].items()} == {"attn": 2.0, "ffn": 4.0}
    tx = make_optimizer(TrainConfig(optimizer="sgd", clip_norm=0.5), {g: v[0] for g, v in hp["lr"].items()})
    p = {"attn": jnp.ones((3,)), "ffn": jnp.ones((2,))}
    g = {"attn": jnp.array([3.0, 0.0, 0.0]), "ffn": jnp.array([0.0, 4.0])}  # global norm 5 -> scaled by 0.1
    updates, _ = tx.update(g, tx.init(p), p)
    new = optax.apply_updates(p, updates)
    np.testing.assert_allclose(new["attn"], [1 - 2.0 * 0.3, 1, 1], rtol=1e-15)
    np.testing.assert_allclose(new["ffn"], [1, 1 - 2.0 * 2.0 * 0.4], rtol=1e-15)


def test_the_configured_optimizer_on_a_tiny_model_is_clipped_sgd(corpus_dir):
    """The engine's optimizer of the config (train.optimizer sgd, clip_norm 0.5, the workload's group
    rates) on a real gradient of a tiny model, against the update written out by hand."""
    from scanflow.engine.optim import make_optimizer
    from scanflow.papers.real_text.workload import WORKLOAD

    cfg = tiny(corpus_dir, "model.ffn_lr_mult=2.0", "sweep.lr.eta=[3]")
    problem = WORKLOAD.build(cfg)
    hp = jax.tree.map(lambda a: jnp.asarray(a[0]), WORKLOAD.hyperparams(cfg, problem.info))
    p0 = jax.jit(problem.init)(jax.random.PRNGKey(3), hp)
    g = jax.jit(jax.grad(problem.loss))(p0, jax.random.PRNGKey(0), jnp.asarray(0, jnp.int32))

    @jax.jit
    def step(p, g, lr):
        tx = make_optimizer(cfg.train, lr)
        updates, _ = tx.update(g, tx.init(p), p)
        return optax.apply_updates(p, updates)

    new = step(p0, g, hp["lr"])
    norm = float(np.sqrt(sum(float(jnp.sum(x.astype(jnp.float64) ** 2)) for x in jax.tree.leaves(g))))
    assert norm > 0.5  # the clip is active
    scale = 0.5 / norm
    assert set(p0) == {"embed", "attn", "ffn", "norm", "decoder"}
    for group in p0:
        eta = 3.0 * (2.0 if group == "ffn" else 1.0)
        want = jax.tree.map(lambda p, d: np.asarray(p, np.float64) - eta * scale * np.asarray(d, np.float64),
                            p0[group], g[group])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=2e-6, atol=2e-7),
                     new[group], want)


def test_eta_x_seed_is_one_program_and_eta_does_not_recompile(corpus_dir):
    from scanflow.engine import sweep

    cfg = tiny(corpus_dir, "train.steps=30")  # a static config no other test compiles
    before = dict(sweep.TRACE_COUNT)
    out = sweep.run_sweep(cfg)
    assert sweep.TRACE_COUNT["chunk"] == before["chunk"] + 1 and out.timings["compile_s"] > 0  # 4 runs, 1 program
    assert out.arrays["attn"].shape == (2, 2, 4, 2, 8, 8)  # point, seed, record, probe, query, key
    assert out.dims["entropy"] == ("point", "seed", "record", "layer")
    np.testing.assert_array_equal(out.arrays["eta"], [1.0, 5.0])
    np.testing.assert_array_equal(out.arrays["lr_ffn"], [1.0, 5.0])
    assert out.arrays["finite"].all() and not out.arrays["diverged"].any()
    # seeds differ in their init; etas share it (the same maps at record 0)
    np.testing.assert_array_equal(out.arrays["attn"][0, :, 0], out.arrays["attn"][1, :, 0])
    assert not np.allclose(out.arrays["attn"][0, 0, 0], out.arrays["attn"][0, 1, 0], atol=1e-4)
    before = dict(sweep.TRACE_COUNT)
    other = sweep.run_sweep(tiny(corpus_dir, "train.steps=30", "sweep.lr.eta=[2,3]", "model.ffn_lr_mult=2"))
    assert sweep.TRACE_COUNT == before and other.timings["compile_s"] == 0.0  # new rates: the same program
    np.testing.assert_array_equal(other.arrays["lr_ffn"], [4.0, 6.0])


@pytest.mark.slow  # two more programs to compile
def test_a_run_is_the_same_alone_and_in_the_sweep(corpus_dir):
    from scanflow.engine.sweep import run_sweep

    both = run_sweep(tiny(corpus_dir))
    alone = run_sweep(tiny(corpus_dir, "sweep.lr.eta=[5]", "sweep.seeds=1"))
    # float32 over 20 steps; batching may reorder reductions: 1e-5 relative, far below the seed spread
    np.testing.assert_allclose(alone.arrays["attn"][0, 0], both.arrays["attn"][1, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alone.arrays["entropy"][0, 0], both.arrays["entropy"][1, 0], rtol=1e-5)


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "scanflow.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_scanflow_run_writes_a_run_directory(corpus_dir, tmp_path):
    out = tmp_path / "runs"
    p = _cli("run", "configs/real_text.yaml", f"data.path={corpus_dir}", *TINY, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    (run_dir,) = out.iterdir()
    r = load_run(run_dir)
    config, manifest = config_of(r), manifest_of(r)
    assert config["workload"] == "real_text" and config["data"]["path"] == str(corpus_dir)
    assert r["attn"].shape == (2, 2, 3, 2, 8, 8) and r["entropy"].shape == (2, 2, 3, 1)
    assert r["loss"].shape == r["train_loss"].shape == (2, 2, 3)
    assert r["entropy"].dims == ("point", "seed", "step", "layer")
    np.testing.assert_array_equal(r["eta"].values, [1.0, 5.0])
    assert manifest["workload_info"]["train_path"].endswith("test.txt")
    assert manifest["n_points"] == 2 and manifest["n_seeds"] == 2
    assert sorted(f.name for f in (run_dir / "figures").iterdir()) == [
        "attention_maps.pdf", "attention_maps.png", "entropy_vs_lr.pdf", "entropy_vs_lr.png"]
    assert "lr_ffn=5" in p.stdout


def test_scanflow_run_with_a_bad_corpus_path_is_one_line(tmp_path, capsys):
    from scanflow.cli import main

    out = tmp_path / "runs"
    for path in (tmp_path / "missing", tmp_path):  # no such path; a directory without the split files
        assert main(["run", str(CONFIG), f"data.path={path}", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("scanflow: error: data.path:") and str(path) in err
    assert main(["run", str(CONFIG), "--out", str(out)]) == 2  # no data.path at all
    assert "data.path" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------- checks


def test_quick_verify_on_a_written_text(corpus_dir, tmp_path):
    outcomes = run_checks("real-text", Context(quick=True, fig_dir=tmp_path, data=corpus_dir), only=["RT1", "RT2", "RT3"],
                          log=None)
    r = {o.check.name: o.result for o in outcomes}
    assert all(v is not None for v in r.values()), [o.error for o in outcomes]
    # The text forces attention onto the previous position; a larger eta sparsifies faster within 300 steps
    assert r["RT1"].passed, r["RT1"].measured
    assert r["RT1"].measured["permutation p"] < 0.01
    assert r["RT3"].passed and r["RT3"].measured["runs sparser than init"] == "15/15"
    assert r["RT3"].measured["final / init entropy at eta = 5"] <= 0.5
    assert r["RT2"].passed  # the snap term is measured and holds
    assert [t[0] for t in r["RT2"].terms] == ["snap: peak change per 100 steps at eta = 5 (min over seeds)"]
    # ... but at eta >= 4 the attention collapses onto one position (entropy ~0.01) and the evaluation loss falls
    # by only ~0.2 nats: those runs did not train, the meter says so, and a holding gate is UNTESTED, not PASS.
    # RT2's frozen window [t0, T] also lies past the 300-step --quick run (t0 >= 3.2 x 100): a gap.
    v = {o.check.name: o.verdict for o in outcomes}
    assert v == {"RT1": "UNTESTED", "RT2": "UNTESTED", "RT3": "UNTESTED"}, v
    trained = "trained: evaluation-loss fall from init, min over runs (nats)"
    assert [a.name for a in r["RT1"].unmet] == [a.name for a in r["RT3"].unmet] == [trained]
    assert [a.name for a in r["RT2"].unmet] == [trained, "frozen window inside the run: T / t0 (min over seeds at eta = 5)"]
    assert 0 < r["RT1"].unmet[0].value < 1 and r["RT2"].unmet[1].value < 1
    for name, res in r.items():
        assert "test.txt" in res.setting and (tmp_path / res.figure).is_file()
        assert res.assumptions and res.sources and res.terms
        # the meters measure the run; the theory's assumptions are context beside the verdict (an OUTSIDE
        # observation), never a meter
        met = {a.name: a for a in res.assumptions}
        assert met["every run finite (every parameter, every record)"].value == "15/15"
        assert not any(a.name.startswith(("A1", "Thm 1")) for a in res.assumptions)
        (obs,) = res.outside
        assert any(u.startswith("A1(a): no positional encoding = sinusoidal") for u in obs.unmet), obs.unmet
    assert {a.name: a.value for a in r["RT1"].assumptions}[
        "Fig 10: one shared rate (max / min of the groups' rates, worst point)"] == 1.0


def test_setting_meters_measure_the_run():
    """The meters that decide RT1-RT3: a loss fall in nats, the finite runs, one shared rate; computed, not typed."""
    import xarray as xr

    from scanflow.papers.real_text.checks.checks import setting_meters, shared_rate_meter

    def run(loss_end, finite=True, ffn=1.0):
        loss = np.stack([np.full((2, 3), 5.0), np.full((2, 3), loss_end)], -1)  # point, seed, step
        fin = np.ones((2, 3, 2), bool)
        fin[1, 2, 1] = finite
        eta = np.array([1.0, 5.0])
        return xr.Dataset({"loss": (("point", "seed", "step"), loss), "finite": (("point", "seed", "step"), fin),
                           "lr_attn": (("point",), eta), "lr_ffn": (("point",), ffn * eta)})

    finite, trained = setting_meters(run(3.5))
    assert finite.met and finite.value == "6/6" and trained.met and trained.value == pytest.approx(1.5)
    assert not setting_meters(run(4.5))[1].met  # fell by 0.5 nat only
    assert not setting_meters(run(np.nan))[1].met
    finite, _ = setting_meters(run(3.5, finite=False))
    assert not finite.met and finite.value == "5/6"
    assert shared_rate_meter(run(3.5)).met and not shared_rate_meter(run(3.5, ffn=2.0)).met


def test_real_text_mutations_are_declared_and_kill_every_check():
    """Every check is killed (FAIL) by at least one declared rt- mutation (the lead's tests run each one)."""
    from scanflow.verify.mutation import mutations

    muts = mutations("real-text")
    assert set(muts) == {"rt-uniform-attention", "rt-frozen-attention", "rt-lr-tenth", "rt-shifted-targets",
                         "rt-eta-reversed"}
    killed = {c for m in muts.values() for c in m.kills}
    assert killed == set(REGISTRY["real-text"]), killed
    assert all(m.kills for m in muts.values())


def test_uniform_attention_mutant_fails_on_a_written_text(corpus_dir, tmp_path):
    """The simulator broken on purpose (attention scores x 0): RT1, RT2 (no snap) and RT3 say FAIL, exit 1."""
    import json

    p = _cli("verify", "real-text", "--quick", "--data", corpus_dir, "--mutant", "rt-uniform-attention",
             "--out", tmp_path, "--only", "RT1", "--only", "RT2", "--only", "RT3")
    (report,) = tmp_path.glob("real-text-quick-mutant-rt-uniform-attention-*")
    rows = {row["check"]: row for row in json.loads((report / "verdicts.json").read_text())}
    assert p.returncode == 1, p.stdout + p.stderr
    assert {k: row["verdict"] for k, row in rows.items()} == {"RT1": "FAIL", "RT2": "FAIL", "RT3": "FAIL"}


def test_cli_verify_real_text(corpus_dir, tmp_path, capsys):
    from scanflow.cli import main

    assert main(["verify", "real-text"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--data" in err
    assert main(["verify", "real-text", "--data", str(tmp_path / "missing")]) == 2
    assert main(["verify", "scan-snap", "--data", str(corpus_dir)]) == 2
    # the reference checks on the written text (the sweep is cached from the test above when run together)
    out = tmp_path / "report"
    code = main(["verify", "real-text", "--quick", "--data", str(corpus_dir), "--out", str(out),
                 "--only", "RT1", "--only", "RT3"])
    (report,) = out.glob("real-text-quick-*")  # --out: the parent of the report directory
    assert code == 0 and (report / "report.md").is_file()
    assert "RT1_reference_entropy_vs_lr.png" in (report / "report.md").read_text()


def test_checks_are_registered_for_both_models():
    import scanflow.papers.real_text.checks  # noqa: F401

    assert list(REGISTRY["real-text"]) == ["RT1", "RT2", "RT3", "RT1-analysed", "RT2-analysed", "RT3-analysed"]


@pytest.mark.slow
def test_quick_verify_analysed_variant_and_figures_script(corpus_dir, tmp_path):
    outcomes = run_checks("real-text", Context(quick=True, fig_dir=tmp_path, data=corpus_dir),
                          only=["RT1-analysed", "RT3-analysed"],
                          log=None)
    assert all(o.result is not None and o.result.passed for o in outcomes), [o.error for o in outcomes]
    import importlib.util

    spec = importlib.util.spec_from_file_location("rtf", ROOT / "sims" / "real_text_figs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figs, runs = tmp_path / "figs", tmp_path / "runs"
    assert mod.main(["--data", str(corpus_dir), "--quick", "--figures", str(figs), "--runs", str(runs)]) == 0
    names = sorted(f"real_text_{n}.{x}" for n in ("attention_change", "fig10_entropy", "fig7_attention")
                   for x in ("png", "pdf"))
    assert sorted(p.name for p in figs.iterdir()) == names
    dirs = sorted(runs.iterdir())
    assert [config_of(load_run(d))["name"] for d in dirs] == ["real_text", "real_text_3layer", "real_text_analysed"]
    redrawn = tmp_path / "redrawn"
    assert mod.main(["--redraw", str(dirs[0]), str(dirs[2]), str(dirs[1]), "--figures", str(redrawn)]) == 0
    assert sorted(p.name for p in redrawn.iterdir()) == names
    assert mod.main(["--data", str(corpus_dir), "--quick", "train.stepz=3"]) == 2
