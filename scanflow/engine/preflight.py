"""Preflight: everything of a config's workload that the sweep will call, exercised before a run
directory exists (build, hyperparams, one run traced abstractly with `jax.eval_shape`, point_arrays),
so that a workload that fails there is one line (`PluginError`), never a stuck ``RUN.partial``.
"""

from __future__ import annotations

import jax

from scanflow.engine.validation import ConfigError
from scanflow.engine.workload import PluginError, Problem, Recording, describe


def check_workload(cfg) -> dict:
    """Everything of `cfg`'s workload that the sweep will call, before a run directory exists: build
    (`scanflow.engine.program.program`), hyperparams, one run traced abstractly (`trace_one_run`) and
    point_arrays. A workload that fails there is one line (`PluginError`), not a stuck RUN.partial.
    `cfg` is one static part (`scanflow.engine.grid.static_parts`); call under its x64 setting. Returns the
    part's hyperparameters (`scanflow.engine.program.hyperparams`), so that a plan need not compute them again."""
    import numpy as np

    from scanflow.engine.registry import workload_hook
    from scanflow.engine.program import hyperparams, program, static_part

    static = static_part(cfg)
    problem = program(static).problem
    hp = hyperparams(cfg, problem.info)
    trace_one_run(static, problem, hp, str(cfg.workload))
    workload_hook(cfg.workload, "point_arrays")(cfg, hp, np.arange(0, cfg.train.steps + 1, cfg.train.record_every))
    return hp


def trace_one_run(static, problem: "Problem", hp: dict, label: str) -> None:
    """Trace one run abstractly (`jax.eval_shape`: nothing computed or compiled): init, the training
    loss and its gradient through the optimizer (or the flow loss), and the metrics, as the sweep's
    program calls them. An error a function of the problem raises while traced is its `PluginError`;
    any other (a tree the optimizer cannot take, metrics of the wrong rank) is one line naming the
    workload too. `static` is `scanflow.engine.program.static_part(cfg)`, `problem` its (guarded)
    `program(static).problem` and `hp` is `scanflow.engine.program.hyperparams(cfg)` (leading point axis)."""
    import jax.numpy as jnp
    import numpy as np

    from scanflow.engine import discrete
    from scanflow.engine.program import shares_batches

    one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a)[1:], np.asarray(a).dtype), hp)
    key = (static, str(jax.tree.structure(one)), str(jax.tree.leaves(one)))
    if key in _TRACED:  # the same program was traced (equal static configs share it): nothing new to find
        return
    tc = static.train

    def one_run(hp1):
        key = jax.random.fold_in(jax.random.key(0), 0)  # a typed key, as the sweep's run keys
        params = problem.init(discrete.init_key(key), hp1)
        groups = sorted(hp1["lr"])
        if not isinstance(params, dict) or not set(params) <= set(groups):
            got = sorted(map(str, params)) if isinstance(params, dict) else type(params).__name__
            raise PluginError(label, "init", message=f"init returned parameters {got}; expected a dict whose top-level "
                                                     f"keys are learning-rate groups of hyperparams' lr {groups}")
        if tc.method == "flow":
            t0 = jnp.zeros((), jnp.float64 if static.x64 else jnp.float32)  # the solver's time (flow.init_flow_state)
            rec = {**problem.metrics(params, Recording(t0, None, None, hp1)), "train_loss": problem.flow_loss(params)}
            jax.grad(problem.flow_loss)(params)
            return rec
        shared = shares_batches(static, problem)
        state, rec0 = discrete.init_state(problem, tc, key, hp1, split_loss=shared)
        if shared:
            batch = problem.sample(jax.random.fold_in(discrete.data_key(key), 0), state.step)
            state, _ = discrete.run_steps(problem, tc, state, jax.tree.map(lambda a: a[None], batch), hp1)
            discrete.record_of(problem, state, hp1)
        else:
            discrete.run_chunk(problem, tc, 1, state, key, hp1)
        return rec0

    try:
        rec = jax.eval_shape(one_run, one)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - the engine's own calls on what the workload returned
        raise PluginError(label, "trace",
                          message=f"one run cannot be traced (init, loss, metrics): {describe(e)}") from e
    dims = problem.metric_dims
    if not isinstance(rec, dict):
        raise PluginError(label, "metrics", message=f"metrics returned a {type(rec).__name__}, expected a dict")
    for field in ("metrics", "final_metrics"):
        wanted = set(getattr(static.train, field) or ()) - set(rec)
        if wanted:
            raise ConfigError(f"train.{field}: unknown metric {sorted(wanted)[0]!r} of workload {label}; expected "
                              f"some of {sorted(k for k in rec if k != 'train_loss')}")
    for name, leaf in rec.items():
        shape = getattr(leaf, "shape", None)
        if name not in dims and shape is not None and len(shape) > 0:
            raise PluginError(label, "metrics", message=f"metrics returned {name!r} of shape {tuple(shape)}, whose axes "
                                                        f"its Problem.metric_dims does not name (a scalar needs no entry)")
        if shape is None or len(shape) != len(dims.get(name, ())):
            raise PluginError(label, "metrics", message=f"metrics returned {name!r} of shape {shape}, but "
                                                        f"Problem.metric_dims gives it the axes {tuple(dims.get(name, ()))}")
    _TRACED[key] = True
    while len(_TRACED) > 32:  # bounded, like the programs themselves (scanflow.engine.program.program)
        _TRACED.pop(next(iter(_TRACED)))


_TRACED: dict = {}  # (static config, hp structure) -> True: traced without an error (`trace_one_run`)
