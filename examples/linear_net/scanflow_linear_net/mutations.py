"""A bug the linear-net checks must catch (`scanflow verify linear-net --quick --mutant ln-w2-rate-half`).

The engine's gradient-flow vector field applies half of W2's learning rate while the run's config (and so
every prediction) says eta2: a per-group rate applied wrong. Both checks must say FAIL: L1 because the
weighted balancedness W1W1^T/eta1 - W2^TW2/eta2 is then not conserved, L2 because each mode's sigmoid
runs at the wrong speed.
"""

import jax

import scanflow.engine.flow as flow
from scanflow.verify import mutation


@mutation("linear-net", "ln-w2-rate-half", "the flow's vector field applies half of W2's learning rate",
          kills=("L1-conservation", "L2-saxe-sigmoid"))
def w2_rate_half(patch):
    def vector_field(loss_fn, lrs):
        def vf(t, params, args):
            grads = jax.grad(loss_fn)(params)
            scale = {g: (0.5 if g == "W2" else 1.0) * lrs[g] for g in grads}
            return {g: jax.tree.map(lambda x, g=g: -scale[g] * x, grads[g]) for g in grads}

        return vf

    patch.setattr(flow, "vector_field", vector_field)
