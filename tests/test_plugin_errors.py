"""Plug-ins fail like configs (issue 21): an exception from a plug-in workload's import, a hook (``build``,
``validate``, ``hyperparams``, ``footprint``, ``point_arrays``) or a function of its Problem while JAX traces
it (``init``, ``loss``, ``metrics``, ``sample``, ``flow_loss``) is exit 2 and ONE stderr line
``scanflow: error: workload NAME: HOOK raised TYPE: ...`` naming the plug-in, the hook and the error, and
nothing is written (no run directory, no ``.partial``). The same for a reference that cannot name a
workload (``workload=:WL``, ``mod:``, a module that fails to import, an attribute that is not a Workload),
for a workload installed through an entry point, and for ``scanflow verify`` of an installed paper whose
checks raise at import.

Each plug-in is a module written into tmp_path (a unique name per case: Python caches imported modules)
and run in-process through `scanflow.cli.main` with tmp_path on sys.path; `test_through_the_command_line`
checks the promise through ``python -m scanflow.cli`` with PYTHONPATH, the way a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from one_line import one_line_error
from scanflow.cli import main

ROOT = Path(__file__).resolve().parents[1]

# A tiny, complete plug-in workload (a quadratic in 3 parameters). FAULT picks the one thing that is broken.
PLUGIN = '''
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.config import ConfigError, Footprint
from scanflow.engine.workload import Problem, Workload

FAULT = "{fault}"


@dataclass(frozen=True)
class Data:
    dim: int = 3


@dataclass(frozen=True)
class Model:
    init_scale: float = 0.1


def hyperparams(cfg, info):
    if FAULT == "hyperparams":
        raise KeyError("lr_missing")
    eta = np.asarray(cfg.sweep.lr["eta"], np.float64 if cfg.x64 else np.float32)
    return {{"lr": {{"w": eta}}, "init_scale": {{"w": np.full(eta.shape, cfg.model.init_scale, eta.dtype)}}}}


def build(cfg):
    if FAULT == "build":
        raise ValueError("bad shape")
    if FAULT == "build-returns":
        return {{"init": None}}
    d = cfg.data.dim
    dtype = jnp.float64 if cfg.x64 else jnp.float32

    def init(key, hp):
        if FAULT == "init":
            raise RuntimeError("init broke")
        w = hp["init_scale"]["w"] * jax.random.normal(key, (d,), dtype)
        return {{"v": w}} if FAULT == "init-keys" else {{"w": w}}

    def sample(key, step):
        if FAULT == "sample":
            raise IndexError("no batch at this step")
        return jax.random.normal(key, (d,), dtype)

    def batch_loss(params, x, step):
        w = params[next(iter(params))]
        if FAULT == "loss":
            return 0.5 * jnp.sum(w @ jnp.ones((d + 1,), dtype))  # a shape error at trace time
        return 0.5 * jnp.sum((w - x) ** 2)

    def loss(params, key, step):
        return batch_loss(params, sample(key, step), step)

    def flow_loss(params):
        if FAULT == "flow_loss":
            raise FloatingPointError("no deterministic loss")
        return 0.5 * jnp.sum(params["w"] ** 2)

    def metrics(params, rec):
        w = params[next(iter(params))]
        if FAULT == "metrics":
            return {{"loss": params["nope"]}}
        if FAULT == "metrics-undeclared":
            return {{"loss": jnp.sum(w ** 2), "extra": w}}  # axes no metric_dims entry names (a scalar needs none)
        if FAULT == "metrics-rank":
            return {{"loss": w}}
        return {{"loss": jnp.sum(w ** 2)}}

    shared = FAULT == "sample"  # the shared-batch path: sample and batch_loss
    return Problem(init, loss, metrics, flow_loss, {{"loss": (), "train_loss": ()}}, {{}}, {{"dim": d}},
                   sample=sample if shared else None, batch_loss=batch_loss if shared else None)


def validate(cfg):
    if FAULT == "validate":
        raise ZeroDivisionError("division by zero")
    if FAULT == "validate-config-error":
        raise ConfigError("data.dim: expected an odd number, got 3")


def footprint(cfg):
    if FAULT == "footprint":
        raise AttributeError("no size")
    return Footprint(params=cfg.data.dim, step=cfg.data.dim, record=1)


def point_arrays(cfg, hp, record_steps):
    if FAULT == "point_arrays":
        raise TypeError("clock needs a float")
    return {{}}, {{}}


def plots(ds):
    if FAULT == "plots":
        raise ValueError("no axes for this run")
    return {{}}


def summary(ds):
    if FAULT == "summary":
        raise KeyError("table")
    return ""


WL = Workload(name="tiny_plugin", data=Data, model=Model, lr_keys=(("eta",),), lr_default={{"eta": [0.1, 0.2]}},
              build=build, hyperparams=hyperparams, validate=validate, footprint=footprint,
              point_arrays=point_arrays, plots=plots, summary=summary)
'''

CONFIG = """name: tiny
workload: {workload!r}
train:
  steps: 4
  record_every: 2
sweep:
  seeds: 2
"""


def plugin(fault: str = "") -> str:
    return PLUGIN.format(fault=fault)


# (id, fault, extra overrides, words that must all appear in the one line; {wl} is the workload reference)
HOOK_CASES = [
    ("build", "build", [], ["workload {wl}", "build raised ValueError", "bad shape"]),
    ("build-returns-not-a-problem", "build-returns", [], ["workload {wl}", "build returned a dict", "Problem"]),
    ("validate", "validate", [], ["workload {wl}", "validate raised ZeroDivisionError", "division by zero"]),
    ("hyperparams", "hyperparams", [], ["workload {wl}", "hyperparams raised KeyError", "lr_missing"]),
    ("footprint", "footprint", [], ["workload {wl}", "footprint raised AttributeError", "no size"]),
    ("point-arrays", "point_arrays", [], ["workload {wl}", "point_arrays raised TypeError", "clock needs a float"]),
    ("init-at-trace", "init", [], ["workload {wl}", "init raised RuntimeError", "init broke"]),
    ("init-params-not-lr-groups", "init-keys", [], ["workload {wl}", "init returned parameters ['v']", "['w']"]),
    ("loss-shape-at-trace", "loss", [], ["workload {wl}", "loss raised TypeError", "dot_general"]),
    ("metrics-keyerror-at-trace", "metrics", [], ["workload {wl}", "metrics raised KeyError", "'nope'"]),
    ("metrics-undeclared", "metrics-undeclared", [], ["workload {wl}", "metrics returned 'extra' of shape (3,)",
                                                      "metric_dims"]),
    ("metrics-wrong-rank", "metrics-rank", [], ["workload {wl}", "metrics returned 'loss' of shape (3,)",
                                                "metric_dims"]),
    ("sample-at-trace", "sample", [], ["workload {wl}", "sample raised IndexError", "no batch at this step"]),
    ("flow-loss-at-trace", "flow_loss", ["train.method=flow"],
     ["workload {wl}", "flow_loss raised FloatingPointError", "no deterministic loss"]),
    ("metrics-under-flow", "metrics", ["train.method=flow"], ["workload {wl}", "metrics raised KeyError", "'nope'"]),
    # a workload's own ConfigError is already one line naming the field: it is not wrapped
    ("own-config-error", "validate-config-error", [], ["data.dim: expected an odd number, got 3"]),
]


def _listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")
                  if "__pycache__" not in p.parts)


def _one_line_error(argv: list[str], tmp_path: Path, capsys) -> str:
    """Run ``scanflow ARGV`` in-process: exit 2, one ``scanflow: error:`` line (returned), nothing written
    under tmp_path (the plug-in modules and configs are written before)."""
    before = _listing(tmp_path)
    line = one_line_error(argv, capsys)
    assert _listing(tmp_path) == before  # nothing written, nothing removed
    assert not list(tmp_path.rglob("*.partial"))
    return line


def _write_plugin(tmp_path: Path, module: str, text: str, monkeypatch) -> Path:
    (tmp_path / f"{module}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config(tmp_path: Path, workload: str) -> Path:
    path = tmp_path / "plugin.yaml"
    path.write_text(CONFIG.format(workload=workload))
    return path


def _module_name(case_id: str) -> str:
    return "plug_" + case_id.replace("-", "_")


@pytest.mark.parametrize("fault,overrides,words", [c[1:] for c in HOOK_CASES], ids=[c[0] for c in HOOK_CASES])
def test_a_failing_hook_is_one_line(fault, overrides, words, tmp_path, monkeypatch, capsys, request):
    module = _module_name(request.node.callspec.id)
    _write_plugin(tmp_path, module, plugin(fault), monkeypatch)
    wl = f"{module}:WL"
    config = _config(tmp_path, wl)
    line = _one_line_error(["run", str(config), *overrides, "--out", str(tmp_path / "runs"), "--no-plot", "--quiet"],
                           tmp_path, capsys)
    for w in words:
        assert w.format(wl=wl) in line, (w, line)
    assert not (tmp_path / "runs").exists()


def test_the_healthy_plugin_runs(tmp_path, monkeypatch, capsys):
    """The control of the table above: the same plug-in without a fault runs (sgd and gradient flow), and
    `get_workload` hands out the module's own Workload object."""
    from scanflow.engine.registry import get_workload

    _write_plugin(tmp_path, "plug_healthy", plugin(""), monkeypatch)
    config = _config(tmp_path, "plug_healthy:WL")
    for extra in ([], ["train.method=flow"]):
        assert main(["run", str(config), *extra, "--out", str(tmp_path / "runs"), "--no-plot", "--quiet"]) == 0, \
            capsys.readouterr().err
    assert len([p for p in (tmp_path / "runs").iterdir() if not p.name.endswith(".partial")]) == 2
    import plug_healthy

    assert get_workload("plug_healthy:WL") is plug_healthy.WL


@pytest.mark.parametrize("fault", ["plots", "summary"])
def test_a_view_hook_that_fails_after_the_run_is_one_line_and_the_run_is_kept(fault, tmp_path, monkeypatch, capsys):
    """plots and summary run after the run directory is complete: one line naming the hook, exit 2, and
    the complete run directory stays (no .partial)."""
    module = f"plug_view_{fault}"
    _write_plugin(tmp_path, module, plugin(fault), monkeypatch)
    config = _config(tmp_path, f"{module}:WL")
    capsys.readouterr()
    code = main(["run", str(config), "--out", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"workload {module}:WL: {fault} raised" in err, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not run_dir.name.endswith(".partial") and (run_dir / "results.nc").is_file()
    if fault == "plots":
        assert "is complete" in err and f"scanflow plot {run_dir}" in err


BROKEN_MODULES = {
    "syntax": ("x = (\n", ["workload {wl}", "importing module", "raised SyntaxError"]),
    "import-inside": ("import numpy_that_is_not_there\n",
                      ["workload {wl}", "importing module", "ModuleNotFoundError", "numpy_that_is_not_there"]),
    "import-name-inside": ("from os import no_such_name\n",
                           ["workload {wl}", "importing module", "ImportError", "no_such_name"]),
    "raise-at-import": ("raise RuntimeError('boom at import')\n",
                        ["workload {wl}", "importing module", "RuntimeError", "boom at import"]),
    "not-a-workload": ("WL = 3\n", ["workload", "{wl}", "int", "expected a scanflow Workload"]),
    "a-function": ("def WL(cfg):\n    return None\n", ["workload", "{wl}", "function", "expected a scanflow Workload"]),
    "no-such-attribute": ("OTHER = 1\n", ["workload", "has no attribute 'WL'"]),
    "attribute-raises": ("def __getattr__(name):\n    raise RuntimeError('lazy load failed')\n",
                         ["workload {wl}", "getting 'WL'", "RuntimeError", "lazy load failed"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MODULES))
def test_a_module_that_cannot_give_a_workload_is_one_line(case, tmp_path, monkeypatch, capsys):
    module = _module_name("mod_" + case)
    text, words = BROKEN_MODULES[case]
    _write_plugin(tmp_path, module, text, monkeypatch)
    wl = f"{module}:WL"
    config = _config(tmp_path, wl)
    line = _one_line_error(["run", str(config), "--out", str(tmp_path / "runs"), "--no-plot", "--quiet"],
                           tmp_path, capsys)
    for w in words:
        assert w.format(wl=wl) in line, (w, line)


BAD_REFERENCES = [
    # (id, workload value, where: yaml or override, words)
    ("empty-module-override", ":WORKLOAD", "override", ["workload", "empty module name", "package.module:NAME"]),
    ("empty-module-yaml", ":WORKLOAD", "yaml", ["workload", "empty module name", "package.module:NAME"]),
    ("empty-attribute-yaml", "plug_ref:", "yaml", ["workload", "empty attribute name", "package.module:NAME"]),
    ("empty-both-yaml", ":", "yaml", ["workload", "empty module name"]),
    ("relative-module", ".plug_ref:WL", "yaml", ["workload", "absolute module name"]),
    ("missing-module", "plug_not_there:WL", "yaml", ["workload plug_not_there:WL", "cannot import module",
                                                     "PYTHONPATH"]),
    ("missing-submodule", "os.path.nope:WL", "yaml", ["workload os.path.nope:WL", "cannot import module"]),
    ("blank", "  ", "yaml", ["workload", "package.module:NAME"]),
]


@pytest.mark.parametrize("value,where,words", [c[1:] for c in BAD_REFERENCES], ids=[c[0] for c in BAD_REFERENCES])
def test_a_reference_that_names_no_workload_is_one_line(value, where, words, tmp_path, monkeypatch, capsys):
    _write_plugin(tmp_path, "plug_ref", plugin(""), monkeypatch)
    if where == "yaml":
        args = [str(_config(tmp_path, value))]
    else:
        args = [str(_config(tmp_path, "plug_ref:WL")), f"workload={value}"]
    line = _one_line_error(["run", *args, "--out", str(tmp_path / "runs"), "--no-plot", "--quiet"], tmp_path, capsys)
    for w in words:
        assert w in line, (w, line)


def _install(tmp_path: Path, workloads: dict, papers: dict, monkeypatch) -> None:
    """An "installed" distribution on sys.path: a .dist-info directory whose entry points name
    `workloads` (scanflow.workloads) and `papers` (scanflow.papers)."""
    info = tmp_path / "plug_dist-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-dist\nVersion: 0.1\n")
    eps = ["[scanflow.workloads]", *(f"{k} = {v}" for k, v in workloads.items()), "",
           "[scanflow.papers]", *(f"{k} = {v}" for k, v in papers.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(eps))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_an_entry_point_workload_that_fails(tmp_path, monkeypatch, capsys):
    """Installed through the scanflow.workloads entry points: a module raising at import, and a build that
    raises, each named by the entry point's name."""
    _write_plugin(tmp_path, "plug_ep_import", "raise ImportError('needs libfoo.so')\n", monkeypatch)
    _write_plugin(tmp_path, "plug_ep_build", plugin("build"), monkeypatch)
    _install(tmp_path, {"plug_ep_import": "plug_ep_import:WL", "plug_ep_build": "plug_ep_build:WL"}, {}, monkeypatch)
    out = ["--out", str(tmp_path / "runs"), "--no-plot", "--quiet"]
    line = _one_line_error(["run", str(_config(tmp_path, "plug_ep_import")), *out], tmp_path, capsys)
    assert "workload plug_ep_import" in line and "ImportError: needs libfoo.so" in line, line
    line = _one_line_error(["run", str(_config(tmp_path, "plug_ep_build")), *out], tmp_path, capsys)
    assert "workload plug_ep_build: build raised ValueError" in line and "bad shape" in line, line


CHECKS_RAISING = {
    "raise": "raise RuntimeError('checks need a GPU')\n",
    "syntax": "def check(:\n",
    "import": "import scanflow_checks_dependency_not_there\n",
}


@pytest.mark.parametrize("case", sorted(CHECKS_RAISING))
def test_verify_of_an_installed_paper_whose_checks_raise_at_import(case, tmp_path, monkeypatch, capsys):
    module = f"plug_checks_{case}"
    _write_plugin(tmp_path, module, CHECKS_RAISING[case], monkeypatch)
    _install(tmp_path, {}, {f"plug-paper-{case}": module}, monkeypatch)
    line = _one_line_error(["verify", f"plug-paper-{case}", "--quick", "--out", str(tmp_path / "reports")],
                           tmp_path, capsys)
    assert f"paper plug-paper-{case}" in line and module in line, line
    assert not (tmp_path / "reports").exists()


def test_through_the_command_line(tmp_path):
    """``python -m scanflow.cli`` with the plug-in on PYTHONPATH (no conftest, x64 off): a metrics function
    raising KeyError at trace time, and a module with a syntax error."""
    (tmp_path / "plug_cli_metrics.py").write_text(plugin("metrics"))
    (tmp_path / "plug_cli_syntax.py").write_text("x = (\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    config = _config(tmp_path, "plug_cli_metrics:WL")
    for extra, words in (([], ["workload plug_cli_metrics:WL: metrics raised KeyError: 'nope'"]),
                         (["workload=plug_cli_syntax:WL"], ["workload plug_cli_syntax:WL", "SyntaxError"])):
        p = subprocess.run([sys.executable, "-m", "scanflow.cli", "run", str(config), *extra, "--out",
                            str(tmp_path / "runs"), "--no-plot", "--quiet"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1, p.stderr[-3000:]
        assert lines[0].startswith("scanflow: error: ")
        for w in words:
            assert w in lines[0], (w, lines[0])
        assert not (tmp_path / "runs").exists()
