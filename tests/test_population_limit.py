"""Population mode is the T -> inf limit of sampled mode (Lemma 2; spec check S13).

Per sequence, the attended vector f = X^T b / ||X^T b|| converges to the population f_n at the
CLT rate T^{-1/2}, so the fitted log-log slope of the RMS error against T is -1/2. The tolerance
(+-0.1) covers the estimator noise of an RMS over 256 sequences (relative std ~ 1/sqrt(2*256) ~ 4%
per point, i.e. ~0.03 on a slope fitted over two decades) and the O(1/T) bias term.
"""

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.scan_snap.data import official_layout, sample_batch
from scanflow.papers.scan_snap import model as yz

TS = (16, 128, 1024, 8192)


def _params(spec):
    return yz.init(jax.random.PRNGKey(7), spec.M, 1.0, jnp.float64)  # non-trivial Z and Y


def test_attended_vector_converges_at_clt_rate():
    spec = official_layout()
    params = _params(spec)
    f_pop = yz._normalise(yz.attention_KxM(params["Z"], spec))
    rms = []
    for T in TS:
        batch = sample_batch(jax.random.PRNGKey(T), spec, 256, T, jnp.float64)
        f = yz._normalise(yz.attended_BxM(params["Z"], batch))
        cls = np.asarray(batch.label_B) - spec.target_K[0]
        rms.append(float(jnp.sqrt(jnp.mean(jnp.sum((f - f_pop[cls]) ** 2, -1)))))
    slope = np.polyfit(np.log(TS), np.log(rms), 1)[0]
    assert abs(slope + 0.5) < 0.1, (slope, rms)
    assert all(a > b for a, b in zip(rms, rms[1:]))


def test_sampled_loss_and_gradient_approach_population():
    """Per-sequence losses converge to the population per-class loss at rate T^{-1/2} (slope
    -1/2 +- 0.1, as above), and the Z-gradient of a class-balanced batch approaches the exact
    population gradient (its error is batch noise O((BT)^{-1/2}) plus an O(1/T) bias, so the
    fitted slope must be at most -0.4 and the error must fall by >= 10x over T = 16 .. 8192)."""
    spec = official_layout()
    params = _params(spec)
    ce_pop_K = yz.cross_entropy_B(yz.population_logits_KxM(params, spec), jnp.asarray(spec.target_K))
    gz_pop = jax.grad(yz.population_loss)(params, spec)["Z"]
    loss_rms, grad_err = [], []
    for T in TS:
        batch = sample_batch(jax.random.PRNGKey(100 + T), spec, 256, T, jnp.float64)
        cls = batch.label_B - spec.target_K[0]
        ce = yz.cross_entropy_B(yz.logits_BxM(params, batch), batch.label_B)
        loss_rms.append(float(jnp.sqrt(jnp.mean((ce - ce_pop_K[cls]) ** 2))))
        gz = jax.grad(_class_balanced_loss)(params, batch, spec)["Z"]
        grad_err.append(float(jnp.linalg.norm(gz - gz_pop)))
    loss_slope = np.polyfit(np.log(TS), np.log(loss_rms), 1)[0]
    grad_slope = np.polyfit(np.log(TS), np.log(grad_err), 1)[0]
    assert abs(loss_slope + 0.5) < 0.1, (loss_slope, loss_rms)
    assert grad_slope < -0.4 and grad_err[-1] < grad_err[0] / 10, (grad_slope, grad_err)


def _class_balanced_loss(params, batch, spec):
    """Mean over classes of the mean CE of the batch's sequences of that class."""
    ce = yz.cross_entropy_B(yz.logits_BxM(params, batch), batch.label_B)
    cls = batch.label_B - spec.target_K[0]
    onehot = jax.nn.one_hot(cls, spec.K, dtype=ce.dtype)
    per_class = (onehot * ce[:, None]).sum(0) / onehot.sum(0)
    return per_class.mean()
