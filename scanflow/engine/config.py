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
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A malformed config: the message names the field and what was expected."""


def need(ok: bool, path: str, what: str, got: Any) -> None:
    """Raise ``ConfigError("<path>: expected <what>, got <got>")`` unless `ok` (for ``__post_init__``)."""
    if not ok:
        raise ConfigError(f"{path}: expected {what}, got {got!r}")


def finite(x: Any) -> bool:
    """A real, finite number (not bool, NaN or inf)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def need_choice(value: Any, path: str, choices: tuple) -> None:
    need(value in choices, path, f"one of {list(choices)}", value)


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
    """

    method: str = "sgd"  # sgd (discrete optax optimizer) | flow (gradient flow, diffrax)
    optimizer: str = "sgd_momentum"  # sgd | sgd_momentum | adam | any optax factory name
    optimizer_args: dict | None = None  # keyword arguments of the optax factory (not the learning rate)
    clip_norm: float | None = None  # clip the global gradient norm before the optimizer
    momentum: float = 0.9  # sgd_momentum: v <- mu v + g ; p <- p - eta v  (PyTorch convention)
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    steps: int = 100  # number of optimizer steps (or flow horizon t1)
    record_every: int = 2  # metrics are recorded every k steps (and at step 0)
    records_per_chunk: int = 0  # records per jitted chunk (progress granularity); 0 -> auto
    record_attention: bool = True  # store the full attention rows at every record (workloads that have them)

    def __post_init__(self):
        need_choice(self.method, "train.method", ("sgd", "flow"))
        need(isinstance(self.optimizer, str) and re.fullmatch(r"[A-Za-z_]\w*", self.optimizer or "") is not None,
             "train.optimizer", f"one of {list(BUILTIN_OPTIMIZERS)} or an optax optimizer name", self.optimizer)
        need(0 <= self.momentum < 1, "train.momentum", "a number in [0, 1)", self.momentum)
        need(0 <= self.adam_b1 < 1, "train.adam_b1", "a number in [0, 1)", self.adam_b1)
        need(0 <= self.adam_b2 < 1, "train.adam_b2", "a number in [0, 1)", self.adam_b2)
        need(finite(self.adam_eps) and self.adam_eps > 0, "train.adam_eps", "a finite positive number", self.adam_eps)
        if self.clip_norm is not None:
            need(finite(self.clip_norm) and self.clip_norm > 0, "train.clip_norm",
                 "a finite positive gradient norm (or null: no clipping)", self.clip_norm)
        need(isinstance(self.steps, int) and self.steps >= 1, "train.steps", "an integer >= 1", self.steps)
        need(self.record_every >= 1, "train.record_every", "an integer >= 1", self.record_every)
        need(self.steps % self.record_every == 0, "train.record_every", f"a divisor of train.steps={self.steps}",
             self.record_every)
        n_rec = self.steps // self.record_every
        need(self.records_per_chunk >= 0, "train.records_per_chunk", "an integer >= 0 (0 = auto)",
             self.records_per_chunk)
        if self.records_per_chunk:
            need(n_rec % self.records_per_chunk == 0, "train.records_per_chunk",
                 f"a divisor of the number of records steps/record_every={n_rec}", self.records_per_chunk)
        if self.optimizer_args is not None and not isinstance(self.optimizer_args, _FrozenDict):
            need(isinstance(self.optimizer_args, dict) and all(isinstance(k, str) for k in self.optimizer_args),
                 "train.optimizer_args", "a mapping of keyword arguments", self.optimizer_args)
            object.__setattr__(self, "optimizer_args", _FrozenDict(sorted(self.optimizer_args.items())))
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
    max_steps: int = 100_000  # per chunk

    def __post_init__(self):
        need_choice(self.solver, "flow.solver", ("tsit5", "dopri5", "kvaerno5", "euler"))
        need(finite(self.rtol) and self.rtol > 0, "flow.rtol", "a finite positive number", self.rtol)
        need(finite(self.atol) and self.atol > 0, "flow.atol", "a finite positive number", self.atol)
        need(finite(self.pcoeff) and self.pcoeff >= 0, "flow.pcoeff", "a finite number >= 0", self.pcoeff)
        need(finite(self.icoeff) and self.icoeff >= 0, "flow.icoeff", "a finite number >= 0", self.icoeff)
        need(self.max_steps >= 1, "flow.max_steps", "an integer >= 1", self.max_steps)
        if self.dt0 is not None:
            need(finite(self.dt0) and self.dt0 > 0, "flow.dt0", "a finite positive number", self.dt0)


@dataclass(frozen=True)
class SweepConfig:
    """Seeds and the learning-rate grid, all vmapped in one program.

    ``lr`` maps the workload's grid keys (`Workload.lr_keys`, e.g. ``{Y, Z}`` or ``{Z, Y_over_Z}``
    for scan_snap, ``{eta}`` or ``{eta_tau}`` for cooccurrence) to lists of positive numbers; omitted:
    the workload's default grid (`Workload.lr_default`). The keys are checked against the workload
    by `Config`.
    """

    seeds: int = 8
    root_seed: int = 0
    lr: dict | None = None

    def __post_init__(self):
        need(self.seeds >= 1, "sweep.seeds", "an integer >= 1", self.seeds)
        need(self.root_seed >= 0, "sweep.root_seed", "an integer >= 0", self.root_seed)
        if self.lr is not None and not isinstance(self.lr, _FrozenDict):
            need(isinstance(self.lr, dict), "sweep.lr", "a mapping", type(self.lr).__name__)
            norm = {str(k): _lr_list(v, f"sweep.lr.{k}") for k, v in self.lr.items()}
            object.__setattr__(self, "lr", _FrozenDict(sorted(norm.items())))


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
             and ".." not in self.name, "name", "a file-name-safe run name (letters, digits, . _ + = -)", self.name)
        wl = get_workload(self.workload)
        for section, cls in (("data", wl.data), ("model", wl.model)):
            value = getattr(self, section)
            if value is None or isinstance(value, dict):
                object.__setattr__(self, section, _build(cls, value, section))
            elif not isinstance(value, cls):
                raise ConfigError(f"{section}: expected a {cls.__name__} (workload {wl.name}), got {type(value).__name__}")
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
        wl.validate(self)


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
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"{key}: value {raw!r} is not valid YAML ({e.__class__.__name__})") from None
    return key, value


def config_from_dict(raw: dict, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Validate a raw mapping (plus dotted overrides) into a `Config`."""
    raw = _deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at top level, got {type(raw).__name__}")
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(raw, key, value)
    return _build(Config, raw, "")


def _deepcopy(x: Any) -> Any:
    import copy

    return copy.deepcopy(x)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML file and validate it (see `config_from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r}: not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {str(path)!r}: invalid YAML{where}") from None
    return config_from_dict(raw or {}, overrides)


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
