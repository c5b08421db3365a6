"""Mutations of the co-occurrence simulator: realistic bugs that the checks must catch (say FAIL).

``scanflow verify cooccurrence --quick --mutant NAME`` applies one in a fresh process before anything is compiled.
Each patches the attribute where the simulator looks it up at trace time:

* the model: `scanflow.papers.cooccurrence.model` calls its module globals ``attention_NxLxL``, ``G_d``, ``u_m`` and
  ``outputs_N`` (from ``outputs_N``, ``margins_N``, ``losses_N``, ``loss``), and the workload, the measurements and the
  theory's formulas reach them through the module (``mdl.loss``, ``from ...model import outputs_N`` inside the
  functions), so patching the module attribute reaches every caller;
* the data: `scanflow.papers.cooccurrence.workload.datasets` calls ``data.make_dataset`` through the module, which
  calls the module global ``type_template``;
* the init: `workload.build` calls ``mdl.init`` through the module.

The gradient bugs keep every value (and every recorded learning rate) the same and change only what autodiff sees
(``x_eff = c x + (1 - c) stop_gradient(x)`` has the value x and c times its gradient). `kills` lists the checks that
say FAIL under the mutation in ``--quick`` mode (measured; the tests assert them with ``--only CHECK``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.verify import mutation

PAPER = "cooccurrence"


def _grad_scaled(x, c: float):
    """x with its value unchanged and c times its gradient."""
    return c * x + (1.0 - c) * jax.lax.stop_gradient(x)


@mutation(PAPER, "co-frozen-attention", "stop_gradient on the attention scores (a detach in the wrong place): W_Q, W_K "
                                        "get no gradient, the attention never learns",
          kills=("1", "7", "8-FIG", "13", "13-FIG"))
def _frozen_attention(patch):
    from scanflow.papers.cooccurrence import model as mdl

    real = mdl.attention_NxLxL

    def attention(params, data):
        return jax.lax.stop_gradient(real(params, data))

    patch.setattr(mdl, "attention_NxLxL", attention)


@mutation(PAPER, "co-lr-WV-half", "the gradient of W_V halved in the backward pass (the recorded learning rates "
                                  "unchanged): W_V learns at half the rate of W, W_Q, W_K",
          kills=("1", "2", "5", "9", "10", "11", "12", "13", "14", "15", "15-long"))
def _wv_half(patch):
    from scanflow.papers.cooccurrence import model as mdl

    def G_d(params):
        return _grad_scaled(params["W_V"], 0.5).T @ mdl.u_m(params)

    patch.setattr(mdl, "G_d", G_d)


@mutation(PAPER, "co-grad-sign-W", "the gradient of the MLP weights W enters with the wrong sign (ascent on W, the "
                                   "recorded learning rates unchanged)",
          kills=("1", "2", "8-FIG", "13-FIG"))
def _grad_sign_w(patch):
    from scanflow.papers.cooccurrence import model as mdl

    def u_m(params):
        return _grad_scaled(params["W"], -1.0).T @ params["a"]

    patch.setattr(mdl, "u_m", u_m)


@mutation(PAPER, "co-output-mean", "F averages over the L query positions instead of summing them (a mean where the "
                                   "paper has a sum): every output and gradient is 1/L of the paper's",
          kills=("1", "5", "6", "7", "8", "8-FIG", "9", "10", "11", "12", "13", "13-FIG", "14", "15", "15-long"))
def _output_mean(patch):
    from scanflow.papers.cooccurrence import model as mdl

    real = mdl.outputs_N

    def outputs_N(params, data):
        return real(params, data) / data.X_NxLxd.shape[1]

    patch.setattr(mdl, "outputs_N", outputs_N)


@mutation(PAPER, "co-type-shares", "the data generator draws type 2 (mu1 alone) three times as often as type 3 (mu2 "
                                   "alone): shares 1/2, 1/4, 1/12, 1/6 instead of 1/2, 1/6, 1/6, 1/6",
          kills=("5", "6", "7", "8", "8-FIG", "9", "10", "11", "12", "13", "13-FIG", "14", "15", "15-long"))
def _type_shares(patch):
    from scanflow.papers.cooccurrence import data

    def type_template(n: int, L: int):
        k = n // 6
        rows = {1: [data.MU1, data.MU2, data.MU3], 2: [data.MU1, data.MU3], 3: [data.MU2, data.MU3], 4: [data.MU3]}
        counts = {1: 3 * k, 2: k + k // 2, 3: k - k // 2, 4: k}
        tmpl, types = [], []
        for t in (1, 2, 3, 4):
            row = rows[t] + [data._RANDOM] * (L - len(rows[t]))
            tmpl += [row] * counts[t]
            types += [t] * counts[t]
        type_N = np.asarray(types, np.int32)
        return np.asarray(tmpl, np.int32), type_N, np.where(type_N == 1, 1.0, -1.0)

    patch.setattr(data, "type_template", type_template)


@mutation(PAPER, "co-init-WV-sigma1", "W_V initialised with the std of W (sigma1 = 1/sqrt(m1)) instead of sigma0 (a "
                                      "copy-paste in the init): the init is no longer small",
          kills=("4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "15-long"))
def _init_wv(patch):
    from scanflow.papers.cooccurrence import model as mdl

    real = mdl.init

    def init(key, d, m, m1, sigma0, sigma1, a_init="sign", dtype=jnp.float32):
        p = real(key, d, m, m1, sigma0, sigma1, a_init=a_init, dtype=dtype)
        kv = jax.random.fold_in(key, 7)
        p["W_V"] = sigma1 * jax.random.normal(kv, p["W_V"].shape, dtype)
        return p

    patch.setattr(mdl, "init", init)


@mutation(PAPER, "co-random-pool", "the training random words are drawn from the first 8 words of R only (a range "
                                   "bound typo): they repeat, and Assumption 2.3(ii) breaks",
          kills=("5", "8-FIG", "14", "15-long"))
def _random_pool(patch):
    from scanflow.papers.cooccurrence import data

    def make_dataset(key, n, L, d, repeat_random_words=False, dtype=jnp.float32):
        data._validate(n, L, d, repeat_random_words)
        fill = lambda g, s: data.FIRST_RANDOM + g.integers(0, 8, s)
        return data._assemble(data._rng(key), n, L, d, fill, dtype)

    patch.setattr(data, "make_dataset", make_dataset)


__all__ = ["PAPER"]
