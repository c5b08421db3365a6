"""Mutations of the real-text simulator: realistic bugs that RT1-RT3 must catch (say FAIL).

``scanflow verify real-text --quick --data PATH --mutant NAME`` applies one in a fresh process before anything
is compiled. Each patches the attribute where the simulator looks it up at trace time:

* the causal LM's attention: `scanflow.models.causal._attention_block` calls the module global
  ``attention_scores_BxHxTxT`` (patched there);
* the loss: `scanflow.papers.real_text.workload` calls ``causal.loss`` through the module (patched on
  `scanflow.models.causal`);
* the optimizer: `scanflow.engine.discrete` imported ``make_optimizer`` by name (``from scanflow.engine.optim
  import make_optimizer``), so the alias in `scanflow.engine.discrete` is the one patched;
* the grid's rates: a planned run takes them from `scanflow.engine.plan.resolve` (looked up on the module at
  call time, patched there), a bare `run_sweep` from the module global ``hyperparams`` of
  `scanflow.engine.sweep` (patched there); the point labels keep the config's order.

What each one does to the checks (``--quick`` on WikiText-2): uniform attention leaves the entropy at its init
value and the attention still (RT1 p = 1, RT2 snap 0, RT3 ratio 1); frozen attention and a tenth of the rate still
sparsify a little and in the right order (RT1 holds) but not to half the init entropy at eta = 5 (RT3); unshifted
targets leave the next-token evaluation loss rising (the "trained" meter is unmet: UNTESTED where the gate holds,
FAIL where RT3's ratio fails); a reversed rate grid reverses the entropy trend (RT1) and leaves eta = 5's run at
rate 1 (RT3). RT2's slope terms are not measured in --quick (a gap), so only its snap term can fail there.

`kills` lists the checks that say FAIL under the mutation in ``--quick`` mode on WikiText-2 (measured; the tests
assert them with ``--only CHECK``).
"""

from __future__ import annotations

import jax

from scanflow.verify import mutation
from scanflow.verify.mutation import detached, scaled_rates, uniform_scores

PAPER = "real-text"


@mutation(PAPER, "rt-uniform-attention", "the causal LM's attention scores multiplied by 0 (kept causal): "
                                         "uniform attention over the past, nothing can sparsify",
          kills=("RT1", "RT2", "RT3", "RT1-analysed", "RT2-analysed", "RT3-analysed"))
def _uniform_attention(patch):
    from scanflow.models import causal

    patch.wrap(causal, "attention_scores_BxHxTxT", uniform_scores)


@mutation(PAPER, "rt-frozen-attention", "stop_gradient on the attention scores (a detach in the wrong place): "
                                        "W_Q, W_K get no gradient, the scores move only with the embedding",
          kills=("RT3", "RT3-analysed"))
def _frozen_attention(patch):
    from scanflow.models import causal

    patch.wrap(causal, "attention_scores_BxHxTxT", detached)


@mutation(PAPER, "rt-lr-tenth", "every parameter group's SGD rate scaled by 0.1 in the optimizer (the recorded "
                                "eta unchanged)",
          kills=("RT3", "RT3-analysed"))
def _lr_tenth(patch):
    from scanflow.engine import discrete

    patch.wrap(discrete, "make_optimizer", scaled_rates(0.1))


@mutation(PAPER, "rt-shifted-targets", "the targets not shifted: the LM is trained to predict the current token "
                                       "(y = x) instead of the next one",
          kills=("RT3",))
def _shifted_targets(patch):
    from scanflow.models import causal

    real = causal.loss

    def loss(params, batch, spec):
        return real(params, {**batch, "y": batch["x"]}, spec)

    patch.setattr(causal, "loss", loss)


@mutation(PAPER, "rt-eta-reversed", "the sweep's learning-rate grid reversed against its eta labels (point p trains "
                                    "at eta[P-1-p]): a misaligned hyperparameter axis",
          kills=("RT1", "RT3", "RT1-analysed", "RT3-analysed"))
def _eta_reversed(patch):
    import dataclasses

    from scanflow.engine import plan, sweep

    real_hp, real_resolve = sweep.hyperparams, plan.resolve

    def hyperparams(cfg, info=None):  # a sweep run directly (run_sweep without a plan)
        return jax.tree.map(lambda a: a[::-1].copy(), real_hp(cfg, info))

    def resolve(cfg, *args, **kwargs):  # a planned run: each part's rates reversed, its labels kept
        if isinstance(cfg, plan.Plan):
            return cfg  # already resolved (and reversed)
        p = real_resolve(cfg, *args, **kwargs)
        parts = tuple(dataclasses.replace(q, hp=jax.tree.map(lambda a: a[::-1].copy(), q.hp)) for q in p.parts)
        return dataclasses.replace(p, parts=parts)

    patch.setattr(sweep, "hyperparams", hyperparams)
    patch.setattr(plan, "resolve", resolve)
