"""Where one Fig-6 training step spends its time (M = 240, 160 runs vmapped, T = 128, batch 128).

    python benchmarks/profile_step.py [--runs 160] [--num-last 10]

Times, per step of all runs: drawing the batch (`scanflow.papers.scan_snap.data` sampler), the dense
value-and-grad of the Y/Z loss (`scanflow.papers.scan_snap.model.loss`), the one-pass sampler that gives identical
counts (since merged into `scanflow.papers.scan_snap.data.sample_batch`), and a support-gathered alternative that
touches only each sequence's ~20 support tokens (gather Y's support rows, scatter-add their
gradient). The alternative is checked against the dense path first (same loss and gradients to
float32 rounding). Also times the metrics taken at each record. Not a test: timings depend on the
machine.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.scan_snap import data
from scanflow.papers.scan_snap import model as yz


def _time(f, *args, n: int = 5) -> float:
    jax.block_until_ready(f(*args))
    t = time.perf_counter()
    for _ in range(n):
        jax.block_until_ready(f(*args))
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=160)
    ap.add_argument("--num-last", type=int, default=10)
    a = ap.parse_args()
    spec = data.official_layout(num_last=a.num_last, num_next_per_last=2)
    B, T, M = 128, 128, spec.M
    support_KxS = jnp.asarray(spec.support_cdf[0])
    query_K, target_K = jnp.asarray(spec.query_K), jnp.asarray(spec.target_K)

    def draw(key):  # the sampler's classes and per-support-slot counts (data.scan_snap._draw)
        cls_B, j_BxT1, _ = data._draw(key, spec, B, T)
        counts_BxS = jnp.sum(j_BxT1[:, :, None] == jnp.arange(support_KxS.shape[1]), axis=1)
        return cls_B, counts_BxS.astype(jnp.float32)

    def dense_loss(params, cls_B, counts_BxS):
        onehot_BxSxM = (support_KxS[cls_B][:, :, None] == jnp.arange(M)).astype(jnp.float32)
        counts_BxM = jnp.einsum("bs,bsm->bm", counts_BxS, onehot_BxSxM)
        return yz.loss(params, data.Batch(counts_BxM, query_K[cls_B], target_K[cls_B]))

    def support_loss(params, cls_B, counts_BxS):
        sup_BxS = support_KxS[cls_B]
        z_BxS = params["Z"][query_K[cls_B][:, None], sup_BxS]
        b_BxS = yz.weighted_softmax_xM(counts_BxS, z_BxS)  # padding slots have count 0 -> weight 0
        f_BxS = b_BxS / jnp.linalg.norm(b_BxS, axis=-1, keepdims=True)
        logits_BxM = jnp.einsum("bs,bsm->bm", f_BxS, params["Y"][sup_BxS])
        return yz.cross_entropy_B(logits_BxM, target_K[cls_B]).mean()

    def draw_one_pass(key):
        """The same counts from one comparison pass: #{t: j_t <= s} = #{t: u_t < cdf_s} (cdf sorted)."""
        k_cls, k_tok = jax.random.split(key)
        cdf_KxS = jnp.asarray(spec.support_cdf[1], jnp.float32)
        cls_B = jax.random.randint(k_cls, (B,), 0, spec.K)
        u_BxT1 = jax.random.uniform(k_tok, (B, T - 1), jnp.float32)
        below_BxS = jnp.sum(u_BxT1[:, None, :] < cdf_KxS[cls_B][:, :, None], axis=-1)
        counts_BxS = jnp.diff(below_BxS, axis=1, prepend=0)
        return cls_B, counts_BxS.astype(jnp.float32)

    keys = jax.random.split(jax.random.PRNGKey(0), a.runs)
    sample_fast = jax.jit(jax.vmap(draw_one_pass))
    c_ref, c_fast = sample_fast(keys), jax.jit(jax.vmap(draw))(keys)
    assert all(bool((x == y).all()) for x, y in zip(c_ref, c_fast)), "one-pass counts differ"
    params = jax.vmap(lambda k: yz.init(k, M, 1 / np.sqrt(M)))(keys)
    sample = jax.jit(jax.vmap(draw))
    cls, counts = sample(keys)
    dense = jax.jit(jax.vmap(jax.value_and_grad(dense_loss)))
    gathered = jax.jit(jax.vmap(jax.value_and_grad(support_loss)))
    (l1, g1), (l2, g2) = dense(params, cls, counts), gathered(params, cls, counts)
    diff = {"loss": float(jnp.abs(l1 - l2).max()), "grad_Y": float(jnp.abs(g1["Y"] - g2["Y"]).max()),
            "grad_Z": float(jnp.abs(g1["Z"] - g2["Z"]).max())}
    assert all(v < 1e-5 for v in diff.values()), diff  # float32 rounding of O(1) quantities
    pop = jax.jit(jax.vmap(jax.value_and_grad(lambda p: yz.population_loss(p, spec))))
    out = {
        "M": M, "runs": a.runs, "device": str(jax.devices()[0]),
        "sample_s": _time(sample, keys),
        "sample_one_pass_s (identical counts)": _time(sample_fast, keys),
        "dense_value_and_grad_s": _time(dense, params, cls, counts),
        "support_gathered_value_and_grad_s": _time(gathered, params, cls, counts),
        "population_value_and_grad_s": _time(pop, params),
        "max_abs_diff_dense_vs_gathered": diff,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
