"""Realistic simulator bugs the Scan and Snap checks must catch (`scanflow verify scan-snap --quick --mutant NAME`).

Each mutation replaces a module attribute where the simulator looks it up at trace time (`scanflow.verify.mutation`):
the engine builds its optimizer through ``scanflow.engine.discrete.make_optimizer`` (imported there by name) and
each group's transform through ``scanflow.engine.optim.group_transform``; the Y/Z model calls ``_normalise``,
``attended_BxM`` and ``attention_KxM`` as globals of ``scanflow.papers.scan_snap.model``; the generator draws its
uniforms through ``scanflow.papers.scan_snap.data._uniforms``. ``kills`` lists the checks that say FAIL under the
mutation (measured; tests/test_verify_scan_snap.py asserts them one check at a time).
"""

from __future__ import annotations

import numpy as np

from scanflow.verify import mutation
from scanflow.verify.mutation import scaled_rates

PAPER = "scan-snap"


@mutation(PAPER, "ss-lr-half", "every learning rate the optimizer applies is half the configured one",
          kills=("S1", "S7"))  # S12 also FAILs here, but at 1.48 orders against 1.5: too close to list
def _lr_half(patch):
    from scanflow.engine import discrete

    patch.wrap(discrete, "make_optimizer", scaled_rates(0.5))


@mutation(PAPER, "ss-frozen-z", "the attention logits are detached (stop_gradient on Z): attention never learns",
          kills=("S3", "S4", "S5", "S6", "S7", "S10", "S10-prop", "S11", "S12", "S13"))
def _frozen_z(patch):
    import jax

    from scanflow.papers.scan_snap import model as yz

    att, sup, c = yz.attended_BxM, yz.attended_support_BxS, yz.attention_KxM
    patch.setattr(yz, "attended_BxM", lambda Z, batch: att(jax.lax.stop_gradient(Z), batch))
    patch.setattr(yz, "attended_support_BxS", lambda Z, sc, spec: sup(jax.lax.stop_gradient(Z), sc, spec))
    patch.setattr(yz, "attention_KxM", lambda Z, spec: c(jax.lax.stop_gradient(Z), spec))


@mutation(PAPER, "ss-no-ln", "the l2 normalisation of the attended bag is dropped (f = X^T b, not X^T b/||X^T b||)",
          kills=("S1", "S3", "S4", "S5", "S6", "S7", "S10", "S12"))
def _no_ln(patch):
    from scanflow.papers.scan_snap import model as yz

    patch.setattr(yz, "_normalise", lambda v: v)


@mutation(PAPER, "ss-no-momentum", "SGD momentum is dropped (sgd_momentum runs plain SGD)", kills=("S12",))
def _no_momentum(patch):
    import optax

    from scanflow.engine import optim

    real = optim.group_transform

    def group_transform(cfg, lr, dynamic=None):
        if cfg.optimizer == "sgd_momentum":
            return optax.sgd(lr, **dict(cfg.optimizer_args or {}))
        return real(cfg, lr, dynamic)

    patch.setattr(optim, "group_transform", group_transform)


@mutation(PAPER, "ss-sample-uniform",
          "the generator draws contextual tokens uniformly over the class's support, ignoring P(l|n)", kills=("S13",))
def _sample_uniform(patch):
    import jax.numpy as jnp

    from scanflow.papers.scan_snap import data

    real = data._uniforms

    def uniforms(key, spec, batch_size, seq_len):
        cls_B, u_BxT1, _ = real(key, spec, batch_size, seq_len)
        n_KxS = (np.asarray(spec.probs_KxM) > 0).sum(1)[:, None]
        S = spec.support_cdf[1].shape[1]
        cdf = np.minimum((np.arange(S)[None, :] + 1) / n_KxS, 1.0)
        return cls_B, u_BxT1, jnp.asarray(cdf, jnp.float32)[cls_B]

    patch.setattr(data, "_uniforms", uniforms)


__all__ = ["PAPER"]
