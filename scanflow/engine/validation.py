"""The rules every config field is held to, written once: `ConfigError` (one line naming the field),
`need` and its variants, exact type checks (`check_types`: an integer field refuses 1.5 and true), the
range of the run's dtype (`representable`), and the coercion of YAML values into a dataclass's field
types (`_coerce`, `_build`). The sections that use them are in `scanflow.engine.config`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import math
import types
import typing
from typing import Any



_DERIVED = contextvars.ContextVar("scanflow_derived_config", default=False)


@contextlib.contextmanager
def derived():
    """Inside: a `Config` built from one that was already checked (a static part, the static part with the
    dynamic values blanked) checks its fields but not again the whole-config rules (the resource estimate,
    the workload's validate, the static parts), which the original passed. The engine's own use only."""
    token = _DERIVED.set(True)
    try:
        yield
    finally:
        _DERIVED.reset(token)


def is_derived() -> bool:
    return _DERIVED.get()


class OneLineError(ValueError):
    """An error whose message already is one line naming the field, file or path and what to do: the CLI
    prints it as it is (exit 2) and a workload's hook that raises one is not wrapped. Subclass it for a
    plug-in's own errors of that kind (a corpus that cannot be read, a damaged run directory)."""


class ConfigError(OneLineError):
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


def _is_float_type(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(a is float for a in typing.get_args(tp))
    return tp is float


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



def check_out_dir(flag: str, out) -> None:
    """`out` can be (or become) a writable directory: one line naming `flag` if not, before anything runs
    (``--out`` of every command, a config's ``out_dir``)."""
    import os
    from pathlib import Path

    if not isinstance(out, (str, os.PathLike)) or not str(out).strip() or "\0" in str(out):
        raise ConfigError(f"{flag}: expected a directory path, got {out!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}: expected a directory, got the existing file {out}")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{flag}: expected a directory path, but {parent} is a file")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: expected a writable directory, but {parent} is not writable")
