"""Mutations of the norm-growth simulator: realistic bugs that the norm-growth checks must catch (say FAIL).

``scanflow verify norm-growth --quick --mutant NAME`` applies one in a fresh process before anything is compiled.
Each patches the attribute where the simulator looks it up at trace time:

* the causal transformer's attention: `scanflow.models.causal._attention_block` (and the paper's pre-norm block of
  C9, `transformer_checks.paper_prenorm_logits`) call the module global ``causal.attention_scores_BxHxTxT``
  (patched there; the model file is shared with real-text and is patched only inside a mutation);
* the optimizer: `scanflow.engine.discrete` imported ``make_optimizer`` by name (``from scanflow.engine.optim import
  make_optimizer``), so the alias in `scanflow.engine.discrete` is the one patched. It builds the optimizer of every
  engine-trained run of this paper: the norm_growth workload (C8-C10), the co-occurrence run of NG-cooccurrence and
  the Scan-and-Snap population run of NG-scan-snap.

`kills` lists the checks that say FAIL under the mutation in ``--quick`` mode (measured; the tests assert them with
``--only CHECK``). The theory checks C1-C7 (mode T) are self-consistency checks and exempt (C2 reads the causal
model's attention scores, so ng-uniform-attention fails it too); C8-postLN and C10-count are declared expected to
fail (ng-uniform-attention turns C10-count into an XPASS, which also makes verify exit non-zero). C10 is UNTESTED
under the optimizer and frozen-attention bugs: its trained network is then not at its saturated version (a meter).
"""

from __future__ import annotations

import optax

from scanflow.verify import mutation
from scanflow.verify.mutation import detached, scaled_rates, uniform_scores

PAPER = "norm-growth"
LR_FACTOR = 1 / 50  # ng-lr-fiftieth
WEIGHT_DECAY = 0.05  # ng-weight-decay: decoupled, per step theta <- theta - WEIGHT_DECAY * theta (lr forgotten)


@mutation(PAPER, "ng-lr-fiftieth", "every parameter group's learning rate divided by 50 in the optimizer (the "
                                   "recorded eta unchanged)",
          kills=("C8", "C9", "NG-scan-snap", "NG-cooccurrence"))
def _lr_fiftieth(patch):
    from scanflow.engine import discrete

    patch.wrap(discrete, "make_optimizer", scaled_rates(LR_FACTOR))


@mutation(PAPER, "ng-uniform-attention", "the causal transformer's attention scores multiplied by 0 (the causal mask "
                                         "kept): uniform attention over the visible prefix, nothing to saturate",
          kills=("C2", "C8", "C9", "C10"))
def _uniform_attention(patch):
    from scanflow.models import causal

    patch.wrap(causal, "attention_scores_BxHxTxT", uniform_scores)


@mutation(PAPER, "ng-frozen-attention", "stop_gradient on the causal transformer's attention scores (a detach in "
                                        "the wrong place): W_Q, W_K never learn",
          kills=("C8", "C9"))
def _frozen_attention(patch):
    from scanflow.models import causal

    patch.wrap(causal, "attention_scores_BxHxTxT", detached)


@mutation(PAPER, "ng-weight-decay", "a decoupled weight decay theta <- theta - 0.05 theta each step (the coefficient "
                                    "not multiplied by the learning rate) added to every optimizer though the config "
                                    "asks for none: the norm stops growing and shrinks",
          kills=("C8", "C9", "NG-scan-snap", "NG-cooccurrence"))
def _weight_decay(patch):
    from scanflow.engine import discrete

    real = discrete.make_optimizer

    def make_optimizer(cfg, lrs, dynamic=None):
        tx = real(cfg, lrs, dynamic)
        return optax.chain(tx, optax.add_decayed_weights(-WEIGHT_DECAY))

    patch.setattr(discrete, "make_optimizer", make_optimizer)
