"""The engine's only view of a paper: a `Workload` object, and the `Problem` it builds.

A workload owns everything paper-specific the engine needs and nothing else:

* ``name``: the value of ``workload:`` in a YAML config;
* ``data`` / ``model``: frozen dataclasses for the ``data:`` and ``model:`` sections. They validate
  themselves in ``__post_init__`` (raise `ConfigError` naming ``data.<field>``); the engine never
  re-states a rule of theirs;
* ``lr_keys``: the accepted key sets of ``sweep.lr`` (e.g. ``(("Y", "Z"), ("Z", "Y_over_Z"))``) and
  ``lr_default``: the grid used when ``sweep.lr`` is omitted;
* ``dynamic_model_fields``: model fields that become vmapped arrays (never recompile); the others
  are static and pick the compiled program;
* ``build(cfg) -> Problem``: pure functions for one seed at one hyperparameter point;
* ``hyperparams(cfg, info) -> {"lr": {group: (P,)}, "init_scale": {name: (P,)}}``: host arrays of
  the dynamic values per grid point (``info`` is the built problem's info dict);
* optional: ``footprint(cfg) -> Footprint`` (`scanflow.engine.config.Footprint`: the sizes of one run
  from the config alone, for the resource estimate that refuses a sweep too large for memory before
  anything is built), ``validate(cfg)`` (rules that span sections, e.g. "flow needs population data",
  and everything the data builder or the model's init can reject, so that a config that passes never
  fails after its run directory exists),
  ``data_files(cfg) -> {name: path}`` (the files the data are read from: their content, not their
  path, is part of the run's identity, `scanflow.engine.identity`),
  ``point_arrays(cfg, hp, record_steps)`` (extra labelled arrays such as a clock), ``plots(ds) ->
  {name: Figure}`` (views of a finished run: `ds` is its `xarray.Dataset` (`scanflow.load_run`); each
  name, without a suffix, maps to a matplotlib Figure; pure, never simulate and save nothing:
  `scanflow.engine.figures.plot_run` saves each as NAME.png and NAME.pdf).

A workload outside scanflow is found by ``workload: package.module:NAME`` in YAML or through the
``scanflow.workloads`` entry-point group (``NAME = "package.module:NAME"``), exactly like the
built-in ones (`scanflow.engine.registry`).

Plug-ins fail like configs: the engine calls a hook through `scanflow.engine.registry.workload_hook`, which
wraps it (`guard`; ``build`` also wraps every function of the `Problem` it returns, `guard_problem`), so that
an exception from the workload's code is a one-line `PluginError` (``workload NAME: HOOK raised TYPE: ...``);
`check_workload` builds and traces one run abstractly (`jax.eval_shape`) so that a failure at trace time is
found before a run directory exists.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import jax

from scanflow.engine.validation import ConfigError, OneLineError


class Recording(NamedTuple):
    """What a recorded metric may see besides the parameters.

    step:      the global step (discrete) or the time t (gradient flow) of this record;
    update:    the last optimizer update delta_t = theta_t - theta_{t-1} (a params-shaped tree);
               only carried when ``Problem.record_update`` is true, else None (None under gradient
               flow; all zeros at the step-0 record);
    grads:     the gradient of the last step's training loss (same rules as `update`);
    opt_state: the optimizer state (None under gradient flow);
    hp:        this run's dynamic hyperparameters (``{"lr": ..., "init_scale": ...}``).

    Parameters at earlier records (for direction cosines such as C_2x) are obtained by recording
    the (flattened) parameters as a metric and comparing records afterwards: records are data.
    """

    step: jax.Array
    update: Any
    opt_state: Any
    hp: dict
    grads: Any = None


class Problem(NamedTuple):
    """Pure functions for one seed at one hyperparameter point.

    init(key, hp) -> params           params: a pytree whose top-level keys are the lr groups
    loss(params, key, step) -> scalar training objective of one step: `key` draws a batch, `step`
                                      is the global step (e.g. a corpus picks chunk step mod C)
    metrics(params, rec) -> dict      small pytree of statistics recorded every k steps
                                      (`rec` is a `Recording`)
    flow_loss(params) -> scalar       deterministic objective for gradient flow (None: sgd only)
    metric_dims: name -> extra axis names of each metric (beyond point, seed, record)
    coords: axis name -> coordinate values (e.g. token labels)
    info: JSON-able facts about the built problem (stored in the manifest)
    record_update: carry the last optimizer update and gradient (`rec.update`, `rec.grads`)
    sample(key, step) -> batch        optional, with batch_loss: the batch `loss` draws from `key`
    batch_loss(params, batch, step)   (a pytree), and the loss on it, so that
                                      loss(params, key, step) == batch_loss(params, sample(key, step), step).
                                      Seeds share their data stream across grid points (common random
                                      numbers), so with these the engine draws each seed's batches once
                                      per step for every point of the sweep (``sweep.share_batches``)

    Build it with keywords; only ``init``, ``loss`` and ``metrics`` are required:
    ``Problem(init=init, loss=loss, metrics=metrics)``.

    Metric names the engine reads: ``train_loss`` is always recorded by the engine (the mean training
    objective since the previous record; the flow loss under gradient flow). A metric named ``loss``
    (e.g. an exact or population loss) and a boolean ``finite`` (all parameters finite), when present,
    also flag a run as diverged and ``loss`` is what `scanflow run` summarises.
    """

    init: Callable[[jax.Array, dict], Any]
    loss: Callable[[Any, jax.Array, jax.Array], jax.Array]
    metrics: Callable[[Any, Recording], dict]
    flow_loss: Callable[[Any], jax.Array] | None = None
    metric_dims: dict | None = None  # only metrics with axes need an entry: a scalar metric has ()
    coords: dict | None = None
    info: dict | None = None
    record_update: bool = False
    sample: Callable[[jax.Array, jax.Array], Any] | None = None
    batch_loss: Callable[[Any, Any, jax.Array], jax.Array] | None = None


def _no_point_arrays(cfg, hp, record_steps) -> tuple[dict, dict]:
    return {}, {}


def _no_validate(cfg) -> None:
    return None


def _no_plots(ds) -> dict:
    return {}


def _no_summary(ds) -> str:
    return ""


@dataclass(frozen=True)
class NoSection:
    """The ``data:`` or ``model:`` section of a workload that has nothing to configure there."""


def lr_grid(cfg) -> dict:
    """The default `Workload.hyperparams`: the product grid of ``sweep.lr`` (one rate per group and
    point, in the order the groups are written), in the run's dtype: ``{"lr": {group: (P,)}}``."""
    import itertools

    import numpy as np

    dtype = np.float64 if cfg.x64 else np.float32
    groups = list(cfg.sweep.lr)
    points = list(itertools.product(*(cfg.sweep.lr[g] for g in groups)))
    return {"lr": {g: np.asarray([pt[i] for pt in points], dtype) for i, g in enumerate(groups)}}


def _lr_grid_hook(cfg, info) -> dict:
    return lr_grid(cfg)


@dataclass(frozen=True, eq=False, kw_only=True)
class Workload:
    """A paper's workload: its config sections, learning-rate grid, dynamic fields and `build`.

    See the module docstring for each field. Only ``name``, ``build`` and ``lr_default`` are
    required (keywords): a workload with nothing to configure omits ``data`` / ``model``; the
    learning-rate groups of ``lr_default`` are the accepted ``sweep.lr`` keys unless ``lr_keys``
    says more; ``hyperparams`` defaults to the product grid of ``sweep.lr`` (`lr_grid`). ``train``
    states the workload's defaults for the ``train:`` section (e.g. ``{"optimizer": "sgd"}``), which
    a config's own values override; the resolved config and the run summary show them.
    Instances are registered by name (`scanflow.engine.registry`); two workloads with the same name
    cannot both be registered. `workload` declares a small one from its build function.
    """

    name: str
    build: Callable[[Any], Problem]
    lr_default: dict
    data: type = NoSection
    model: type = NoSection
    lr_keys: tuple[tuple[str, ...], ...] | None = None
    hyperparams: Callable[[Any, dict], dict] = _lr_grid_hook
    train: dict = field(default_factory=dict)
    dynamic_model_fields: tuple[str, ...] = ()
    validate: Callable[[Any], None] = _no_validate
    footprint: Callable[[Any], Any] | None = None  # cfg -> scanflow.engine.config.Footprint (None: sizes unknown)
    point_arrays: Callable[[Any, dict, Any], tuple[dict, dict]] = _no_point_arrays
    plots: Callable[..., dict] = _no_plots  # ds -> {name: Figure}
    summary: Callable[[Any], str] = _no_summary  # ds -> text printed after `scanflow run` (e.g. a paper's table)
    data_files: Callable[[Any], dict] | None = None  # cfg -> {name: path} of the files whose content decides the numbers
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Workload.name: expected a non-empty string, got {self.name!r}")
        for attr in ("data", "model"):
            cls = getattr(self, attr)
            if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
                raise TypeError(f"Workload {self.name!r}: {attr} must be a frozen dataclass type (configs are hashed)")
        if not isinstance(self.lr_default, dict) or not self.lr_default:
            raise TypeError(f"Workload {self.name!r}: lr_default must map each learning-rate group to its rates")
        if self.lr_keys is None:
            object.__setattr__(self, "lr_keys", (tuple(self.lr_default),))
        if not isinstance(self.train, dict):
            raise TypeError(f"Workload {self.name!r}: train must be a mapping of train-section defaults")
        if not self.lr_keys or any(not keys for keys in self.lr_keys):
            raise TypeError(f"Workload {self.name!r}: lr_keys must list at least one non-empty key set")
        if set(self.lr_default) not in [set(k) for k in self.lr_keys]:
            raise TypeError(f"Workload {self.name!r}: lr_default keys {sorted(self.lr_default)} are not an lr_keys set")


def workload(name: str | None = None, *, lr: dict, **fields) -> Callable[[Callable[[Any], Problem]], Workload]:
    """Declare a small workload from its build function (the other `Workload` fields as keywords)::

        @workload("teacher", lr={"w": [0.05]}, data=TeacherData, train={"optimizer": "sgd"})
        def TEACHER(cfg):
            return Problem(init=..., loss=..., metrics=...)

    ``TEACHER`` is then the `Workload` (``workload: mypackage.module:TEACHER`` in a config)."""

    def deco(build: Callable[[Any], Problem]) -> Workload:
        return Workload(name=name or build.__name__, build=build, lr_default=lr, **fields)

    return deco


# ----------------------------------------------------------------------------- plug-in errors

HOOKS = ("build", "validate", "hyperparams", "footprint", "point_arrays", "plots", "summary", "data_files")
PROBLEM_FUNCTIONS = ("init", "loss", "metrics", "flow_loss", "sample", "batch_loss")
_UNGUARDED = "__scanflow_unguarded__"  # a guarded function's original
MAX_MESSAGE = 400  # characters of an exception's message quoted in a one-line error


class PluginError(ConfigError):
    """An exception raised by a workload's own code (a hook, or a function of its `Problem` while JAX
    traces it), as one line naming the workload, the hook and the error. A `ConfigError`: the CLI
    reports it like a bad config (exit 2)."""

    def __init__(self, workload: str, hook: str, err: BaseException | None = None, message: str | None = None):
        self.workload, self.hook, self.err = workload, hook, err
        if message is None and hook == "build":  # the config passed its checks: the workload's builder failed
            text = describe(err).partition(": ")[2] or type(err).__name__
            message = (f"build raised {type(err).__name__}; the config passed validation but its problem cannot be "
                       f"built: {text}")
        super().__init__(f"workload {workload}: {message if message is not None else f'{hook} raised {describe(err)}'}")


def describe(err: BaseException) -> str:
    """``TYPE: first line of the message`` (``TYPE`` alone without one), at most `MAX_MESSAGE` characters."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + " ..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _passes_through(err: BaseException) -> bool:
    """Errors that already are one line naming what is wrong: a config error (e.g. a workload's own
    ``data.<field>`` check) and the engine's damaged-file errors, which the CLI reports as they are."""
    return isinstance(err, OneLineError)


def guard(fn: Callable, workload: str, hook: str, result: Callable | None = None) -> Callable:
    """`fn` raising `PluginError` for any exception but those that pass through (`_passes_through`);
    `result` post-processes its return value (checked by the guard too). A guarded function is
    unwrapped first, so guarding twice names only the last workload."""
    inner = getattr(fn, _UNGUARDED, fn)

    @functools.wraps(inner)
    def guarded(*args, **kwargs):
        try:
            out = inner(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - anything a plug-in raises becomes one line
            if _passes_through(e):
                raise
            raise PluginError(workload, hook, e) from e
        return result(out) if result is not None else out

    setattr(guarded, _UNGUARDED, inner)
    return guarded


def guard_problem(problem: "Problem", workload: str) -> "Problem":
    """The `Problem` with each function guarded (``workload W: metrics raised KeyError: ...``): JAX
    calls them while tracing the sweep, so an error there names the function, not a JAX frame."""
    if not isinstance(problem, Problem):
        raise PluginError(workload, "build", message=f"build returned a {type(problem).__name__}, expected a "
                                                     "scanflow Problem (scanflow.engine.workload.Problem)")
    fns = {k: guard(getattr(problem, k), workload, k) for k in PROBLEM_FUNCTIONS if getattr(problem, k) is not None}
    return problem._replace(**fns, **normalised(problem))


def normalised(problem: "Problem") -> dict:
    """The defaults of a `Problem`'s optional fields filled in: the engine's own ``train_loss`` among the
    metric axes (a workload never declares it), and empty coords and info."""
    dims = {"train_loss": (), **{k: tuple(v) for k, v in dict(problem.metric_dims or {}).items()}}
    return {"metric_dims": dims, "coords": dict(problem.coords or {}), "info": dict(problem.info or {})}


__all__ = ["NoSection", "PluginError", "Problem", "Recording", "Workload", "guard", "guard_problem",
           "lr_grid", "normalised", "workload"]
