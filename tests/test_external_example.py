"""A workload and its checks from outside scanflow (examples/linear_net), through the command line.

Skipped unless the example package is installed (``pip install -e examples/linear_net``; `.ci/run`
does). Then ``scanflow run`` of its YAML (``workload: linear_net``, found through the
``scanflow.workloads`` entry point) and ``scanflow verify linear-net --quick`` (found through
``scanflow.papers``) must exit 0, both checks must PASS, and their measured errors must sit below the
tolerances derived from the ODE solver's rtol/atol (read from verdicts.json, not from the PASS bit).
The two subprocesses run concurrently (each is mostly XLA compilation).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_YAML = ROOT / "examples" / "linear_net" / "configs" / "linear_net.yaml"


def _installed() -> bool:
    try:
        distribution("scanflow-linear-net")
    except PackageNotFoundError:
        return False
    import importlib.util

    return importlib.util.find_spec("scanflow_linear_net") is not None


pytestmark = pytest.mark.skipif(
    not _installed(), reason="scanflow_linear_net is not installed (pip install -e examples/linear_net)"
)


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scanflow.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """`scanflow run` of the example YAML and `scanflow verify linear-net --quick`, side by side."""
    tmp = tmp_path_factory.mktemp("linear_net")
    procs = {
        "run": _cli("run", EXAMPLE_YAML, "--out", tmp / "runs", "--no-plot", "--quiet"),
        "verify": _cli("verify", "linear-net", "--quick", "--out", tmp / "r"),
    }
    done = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=600)
        done[name] = (p.returncode, out, err)
    return tmp, done


def test_run_of_the_example_yaml(cli_runs):
    from scanflow.engine.dataset import config_of
    from scanflow.engine.results import load_run

    tmp, done = cli_runs
    code, out, err = done["run"]
    assert code == 0, err[-3000:]
    (run_dir,) = (tmp / "runs").iterdir()
    r = load_run(run_dir)
    config = config_of(r)
    assert config["workload"] == "linear_net"
    assert r.attrs["record_label"] == "time"  # gradient flow: records are labelled by time
    assert r["mode_strength"].dims == ("point", "seed", "time", "mode")
    assert r["balance"].dims == ("point", "seed", "time", "hidden_i", "hidden_j")
    assert not (run_dir / "figures").exists()  # --no-plot
    assert (r["solver_status"] == 0).all() and not r["diverged"].any()
    s = np.asarray(config["data"]["singular_values"])
    final = r["mode_strength"].isel(time=-1).values  # (point, seed, mode)
    np.testing.assert_allclose(final, np.broadcast_to(s, final.shape), rtol=1e-3)  # every mode learned by t = 300


def test_verify_linear_net_quick_passes_within_solver_tolerances(cli_runs):
    tmp, done = cli_runs
    code, out, err = done["verify"]
    assert code == 0, (out + err)[-3000:]
    (report,) = (tmp / "r").glob("linear-net-quick-*")  # --out: the parent of the report directory
    verdicts = {v["check"]: v for v in json.loads((report / "verdicts.json").read_text())}
    assert {k: v["verdict"] for k, v in verdicts.items()} == {"L1-conservation": "PASS", "L2-saxe-sigmoid": "PASS"}
    l1 = verdicts["L1-conservation"]["measured"]
    assert l1["max drift / bound, equal rates"] < 1
    assert l1["max drift / bound, weighted form, unequal rates"] < 1
    assert l1["min drift / bound, unweighted form, unequal rates (control, must be > 100)"] > 100
    l2 = verdicts["L2-saxe-sigmoid"]["measured"]
    assert l2["max_t |a - a_theory| / bound (all modes and runs)"] < 1
    assert l2["max |t_half - t_half_theory| / tolerance"] < 1
    assert l2["half-learned in order of decreasing s (all runs)"] is True
    assert (report / "figures" / "L2_saxe_sigmoid.png").is_file()


def test_conservation_of_the_yaml_run_and_a_violation_is_caught(cli_runs):
    """The solver-derived bound holds on the YAML run's own records, and a drift of 10x the bound
    added to one record is flagged (the tolerance can fail)."""
    from scanflow.engine.results import load_run
    from scanflow_linear_net.checks import conservation_table

    tmp, done = cli_runs
    assert done["run"][0] == 0
    (run_dir,) = (tmp / "runs").iterdir()
    r = load_run(run_dir)  # the Dataset the checks read (ctx.run gives the same)
    rows = conservation_table(r)
    assert rows and all(row["balance_drift"] <= row["balance_bound"] for row in rows)
    worst = max(rows, key=lambda row: row["balance_drift"] / row["balance_bound"])
    bad = r.copy(deep=True)
    bad["balance"][worst["point"], worst["seed"], -1, 0, 0] += 10 * worst["balance_bound"]
    rows_bad = conservation_table(bad)
    flagged = [row for row in rows_bad if row["balance_drift"] > row["balance_bound"]]
    assert [(row["point"], row["seed"]) for row in flagged] == [(worst["point"], worst["seed"])]


def test_module_reference_needs_no_entry_point():
    from scanflow.engine.config import load_config
    from scanflow.engine.registry import get_workload
    from scanflow_linear_net.workload import WORKLOAD

    cfg = load_config(EXAMPLE_YAML, ["workload=scanflow_linear_net.workload:WORKLOAD"])
    assert get_workload(cfg.workload) is WORKLOAD is get_workload("linear_net")
