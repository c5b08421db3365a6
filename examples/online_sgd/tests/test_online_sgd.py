"""scanflow-online-sgd: the exact second moment against a float64 NumPy simulation, the workload's config and
discovery, a run through the CLI, and the checks: PASS / XFAIL as they stand, FAIL under the example's mutation
(`python -m pytest -q examples/online_sgd/tests`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scanflow_online_sgd", reason="the example is not installed (pip install -e examples/online_sgd)")

from scanflow.engine.config import ConfigError, config_from_dict  # noqa: E402
from scanflow_online_sgd import theory as th  # noqa: E402
from scanflow_online_sgd.workload import WORKLOAD  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
REF = "scanflow_online_sgd.workload:WORKLOAD"

# ----------------------------------------------------------------------------- theory


def test_closed_form_solves_the_recursion_exactly():
    d, sigma, w2 = 7, 0.3, 1.7
    t = np.arange(60)
    for eta in (0.01, 0.1, 0.2, 2 / 9 * 1.1):  # the last is unstable (r > 1): the formula still holds
        m, r = th.mean_err2(t, eta, d, sigma, w2), th.rate(eta, d)
        assert m[0] == w2
        np.testing.assert_allclose(m[1:], r * m[:-1] + eta**2 * sigma**2 * d, rtol=1e-13)
    eta_one = 2 / (d + 2)  # r = 1: the noise accumulates linearly
    assert th.rate(eta_one, d) == pytest.approx(1.0, abs=1e-15)
    f = th.noise_floor(0.1, d, sigma)
    assert th.rate(0.1, d) * f + 0.01 * sigma**2 * d == pytest.approx(f, rel=1e-14)  # the fixed point
    assert th.mean_err2(5000, 0.1, d, sigma, w2) == pytest.approx(f, rel=1e-12)


def test_gaussian_fourth_moment_is_d_plus_2():
    x = np.random.default_rng(0).standard_normal((200_000, 4))
    m4 = np.einsum("ni,ni,nj,nk->jk", x, x, x, x) / len(x)  # E[x x^T x x^T]
    np.testing.assert_allclose(m4, 6 * np.eye(4), atol=0.15)


@pytest.mark.parametrize("eta", [0.05, 0.15])
def test_monte_carlo_matches_the_exact_mean_and_rejects_the_wrong_ones(eta):
    """20000 float64 NumPy runs: the seed mean is within 4.5 se of the formula at every step; a fourth moment
    of d + 1 instead of d + 2, or the gradient-flow prediction, is many se off."""
    d, sigma, t_max, n = 10, 0.5, 40, 20_000
    w_star = th.teacher(d, 0)
    runs = th.monte_carlo(t_max, eta, d, sigma, w_star, n, seed=1)
    t = np.arange(t_max + 1)
    mean, se = runs.mean(0)[1:], runs.std(0, ddof=1)[1:] / np.sqrt(n)
    assert np.max(np.abs(mean - th.mean_err2(t, eta, d, sigma, 1.0)[1:]) / se) < 4.5
    assert runs[:, 0] == pytest.approx(np.sum(w_star**2), rel=1e-15)
    r1 = 1 - 2 * eta + eta**2 * (d + 1)  # a wrong fourth moment
    wrong = r1**t + eta**2 * sigma**2 * d * (1 - r1**t) / (1 - r1)
    assert np.max(np.abs(mean - wrong[1:]) / se) > 10
    assert np.max(np.abs(mean - th.flow_err2(t, eta, 1.0)[1:]) / se) > 10


# ----------------------------------------------------------------------------- the workload


@pytest.mark.parametrize("data, words", [({"d": 0}, ["data.d", ">= 1"]), ({"sigma": -0.1}, ["data.sigma", ">= 0"]),
                                         ({"d": 2.5}, ["data.d", "integer"]),
                                         ({"dim": 3}, ["data.dim", "unknown key"])])
def test_bad_data_is_one_line_naming_the_field(data, words):
    with pytest.raises(ConfigError) as e:
        config_from_dict({"workload": REF, "data": data})
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_config_states_plain_sgd_and_the_teacher_is_normalised():
    cfg = config_from_dict({"workload": REF})
    assert cfg.train.optimizer == "sgd" and WORKLOAD.train == {"optimizer": "sgd"}
    assert (cfg.data.d, cfg.data.sigma, cfg.data.seed) == (10, 0.5, 0)
    assert np.linalg.norm(th.teacher(10, 0)) == pytest.approx(1.0, abs=1e-15)
    assert not np.allclose(th.teacher(10, 0), th.teacher(10, 1))


def test_found_by_entry_points_and_module_reference():
    from importlib.metadata import entry_points

    from scanflow.engine.registry import get_workload, paper_names

    assert get_workload(REF) is WORKLOAD
    if "online_sgd" not in {e.name for e in entry_points(group="scanflow.workloads")}:
        pytest.skip("scanflow-online-sgd is not installed (pip install -e examples/online_sgd)")
    assert get_workload("online_sgd") is WORKLOAD and "online-sgd" in paper_names()


def test_the_example_config_runs_with_its_figure(tmp_path, capsys):
    from scanflow import cli

    config = HERE / "configs" / "online_sgd.yaml"
    assert cli.main(["run", "--quiet", "--out", str(tmp_path), str(config), "train.steps=10", "sweep.seeds=4"]) == 0
    assert "optimizer sgd\n" in capsys.readouterr().out
    (run,) = tmp_path.iterdir()
    assert {p.name for p in (run / "figures").iterdir()} >= {"err2.png", "err2.pdf"}


# ----------------------------------------------------------------------------- the checks


def test_quick_verify_passes_and_the_control_fails(tmp_path, capsys):
    from scanflow import cli

    assert cli.main(["verify", "online-sgd", "--quick", "--out", str(tmp_path)]) == 0
    (report,) = tmp_path.iterdir()
    rows = {r["check"]: r for r in json.loads((report / "verdicts.json").read_text())}
    assert {k: r["verdict"] for k, r in rows.items()} == {
        "O1-mean-error": "PASS", "O2-noise-floor": "PASS", "O3-gradient-flow-prediction": "XFAIL"}
    assert {p.name for p in (report / "figures").iterdir()} == {
        "O1_mean_error.png", "O2_noise_floor.png", "O3_gradient_flow.png"}


def test_the_halved_learning_rate_mutant_is_caught(tmp_path):
    """The mutation patches the engine before anything compiles: a fresh process, as `scanflow verify` runs it."""
    cmd = [sys.executable, "-m", "scanflow.cli", "verify", "online-sgd", "--quick", "--mutant", "osgd-lr-half",
           "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (report,) = tmp_path.iterdir()
    verdicts = {r["check"]: r["verdict"] for r in json.loads((report / "verdicts.json").read_text())}
    assert verdicts == {"O1-mean-error": "FAIL", "O2-noise-floor": "FAIL", "O3-gradient-flow-prediction": "XFAIL"}


# ----------------------------------------------------------------------------- the guides quote the real files


def test_the_guides_quote_the_files_as_they_are():
    """docs/writing_a_workload.md quotes workload.py whole, docs/writing_a_check.md quotes checks and the mutation:
    each block after a ``<!-- quote: PATH -->`` marker must be in PATH verbatim."""
    import re

    root = HERE.parents[1]
    pages = [root / "docs" / "writing_a_workload.md", root / "docs" / "writing_a_check.md"]
    if not all(p.is_file() for p in pages):
        pytest.skip("not a scanflow checkout (docs/ missing)")
    quotes = [(m[0], m[1]) for p in pages
              for m in re.findall(r"<!-- quote: (\S+) -->\n```python\n(.*?)\n```", p.read_text(), re.S)]
    assert len(quotes) == 5, [q[0] for q in quotes]
    for path, block in quotes:
        assert block in (root / path).read_text(), f"{path}: the guide's copy differs from the file"
    workload = (HERE / "scanflow_online_sgd" / "workload.py").read_text()
    assert quotes[0] == ("examples/online_sgd/scanflow_online_sgd/workload.py", workload.rstrip("\n"))
