"""Run configuration: YAML -> validated, frozen dataclasses.

A config has two kinds of content:

* **static** fields (shapes, step counts, optimizer kind, solver): they pick a compiled program;
* **dynamic** fields (learning rates, init scale, root seed): they become arrays that are vmapped
  over, so a new value never recompiles.

`load_config(path, overrides)` reads YAML, applies Hydra-style dotted overrides
(``train.steps=200``), and validates everything. Any problem raises `ConfigError` whose message is
one line naming the field and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A malformed config: the message names the field and what was expected."""


@dataclass(frozen=True)
class DataConfig:
    """Scan and Snap data (spec §2), in the official `Dataset2` token layout."""

    num_last: int = 2  # L: number of query ("last") tokens
    num_next_per_last: int = 1  # J: next tokens per query, K = L * J classes
    num_common: int = 10  # C: global common tokens
    num_common_per_last: int = 0  # C_m: common tokens shared by the classes of one query
    num_unique: int = 10  # U: distinct tokens per class
    common_weight: float = 1.0  # unnormalised weight of each common token
    unique_min: float = 0.1  # distinct weights are linspace(unique_min, unique_max, U)
    unique_max: float = 1.0
    num_padding: int = 0  # extra vocabulary tokens that never occur (raise M without changing data)
    mode: str = "sampled"  # sampled (finite T, fresh batch per step) | population (T -> inf)
    seq_len: int = 128  # T: T-1 contextual tokens + the query
    batch_size: int = 128


@dataclass(frozen=True)
class ModelConfig:
    """The Y/Z reparameterised model (spec §1)."""

    init: str = "zero"  # zero | uniform  (uniform(+-init_scale), PyTorch nn.Linear default)
    init_scale: float | None = None  # half-width of the uniform init; None -> 1/sqrt(M)
    init_scale_Y: float | None = None  # per-group half-width; overrides init and init_scale
    init_scale_Z: float | None = None


@dataclass(frozen=True)
class CooccurrenceDataConfig:
    """Word co-occurrence data (Yang et al. 2024, spec §2). The training and test sets are drawn once
    from ``seed`` (a static choice: every seed of a sweep trains on the same data, seeds vary the init)."""

    n: int = 60  # training samples, a multiple of 6 (exact 1/2, 1/6, 1/6, 1/6 proportions)
    L: int = 5  # tokens per sentence
    d: int | None = None  # vocabulary; None -> smallest with distinct random words in train (+ test)
    repeat_random_words: bool = False  # the paper's experiment (random words i.i.d. on R, may repeat)
    n_test: int = 60  # fresh test set (a multiple of 6)
    test_unseen: bool = True  # test random words never occur in the training set
    seed: int = 0


@dataclass(frozen=True)
class CooccurrenceModelConfig:
    """The co-occurrence transformer (spec §1): W_Q, W_K, W_V (m x d), W (m1 x m), readout a."""

    m: int = 128
    m1: int = 16
    c0: float = 0.02  # sigma0 = c0 / sqrt(L m) (Condition 1 with the spec §3 constant)
    sigma0: float | None = None  # explicit std of W_Q, W_K, W_V (overrides c0)
    sigma1: float | None = None  # std of W; None -> 1/sqrt(m1)
    a_init: str = "sign"  # sign (a_j = +-1, the theory) | uniform (U(+-1/sqrt(m1)), nn.Linear default)
    train_a: bool = False  # the theory fixes a (learning rate 0 for group "a")


@dataclass(frozen=True)
class TrainConfig:
    """Dynamics: a discrete optax optimizer or gradient flow (diffrax).

    For ``method: flow`` time is measured in units of the learning rate, so ``steps`` is the
    horizon t1 and one GD step of rate eta_g corresponds to dt = 1.
    """

    method: str = "sgd"  # sgd (discrete optax optimizer) | flow (gradient flow, diffrax)
    optimizer: str = "sgd_momentum"  # sgd | sgd_momentum | adam
    momentum: float = 0.9  # sgd_momentum: v <- mu v + g ; p <- p - eta v  (PyTorch convention)
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    steps: int = 100  # number of optimizer steps (or flow horizon t1)
    record_every: int = 2  # metrics are recorded every k steps (and at step 0)
    records_per_chunk: int = 0  # records per jitted chunk (progress granularity); 0 -> auto
    record_attention: bool = True  # store the full c_n and z rows (K x M) at every record


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


@dataclass(frozen=True)
class SweepConfig:
    """Seeds and the learning-rate grid, all vmapped in one program.

    scan_snap: the grid is the product of ``lr.Y`` and ``lr.Z``; alternatively give ``lr.Z`` and
    ``lr.Y_over_Z`` (the ratio nu = eta_Y / eta_Z) as in the paper's Fig 6.
    cooccurrence: ``lr.eta`` (one rate for W_Q, W_K, W_V, W; a gets it too if ``model.train_a``) or
    ``lr.eta_tau`` = eta * sigma1^2 m E[sum a_j^2], the step in the natural clock tau (spec §3).
    Omitted: the workload's default (see `LR_DEFAULTS`).
    """

    seeds: int = 8
    root_seed: int = 0
    lr: dict | None = None


@dataclass(frozen=True)
class Config:
    name: str = "scan_snap"
    workload: str = "scan_snap"
    x64: bool = False
    out_dir: str = "runs"
    data: Any = field(default_factory=DataConfig)  # the workload's data dataclass (`WORKLOAD_SECTIONS`)
    model: Any = field(default_factory=ModelConfig)  # the workload's model dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


# Per workload: (data dataclass, model dataclass). `data` and `model` are validated by these.
WORKLOAD_SECTIONS = {
    "scan_snap": (DataConfig, ModelConfig),
    "cooccurrence": (CooccurrenceDataConfig, CooccurrenceModelConfig),
}
# Accepted key sets of sweep.lr per workload, and the default grid.
LR_KEYS = {"scan_snap": [("Y", "Z"), ("Z", "Y_over_Z")], "cooccurrence": [("eta",), ("eta_tau",)]}
LR_DEFAULTS = {"scan_snap": {"Y": [1.0], "Z": [1.0]}, "cooccurrence": {"eta_tau": [0.02]}}
# Model fields that are dynamic (arrays in the sweep, never recompiling): blanked by sweep.static_part.
DYNAMIC_MODEL_FIELDS = {
    "scan_snap": ("init", "init_scale", "init_scale_Y", "init_scale_Z"),
    "cooccurrence": ("c0", "sigma0", "sigma1", "train_a"),
}

_CHOICES = {
    "workload": tuple(WORKLOAD_SECTIONS),
    "train.method": ("sgd", "flow"),
    "train.optimizer": ("sgd", "sgd_momentum", "adam"),
    "flow.solver": ("tsit5", "dopri5", "kvaerno5", "euler"),
}
_WORKLOAD_CHOICES = {
    "scan_snap": {"data.mode": ("sampled", "population"), "model.init": ("zero", "uniform")},
    "cooccurrence": {"model.a_init": ("sign", "uniform")},
}


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
        if dataclasses.is_dataclass(tp):
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
    workload = raw.get("workload", Config.workload)
    if not isinstance(workload, str) or workload not in WORKLOAD_SECTIONS:
        raise ConfigError(f"workload: expected one of {list(WORKLOAD_SECTIONS)}, got {workload!r}")
    sections = {k: raw.pop(k) for k in ("data", "model") if k in raw}
    cfg = _build(Config, raw, "")
    data_cls, model_cls = WORKLOAD_SECTIONS[workload]
    cfg = dataclasses.replace(
        cfg,
        data=_build(data_cls, sections.get("data"), "data"),
        model=_build(model_cls, sections.get("model"), "model"),
    )
    cfg = dataclasses.replace(cfg, sweep=_normalise_sweep(cfg.sweep, workload))
    validate(cfg)
    return cfg


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


def _normalise_sweep(sweep: SweepConfig, workload: str = "scan_snap") -> SweepConfig:
    """Canonicalise ``sweep.lr`` to a hashable mapping of tuples (keys: `LR_KEYS` of the workload)."""
    lr = LR_DEFAULTS[workload] if sweep.lr is None else sweep.lr
    if not isinstance(lr, dict):
        raise ConfigError(f"sweep.lr: expected a mapping, got {type(lr).__name__}")
    allowed = LR_KEYS[workload]
    if set(lr) not in [set(a) for a in allowed]:
        want = " or ".join("{" + ", ".join(a) + "}" for a in allowed)
        raise ConfigError(f"sweep.lr: expected keys {want}, got {sorted(map(str, lr))}")
    norm = {k: _lr_list(v, f"sweep.lr.{k}") for k, v in lr.items()}
    return dataclasses.replace(sweep, lr=_FrozenDict(sorted(norm.items())))


class _FrozenDict(dict):
    """A dict that can live in a frozen (hashable) dataclass."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def lr_grid(sweep: SweepConfig) -> dict[str, tuple[float, ...]]:
    """Flatten the scan_snap learning-rate grid to per-group tuples of equal length (one per point)."""
    lr = sweep.lr
    zs = lr["Z"]
    if "Y" in lr:
        pairs = [(y, z) for y in lr["Y"] for z in zs]
    else:
        pairs = [(nu * z, z) for z in zs for nu in lr["Y_over_Z"]]
    return {"Y": tuple(p[0] for p in pairs), "Z": tuple(p[1] for p in pairs)}


def _need(ok: bool, path: str, what: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{path}: expected {what}, got {got!r}")


def validate(cfg: Config) -> None:
    """Value checks beyond types; raise `ConfigError` on the first problem."""
    need = _need
    choices_all = {**_CHOICES, **_WORKLOAD_CHOICES[cfg.workload]}
    for path, choices in choices_all.items():
        section, _, name = path.rpartition(".")
        obj = getattr(cfg, section) if section else cfg
        value = getattr(obj, name)
        need(value in choices, path, f"one of {list(choices)}", value)

    if cfg.workload == "scan_snap":
        _validate_scan_snap(cfg)
    else:
        _validate_cooccurrence(cfg)

    t = cfg.train
    need(t.steps >= 1, "train.steps", "an integer >= 1", t.steps)
    need(t.record_every >= 1, "train.record_every", "an integer >= 1", t.record_every)
    need(
        t.steps % t.record_every == 0,
        "train.record_every",
        f"a divisor of train.steps={t.steps}",
        t.record_every,
    )
    n_rec = t.steps // t.record_every
    need(t.records_per_chunk >= 0, "train.records_per_chunk", "an integer >= 0 (0 = auto)", t.records_per_chunk)
    if t.records_per_chunk:
        need(
            n_rec % t.records_per_chunk == 0,
            "train.records_per_chunk",
            f"a divisor of the number of records steps/record_every={n_rec}",
            t.records_per_chunk,
        )
    need(0 <= t.momentum < 1, "train.momentum", "a number in [0, 1)", t.momentum)
    need(0 <= t.adam_b1 < 1, "train.adam_b1", "a number in [0, 1)", t.adam_b1)
    need(0 <= t.adam_b2 < 1, "train.adam_b2", "a number in [0, 1)", t.adam_b2)
    need(t.adam_eps > 0, "train.adam_eps", "a positive number", t.adam_eps)

    fl = cfg.flow
    need(fl.rtol > 0, "flow.rtol", "a positive number", fl.rtol)
    need(fl.atol > 0, "flow.atol", "a positive number", fl.atol)
    need(fl.max_steps >= 1, "flow.max_steps", "an integer >= 1", fl.max_steps)
    if fl.dt0 is not None:
        need(fl.dt0 > 0, "flow.dt0", "a positive number", fl.dt0)
    if t.method == "flow":
        need(fl.solver != "euler" or fl.dt0 is not None, "flow.dt0", "a step size for the euler solver", None)
        if cfg.workload == "scan_snap":
            need(cfg.data.mode == "population", "data.mode",
                 "population for train.method=flow (the flow is deterministic)", cfg.data.mode)

    s = cfg.sweep
    need(s.seeds >= 1, "sweep.seeds", "an integer >= 1", s.seeds)
    need(s.root_seed >= 0, "sweep.root_seed", "an integer >= 0", s.root_seed)


def _validate_scan_snap(cfg: Config) -> None:
    need = _need
    d = cfg.data
    need(d.num_last >= 1, "data.num_last", "an integer >= 1", d.num_last)
    need(d.num_next_per_last >= 1, "data.num_next_per_last", "an integer >= 1", d.num_next_per_last)
    need(d.num_common >= 0, "data.num_common", "an integer >= 0", d.num_common)
    need(d.num_common_per_last >= 0, "data.num_common_per_last", "an integer >= 0", d.num_common_per_last)
    need(d.num_unique >= 1, "data.num_unique", "at least one distinct token per class (>= 1)", d.num_unique)
    need(d.common_weight > 0, "data.common_weight", "a positive weight", d.common_weight)
    need(0 < d.unique_min <= d.unique_max, "data.unique_min", "0 < unique_min <= unique_max", d.unique_min)
    need(d.seq_len >= 2, "data.seq_len", "T >= 2 (at least one contextual token plus the query)", d.seq_len)
    need(d.batch_size >= 1, "data.batch_size", "an integer >= 1", d.batch_size)

    need(d.num_padding >= 0, "data.num_padding", "an integer >= 0", d.num_padding)
    for name in ("init_scale", "init_scale_Y", "init_scale_Z"):
        s = getattr(cfg.model, name)
        if s is not None:
            need(math.isfinite(s) and s >= 0, f"model.{name}", "a finite number >= 0", s)


def cooccurrence_random_slots(n: int, L: int) -> int:
    """n (L - 7/3) random-word slots of a co-occurrence data set (spec §2; see scanflow.data.cooccurrence)."""
    return (n * (6 * L - 14)) // 6


def cooccurrence_vocab(data: CooccurrenceDataConfig) -> int:
    """data.d, or the smallest d with distinct training random words (Assumption 2.3(ii)) plus, for an
    unseen test set, room for distinct test words (extra tokens never occur in training, so they do not
    change the training dynamics)."""
    if data.d is not None:
        return data.d
    n_words = data.n + (data.n_test if data.test_unseen else 0)
    return 3 + cooccurrence_random_slots(n_words, data.L)


def _validate_cooccurrence(cfg: Config) -> None:
    need = _need
    d = cfg.data
    need(d.n >= 6 and d.n % 6 == 0, "data.n", "a positive multiple of 6 (exact proportions, Assumption 2.3(i))", d.n)
    need(d.n_test >= 6 and d.n_test % 6 == 0, "data.n_test", "a positive multiple of 6", d.n_test)
    need(d.L >= 3, "data.L", "an integer >= 3 (a type-1 sentence holds mu1, mu2, mu3)", d.L)
    need(d.seed >= 0, "data.seed", "an integer >= 0", d.seed)
    if d.d is not None:
        slots = cooccurrence_random_slots(d.n, d.L)
        if d.repeat_random_words:
            need(d.d >= 4 + (1 if d.test_unseen else 0), "data.d",
                 "at least one random word (d >= 4; d >= 5 for an unseen test set)", d.d)
        else:
            low = 3 + slots + (1 if d.test_unseen else 0)
            need(d.d >= low, "data.d", f"d >= 3 + n(L - 7/3){' + 1 (unseen test words)' if d.test_unseen else ''}"
                 f" = {low} for distinct random words (or data.repeat_random_words: true)", d.d)
    m = cfg.model
    need(m.m >= 1, "model.m", "an integer >= 1", m.m)
    need(m.m1 >= 1, "model.m1", "an integer >= 1", m.m1)
    for name in ("c0", "sigma0", "sigma1"):
        v = getattr(m, name)
        if v is not None:
            need(math.isfinite(v) and v >= 0, f"model.{name}", "a finite number >= 0", v)


def to_dict(cfg: Config) -> dict:
    """A plain, YAML-serialisable view of a config (the resolved config saved with a run)."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(cfg))
