"""A bug the online-SGD checks must catch (`scanflow verify online-sgd --quick --mutant osgd-lr-half`).

The optimizer applies half of the configured learning rate, while the config (and so every prediction and
record label) says eta: both the transient r^t and the noise floor move, so O1 and O2 must say FAIL. The
control O3 stays XFAIL (the gradient-flow prediction is wrong at either rate).
"""

from scanflow.verify import mutation
from scanflow.verify.mutation import scaled_rates


@mutation("online-sgd", "osgd-lr-half", "the optimizer applies half of the configured learning rate",
          kills=("O1-mean-error", "O2-noise-floor"))
def _lr_half(patch):
    from scanflow.engine import discrete

    patch.wrap(discrete, "make_optimizer", scaled_rates(0.5))
