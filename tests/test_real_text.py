"""Scan and Snap on real text (issue 7): measurements, the trainer, and the quick form of
``scanflow verify real-text`` on a text the test writes itself (CI has no corpus)."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.dynamics.real_text import TrainSpec, _sgd_step, chunk_records, train_sweep
from scanflow.measure.real_text import (
    change_per_window,
    freeze_step,
    jonckheere_decreasing,
    mean_attention_entropy,
    uniform_causal_entropy,
)
from scanflow.models.causal import CausalSpec
from scanflow.verify import REGISTRY, Context, run_checks


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


# ---------------------------------------------------------------------------------------------- trainer


def test_sgd_step_is_clipped_sgd_with_group_rates():
    spec = TrainSpec(CausalSpec(vocab=5, d_model=4, d_ff=4), steps=1, record_every=1, clip=0.5, ffn_lr_mult=2.0)
    p = {"attn": jnp.ones((3,)), "ffn": jnp.ones((2,))}
    g = {"attn": jnp.array([3.0, 0.0, 0.0]), "ffn": jnp.array([0.0, 4.0])}  # global norm 5 -> scaled by 0.1
    new = _sgd_step(p, g, jnp.asarray(2.0), spec)
    np.testing.assert_allclose(new["attn"], [1 - 2.0 * 0.3, 1, 1], rtol=1e-15)
    np.testing.assert_allclose(new["ffn"], [1, 1 - 2.0 * 2.0 * 0.4], rtol=1e-15)


def test_chunk_records_divides():
    assert chunk_records(30, 10) == 10 and chunk_records(12, 10) == 6 and chunk_records(7, 10) == 7


@pytest.mark.slow  # two more sweep programs to compile (~40 s on 2 idle cores)
def test_a_run_is_the_same_alone_and_in_the_vmapped_sweep(corpus_dir):
    """Seed s at eta is the same run whether it trains alone or with other (eta, seed) pairs."""
    from scanflow.workloads.real_text import QUICK, corpus_for, replace

    s = replace(QUICK, d_model=8, d_ff=8, steps=20, record_every=10)
    c = corpus_for(s, corpus_dir)
    spec = s.train_spec(c.vocab.size)
    probe = c.valid_x[0, :2]
    both = train_sweep(spec, [1.0, 5.0], c.train_x, c.train_y, c.valid_x[:4], c.valid_y[:4], probe)
    alone = train_sweep(replace(s, seeds=1).train_spec(c.vocab.size), [5.0], c.train_x, c.train_y, c.valid_x[:4],
                        c.valid_y[:4], probe)
    assert both["attn"].shape == (2, 3, 3, 2, 16, 16)
    # float32 over 20 steps; batching may reorder reductions: 1e-5 relative, far below the seed spread
    np.testing.assert_allclose(alone["attn"][0, 0], both["attn"][1, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alone["entropy_final"][0, 0], both["entropy_final"][1, 0], rtol=1e-5)
    assert not np.allclose(both["attn"][1, 0, -1], both["attn"][1, 1, -1], atol=1e-3)  # seeds differ
    assert both["finite"].all()


# ---------------------------------------------------------------------------------------------- checks


def test_quick_verify_on_a_written_text(corpus_dir, tmp_path):
    outcomes = run_checks("real-text", Context(quick=True, fig_dir=tmp_path, data=corpus_dir), only=["RT1", "RT2", "RT3"],
                          log=None)
    r = {o.check.name: o.result for o in outcomes}
    assert all(v is not None for v in r.values()), [o.error for o in outcomes]
    # The text forces attention onto the previous position; a larger eta gets there faster within 300 steps
    assert r["RT1"].passed, r["RT1"].measured
    assert r["RT1"].measured["permutation p"] < 0.01
    assert r["RT3"].passed and r["RT3"].measured["runs sparser than init"] == "15/15"
    # RT2's verdict is its stated criterion applied to its own numbers
    gate = np.asarray(r["RT2"].measured["peak / final at largest eta (per seed)"])
    assert r["RT2"].passed == bool(np.all(gate >= 10.0))
    per_eta = r["RT2"].measured["freeze step (per eta, per seed; nan = not frozen)"]
    frozen = sum(v != "nan" for row in per_eta for v in row.split(": ")[1].split("/"))
    assert r["RT2"].measured["runs frozen"] == f"{frozen}/15"
    for res in r.values():
        assert "test.txt" in res.setting and (tmp_path / res.figure).is_file()


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
    assert code == 0 and (out / "report.md").is_file()
    assert "RT1_reference_entropy_vs_lr.png" in (out / "report.md").read_text()


def test_checks_are_registered_for_both_models():
    import scanflow.checks.real_text  # noqa: F401

    assert list(REGISTRY["real-text"]) == ["RT1", "RT2", "RT3", "RT1-analysed", "RT2-analysed", "RT3-analysed"]


@pytest.mark.slow
def test_quick_verify_analysed_variant_and_figures_script(corpus_dir, tmp_path):
    outcomes = run_checks("real-text", Context(quick=True, fig_dir=tmp_path, data=corpus_dir),
                          only=["RT1-analysed", "RT3-analysed"],
                          log=None)
    assert all(o.result is not None and o.result.passed for o in outcomes), [o.error for o in outcomes]
    import importlib.util

    spec = importlib.util.spec_from_file_location("rtf", Path(__file__).resolve().parents[1] / "sims" /
                                                  "real_text_figs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figs = tmp_path / "figs"
    assert mod.main(["--data", str(corpus_dir), "--quick", "--figures", str(figs), "--arrays",
                     str(tmp_path / "a.npz")]) == 0
    assert sorted(p.name for p in figs.iterdir()) == ["real_text_attention_change.png", "real_text_fig10_entropy.png",
                                                      "real_text_fig7_attention.png"]
    assert mod.main(["--data", str(corpus_dir), "--quick", "stepz=3"]) == 2
