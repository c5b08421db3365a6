"""A config resolved once: the `Plan` that `scanflow run`, `execute`, `extend` and `scanflow.run` take.

A `Config` checks its own fields when it is built (cheap invariants, the workload's own rules).
Resolving it does the rest, once and in one place, before any directory exists:

* the workload (looked up once) and the block size of the vmapped runs (`--runs-per-block`, else
  ``sweep.runs_per_block``, else the backend's);
* the resource estimate with that block (refused in one line above the ceilings);
* each static part (`grid.static_parts`: one compiled program per combination of static axis values)
  with its program (`program.program`), checked by tracing one run (`preflight.check_workload`), its
  hyperparameters and point labels;
* the run's identity (`identity`: the config's hash, the block size, the data files' content).

Everything downstream reads the plan instead of recomputing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scanflow.engine.config import Config
from scanflow.engine.validation import ConfigError


@dataclass(frozen=True)
class Part:
    """One static part of a plan: its static axis values, its config and what the sweep runs."""

    values: dict
    cfg: Config
    program: Any  # scanflow.engine.program.Program
    hp: dict  # {"lr": {group: (P,)}, ...}: the dynamic values per grid point
    labels: dict  # {label: (P,) float64}: what names each grid point


@dataclass(frozen=True)
class Plan:
    cfg: Config
    workload: Any  # scanflow.engine.workload.Workload
    block: int
    parts: tuple
    identity: dict
    resources: dict

    @property
    def static(self) -> bool:
        """Whether the sweep has static axes (its parts stream to ``parts/NNN/``)."""
        from scanflow.engine import grid

        return len(self.parts) > 1 or bool(grid.axes(self.cfg, dynamic=False))


RESOLVED = {"plans": 0}  # how many plans were resolved (a test counts one per `scanflow run`)


def resolve(cfg: Config, runs_per_block: int | None = None, with_identity: bool = True) -> Plan:
    """Resolve `cfg` (see the module docstring). Raises `ConfigError` (one line) for anything a run
    would fail on: a sweep too large, a workload whose build, hyperparams or traced functions fail."""
    if isinstance(cfg, Plan):
        return cfg
    import jax

    from scanflow.engine import grid
    from scanflow.engine.identity import identity
    from scanflow.engine.preflight import check_workload
    from scanflow.engine.program import point_labels, program, static_part
    from scanflow.engine.registry import get_workload
    from scanflow.engine.resources import check_resources
    from scanflow.engine.sweep import default_block

    RESOLVED["plans"] += 1
    wl = get_workload(cfg.workload)
    block = int(runs_per_block or cfg.sweep.runs_per_block or default_block())
    resources = check_resources(cfg, block)
    parts = []
    for values, part in grid.static_parts(cfg):
        try:
            with jax.enable_x64(bool(part.x64)):
                hp = check_workload(part)  # build, hyperparams, one run traced (jax.eval_shape), point_arrays
                prog = program(static_part(part))  # the program check_workload built (cached per static part)
                labels = point_labels(part, prog.problem.info)
        except ConfigError:
            raise
        except (ValueError, TypeError, ArithmeticError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            raise ConfigError(f"workload {cfg.workload}: the config passed validation but its problem cannot be "
                              f"built: {first}") from None
        parts.append(Part(values, part, prog, hp, labels))
    ident = identity(cfg, block) if with_identity else {"runs_per_block": block}
    return Plan(cfg, wl, block, tuple(parts), ident, resources)


__all__ = ["Part", "Plan", "RESOLVED", "resolve"]
