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
  ``point_arrays(cfg, hp, record_steps)`` (extra labelled arrays such as a clock), ``plots(ds) ->
  {name: Figure}`` (views of a finished run: `ds` is its `xarray.Dataset` (`scanflow.load_run`); each
  name, without a suffix, maps to a matplotlib Figure; pure, never simulate and save nothing:
  `scanflow.engine.figures.plot_run` saves each as NAME.png and NAME.pdf).

A workload outside scanflow is found by ``workload: package.module:NAME`` in YAML or through the
``scanflow.workloads`` entry-point group (``NAME = "package.module:NAME"``), exactly like the
built-in ones (`scanflow.engine.registry`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import jax


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

    Metric names the engine reads: ``train_loss`` is always recorded by the engine (the mean training
    objective since the previous record; the flow loss under gradient flow). A metric named ``loss``
    (e.g. an exact or population loss) and a boolean ``finite`` (all parameters finite), when present,
    also flag a run as diverged and ``loss`` is what `scanflow run` summarises.
    """

    init: Callable[[jax.Array, dict], Any]
    loss: Callable[[Any, jax.Array, jax.Array], jax.Array]
    metrics: Callable[[Any, Recording], dict]
    flow_loss: Callable[[Any], jax.Array] | None
    metric_dims: dict
    coords: dict
    info: dict
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


@dataclass(frozen=True, eq=False)
class Workload:
    """A paper's workload: its config sections, learning-rate grid, dynamic fields and `build`.

    See the module docstring for each field. Instances are registered by name
    (`scanflow.engine.registry`); two workloads with the same name cannot both be registered.
    """

    name: str
    data: type
    model: type
    lr_keys: tuple[tuple[str, ...], ...]
    lr_default: dict
    build: Callable[[Any], Problem]
    hyperparams: Callable[[Any, dict], dict]
    dynamic_model_fields: tuple[str, ...] = ()
    validate: Callable[[Any], None] = _no_validate
    footprint: Callable[[Any], Any] | None = None  # cfg -> scanflow.engine.config.Footprint (None: sizes unknown)
    point_arrays: Callable[[Any, dict, Any], tuple[dict, dict]] = _no_point_arrays
    plots: Callable[..., dict] = _no_plots  # ds -> {name: Figure}
    summary: Callable[[Any], str] = _no_summary  # ds -> text printed after `scanflow run` (e.g. a paper's table)
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Workload.name: expected a non-empty string, got {self.name!r}")
        for attr in ("data", "model"):
            cls = getattr(self, attr)
            if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
                raise TypeError(f"Workload {self.name!r}: {attr} must be a frozen dataclass type (configs are hashed)")
        if not self.lr_keys or any(not keys for keys in self.lr_keys):
            raise TypeError(f"Workload {self.name!r}: lr_keys must list at least one non-empty key set")
        if set(self.lr_default) not in [set(k) for k in self.lr_keys]:
            raise TypeError(f"Workload {self.name!r}: lr_default keys {sorted(self.lr_default)} are not an lr_keys set")


__all__ = ["Problem", "Recording", "Workload"]
