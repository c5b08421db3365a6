"""Word co-occurrence data (Yang et al. 2024; spec §2, Def. 2.1, Assumption 2.3).

Token ids (0-based) index the orthonormal one-hot embeddings e_k in R^d:

* ``MU1 = 0``, ``MU2 = 1``: the target words whose co-occurrence gives y = +1;
* ``MU3 = 2``: the common token, present once in every sentence at a uniformly random position;
* ``3 .. d-1``: the random (irrelevant) words R = {mu_4 .. mu_d}.

Sample types (spec §2): 1 = {mu1, mu2, mu3} + L-3 random words (y=+1, fraction 1/2);
2 = {mu1, mu3} + L-2 (y=-1, 1/6); 3 = {mu2, mu3} + L-2 (y=-1, 1/6); 4 = {mu3} + L-1 (y=-1, 1/6).
Proportions are exact (Assumption 2.3(i)); samples are ordered type 1, 2, 3, 4 (as App. A's 30/10/10/10).

Choices where the spec is silent (documented here):

* Positions: a sentence's tokens are placed by a uniformly random permutation of its L slots. This
  gives mu3 a uniform position and mu1/mu2 distinct uniform other positions, as Def. 2.1 asks (the
  model is permutation invariant anyway, spec §1).
* ``repeat_random_words=False`` (Assumption 2.3(ii)): all n(L - 7/3) random-word slots of the training
  set get distinct words, a uniformly random injection into R; needs d >= 3 + n(L - 7/3).
  ``repeat_random_words=True``: every random slot is i.i.d. uniform on R (words may repeat, also
  within one sentence), as in the paper's experiment (spec §5.6, §6).
* Test set (`make_test_set`, spec §2 "test samples draw fresh random words from R"): same exact
  proportions; random words i.i.d. uniform over the words of R that do *not* occur in the training
  set (``unseen=True``, the default; needs d > 3 + #distinct training random words) or over all of R
  (``unseen=False``, the paper's population D).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from scanflow.papers.cooccurrence.config import check_sizes, min_vocab_distinct, random_slots as num_random_slots  # noqa: F401

MU1, MU2, MU3 = 0, 1, 2
FIRST_RANDOM = 3
NUM_TYPES = 4
_RANDOM = -1  # template marker of a random-word slot


@dataclass(frozen=True)
class Dataset:
    """A co-occurrence data set (spec §2).

    Attributes:
      X_NxLxd: one-hot sentences, X_NxLxd[i, l] = x_l^{(i)} (the spec's X_i is its transpose, d x L).
      tokens_NxL: token ids of the same sentences.
      y_N: labels +-1 (float).
      type_N: sample type 1..4 (int32).
      random_NxL: True where a slot holds a random word (token id >= 3).
    """

    X_NxLxd: jax.Array
    tokens_NxL: jax.Array
    y_N: jax.Array
    type_N: jax.Array
    random_NxL: jax.Array

    @property
    def n(self) -> int:
        return self.tokens_NxL.shape[0]

    @property
    def L(self) -> int:
        return self.tokens_NxL.shape[1]

    @property
    def d(self) -> int:
        return self.X_NxLxd.shape[2]


jax.tree_util.register_dataclass(
    Dataset, data_fields=["X_NxLxd", "tokens_NxL", "y_N", "type_N", "random_NxL"], meta_fields=[]
)


def _validate(n: int, L: int, d: int, repeat_random_words: bool, name_n: str = "n") -> None:
    """The size rules of `scanflow.papers.cooccurrence.config.check_sizes` (one source), for direct calls."""
    check_sizes(int(n) if isinstance(n, np.integer) else n, int(L) if isinstance(L, np.integer) else L, d,
                repeat_random_words, name_n=name_n)


def type_template(n: int, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template_NxL, type_N, y_N) before shuffling: fixed tokens first, then _RANDOM slots."""
    k = n // 6
    rows = {1: [MU1, MU2, MU3], 2: [MU1, MU3], 3: [MU2, MU3], 4: [MU3]}
    counts = {1: 3 * k, 2: k, 3: k, 4: k}
    tmpl, types = [], []
    for t in (1, 2, 3, 4):
        row = rows[t] + [_RANDOM] * (L - len(rows[t]))
        tmpl += [row] * counts[t]
        types += [t] * counts[t]
    type_N = np.asarray(types, np.int32)
    return np.asarray(tmpl, np.int32), type_N, np.where(type_N == 1, 1.0, -1.0)


def dataset_from_tokens(tokens_NxL, type_N, d: int, dtype=jnp.float32) -> Dataset:
    """Build a Dataset from token ids (labels from the types: y = +1 iff type 1). For hand-made tests."""
    tokens = np.asarray(tokens_NxL, np.int32)
    type_N = np.asarray(type_N, np.int32)
    return Dataset(
        X_NxLxd=jnp.asarray(np.eye(d)[tokens], dtype),
        tokens_NxL=jnp.asarray(tokens),
        y_N=jnp.asarray(np.where(type_N == 1, 1.0, -1.0), dtype),
        type_N=jnp.asarray(type_N),
        random_NxL=jnp.asarray(tokens >= FIRST_RANDOM),
    )


def _rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded deterministically by a JAX key (data are built once, on the host, in
    NumPy: eager JAX would compile every small op for every new shape)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def _assemble(rng: np.random.Generator, n, L, d, fill_fn, dtype) -> Dataset:
    tmpl, type_N, _ = type_template(n, L)
    is_rand = tmpl == _RANDOM
    tokens = tmpl.copy()
    tokens[is_rand] = fill_fn(rng, int(is_rand.sum()))  # random-word ids, row-major slot order
    perm_NxL = np.argsort(rng.random((n, L)), axis=1)  # uniformly random slot permutation per sentence
    tokens = np.take_along_axis(tokens, perm_NxL, axis=1)
    return dataset_from_tokens(tokens, type_N, d, dtype)


def make_dataset(key: jax.Array, n: int, L: int, d: int, repeat_random_words: bool = False,
                 dtype=jnp.float32) -> Dataset:
    """Training set of spec §2 with exact proportions (n/2, n/6, n/6, n/6; Assumption 2.3(i)).

    Random words are distinct over the whole set (Assumption 2.3(ii); needs d >= 3 + n(L - 7/3)) unless
    ``repeat_random_words`` (then i.i.d. uniform on R). Raises ValueError naming the bad argument.
    Deterministic in ``key``.
    """
    _validate(n, L, d, repeat_random_words)
    R = d - FIRST_RANDOM
    if repeat_random_words:
        fill = lambda g, s: FIRST_RANDOM + g.integers(0, R, s)
    else:
        fill = lambda g, s: FIRST_RANDOM + g.permutation(R)[:s]
    return _assemble(_rng(key), n, L, d, fill, dtype)


def make_test_set(key: jax.Array, train: Dataset, n_test: int, unseen: bool = True, dtype=jnp.float32) -> Dataset:
    """Fresh test set (spec §2, check 15): exact proportions, random words i.i.d. uniform over the
    random words absent from ``train`` (``unseen=True``) or over all of R (``unseen=False``)."""
    L, d = train.L, train.d
    _validate(n_test, L, d, True, name_n="n_test")
    seen = np.zeros(d, bool)
    seen[np.asarray(train.tokens_NxL).ravel()] = True
    pool = np.arange(FIRST_RANDOM, d)
    if unseen:
        pool = pool[~seen[FIRST_RANDOM:]]
        if pool.size == 0:
            raise ValueError(f"train: every random word of R (d={d}) occurs in the training set, so no unseen "
                             f"words are left; build the training set with a larger d")
    fill = lambda g, s: pool[g.integers(0, pool.size, s)]
    return _assemble(_rng(key), n_test, L, d, fill, dtype)


def type_counts(data: Dataset) -> np.ndarray:
    """|I_1|, .., |I_4|."""
    t = np.asarray(data.type_N)
    return np.array([(t == k).sum() for k in range(1, NUM_TYPES + 1)])


__all__ = ["Dataset", "MU1", "MU2", "MU3", "FIRST_RANDOM", "dataset_from_tokens", "make_dataset",
           "make_test_set", "min_vocab_distinct", "num_random_slots", "type_counts", "type_template"]
