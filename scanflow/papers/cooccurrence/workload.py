"""Word co-occurrence (Yang et al. 2024) as an engine workload: data, model, measurements, clock.

* The training and test sets are built once per program from ``data.seed`` (spec §2); every seed of
  a sweep trains on the same data and differs in its initialisation (the paper's randomness, §5.1).
* Learning-rate groups are the parameter groups W_Q, W_K, W_V, W and a; the readout a gets rate 0
  unless ``model.train_a`` (spec §1: a is fixed).
* Time: the engine counts GD steps (or flow time in units of the rate), the physical gradient-flow
  time is t = eta * step, and the natural clock is tau = sigma1^2 m E[sum_j a_j^2] t, which is the
  spec's tau = sigma1^2 m m1 t for a_j = +-1 (E sum a_j^2 = 1/3 for the uniform readout).
  `point_arrays` writes ``t`` and ``tau`` (point, record) next to the results.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.engine.config import Config
from scanflow.engine.workload import Problem, Workload
from scanflow.papers.cooccurrence import config as config_mod
from scanflow.papers.cooccurrence import data
from scanflow.papers.cooccurrence import measure as meas
from scanflow.papers.cooccurrence import model as mdl
from scanflow.papers.cooccurrence import theory as th

TRAINED = ("W_Q", "W_K", "W_V", "W")


def sigmas(cfg: Config) -> tuple[float, float]:
    """(sigma0, sigma1): model.sigma0 or c0/sqrt(L m); model.sigma1 or 1/sqrt(m1) (spec §3)."""
    mc = cfg.model
    s0 = mc.sigma0 if mc.sigma0 is not None else mc.c0 / math.sqrt(cfg.data.L * mc.m)
    s1 = mc.sigma1 if mc.sigma1 is not None else 1.0 / math.sqrt(mc.m1)
    return s0, s1


def expected_a2(cfg: Config) -> float:
    """E sum_j a_j^2: m1 for a_j = +-1, m1 * (1/(3 m1)) = 1/3 for a_j ~ U(+-1/sqrt(m1))."""
    return float(cfg.model.m1) if cfg.model.a_init == "sign" else 1.0 / 3.0


def tau_per_t(cfg: Config) -> float:
    """d tau / d t = sigma1^2 m E[sum a_j^2] (= sigma1^2 m m1 for the theory's a = +-1)."""
    return sigmas(cfg)[1] ** 2 * cfg.model.m * expected_a2(cfg)


def learning_rates_P(cfg: Config) -> np.ndarray:
    """Physical rate eta per grid point, from sweep.lr.eta or sweep.lr.eta_tau (= eta * d tau/dt)."""
    lr = cfg.sweep.lr
    if "eta" in lr:
        return np.asarray(lr["eta"], np.float64)
    return np.asarray(lr["eta_tau"], np.float64) / tau_per_t(cfg)


def hyperparams(cfg: Config, info: dict) -> dict:
    """Dynamic arrays (leading point axis P): per-group rates and the two init scales."""
    del info
    dt = np.float64 if cfg.x64 else np.float32
    eta = learning_rates_P(cfg).astype(dt)
    s0, s1 = sigmas(cfg)
    lr = {g: eta for g in TRAINED}
    lr["a"] = eta if cfg.model.train_a else np.zeros_like(eta)
    P = eta.shape[0]
    return {"lr": lr, "init_scale": {"sigma0": np.full((P,), s0, dt), "sigma1": np.full((P,), s1, dt)}}


def point_arrays(cfg: Config, hp: dict, record_steps: np.ndarray) -> tuple[dict, dict]:
    """Extra labelled arrays: eta per point, the clock t = eta * step and tau = t * d tau/dt."""
    eta = np.asarray(hp["lr"]["W"], np.float64)
    t = eta[:, None] * np.asarray(record_steps, np.float64)[None, :]
    arrays = {"eta": eta, "tau_per_t": np.full(eta.shape, tau_per_t(cfg)), "t": t, "tau": t * tau_per_t(cfg)}
    dims = {"eta": ("point",), "tau_per_t": ("point",), "t": ("point", "record"), "tau": ("point", "record")}
    return arrays, dims


def datasets(cfg: Config, dtype=jnp.float64) -> tuple[data.Dataset, data.Dataset]:
    """(train, test) of the config, deterministic in data.seed."""
    d = cfg.data
    k_train, k_test = jax.random.split(jax.random.key(d.seed))
    vocab = d.vocab
    train = data.make_dataset(k_train, d.n, d.L, vocab, d.repeat_random_words, dtype)
    test = data.make_test_set(k_test, train, d.n_test, unseen=d.test_unseen, dtype=dtype)
    return train, test


def probe_tokens(train: data.Dataset) -> np.ndarray:
    """mu1, mu2, mu3 and the random words of the first sentence that holds a target word (mu1 or mu2) and random words
    (for the score/value probes): the first type-1 sentence when L >= 4, the first type-2 sentence when L = 3."""
    toks = np.asarray(train.tokens_NxL)
    rnd = []
    for tok in toks:
        if (data.MU1 in tok or data.MU2 in tok) and (tok >= data.FIRST_RANDOM).any():
            rnd = [int(k) for k in tok if k >= data.FIRST_RANDOM][:2]
            break
    return np.asarray([data.MU1, data.MU2, data.MU3, *rnd], np.int32)


def unit_flow_tangent(params: dict, train: data.Dataset) -> dict:
    """-grad L_hat with the readout held fixed: the unit-rate gradient flow of the theory."""
    g = jax.grad(lambda p: mdl.loss(p, train))(params)
    return {k: (-g[k] if k != "a" else jnp.zeros_like(g[k])) for k in g}


def build(cfg: Config) -> Problem:
    dtype = jnp.float64 if cfg.x64 else jnp.float32
    mc = cfg.model
    train, test = datasets(cfg, dtype)
    vocab = train.d
    probes = jnp.asarray(probe_tokens(train))
    L = cfg.data.L

    def init(key, hp):
        sc = hp["init_scale"]
        return mdl.init(key, vocab, mc.m, mc.m1, sc["sigma0"].astype(dtype), sc["sigma1"].astype(dtype),
                        a_init=mc.a_init, dtype=dtype)

    flow_loss = lambda params: mdl.loss(params, train)

    def loss(params, key, step):
        del key, step
        return flow_loss(params)

    def metrics(params, rec):
        tangent = unit_flow_tangent(params, train)
        margin_rate = jax.jvp(lambda p: mdl.margins_N(p, train), (params,), (tangent,))[1]
        gdot_d = th.e2_rate_d(params, train)
        rand = train.random_NxL
        gdot_rand = jnp.where(rand, gdot_d[train.tokens_NxL], 0.0)
        n_rand = jnp.maximum(rand.sum(), 1)
        u = mdl.u_m(params)
        P = mdl.attention_NxLxL(params, train)
        Wk, Wq, Wv = params["W_K"][:, probes], params["W_Q"][:, probes], params["W_V"][:, probes]
        W4 = params["W"][: min(4, mc.m1)]
        return {
            **meas.metrics(params, train),
            "test_loss": mdl.loss(params, test),
            "s": u @ u,
            "gdot": gdot_d[:3],
            "gdot_random_signed": (train.y_N[:, None] * gdot_rand).sum() / n_rand,
            "g_random_signed": meas.G_random_stats(params, train)["mean_signed"],
            "margin_rate": margin_rate,
            "attn_dev": jnp.abs(P - 1.0 / L).max(),
            "score_probe": Wk.T @ Wq,
            "value_probe": Wv.T @ Wv,
            "kk": Wk.T @ Wk,
            "qq": Wq.T @ Wq,
            "ww": W4 @ W4.T,
            "finite": jnp.all(jnp.array([jnp.isfinite(x).all() for x in jax.tree.leaves(params)])),
        }

    k4 = min(4, mc.m1)
    metric_dims = {
        "loss": (), "train_loss": (), "test_loss": (), "s": (), "gdot_random_signed": (), "g_random_signed": (),
        "attn_dev": (), "finite": (),
        "loss_type": ("type",), "S": ("type",), "G": ("target",), "gdot": ("target",),
        "score": ("key", "query"), "value_gram": ("target", "target2"),
        "margins": ("sample",), "margin_rate": ("sample",),
        "score_probe": ("probe_key", "probe_query"), "value_probe": ("probe", "probe2"),
        "kk": ("probe", "probe2"), "qq": ("probe", "probe2"), "ww": ("neuron", "neuron2"),
    }
    names = ["mu1", "mu2", "mu3"]
    probe_names = names + [f"rand{k}" for k in np.asarray(probes)[3:]]
    coords = {
        "type": np.arange(1, 5), "target": np.array(names), "target2": np.array(names),
        "key": np.array(names), "query": np.array(names), "sample": np.arange(train.n),
        "probe": np.array(probe_names), "probe2": np.array(probe_names),
        "probe_key": np.array(probe_names), "probe_query": np.array(probe_names),
        "neuron": np.arange(k4), "neuron2": np.arange(k4),
    }
    s0, s1 = sigmas(cfg)
    info = {
        "M": vocab, "d": vocab, "n": train.n, "L": L, "m": mc.m, "m1": mc.m1, "n_test": test.n,
        "sigma0": s0, "sigma1": s1, "tau_per_t": tau_per_t(cfg), "a_init": mc.a_init, "train_a": mc.train_a,
        "type_N": np.asarray(train.type_N).tolist(), "y_N": np.asarray(train.y_N).tolist(),
        "tokens_NxL": np.asarray(train.tokens_NxL).tolist(), "probe_tokens": np.asarray(probes).tolist(),
    }
    return Problem(init, loss, metrics, flow_loss, metric_dims, coords, info)


def _plots(ds) -> dict:
    """The figures of a finished run (``{name: Figure}``; `scanflow.papers.cooccurrence.plots.all_figures`)."""
    from scanflow.papers.cooccurrence import plots

    return plots.all_figures(ds)


WORKLOAD = Workload(
    name="cooccurrence",
    train={"optimizer": "sgd"},  # the train: defaults a config may leave out
    data=config_mod.DataConfig,
    model=config_mod.ModelConfig,
    lr_keys=config_mod.LR_KEYS,
    lr_default=config_mod.LR_DEFAULT,
    dynamic_model_fields=config_mod.DYNAMIC_MODEL_FIELDS,
    build=build,
    hyperparams=hyperparams,
    point_arrays=point_arrays,
    footprint=config_mod.footprint,
    validate=config_mod.validate,
    plots=_plots,
    description="Word co-occurrence (Yang et al. 2024): W_Q, W_K, W_V, W, a under gradient flow or GD",
)
