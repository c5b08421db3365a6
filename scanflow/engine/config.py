"""Run configuration core: YAML -> frozen dataclasses that validate themselves at construction.

A config has two kinds of content:

* **static** fields (shapes, step counts, optimizer kind, solver): they pick a compiled program;
* **dynamic** fields (learning rates, init scales, root seed): they become arrays that are vmapped
  over, so a new value never recompiles.

The engine owns the ``train``, ``flow`` and ``sweep`` sections and the top level; the ``data`` and
``model`` sections belong to the workload (`scanflow.engine.workload.Workload`), whose dataclasses
validate their own fields. Every dataclass here checks its values in ``__post_init__`` (diffrax's
way), so a `Config` built from Python is checked exactly like one read from YAML: one source for each
rule. `load_config(path, overrides)` reads YAML and applies Hydra-style dotted overrides
(``train.steps=200``). Any problem raises `ConfigError`, one line naming the field and what was
expected.

What is checked at construction, before anything runs or is written:

* every field's type (`check_types`: an integer field refuses 1.5 and true, a number field refuses
  'abc'), also for configs built in Python;
* values: finite and positive where that is what makes sense; probabilities in [0, 1); seeds in
  [0, 2**32) (JAX keys of larger seeds collide without x64); step counts below 2**31 (int32);
* every float that becomes an array of the run's dtype is representable in it (`representable`): with
  ``x64: false`` a learning rate of 1e308 or an eps of 1e-50 is refused instead of becoming inf or 0;
* a path-safe ``name``;
* a resource estimate (`estimate`, from the workload's `Footprint`: sizes from the config alone,
  nothing is built): the memory of the records, of the carried state with one vmapped block, and the
  number of optimizer steps; above the ceilings ``sweep.max_memory_gb`` / ``sweep.max_run_steps`` the
  config is refused with the estimate and the field that drives it;
* the workload's own rules (`Workload.validate`), including everything its data builder can reject.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from scanflow.engine.validation import (  # noqa: F401 - the rules, re-exported for the sections' authors
    is_derived,
    OneLineError,
    ConfigError,
    need,
    finite,
    need_choice,
    is_int,
    need_int,
    _pow2,
    SEED_LIMIT,
    INT32_LIMIT,
    _FLOAT_RANGE,
    representable,
    need_representable,
    _HOST_ONLY,
    host_only_checks,
    device_checks_allowed,
    check_types,
    _hints,
    _strict,
    _got,
    _type_name,
    _coerce,
    _build,
    _similar,
    _as_number,
    _lr_list,
    _FrozenDict,
    _is_float_type,
)


def device_checks(cfg: "Config") -> None:
    """Run the workload's checks again, those needing a JAX computation included (after `host_only_checks`)."""
    from scanflow.engine.registry import workload_hook

    workload_hook(cfg.workload, "validate")(cfg)


# Optimizers with their own config fields; any other name is an optax factory taking the learning
# rate first (e.g. adamw, rmsprop, lion), configured by train.optimizer_args.
from scanflow.engine.optim import BUILTIN_OPTIMIZERS  # noqa: E402,F401 - re-exported


@dataclass(frozen=True)
class TrainConfig:
    """Dynamics: a discrete optax optimizer or gradient flow (diffrax).

    For ``method: flow`` time is measured in units of the learning rate, so ``steps`` is the
    horizon t1 and one GD step of rate eta_g corresponds to dt = 1.

    Optimizer of every learning-rate group: ``sgd``, ``sgd_momentum`` (``momentum``), ``adam``
    (``adam_b1``, ``adam_b2``, ``adam_eps``) or the name of any optax factory whose first argument
    is the learning rate (``adamw``, ``rmsprop``, ``lion``, ...) with keyword arguments in
    ``optimizer_args``. ``clip_norm`` first clips the gradient of all groups together to that global
    norm (``optax.clip_by_global_norm``, PyTorch's ``clip_grad_norm_``).

    ``metrics`` lists the workload's metrics to record (its `Problem.metric_dims` names; ``attn`` and
    ``z`` need ``record_attention``); the others are not computed at all, which makes the programs
    smaller and faster to compile. ``train_loss`` is always recorded, and a run is flagged as
    diverged from ``train_loss`` and, when recorded, ``loss`` and ``finite``. ``final_metrics`` keeps
    some metrics at the last record only (stored without the record axis: a large map per record, such
    as an attention matrix, would dominate the results of a sweep recorded often for its loss curve); they are still
    computed at every record, so a resume or an extension gives the same bits.
    """

    method: str = "sgd"  # sgd (discrete optax optimizer) | flow (gradient flow, diffrax)
    optimizer: str = "sgd"  # sgd | sgd_momentum | adam | any optax factory name (default: the workload's train.optimizer)
    optimizer_args: dict | None = None  # keyword arguments of the optax factory (not the learning rate)
    clip_norm: float | None = None  # clip the global gradient norm before the optimizer
    momentum: float = 0.9  # sgd_momentum: v <- mu v + g ; p <- p - eta v  (PyTorch convention)
    adam_b1: float = 0.9  # adam: decay of the first-moment average
    adam_b2: float = 0.999  # adam: decay of the second-moment average
    adam_eps: float = 1e-8  # adam: added to the root of the second moment
    steps: int = 100  # number of optimizer steps (or flow horizon t1); < 2**31 (an int32 step counter)
    record_every: int = 2  # metrics are recorded every k steps (and at step 0)
    records_per_chunk: int = 0  # records per jitted chunk (progress granularity); 0 -> auto
    record_attention: bool = True  # store the full attention rows at every record (workloads that have them)
    metrics: tuple[str, ...] | None = None  # record only these of the workload's metrics (null: all); train_loss always
    final_metrics: tuple[str, ...] = ()  # metrics kept at the last record only (no record axis)

    def __post_init__(self):
        check_types(self, "train")
        if self.metrics is not None:
            need(len(self.metrics) > 0 and len(set(self.metrics)) == len(self.metrics), "train.metrics",
                 "a non-empty list of distinct metric names (or null: all)", list(self.metrics))
        need(len(set(self.final_metrics)) == len(self.final_metrics) and "train_loss" not in self.final_metrics,
             "train.final_metrics", "distinct metric names other than train_loss (the loss curve)",
             list(self.final_metrics))
        if self.metrics is not None:
            need(set(self.final_metrics) <= set(self.metrics), "train.final_metrics",
                 f"names among train.metrics {list(self.metrics)}", list(self.final_metrics))
        need_choice(self.method, "train.method", ("sgd", "flow"))
        need(isinstance(self.optimizer, str) and re.fullmatch(r"[A-Za-z_]\w*", self.optimizer or "") is not None,
             "train.optimizer", f"one of {list(BUILTIN_OPTIMIZERS)} or an optax optimizer name", self.optimizer)
        need(finite(self.momentum) and 0 <= self.momentum < 1, "train.momentum", "a number in [0, 1)", self.momentum)
        need(finite(self.adam_b1) and 0 <= self.adam_b1 < 1, "train.adam_b1", "a number in [0, 1)", self.adam_b1)
        need(finite(self.adam_b2) and 0 <= self.adam_b2 < 1, "train.adam_b2", "a number in [0, 1)", self.adam_b2)
        need(finite(self.adam_eps) and self.adam_eps > 0, "train.adam_eps", "a finite positive number", self.adam_eps)
        if self.clip_norm is not None:
            need(finite(self.clip_norm) and self.clip_norm > 0, "train.clip_norm",
                 "a finite positive gradient norm (or null: no clipping)", self.clip_norm)
        need_int(self.steps, "train.steps", 1, INT32_LIMIT, "an integer in [1, 2**31) (the step counter is int32)")
        need_int(self.record_every, "train.record_every", 1)
        need(self.steps % self.record_every == 0, "train.record_every", f"a divisor of train.steps={self.steps}",
             self.record_every)
        n_rec = self.steps // self.record_every
        need_int(self.records_per_chunk, "train.records_per_chunk", 0, what="an integer >= 0 (0 = auto)")
        if self.records_per_chunk:
            need(n_rec % self.records_per_chunk == 0, "train.records_per_chunk",
                 f"a divisor of the number of records steps/record_every={n_rec}", self.records_per_chunk)
        if self.optimizer_args is not None and not isinstance(self.optimizer_args, _FrozenDict):
            need(isinstance(self.optimizer_args, dict) and all(isinstance(k, str) for k in self.optimizer_args),
                 "train.optimizer_args", "a mapping of keyword arguments", self.optimizer_args)
            args = {}
            for k, v in self.optimizer_args.items():  # numbers as numbers (YAML reads 1e-4 as a string)
                v = v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v
                if isinstance(v, str) and _as_number(v) is not None:
                    v = _as_number(v)
                args[k] = v
            big = 3.4028234663852886e38  # float32 max
            for k, v in args.items():  # a NaN or float32-overflowing weight decay would silently poison every run
                for x in (v if isinstance(v, (list, tuple)) else [v]):
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        need(finite(x) and abs(float(x)) <= big, f"train.optimizer_args.{k}",
                             "a finite number within float32's range (|x| <= 3.4e38)", x)
            object.__setattr__(self, "optimizer_args", _FrozenDict(sorted(args.items())))
        if self.method == "sgd":
            from scanflow.engine.optim import check_optimizer

            check_optimizer(self)  # an unknown optax name or a bad keyword: one line, here


@dataclass(frozen=True)
class FlowConfig:
    """Gradient-flow solver settings (used when ``train.method: flow``)."""

    solver: str = "tsit5"  # tsit5 | dopri5 | kvaerno5 (stiff) | euler (fixed step)
    rtol: float = 1e-6  # relative tolerance of the adaptive step controller
    atol: float = 1e-8  # absolute tolerance of the adaptive step controller
    dt0: float | None = None  # initial step; required for euler; None -> solver picks
    pcoeff: float = 0.3  # PID controller coefficients
    icoeff: float = 0.4  # integral coefficient of the PID controller
    max_steps: int = 100_000  # per chunk; < 2**31 (int32)

    def __post_init__(self):
        check_types(self, "flow")
        need_choice(self.solver, "flow.solver", ("tsit5", "dopri5", "kvaerno5", "euler"))
        need(finite(self.rtol) and 0 < self.rtol < 1, "flow.rtol", "a relative tolerance in (0, 1)", self.rtol)
        need(finite(self.atol) and self.atol > 0, "flow.atol", "a finite positive number", self.atol)
        need(finite(self.pcoeff) and self.pcoeff >= 0, "flow.pcoeff", "a finite number >= 0", self.pcoeff)
        need(finite(self.icoeff) and self.icoeff >= 0, "flow.icoeff", "a finite number >= 0", self.icoeff)
        need_int(self.max_steps, "flow.max_steps", 1, INT32_LIMIT, "an integer in [1, 2**31) (int32 step counts)")
        if self.dt0 is not None:
            need(finite(self.dt0) and self.dt0 > 0, "flow.dt0", "a finite positive number", self.dt0)


@dataclass(frozen=True)
class SweepConfig:
    """Seeds and the learning-rate grid, all vmapped in one program.

    ``lr`` maps the workload's grid keys (`Workload.lr_keys`, e.g. ``{Y, Z}`` or ``{Z, Y_over_Z}``
    for scan_snap, ``{eta}`` or ``{eta_tau}`` for cooccurrence) to lists of positive numbers; omitted:
    the workload's default grid (`Workload.lr_default`). The keys are checked against the workload
    by `Config`.

    ``runs_per_block``: the runs vmapped together in one block (default: the backend's, `sweep.default_block`).
    A run's bits depend on it (XLA's rounding changes with the vmapped size) but not on the grid around
    it; on CPU a block of 4 to 8 runs is faster for large sweeps, and pads a sweep of fewer runs.

    ``share_batches`` (workloads whose `Problem` has ``sample`` / ``batch_loss``, e.g. scan_snap): seeds
    share their data stream across grid points, so each seed's batch is drawn once per step and used by
    every point; ``false`` draws it inside every run, as scanflow did before (the same batches; float32
    results can differ in the last bits, since the compiled program differs).

    Resource ceilings (checked at construction from an estimate, `estimate`; nothing is built): a
    config whose records, or whose carried state plus one vmapped block, would need more than
    ``max_memory_gb`` GB, or whose runs would take more than ``max_run_steps`` optimizer steps in all
    (runs x train.steps), is refused with the estimate and the field that drives it. Raise a ceiling
    to run such a sweep anyway (the ceilings never change the results or the compiled program).
    """

    seeds: int = 8  # runs per grid point (seed indices 0..seeds-1, shared by every point)
    root_seed: int = 0  # < 2**32 (without x64 JAX keeps 32 bits of a seed: larger ones would collide)
    lr: dict | None = None  # {group: [rates]} of the workload's lr_keys; product grid; null: its lr_default
    grid: dict | None = None  # more axes: {"section.field": [values]} (`scanflow.engine.grid`; lists in fields land here)
    max_memory_gb: float = 16.0  # ceiling (GB) on the estimated records, and on the device's state + one block
    max_run_steps: float = 1e10  # ceiling on runs x train.steps (the flow horizon under gradient flow); .inf: none
    share_batches: bool = True  # draw each seed's batches once per step for every grid point (workloads with Problem.sample)
    runs_per_block: int | None = None  # runs vmapped together (None: the backend's default, 1 on CPU); --runs-per-block overrides

    def __post_init__(self):
        check_types(self, "sweep")
        need_int(self.seeds, "sweep.seeds", 1)
        need_int(self.root_seed, "sweep.root_seed", 0, SEED_LIMIT)
        need(self.max_memory_gb > 0, "sweep.max_memory_gb", "a positive number of GB (.inf: no ceiling)",
             self.max_memory_gb)  # NaN fails too
        need(self.max_run_steps >= 1, "sweep.max_run_steps", "a number >= 1 (.inf: no ceiling)", self.max_run_steps)
        if self.runs_per_block is not None:
            need_int(self.runs_per_block, "sweep.runs_per_block", 1)
        if self.lr is not None and not isinstance(self.lr, _FrozenDict):
            need(isinstance(self.lr, dict), "sweep.lr", "a mapping", type(self.lr).__name__)
            norm = {str(k): _lr_list(v, f"sweep.lr.{k}") for k, v in self.lr.items()}
            object.__setattr__(self, "lr", _FrozenDict(sorted(norm.items())))
        if self.grid is not None and not isinstance(self.grid, _FrozenDict):
            from scanflow.engine import grid

            object.__setattr__(self, "grid", _FrozenDict(grid.normalise(self.grid)) or None)


@dataclass(frozen=True)
class Config:
    """A whole run: the workload's ``data`` and ``model`` sections and the engine's sections.

    ``workload`` is a registered name (``scan_snap``, ``cooccurrence``, ...) or
    ``package.module:NAME``. ``data`` and ``model`` may be given as mappings (or omitted); they are
    built with the workload's own dataclasses, which validate them.
    """

    name: str = "run"  # run directory name prefix: OUT/NAME-YYYYmmdd-HHMMSS
    workload: str = ""  # required: a registered workload, an entry point, or package.module:NAME
    x64: bool = False  # float64 for this run (params, data, records); float32 otherwise
    out_dir: str = "runs"  # parent directory of run directories (scanflow run --out overrides)
    data: Any = None  # the workload's data dataclass (a mapping is converted)
    model: Any = None  # the workload's model dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def __post_init__(self):
        from scanflow.engine.registry import get_workload, workload_hook

        need(isinstance(self.name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=-]*", self.name or "") is not None
             and ".." not in self.name and len(self.name) <= MAX_NAME_LENGTH, "name",
             f"a file-name-safe run name (letters, digits, . _ + = -; at most {MAX_NAME_LENGTH} characters)", self.name)
        need(isinstance(self.x64, bool), "x64", "true or false", self.x64)
        need(isinstance(self.out_dir, str) and self.out_dir.strip() != "" and "\0" not in self.out_dir, "out_dir",
             "a directory path", self.out_dir)
        for section, cls in (("train", TrainConfig), ("flow", FlowConfig), ("sweep", SweepConfig)):
            if not isinstance(getattr(self, section), cls):
                raise ConfigError(f"{section}: expected a mapping, got {type(getattr(self, section)).__name__}")
        if self.workload in ("", None):
            from scanflow.engine.registry import workload_names

            raise ConfigError(f"workload: missing; expected one of {workload_names()} or package.module:NAME")
        wl = get_workload(self.workload)
        for section, cls in (("data", wl.data), ("model", wl.model)):
            value = getattr(self, section)
            if value is None or isinstance(value, dict):
                object.__setattr__(self, section, _build(cls, value, section))
            elif not isinstance(value, cls):
                raise ConfigError(f"{section}: expected a {cls.__name__} (workload {wl.name}), got {type(value).__name__}")
            check_types(getattr(self, section), section)  # a no-op for the built-in workloads (they check first)
        lr = wl.lr_default if self.sweep.lr is None else self.sweep.lr
        allowed = wl.lr_keys
        if set(lr) not in [set(a) for a in allowed]:
            want = " or ".join("{" + ", ".join(a) + "}" for a in allowed)
            raise ConfigError(f"sweep.lr: expected keys {want}, got {sorted(map(str, lr))}")
        if self.sweep.lr is None:
            object.__setattr__(self, "sweep", dataclasses.replace(self.sweep, lr=dict(lr)))
        t, fl = self.train, self.flow
        if t.method == "flow":
            need(fl.solver != "euler" or fl.dt0 is not None, "flow.dt0", "a step size for the euler solver", None)
            if fl.solver == "euler":  # a larger fixed step is cut at every record: one step per record interval
                need(fl.dt0 <= t.record_every, "flow.dt0",
                     f"a step of at most the record interval train.record_every={t.record_every} for the euler solver",
                     fl.dt0)
        if self.sweep.grid:
            self._apply_grid()
        self._check_dtype()
        if is_derived():  # built by the engine from a config that passed the whole-config rules below
            return
        from scanflow.engine.resources import check_resources

        check_resources(self)  # before the workload's own checks, which may build its data
        workload_hook(self.workload, "validate")(self)  # a plug-in's exception: one line naming it
        if self.sweep.grid:
            from scanflow.engine import grid

            grid.static_parts(self, checked=True)  # every static combination is a whole valid config

    def _apply_grid(self) -> None:
        """Each axis value passes its field's checks; each field holds its axis's first value."""
        from scanflow.engine import grid

        grid.validate(self)
        for section, obj in grid.assign_sections(self, {p: v[0] for p, v in self.sweep.grid.items()}).items():
            object.__setattr__(self, section, obj)
        for path, values in self.sweep.grid.items():
            section, name = path.split(".")
            if _is_float_type(_hints(type(getattr(self, section)))[name]):
                for v in values:
                    if v is not None:
                        need_representable(_as_number(v), f"sweep.grid.{path}", self.x64)

    def _check_dtype(self) -> None:
        """Every float that becomes an array of the run's dtype keeps its meaning there (not inf, not 0)."""
        for section in ("train", "flow", "data", "model"):
            obj = getattr(self, section)
            for name, tp in _hints(type(obj)).items():
                value = getattr(obj, name)
                if _is_float_type(tp) and value is not None:
                    need_representable(value, f"{section}.{name}", self.x64)
        for key, values in self.sweep.lr.items():
            for v in values:
                need_representable(v, f"sweep.lr.{key}", self.x64, "learning rates")


MAX_NAME_LENGTH = 128  # a run directory NAME-YYYYmmdd-HHMMSS-k.partial stays below the 255-byte file-name limit


def to_dict(cfg: Config) -> dict:
    """A plain, YAML-serialisable view of a config (the resolved config saved with a run)."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(cfg))



# Moved: the loader (`scanflow.engine.loading`) and the resource estimate (`scanflow.engine.resources`).
# ``from scanflow.engine.config import load_config`` keeps working (looked up on first use: no import cycle).
_MOVED = {**{k: "scanflow.engine.loading" for k in ("config_from_dict", "load_config", "read_yaml", "decode_text",
                                                      "parse_override")},
          **{k: "scanflow.engine.resources" for k in ("Footprint", "estimate", "check_resources", "dominant")}}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'scanflow.engine.config' has no attribute {name!r}")
