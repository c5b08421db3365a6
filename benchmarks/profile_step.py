"""Where one Fig-6 training step spends its time, by part, before and after the shared batches.

    python benchmarks/profile_step.py [--num-last 1 10] [--runs 160] [--seeds 10] [--block 1]

One Fig-6 vocabulary size (num_last 1 -> M = 33, 10 -> M = 240): `--runs` runs (16 learning-rate
points x 10 seeds), T = 128, batch 128, on one CPU device, each program a loop over blocks of
`--block` runs with `vmap` inside (as `scanflow.engine.sweep` runs them), 20 steps per block. Times
per step of all runs, in ms:

* sample, per run:        every run draws its own batch (`data.sample_batch`, the old path);
* sample, shared:         each seed draws once (`data.sample_support_counts`, 10 draws, not 160);
* expand:                 the shared compact batch -> token counts, per run (`data.expand`);
* value_and_grad:         the dense loss and its gradient on a given batch (`model.loss`);
* optimizer:              the SGD-momentum update of both groups;
* step, old / new:        a whole step as the old path runs it (draw in every run) and as the new one
                          does (shared draw, expand, value-and-grad, update);
* metrics:                the workload's metrics, per record (not per step).

Not a test: timings depend on the machine; compare the rows of one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scanflow.engine.config import TrainConfig, config_from_dict
from scanflow.engine.optim import make_optimizer
from scanflow.engine.workload import Recording
from scanflow.papers.scan_snap import data
from scanflow.papers.scan_snap import model as yz
from scanflow.papers.scan_snap.checks.sweep_checks import FIG6
from scanflow.papers.scan_snap.workload import build

STEPS = 20


def _time(f, *args, n: int = 3) -> float:
    jax.block_until_ready(f(*args))
    best = np.inf
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t)
    return best


def profile(num_last: int, R: int, S: int, block: int) -> dict:
    spec = data.official_layout(num_last=num_last, num_next_per_last=2)
    M, B, T = spec.M, 128, 128
    tc = TrainConfig(optimizer="sgd_momentum", momentum=0.9, steps=100, record_every=100)
    keys_R = jax.random.split(jax.random.PRNGKey(0), R)
    seed_R = jnp.arange(R) % S
    params_R = jax.vmap(lambda k: yz.init(k, M, 1 / np.sqrt(M)))(keys_R)
    lr_R = {"Y": jnp.full((R,), 2.0), "Z": jnp.full((R,), 1.0)}
    batch_R = jax.vmap(lambda k: data.sample_batch(k, spec, B, T))(keys_R)
    problem = build(config_from_dict(FIG6, [f"data.num_last={num_last}"]))

    def blocks(one):  # fn over runs -> loop over blocks of `block` runs, vmap inside
        def f(*xs):
            n = R // block
            split = jax.tree.map(lambda a: a.reshape(n, block, *a.shape[1:]), xs)
            out = jax.lax.map(lambda x: jax.vmap(one)(*x), split)
            return jax.tree.map(lambda a: a.reshape(R, *a.shape[2:]), out)

        return jax.jit(f)

    def shared_draws(key):  # (S, STEPS) compact batches: each seed's draw, once
        keys_S = jax.random.split(key, S)
        return jax.vmap(lambda k: jax.vmap(lambda i: data.sample_support_counts(jax.random.fold_in(k, i), spec, B, T))(
            jnp.arange(STEPS)))(keys_S)

    def sample_per_run(key):
        def body(acc, i):
            b = data.sample_batch(jax.random.fold_in(key, i), spec, B, T)
            return acc + b.counts_BxM.sum() + b.label_B.sum(), None

        return jax.lax.scan(body, 0.0, jnp.arange(STEPS))[0]

    draws = jax.jit(shared_draws)(keys_R[0])

    def expand_only(seed):
        mine = jax.tree.map(lambda a: a[seed], draws)
        return jax.lax.scan(lambda acc, c: (acc + data.expand(c, spec).counts_BxM.sum(), None), 0.0, mine)[0]

    def value_and_grad(p, batch):
        def body(p, _):
            loss, g = jax.value_and_grad(yz.loss)(p, batch)
            return jax.tree.map(lambda a, b: a - 1e-3 * b, p, g), loss

        return jax.lax.scan(body, p, jnp.arange(STEPS))

    def optimizer(p, lrY, lrZ):
        tx = make_optimizer(tc, {"Y": lrY, "Z": lrZ})

        def body(c, _):
            p, s = c
            u, s = tx.update(jax.tree.map(lambda a: 1e-3 * a, p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(body, (p, tx.init(p)), jnp.arange(STEPS))[0]

    def train(p, lrY, lrZ, batches):  # batches: per-step keys (old) or compact batches (new)
        tx = make_optimizer(tc, {"Y": lrY, "Z": lrZ})

        def body(c, x):
            p, s = c
            batch = data.expand(x, spec) if isinstance(x, data.SupportCounts) else data.sample_batch(x, spec, B, T)
            loss, g = jax.value_and_grad(yz.loss)(p, batch)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        return jax.lax.scan(body, (p, tx.init(p)), batches)

    def step_old(p, lrY, lrZ, key):
        return train(p, lrY, lrZ, jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(STEPS)))

    @jax.jit
    def step_new(p, lrY, lrZ, key):
        batches = shared_draws(key)
        mine = jax.tree.map(lambda a: a[seed_R], batches)
        return blocks(train)(p, lrY, lrZ, mine)

    def metrics(p):
        return problem.metrics(p, Recording(jnp.int32(0), None, None, {}))

    ms = lambda seconds: round(1e3 * seconds / STEPS, 2)
    return {
        "M": M, "runs": R, "seeds": S, "block": block,
        "sample, per run": ms(_time(blocks(sample_per_run), keys_R)),
        "sample, shared": ms(_time(jax.jit(shared_draws), keys_R[0])),
        "expand": ms(_time(blocks(expand_only), seed_R)),
        "value_and_grad": ms(_time(blocks(value_and_grad), params_R, batch_R)),
        "optimizer": ms(_time(blocks(optimizer), params_R, lr_R["Y"], lr_R["Z"])),
        "step, old (draw in every run)": ms(_time(blocks(step_old), params_R, lr_R["Y"], lr_R["Z"], keys_R)),
        "step, new (shared draw)": ms(_time(step_new, params_R, lr_R["Y"], lr_R["Z"], keys_R[0])),
        "metrics, per record": round(1e3 * _time(blocks(metrics), params_R), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-last", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--runs", type=int, default=160)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--block", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps({"device": str(jax.devices()[0]), "load_average": os.getloadavg(), "unit": "ms per step of all runs",
                      "profiles": [profile(L, a.runs, a.seeds, a.block) for L in a.num_last]}, indent=2))


if __name__ == "__main__":
    main()
