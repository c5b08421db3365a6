"""Mutations: the simulator broken on purpose, to show that the checks can say FAIL.

A mutation is a small, realistic bug (a learning rate scaled in one group, attention frozen or made
uniform, a wrong sign or factor, momentum dropped, the data changed, a step count off), declared in
the folder of the paper whose simulator it breaks, next to its checks::

    from scanflow.verify import mutation

    @mutation("scan-snap", "ss-lr-half", "every learning rate the optimizer applies is half the configured one")
    def _(patch):
        patch.wrap(discrete, "make_optimizer", scaled_rates(0.5))

`patch.setattr` replaces a module attribute and `patch.wrap` wraps one (undone when the mutation ends);
`scaled_rates`, `uniform_scores` and `detached` are the recurring bugs, written once. A mutation must patch the
attribute where the simulator looks it up at trace time, so it is applied in a fresh process, before
anything is compiled: ``scanflow verify PAPER --quick --mutant NAME`` (its report is titled MUTANT,
its exit code says whether a check caught the bug). The matrix "check x mutation -> verdict" is
written by ``python -m scanflow.verify.mutation`` into docs/mutations.md.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

MUTATIONS: dict[str, "Mutation"] = {}


@dataclass(frozen=True)
class Mutation:
    paper: str  # the paper whose checks must catch it (`scanflow verify PAPER --mutant NAME`)
    name: str
    bug: str  # one line: what is broken
    apply: Callable[["Patch"], None]
    kills: tuple = ()  # the checks expected to say FAIL under it (documented; the tests assert them)


class Patch:
    """Replaces module attributes and remembers how to undo it."""

    def __init__(self):
        self._undo: list = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        if not hasattr(target, name):
            raise AttributeError(f"mutation: {target!r} has no attribute {name!r} to replace")
        self._undo.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def wrap(self, target: Any, name: str, wrapper: Callable[[Callable], Callable]) -> None:
        """Replace ``target.name`` with ``wrapper(the real one)``."""
        self.setattr(target, name, wrapper(getattr(target, name)))

    def undo(self) -> None:
        while self._undo:
            target, name, old = self._undo.pop()
            setattr(target, name, old)


# Wrappers for `Patch.wrap`: the bugs that recur across papers, written once.


def scaled_rates(factor: float) -> Callable[[Callable], Callable]:
    """For ``scanflow.engine.discrete.make_optimizer``: every group's learning rate applied times `factor`,
    while the config (and so every prediction and record) keeps the configured rate."""

    def wrapper(real):
        def make_optimizer(cfg, lrs, dynamic=None):
            import jax

            return real(cfg, jax.tree.map(lambda lr: factor * lr, lrs), dynamic)

        return make_optimizer

    return wrapper


def uniform_scores(real: Callable) -> Callable:
    """For an attention-score function: the scores multiplied by 0, the masked -inf kept (uniform attention)."""

    def scores(*args, **kw):
        import jax.numpy as jnp

        s = real(*args, **kw)
        return jnp.where(jnp.isneginf(s), s, jnp.zeros_like(s))

    return scores


def detached(real: Callable) -> Callable:
    """A function whose output gets no gradient (a stop_gradient in the wrong place)."""

    def fn(*args, **kw):
        import jax

        return jax.lax.stop_gradient(real(*args, **kw))

    return fn


def mutation(paper: str, name: str, bug: str, kills: tuple = ()):
    """Decorator registering ``fn(patch)`` as the mutation `name` of `paper`."""

    def deco(fn: Callable[[Patch], None]) -> Callable[[Patch], None]:
        if name in MUTATIONS and MUTATIONS[name].apply is not fn:
            raise ValueError(f"mutation {name!r} is declared twice ({MUTATIONS[name].paper} and {paper})")
        MUTATIONS[name] = Mutation(paper, name, bug, fn, tuple(kills))
        return fn

    return deco


def mutations(paper: str | None = None) -> dict[str, Mutation]:
    """The declared mutations (of `paper`), loading the paper's check module, which declares them."""
    from scanflow.verify.framework import load_paper, papers

    for p in ([paper] if paper else papers()):
        try:
            load_paper(p)
        except (ImportError, KeyError):
            if paper:
                raise
    return {k: m for k, m in MUTATIONS.items() if paper is None or m.paper == paper}


@contextlib.contextmanager
def mutated(name: str | None):
    """Apply the mutation `name` (None: nothing) for the duration of the block."""
    if not name:
        yield None
        return
    if name not in MUTATIONS:
        mutations()
    if name not in MUTATIONS:
        raise KeyError(f"--mutant: unknown mutation {name!r}; expected one of {sorted(MUTATIONS)}")
    from scanflow.verify.framework import _RUNS

    patch = Patch()
    _RUNS.clear()  # runs made by the unbroken simulator are not the mutant's (and the mutant's go with it)
    try:
        MUTATIONS[name].apply(patch)
        yield MUTATIONS[name]
    finally:
        patch.undo()
        _RUNS.clear()


__all__ = ["MUTATIONS", "Mutation", "Patch", "detached", "mutated", "mutation", "mutations", "scaled_rates",
           "uniform_scores"]
