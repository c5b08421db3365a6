"""Word co-occurrence through the engine: per-workload config validation, `scanflow run` of a
cooccurrence config (GD, vmapped seeds, t and tau clocks, no recompile for new dynamic values), the
GD path against a hand-written loop, the FIG config, and the sims scripts (sharing one compiled program
with the quick verify of tests/test_cooccurrence_verify.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanflow.engine import sweep
from scanflow.engine.config import ConfigError, config_from_dict, load_config
from scanflow.engine.dataset import manifest_of
from scanflow.engine.results import load_run

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
TR_YAML = ROOT / "configs" / "cooccurrence_tr.yaml"
# The TR program at m = 64 (GD, lr tau' = 0.02, tau <= 24, 2 seeds): the same static config as
# scanflow.papers.cooccurrence.checks.common.tr_config(64, 2, 24.0, "sgd") (the checks themselves run HOME).
TR64 = ["model.m=64", "train.method=sgd", "train.steps=1200", "train.record_every=10", "sweep.seeds=2",
        "sweep.lr.eta_tau=[0.02]"]
STEPS = np.arange(0, 1201, 10)


BAD = [
    (["data.n=62"], ["data.n", "multiple of 6"]),
    (["data.L=2"], ["data.L", ">= 3"]),
    (["data.d=100"], ["data.d", "164"]),  # 3 + 60 (5 - 7/3) + 1 unseen test word
    (["model.a_init=gauss"], ["model.a_init", "sign", "uniform"]),
    (["model.c0=-1"], ["model.c0", ">= 0"]),
    (["model.mm=3"], ["model.mm", "unknown key", "'m'"]),
    (["sweep.lr.Y=[1]"], ["sweep.lr", "{eta}", "{eta_tau}"]),
    (["sweep.lr={eta: [0]}"], ["sweep.lr.eta", "positive"]),
    (["workload=cooc"], ["workload", "scan_snap", "cooccurrence"]),
    (["data.num_common=3"], ["data.num_common", "unknown key"]),  # a scan-snap field is not a cooccurrence field
]


@pytest.mark.parametrize("overrides,words", BAD, ids=[b[0][0] for b in BAD])
def test_cooccurrence_config_errors_are_one_line(overrides, words):
    with pytest.raises(ConfigError) as e:
        load_config(TR_YAML, overrides)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_config_sections_and_defaults_per_workload():
    co = load_config(TR_YAML)
    assert type(co.data).__module__ == "scanflow.papers.cooccurrence.config" and co.model.m == 128
    assert dict(co.sweep.lr) == {"eta_tau": (0.02,)}
    assert dict(config_from_dict({"workload": "cooccurrence"}).sweep.lr) == {"eta_tau": (0.02,)}
    with pytest.raises(ConfigError, match="^workload: missing; expected one of"):  # the engine names no paper:
        config_from_dict({})  # a config says which workload it runs
    ss = config_from_dict({"workload": "scan_snap"})  # with its own sections and lr grid
    assert ss.workload == "scan_snap" and type(ss.data).__name__ == "DataConfig"
    assert dict(ss.sweep.lr) == {"Y": (1.0,), "Z": (1.0,)}
    # the dynamic model fields (init scales, train_a) do not enter the static part; shapes do
    a, b = load_config(TR_YAML, ["model.c0=0.1", "model.sigma1=0.3", "model.train_a=true"]), load_config(TR_YAML)
    assert sweep.static_part(a) == sweep.static_part(b)
    assert sweep.static_part(load_config(TR_YAML, ["model.m=64"])) != sweep.static_part(b)


def test_fig_config_is_the_papers_setting():
    """configs/cooccurrence_fig.yaml: d = 64 < 3 + n(L - 7/3), so random words repeat; uniform fixed readout."""
    from scanflow.papers.cooccurrence.workload import datasets, expected_a2, tau_per_t

    cfg = load_config(ROOT / "configs" / "cooccurrence_fig.yaml")
    train, test = datasets(cfg)
    tok = np.asarray(train.tokens_NxL)
    assert train.d == 64 and np.unique(tok[tok >= 3]).size < (tok >= 3).sum()
    te = np.asarray(test.tokens_NxL)
    assert not np.intersect1d(tok[tok >= 3], te[te >= 3]).size  # the test words are unseen
    assert cfg.model.a_init == "uniform" and expected_a2(cfg) == pytest.approx(1 / 3)
    assert tau_per_t(cfg) == pytest.approx(1 / 9)  # sigma1^2 m E sum a^2 = (1/(3m)) m (1/3)
    with pytest.raises(ConfigError, match="data.d"):
        load_config(ROOT / "configs" / "cooccurrence_fig.yaml", ["data.repeat_random_words=false"])


@pytest.fixture(scope="module")
def tr64_run(tmp_path_factory):
    from scanflow.papers.cooccurrence.checks.common import tr_config
    from scanflow.engine.run import execute

    jax.config.update("jax_enable_x64", True)
    cfg = load_config(TR_YAML, TR64)
    assert sweep.static_part(cfg) == sweep.static_part(tr_config(64, 2, 24.0, "sgd"))  # the same program
    return cfg, execute(cfg, out_dir=tmp_path_factory.mktemp("runs"), plot=True)


def test_cli_run_writes_clocks_arrays_and_figures(tr64_run):
    from scanflow.papers.cooccurrence.workload import tau_per_t

    cfg, path = tr64_run
    r = load_run(path)
    eta = 0.02 / tau_per_t(cfg)  # lr.eta_tau = eta * sigma1^2 m m1 (sigma1 = 1/sqrt(m1): = eta * m)
    assert tau_per_t(cfg) == pytest.approx(64.0)
    np.testing.assert_allclose(r["t"].values[0], eta * STEPS, rtol=1e-12)
    np.testing.assert_allclose(r["tau"].values[0], 0.02 * STEPS, rtol=1e-12)
    np.testing.assert_allclose(r["lr_W_Q"].values, [eta]) and np.testing.assert_allclose(r["lr_a"].values, [0.0])
    np.testing.assert_array_equal(r["step"].values, STEPS)
    loss = r["loss"].values
    assert loss.shape == (1, 2, STEPS.size) and r["margins"].dims == ("point", "seed", "step", "sample")
    assert loss[0, 0, -1] < loss[0, 0, 0]  # it trains
    assert not np.allclose(loss[0, 0], loss[0, 1])  # seeds differ (init)
    assert manifest_of(r)["diverged_runs"] == [] and not r["diverged"].any()
    names = ["balancing", "fig1", "inverse_loss"]
    assert sorted(p.name for p in (path / "figures").iterdir()) == sorted(f"{n}.{x}" for n in names for x in ("pdf", "png"))


def test_engine_gd_equals_hand_loop_and_no_recompile(tr64_run):
    """Record k of the engine equals k * 10 hand-written GD steps on the model's loss (fixed a), from
    the engine's own init; new rates / init scales reuse the compiled program."""
    from scanflow.engine import discrete
    from scanflow.papers.cooccurrence import model as mdl
    from scanflow.papers.cooccurrence.workload import datasets

    cfg, path = tr64_run
    r = load_run(path)
    prog = sweep.program(sweep.static_part(cfg))
    hp = jax.tree.map(lambda a: jnp.asarray(a[0]), sweep.hyperparams(cfg))
    key = sweep.run_key(jax.random.PRNGKey(cfg.sweep.root_seed), 1)
    params = prog.problem.init(discrete.init_key(key), hp)
    train, _ = datasets(cfg)
    grad = jax.jit(jax.grad(lambda p: mdl.loss(p, train)))
    for k in range(20):
        g = grad(params)
        params = {n: params[n] - hp["lr"][n] * g[n] for n in params}
    np.testing.assert_allclose(r["margins"].values[0, 1, 2], np.asarray(mdl.margins_N(params, train)), rtol=1e-10,
                               atol=1e-13)

    traces = dict(sweep.TRACE_COUNT)
    out = sweep.run_sweep(load_config(TR_YAML, [*TR64, "sweep.lr.eta_tau=[0.03]", "model.c0=0.5", "model.train_a=true"]))
    assert sweep.TRACE_COUNT == traces and out.timings["compile_s"] == 0.0  # same shapes: the same program
    assert out.arrays["lr_a"][0] > 0 and not np.allclose(out.arrays["loss"], r["loss"].values)
    np.testing.assert_allclose(out.arrays["tau"][0], 0.03 * STEPS, rtol=1e-12)


def _load_sim(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "sims" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_OVER = [o for o in TR64 if not o.startswith("model.m=")]


def test_sims_fig1_smoke(tr64_run, tmp_path):
    """sims/cooccurrence_fig1.py on the m = 64 quick config (same static config: the compiled program is reused)."""
    figs = tmp_path / "figs"
    assert _load_sim("cooccurrence_fig1").main(["--config", str(TR_YAML), "--figures", str(figs), "--runs",
                                                str(tmp_path / "runs"), *_OVER, "model.m=64"]) == 0
    assert {p.name for p in figs.iterdir()} == {f"cooccurrence_tr_{k}.{x}" for k in ("fig1", "balancing", "inverse_loss")
                                                for x in ("png", "pdf")}
    assert _load_sim("cooccurrence_fig1").main(["--config", str(TR_YAML), "data.n=7"]) == 2  # one-line error


@pytest.mark.slow
def test_sims_msweep_smoke(tr64_run, tmp_path):
    """sims/cooccurrence_msweep.py at m = 64, 128 (GD, tau <= 24: T1 ~ 8 is reached; TR programs)."""
    figs = tmp_path / "figs"
    ms = _load_sim("cooccurrence_msweep")
    assert ms.main(["--ms", "64", "128", "--figures", str(figs), *_OVER]) == 0
    assert (figs / "cooccurrence_msweep_T1.png").is_file() and (figs / "cooccurrence_msweep_T1.pdf").is_file()
    assert ms.main(["--ms", "8", "--figures", str(figs)]) == 2  # one width: a one-line error, nothing drawn
