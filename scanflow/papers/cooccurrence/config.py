"""Word co-occurrence's config sections (``data:``, ``model:``) and learning-rate grid.

The size rules of the data set (n a multiple of 6, L >= 3, the vocabulary bound of Assumption
2.3(ii)) live here once, in `check_sizes`; both `DataConfig` and `data.make_dataset` call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.engine.config import (ConfigError, Footprint, SEED_LIMIT, check_types, device_checks_allowed, dominant,
                                    finite, is_int, need, need_choice, need_int, need_representable)


def random_slots(n: int, L: int) -> int:
    """n/2 (L-3) + n/3 (L-2) + n/6 (L-1) = n (L - 7/3) random-word slots (Assumption 2.3(ii))."""
    return (n * (6 * L - 14)) // 6


def min_vocab_distinct(n: int, L: int) -> int:
    """Smallest d with all training random words distinct: 3 + n(L - 7/3) (spec §2, e.g. 163 for n=60, L=5)."""
    return 3 + random_slots(n, L)


def check_sizes(n, L, d, repeat_random_words: bool, prefix: str = "", name_n: str = "n", extra_words: int = 0) -> None:
    """The data-set size rules (spec §2): raise `ConfigError` naming ``<prefix><field>``.

    `extra_words` reserves vocabulary for an unseen test set (1 word at least)."""
    need(is_int(n) and n >= 6 and n % 6 == 0, f"{prefix}{name_n}",
         "a positive multiple of 6 (exact 1/2, 1/6, 1/6, 1/6 proportions, Assumption 2.3(i))", n)
    need(is_int(L) and L >= 3, f"{prefix}L", "an integer >= 3 (a type-1 sentence holds mu1, mu2, mu3)", L)
    if d is None:
        return
    need(is_int(d), f"{prefix}d", "an integer (or null: the smallest vocabulary)", d)
    if repeat_random_words:
        need(d >= 4 + extra_words, f"{prefix}d",
             f"at least one random word (d >= {4 + extra_words}{' with unseen test words' if extra_words else ''})", d)
    else:
        low = min_vocab_distinct(n, L) + extra_words
        need(d >= low, f"{prefix}d", f"d >= 3 + n(L - 7/3){' + 1 (unseen test words)' if extra_words else ''} = {low} "
             f"for distinct random words with n={n}, L={L} (or repeat_random_words: true)", d)


@dataclass(frozen=True)
class DataConfig:
    """Word co-occurrence data (Yang et al. 2024, spec §2). The training and test sets are drawn once
    from ``seed`` (a static choice: every seed of a sweep trains on the same data, seeds vary the init)."""

    n: int = 60  # training samples, a multiple of 6 (exact 1/2, 1/6, 1/6, 1/6 proportions)
    L: int = 5  # tokens per sentence
    d: int | None = None  # vocabulary; None -> smallest with distinct random words in train (+ test)
    repeat_random_words: bool = False  # the paper's experiment (random words i.i.d. on R, may repeat)
    n_test: int = 60  # fresh test set (a multiple of 6)
    test_unseen: bool = True  # test random words never occur in the training set
    seed: int = 0  # seed of the training and test sets (the data, not the runs)

    def __post_init__(self):
        check_types(self, "data")
        check_sizes(self.n, self.L, self.d, self.repeat_random_words, "data.", extra_words=int(self.test_unseen))
        need(self.n_test >= 6 and self.n_test % 6 == 0, "data.n_test", "a positive multiple of 6", self.n_test)
        need_int(self.seed, "data.seed", 0, SEED_LIMIT)

    @property
    def vocab(self) -> int:
        """d, or the smallest d with distinct training random words (Assumption 2.3(ii)) plus, for an
        unseen test set, room for distinct test words (extra tokens never occur in training, so they do
        not change the training dynamics)."""
        if self.d is not None:
            return self.d
        n_words = self.n + (self.n_test if self.test_unseen else 0)
        return 3 + random_slots(n_words, self.L)


@dataclass(frozen=True)
class ModelConfig:
    """The co-occurrence transformer (spec §1): W_Q, W_K, W_V (m x d), W (m1 x m), readout a."""

    m: int = 128  # width of W_Q, W_K, W_V (m x d)
    m1: int = 16  # width of W (m1 x m) and of the readout a
    c0: float = 0.02  # sigma0 = c0 / sqrt(L m) (Condition 1 with the spec §3 constant)
    sigma0: float | None = None  # explicit std of W_Q, W_K, W_V (overrides c0)
    sigma1: float | None = None  # std of W; None -> 1/sqrt(m1)
    a_init: str = "sign"  # sign (a_j = +-1, the theory) | uniform (U(+-1/sqrt(m1)), nn.Linear default)
    train_a: bool = False  # the theory fixes a (learning rate 0 for group "a")

    def __post_init__(self):
        check_types(self, "model")
        need_choice(self.a_init, "model.a_init", ("sign", "uniform"))
        need_int(self.m, "model.m", 1)
        need_int(self.m1, "model.m1", 1)
        need(finite(self.c0) and self.c0 >= 0, "model.c0", "a finite number >= 0", self.c0)
        for name in ("sigma0", "sigma1"):
            v = getattr(self, name)
            if v is not None:
                need(finite(v) and v >= 0, f"model.{name}", "a finite number >= 0", v)
        if self.sigma1 is not None:
            need(self.sigma1 > 0, "model.sigma1", "a positive std (sigma1 = 0 makes the clock tau and eta_tau "
                 "undefined)", self.sigma1)


# sweep.lr: one rate eta for W_Q, W_K, W_V, W (a gets it too if model.train_a), or eta_tau = eta *
# sigma1^2 m E[sum a_j^2], the step in the natural clock tau (spec §3).
LR_KEYS = (("eta",), ("eta_tau",))
LR_DEFAULT = {"eta_tau": [0.02]}
DYNAMIC_MODEL_FIELDS = ("c0", "sigma0", "sigma1", "train_a")


def validate(cfg) -> None:
    """What the data builder and the clock can reject, before any run directory exists."""
    from scanflow.papers.cooccurrence.workload import learning_rates_P, sigmas

    s0, s1 = sigmas(cfg)
    need_representable(s0, "model.sigma0" if cfg.model.sigma0 is not None else "model.c0", cfg.x64,
                       "an init std sigma0 (c0 / sqrt(L m))")
    need_representable(s1, "model.sigma1" if cfg.model.sigma1 is not None else "model.m1", cfg.x64, "an init std sigma1")
    key = "eta" if "eta" in cfg.sweep.lr else "eta_tau"
    for eta in learning_rates_P(cfg):  # eta = eta_tau / (sigma1^2 m E sum a_j^2): may leave the dtype's range
        need_representable(float(eta), f"sweep.lr.{key}", cfg.x64, "learning rates eta (per GD step)")
    d = cfg.data
    if d.test_unseen and d.repeat_random_words and d.d is not None and d.d - 3 <= random_slots(d.n, d.L) \
            and device_checks_allowed():
        # i.i.d. random words may cover all of R, leaving no unseen test word: draw the training set to see
        import jax.numpy as jnp

        from scanflow.papers.cooccurrence.workload import datasets

        try:
            datasets(cfg, jnp.float32)  # float32: no dtype warning without x64; the draw does not depend on it
        except ValueError:
            raise ConfigError(
                f"data.d: expected a vocabulary that leaves test words unseen in training (data.test_unseen: true), got "
                f"{d.d}: with data.seed={d.seed} the {random_slots(d.n, d.L)} i.i.d. random-word slots cover all "
                f"{d.d - 3} random words; raise data.d, set data.test_unseen: false or pick another data.seed") from None


def footprint(cfg) -> Footprint:
    """Sizes of one run (`scanflow.engine.config.Footprint`): W_Q, W_K, W_V (m x d), W (m1 x m), a; full-batch
    steps over the n x L x d one-hot training set (q, k: n x L x m; scores n x L x L; doubled by the jvp of the
    margin rates in the metrics); a record holds the n margins and rates plus small matrices."""
    d, mc = cfg.data, cfg.model
    V, n, L, m, m1 = d.vocab, d.n, d.L, mc.m, mc.m1
    size_d = "data.d" if d.d is not None else "data.n"
    params = 3 * m * V + m1 * m + m1
    step_terms = {"model.m": 2 * n * L * m * 4, "data.L": 2 * n * L * L * 4, size_d: 2 * n * L * V, "model.m1": 2 * m1 * m}
    return Footprint(params=params, step=sum(step_terms.values()), record=2 * n + 200, data=(n + d.n_test) * L * V,
                     params_field=dominant({"model.m": m * (3 * V + m1), size_d: 3 * m * V, "model.m1": m1 * m}),
                     step_field=dominant(step_terms), record_field="data.n", data_field=size_d)
