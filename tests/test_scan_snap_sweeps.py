"""Learning-rate sweeps of Scan and Snap: the recall measure, the Fig-6 and phase-diagram scripts
(tiny smoke runs in a subprocess), and check S11 in quick mode."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- recall


def test_recall_curve_exact_values():
    from scanflow.papers.scan_snap.recall import recall_curve

    c = np.array([
        [0.10, 0.30, 0.05, 0.90, 0.00],  # class 0: distinct tokens 0, 1, 2 (token 3 is not its own)
        [0.00, 0.00, 0.00, 0.20, 0.01],  # class 1: distinct tokens 3, 4
    ])
    distinct = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 1, 1]], bool)
    thr = np.array([0.0, 0.05, 0.1, 0.25, 0.5])
    # class 0: 3/3, 3/3 (0.05 >= 0.05), 2/3, 1/3, 0 ; class 1: 2/2, 1/2, 1/2, 0, 0
    expected = np.array([1.0, 0.75, (2 / 3 + 1 / 2) / 2, 1 / 6, 0.0])
    got = recall_curve(c, distinct, thr)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    # leading batch axes are kept: (2 runs, K, M) -> (2, n_thr)
    both = recall_curve(np.stack([c, np.zeros_like(c)]), distinct, thr)
    np.testing.assert_allclose(both, np.stack([expected, [1.0, 0, 0, 0, 0]]), atol=1e-15)
    with pytest.raises(ValueError):
        recall_curve(c, np.zeros_like(distinct), thr)


def test_s11_trend_counting_on_synthetic_tables():
    from scanflow.papers.scan_snap.checks.sweep_checks import trend_fractions

    ratio = np.array([1.0, 2.0, 5.0, 10.0])
    good = np.array([[2.0, 1.95, 2.0, 2.05], [1.9, 1.85, 1.9, 1.95], [1.8, 1.75, 1.8, 1.85]])
    t = {"mean": good, "sem": np.zeros_like(good), "ratio": ratio}
    f = trend_fractions([t])
    assert (f["A_pairs"], f["A_monotone"], f["B_steps"], f["B_increasing"]) == (4, 4, 6, 6)
    bad = good.copy()
    bad[2, 3] = 2.2  # eta_Z trend broken at ratio 10, and the ratio step 5 -> 10 is still increasing
    bad[0, 2] = 2.1  # ratio step 5 -> 10 at the first eta_Z now decreases
    f = trend_fractions([{"mean": bad, "sem": np.zeros_like(bad), "ratio": ratio}])
    assert (f["A_monotone"], f["B_increasing"]) == (3, 5)
    # a violation within 2 SE is a tie
    f = trend_fractions([{"mean": bad, "sem": np.full_like(bad, 0.5), "ratio": ratio}])
    assert (f["A_monotone"], f["B_increasing"]) == (4, 6)


def _table(mean, seeds=3, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    values = np.asarray(mean)[:, :, None] + noise * rng.standard_normal((*np.shape(mean), seeds))
    return {"values": values, "eta_Z": np.array([0.5, 1, 2, 3]), "ratio": np.array([1.0, 2.0, 5.0, 10.0]),
            "mean": values.mean(-1), "M": 33}


def test_s11_slope_tests_can_fail():
    """S11's ordering gates are slope tests over seeds: a table with the trends passes, a flat table (attention that
    does not depend on the rates) and a reversed eta_Z trend fail; the pooled slope matches a direct fit."""
    from scanflow.papers.scan_snap.checks.sweep_checks import pooled_slope, slope_tests

    lz, lr = np.log([0.5, 1, 2, 3]), np.log([1.0, 2.0, 5.0, 10.0])
    trend = 2.0 - 0.1 * lz[:, None] + 0.05 * lr[None, :]
    good = slope_tests([_table(trend)])
    assert good["A_slope"][0] + 2 * good["A_se"][0] < 0 and good["A_column_worst_t"] < 2
    assert good["B_pooled"][0] - 2 * good["B_pooled"][1] > 0
    flat = slope_tests([_table(np.full((4, 4), 2.0), seed=1)])
    assert not flat["A_slope"][0] + 2 * flat["A_se"][0] < 0 or not flat["B_pooled"][0] - 2 * flat["B_pooled"][1] > 0
    assert not (flat["A_slope"][0] + 2 * flat["A_se"][0] < 0 and flat["B_pooled"][0] - 2 * flat["B_pooled"][1] > 0)
    rev = slope_tests([_table(2.0 + 0.1 * lz[:, None] + 0.05 * lr[None, :])])
    assert rev["A_slope"][0] > 0 and rev["A_column_worst_t"] > 2
    # one group, no noise: the slope of a straight line, zero error
    b, se = pooled_slope(np.array([[[1.0], [2.0], [3.0]]]), [0.0, 1.0, 2.0], axis_groups=0)
    assert abs(b - 1.0) < 1e-12 and se < 1e-12


def test_fig6_config_matches_the_s11_check():
    """configs/scan_snap_fig6.yaml and check S11 simulate the same Syn-Medium setting."""
    from scanflow.papers.scan_snap.checks.sweep_checks import FIG6, FULL_NUM_LAST
    from scanflow.engine.config import config_from_dict, load_config

    whole = load_config(ROOT / "configs" / "scan_snap_fig6.yaml")
    assert whole.sweep.grid == {"data.num_last": FULL_NUM_LAST}  # the four vocabulary sizes, one program each
    a = load_config(ROOT / "configs" / "scan_snap_fig6.yaml", ["data.num_last=1"])
    b = config_from_dict(FIG6)
    # the config adds only how it is computed: a vmapped block of 4 runs, and only the metrics the figures read
    assert a.data == b.data and a.model == b.model and dataclasses.replace(a.sweep, runs_per_block=None) == b.sweep
    assert a.sweep.runs_per_block == 4 and set(a.train.metrics) >= {"entropy", "attn"}
    assert (a.train.optimizer, a.train.momentum, a.train.steps) == (b.train.optimizer, b.train.momentum, 100)
    raw = yaml.safe_load((ROOT / "configs" / "scan_snap_fig6.yaml").read_text())
    assert raw["train"]["record_attention"] is True  # the recall figures need the final c_n


# ----------------------------------------------------------------------------- scripts


def _run(args, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_fig6_script_smoke(tmp_path):
    figs, runs = tmp_path / "figs", tmp_path / "runs"
    p = _run([ROOT / "sims" / "scan_snap_fig6.py", "--num-last", "1", "--seeds", "2", "--steps", "10",
              "--figures", figs, "--runs", runs, "data.batch_size=16", "data.seq_len=32"])
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in figs.iterdir()) == sorted(
        f"scan_snap_{n}.{x}" for n in ("fig6_entropy", "fig11_recall_ratio", "fig12_recall_etaZ") for x in ("png", "pdf"))
    assert all(f.stat().st_size > 10_000 for f in figs.iterdir())
    assert "whole sweep" in p.stdout and "M=33" in p.stdout
    (run_dir,) = list(runs.iterdir())
    from scanflow.papers.scan_snap.plots_sweeps import fig6_table

    t = fig6_table(run_dir)
    assert t["mean"].shape == (4, 4) and np.isfinite(t["mean"]).all()
    assert (t["mean"] < 2.1514).all()
    bad = _run([ROOT / "sims" / "scan_snap_fig6.py", "--num-last", "0"], timeout=60)
    assert bad.returncode == 2 and "--num-last" in bad.stderr


@pytest.mark.slow  # suite time; the Fig-6 script's smoke test stays in the default suite
def test_phase_script_smoke(tmp_path):
    figs = tmp_path / "figs"
    p = _run([ROOT / "sims" / "scan_snap_phase.py", "--grid", "2", "--seeds", "2", "--steps", "40",
              "--figures", figs, "--runs", tmp_path / "runs"])
    assert p.returncode == 0, p.stderr
    assert (figs / "scan_snap_phase.png").stat().st_size > 10_000 and (figs / "scan_snap_phase.pdf").is_file()
    assert "measured / predicted snap time" in p.stdout
    # eta_Y = 10 (predicted gamma peak 3.1 steps) is resolved by record_every = 1 in the theory regime
    from scanflow.papers.scan_snap.plots_sweeps import phase_grid

    (run_dir,) = list((tmp_path / "runs").iterdir())
    g = phase_grid(run_dir)
    assert g["snap"].shape == (2, 2, 2)
    assert g["snap"][1, 0].tolist() == [3.0, 3.0]


# ----------------------------------------------------------------------------- S11 quick


@pytest.mark.slow  # 20 s cold; the Fig-6 config, its table and the script stay in the default suite
def test_s11_quick(tmp_path):
    import scanflow.papers.scan_snap.checks.sweep_checks  # noqa: F401  registers S11
    from scanflow.verify import REGISTRY, Context

    from scanflow.verify.framework import Outcome

    c = REGISTRY["scan-snap"]["S11"]
    res = c.fn(Context(quick=True, fig_dir=tmp_path))
    m = res.measured
    for k in ("max_cell_entropy", "min_cell_entropy", "worst column slope vs log eta_Z / se"):
        assert isinstance(m[k], float) and np.isfinite(m[k]), k
    assert m["(not gated) adjacent eta_Z steps: pairs monotone within 2 SE"].endswith("/ 8")  # L in {1, 3}
    assert m["max_cell_entropy"] < res.predicted["H0"]
    # The quick setting (3 seeds, M = 33 and 79, the full 100 steps) shows the trends beyond 2 se of the slopes
    assert res.passed, res.measured
    assert Outcome(c, res, 0.0).verdict == "PASS" and c.home
    assert len(res.terms) == 4  # A pooled, A per column, B pooled, C
    assert res.assumptions and not res.unmet and res.sources  # the authors' Fig-6 setting, read off each run's config
    assert (tmp_path / "S11_fig6.png").is_file() and res.figure == "S11_fig6.png"
