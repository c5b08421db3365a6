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

import contextlib
import contextvars
import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A malformed config: the message names the field and what was expected (always one line)."""

    def __init__(self, message: Any = ""):
        super().__init__(" ".join(str(message).split()) if "\n" in str(message) else str(message))


def need(ok: bool, path: str, what: str, got: Any) -> None:
    """Raise ``ConfigError("<path>: expected <what>, got <got>")`` unless `ok` (for ``__post_init__``)."""
    if not ok:
        raise ConfigError(f"{path}: expected {what}, got {got!r}")


def finite(x: Any) -> bool:
    """A real, finite number (not bool, NaN or inf)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def need_choice(value: Any, path: str, choices: tuple) -> None:
    need(isinstance(value, str) and value in choices, path, f"one of {list(choices)}", value)


def is_int(x: Any) -> bool:
    """A Python integer that is not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def need_int(value: Any, path: str, lo: int = 0, hi: int | None = None, what: str | None = None) -> None:
    """``lo <= value`` (``< hi`` when given) for an integer that is not a bool."""
    ok = is_int(value) and value >= lo and (hi is None or value < hi)
    if what is None:
        what = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {_pow2(hi)})"
    need(ok, path, what, value)


def _pow2(n: int) -> str:
    return f"2**{n.bit_length() - 1}" if n > 1024 and n & (n - 1) == 0 else str(n)


SEED_LIMIT = 2**32  # jax.random.PRNGKey keeps 32 bits without x64: larger seeds would collide
INT32_LIMIT = 2**31  # step counters and solver step limits are int32


# float32 / float64: (smallest normal, largest finite). XLA on CPU flushes subnormals to zero, so a
# nonzero value below the smallest normal number behaves as 0.
_FLOAT_RANGE = {False: (1.1754943508222875e-38, 3.4028234663852886e38), True: (2.2250738585072014e-308, 1.7976931348623157e308)}


def representable(x: Any, x64: bool) -> bool:
    """True if the number `x` keeps its meaning in the run's dtype (float64 if `x64`, else float32):
    0, or a magnitude between the smallest normal and the largest finite number."""
    if not finite(x):
        return False
    lo, hi = _FLOAT_RANGE[bool(x64)]
    return x == 0 or lo <= abs(x) <= hi


def need_representable(x: Any, path: str, x64: bool, what: str = "a number") -> None:
    """Refuse a value that would become inf or 0 in the run's dtype."""
    if representable(x, x64):
        return
    dtype = "float64" if x64 else "float32"
    lo, hi = _FLOAT_RANGE[bool(x64)]
    hint = "" if x64 else " or x64: true"
    need(False, path, f"{what} representable in {dtype} (x64: {str(bool(x64)).lower()}): 0 or {lo:.3g} <= |x| <= "
         f"{hi:.3g}{hint}", x)


_HOST_ONLY = contextvars.ContextVar("scanflow_host_only_checks", default=False)


@contextlib.contextmanager
def host_only_checks():
    """Validate without any JAX computation inside this block: workload checks that must compute (e.g.
    draw a data set to see whether it can be built) are skipped. For validating a config before
    ``jax.distributed.initialize()``, which must come before any computation; call
    `device_checks(cfg)` once JAX is set up."""
    token = _HOST_ONLY.set(True)
    try:
        yield
    finally:
        _HOST_ONLY.reset(token)


def device_checks_allowed() -> bool:
    """False inside `host_only_checks` (a workload's validate then skips what needs JAX to compute)."""
    return not _HOST_ONLY.get()


def device_checks(cfg: "Config") -> None:
    """Run the workload's checks again, those needing a JAX computation included (after `host_only_checks`)."""
    from scanflow.engine.registry import get_workload

    get_workload(cfg.workload).validate(cfg)


def check_types(obj: Any, prefix: str) -> None:
    """Check every field of a config dataclass against its annotation, as YAML input is: an integer
    field refuses 1.5 and true, a number field refuses strings, a bool field refuses 1. NumPy scalars
    become Python numbers. Call it first in ``__post_init__`` (then comparisons cannot raise
    TypeError); a config built in Python gets the same one-line errors as one read from YAML."""
    for name, tp in _hints(type(obj)).items():
        if tp is Any or dataclasses.is_dataclass(tp):
            continue
        value = getattr(obj, name)
        new = _strict(value, tp, f"{prefix}.{name}" if prefix else name)
        if new is not value:
            object.__setattr__(obj, name, new)


@functools.lru_cache(maxsize=None)  # one entry per config class (a handful)
def _hints(cls: type) -> dict:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _strict(value: Any, tp: Any, path: str) -> Any:
    """`value` if it has type `tp` (ints accepted for floats, NumPy scalars converted); else ConfigError."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return value
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _strict(value, args[0], path)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"{path}: expected a list, got {_got(value)}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_strict(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        return tuple(_strict(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value if isinstance(value, float) else float(value)
    if tp is int and is_int(value):
        return value
    if tp in (bool, str, dict) and isinstance(value, tp):
        return value
    if tp not in (float, int, bool, str, dict):  # an annotation this checker does not know: leave it
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_got(value)}")


def _got(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"


# Optimizers with their own config fields; any other name is an optax factory taking the learning
# rate first (e.g. adamw, rmsprop, lion), configured by train.optimizer_args.
BUILTIN_OPTIMIZERS = ("sgd", "sgd_momentum", "adam")


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
    diverged from ``train_loss`` and, when recorded, ``loss`` and ``finite``.
    """

    method: str = "sgd"  # sgd (discrete optax optimizer) | flow (gradient flow, diffrax)
    optimizer: str = "sgd_momentum"  # sgd | sgd_momentum | adam | any optax factory name
    optimizer_args: dict | None = None  # keyword arguments of the optax factory (not the learning rate)
    clip_norm: float | None = None  # clip the global gradient norm before the optimizer
    momentum: float = 0.9  # sgd_momentum: v <- mu v + g ; p <- p - eta v  (PyTorch convention)
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    steps: int = 100  # number of optimizer steps (or flow horizon t1); < 2**31 (an int32 step counter)
    record_every: int = 2  # metrics are recorded every k steps (and at step 0)
    records_per_chunk: int = 0  # records per jitted chunk (progress granularity); 0 -> auto
    record_attention: bool = True  # store the full attention rows at every record (workloads that have them)
    metrics: tuple[str, ...] | None = None  # record only these of the workload's metrics (null: all); train_loss always

    def __post_init__(self):
        check_types(self, "train")
        if self.metrics is not None:
            need(len(self.metrics) > 0 and len(set(self.metrics)) == len(self.metrics), "train.metrics",
                 "a non-empty list of distinct metric names (or null: all)", list(self.metrics))
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
    rtol: float = 1e-6
    atol: float = 1e-8
    dt0: float | None = None  # initial step; required for euler; None -> solver picks
    pcoeff: float = 0.3  # PID controller coefficients
    icoeff: float = 0.4
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

    seeds: int = 8
    root_seed: int = 0  # < 2**32 (without x64 JAX keeps 32 bits of a seed: larger ones would collide)
    lr: dict | None = None
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

    name: str = "scan_snap"
    workload: str = "scan_snap"
    x64: bool = False
    out_dir: str = "runs"
    data: Any = None  # the workload's data dataclass (a mapping is converted)
    model: Any = None  # the workload's model dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def __post_init__(self):
        from scanflow.engine.registry import get_workload

        need(isinstance(self.name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=-]*", self.name or "") is not None
             and ".." not in self.name and len(self.name) <= MAX_NAME_LENGTH, "name",
             f"a file-name-safe run name (letters, digits, . _ + = -; at most {MAX_NAME_LENGTH} characters)", self.name)
        need(isinstance(self.x64, bool), "x64", "true or false", self.x64)
        need(isinstance(self.out_dir, str) and self.out_dir.strip() != "" and "\0" not in self.out_dir, "out_dir",
             "a directory path", self.out_dir)
        for section, cls in (("train", TrainConfig), ("flow", FlowConfig), ("sweep", SweepConfig)):
            if not isinstance(getattr(self, section), cls):
                raise ConfigError(f"{section}: expected a mapping, got {type(getattr(self, section)).__name__}")
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
        check_resources(self)  # before the workload's own checks, which may build its data
        wl.validate(self)
        if self.sweep.grid:
            from scanflow.engine import grid

            grid.static_parts(self)  # every static combination is a whole valid config (each is built, checked)

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


def _is_float_type(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(a is float for a in typing.get_args(tp))
    return tp is float


# ----------------------------------------------------------------------------- resource estimate


@dataclass(frozen=True)
class Footprint:
    """A workload's size estimate of ONE run, from the config alone (element counts; nothing is built).

    params: parameters; step: the largest intermediates of one training step or one record's
    metrics (activations of a batch, a sampled batch itself); record: values in one record (all
    metrics together); data: constants of the program shared by every run (a data set on the
    device). The ``*_field`` names are the config fields that make each term large; a refusal names
    the one of the largest term. Returned by the workload's ``footprint(cfg)`` (`Workload.footprint`).
    """

    params: int = 0
    step: int = 0
    record: int = 0
    data: int = 0
    params_field: str = "model"
    step_field: str = "data"
    record_field: str = "train.record_every"
    data_field: str = "data"


def dominant(terms: dict) -> str:
    """The key of the largest value (the field that drives a size), e.g. ``{"data.seq_len": T, ...}``."""
    return max(terms.items(), key=lambda kv: kv[1])[0]


_OPTIMIZER_SLOTS = {"sgd": 0, "sgd_momentum": 1, "adam": 2}  # others (adamw, lion, ...): assume 2


def estimate(cfg: "Config", runs_per_block: int | None = None) -> dict:
    """The resources a config needs, from sizes alone (`Footprint`): ``runs``, ``records`` (how many
    per run), ``records_bytes`` (the records of every run: host memory and disk), ``device_bytes``
    (the carried state of every run, one vmapped block of ``runs_per_block`` runs (default 1, a lower
    bound: the CLI re-checks with the real block) and the device-side records of one chunk) and
    ``run_steps`` (runs x train.steps). Each comes with the config field that drives it."""
    from scanflow.engine.registry import get_workload

    wl = get_workload(cfg.workload)
    fp = wl.footprint(cfg) if wl.footprint is not None else Footprint()
    lr = cfg.sweep.lr if cfg.sweep.lr is not None else wl.lr_default
    P = math.prod(len(v) for v in lr.values())  # the product grid (an upper bound for any other grid)
    if cfg.sweep.grid:
        from scanflow.engine import grid

        P *= len(grid.dynamic_points(cfg))  # dynamic axes multiply the points of one program
    S = cfg.sweep.seeds
    R = P * S
    t = cfg.train
    n_rec = t.steps // t.record_every + 1
    b = 8 if cfg.x64 else 4
    rec = fp.record + 2  # + train_loss and the engine's flags
    block = max(1, min(R, runs_per_block or 1))
    if t.method == "flow":
        carried, working = 1, 10  # y; the solver's stages, error estimate and the vector field's gradient
    else:
        carried = 1 + _OPTIMIZER_SLOTS.get(t.optimizer, 2) + 2  # params, optimizer slots, last update and gradient
        working = 3  # gradient, update, new parameters
    rpc = t.records_per_chunk or max(1, (n_rec - 1) // 10)
    grid = dominant({"sweep.seeds": S, "sweep.lr": P})
    records_bytes = R * n_rec * rec * b
    terms = {  # device memory: (bytes, field)
        "state": (R * fp.params * carried * b, dominant({grid: R, fp.params_field: fp.params})),
        "block": (block * (working * fp.params + 2 * fp.step) * b,
                  dominant({fp.step_field: 2 * fp.step, fp.params_field: working * fp.params})),
        "chunk records": (R * rpc * rec * b, dominant({grid: R, "train.records_per_chunk": rpc, fp.record_field: rec})),
        "data": (fp.data * b, fp.data_field),
    }
    device_bytes = sum(v for v, _ in terms.values())
    return {
        "runs": R, "points": P, "seeds": S, "records": n_rec, "record_values": rec, "bytes_per_value": b, "block": block,
        "records_bytes": records_bytes,
        "records_field": dominant({grid: R, "train.steps": n_rec, fp.record_field: rec}),
        "device_bytes": device_bytes,
        "device_field": max(terms.values())[1],
        "device_terms": {k: v for k, (v, _) in terms.items()},
        "run_steps": R * t.steps,
        "steps_field": dominant({"train.steps": t.steps, grid: R}),
    }


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB"


def check_resources(cfg: "Config", runs_per_block: int | None = None) -> dict:
    """Refuse a config whose estimate (`estimate`) is above ``sweep.max_memory_gb`` or
    ``sweep.max_run_steps``: one line naming the field that drives it and the estimate."""
    e = estimate(cfg, runs_per_block)
    sw = cfg.sweep
    ceiling = sw.max_memory_gb * 1e9
    if e["records_bytes"] > ceiling:
        raise ConfigError(
            f"{e['records_field']}: expected records that fit in sweep.max_memory_gb={sw.max_memory_gb:g}, got about "
            f"{_gb(e['records_bytes'])} ({e['runs']} runs x {e['records']} records x {e['record_values']} values x "
            f"{e['bytes_per_value']} bytes); record less (train.record_every), run fewer seeds or points, or raise "
            "sweep.max_memory_gb")
    if e["device_bytes"] > ceiling:
        parts = ", ".join(f"{k} {_gb(v)}" for k, v in e["device_terms"].items() if v >= 0.01 * e["device_bytes"])
        raise ConfigError(
            f"{e['device_field']}: expected a sweep whose device memory fits in sweep.max_memory_gb="
            f"{sw.max_memory_gb:g}, got about {_gb(e['device_bytes'])} ({parts}; {e['runs']} runs, vmapped "
            f"{e['block']} at a time); reduce {e['device_field']} or raise sweep.max_memory_gb")
    if e["run_steps"] > sw.max_run_steps:
        raise ConfigError(
            f"{e['steps_field']}: expected at most sweep.max_run_steps={sw.max_run_steps:.3g} steps in all, got "
            f"{e['runs']} runs x {cfg.train.steps} steps = {e['run_steps']:.3g}; shorten the runs, run fewer, or raise "
            "sweep.max_run_steps")
    return e


# ----------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is dict:
        return "a mapping"
    return str(tp)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against the annotation `tp`; return it in canonical form."""
    origin = typing.get_origin(tp)
    if origin is tuple:  # tuple[float, ...] etc.: a YAML list (or one value) -> a tuple (hashable)
        args = typing.get_args(tp)
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(values))
        if len(values) != len(args):
            raise ConfigError(f"{path}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(values, args)))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], path)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        number = _as_number(value)
        if number is not None:
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is dict:
        if isinstance(value, dict):
            return value
    got = "null" if value is None else f"{type(value).__name__} {value!r}"
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {got}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            close = [n for n in names if _similar(str(key), n)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key{hint}; expected one of {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        if f.name not in raw:
            continue
        tp = hints[f.name]
        if tp is Any:  # a workload section: built (and validated) by Config with the workload's class
            kwargs[f.name] = raw[f.name]
        elif dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, raw[f.name], path)
        else:
            kwargs[f.name] = _coerce(raw[f.name], tp, path)
    return cls(**kwargs)


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() > 0.75


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if node.get(k) is None:
            node[k] = {}
        if not isinstance(node[k], dict):
            raise ConfigError(f"{dotted}: {k!r} is not a section")
        node = node[k]
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'train.steps=200'`` -> ``('train.steps', 200)`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected dotted.key=value")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part.isidentifier() for part in key.split(".")):
        raise ConfigError(f"override {text!r}: expected dotted.key=value with a dotted key")
    try:
        value = yaml.load(raw, Loader=_UniqueKeyLoader) if raw.strip() else None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None)
        why = problem if isinstance(problem, str) and "duplicate" in problem else e.__class__.__name__
        raise ConfigError(f"{key}: value {raw!r} is not valid YAML ({why})") from None
    return key, value


def config_from_dict(raw: dict, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Validate a raw mapping (plus dotted overrides) into a `Config`."""
    raw = _deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at top level, got {type(raw).__name__}")
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(raw, key, value)
    from scanflow.engine import grid

    grid.lift_lists(raw)  # a list in a single-valued field is a sweep axis
    return _build(Config, raw, "")


def _deepcopy(x: Any) -> Any:
    import copy

    return copy.deepcopy(x)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML file (UTF-8) and validate it (see `config_from_dict`). A missing, unreadable,
    binary or non-UTF-8 file, a directory, invalid YAML and an empty document (nothing, whitespace,
    ``null``, ``---``) each give one line naming the file."""
    raw = read_yaml(path, "config file")
    if raw is None:
        raise ConfigError(f"config file {str(path)!r}: empty; expected a YAML mapping of config sections "
                          "(e.g. workload: scan_snap)")
    return config_from_dict(raw, overrides)


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """Parse a YAML file; `ConfigError` naming the file on any problem (duplicate keys included)."""
    path = Path(path)
    name = repr(str(path))
    if path.is_dir():
        hint = (f"; to run a finished run's config again: scanflow run {path / 'config.yaml'}"
                if (path / "config.yaml").is_file() else "")
        raise ConfigError(f"{what} {name}: expected a YAML file, got a directory{hint}")
    if not path.exists():
        raise ConfigError(f"{what} {name}: not found")
    if not path.is_file():
        raise ConfigError(f"{what} {name}: expected a regular YAML file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} {name}: cannot be read ({e.strerror or e})") from None
    text = decode_text(data, f"{what} {name}", "a UTF-8 YAML text file")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        why = f" ({problem})" if isinstance(problem, str) and "duplicate" in problem else ""
        raise ConfigError(f"{what} {name}: invalid YAML{where}{why}") from None
    except RecursionError:
        raise ConfigError(f"{what} {name}: invalid YAML (nested too deeply)") from None


def decode_text(data: bytes, where: str, expected: str = "a UTF-8 text file") -> str:
    """`data` as text; `ConfigError` naming `where` for binary data (a NUL byte) or bytes that are not UTF-8."""
    if b"\0" in data:
        raise ConfigError(f"{where}: expected {expected}, got binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where}: expected UTF-8 text, got an undecodable byte at offset {e.start}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # << merges: explicit keys may override them
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it
                break
            if dup:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _as_number(value: Any) -> float | None:
    """A float from an int/float, or from a string such as '1e-3' (PyYAML reads exponents without
    a dot or sign, like 1e-3 or 1.0e30, as strings); None if it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _lr_list(value: Any, path: str) -> tuple[float, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) == 0:
        raise ConfigError(f"{path}: expected a positive number or a non-empty list of them")
    out = []
    for v in values:
        x = _as_number(v)
        if x is None or not math.isfinite(x) or x <= 0:
            raise ConfigError(f"{path}: expected positive learning rates, got {v!r}")
        out.append(x)
    return tuple(out)


class _FrozenDict(dict):
    """A dict that can live in a frozen (hashable) dataclass."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def to_dict(cfg: Config) -> dict:
    """A plain, YAML-serialisable view of a config (the resolved config saved with a run)."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(cfg))
