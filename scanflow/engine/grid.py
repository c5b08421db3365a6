"""Sweep axes beyond the learning rates: any config field given as a list of values.

Write a list where a field takes one value (``model.init_scale: [0.01, 0.1]``, ``data.num_last:
[1, 3, 5, 10]``, or the override ``'train.momentum=[0, 0.9]'``) and the field becomes an axis of the
sweep; the resolved config keeps the lists in ``sweep.grid`` (``{"model.init_scale": [...]}``, the
field itself holds the first value). What an axis costs depends on the field:

* a **dynamic** field (a workload's `Workload.dynamic_model_fields`, and the optimizer constants
  ``train.momentum`` / ``adam_b1`` / ``adam_b2`` / ``adam_eps`` of the optimizer in use) becomes
  more grid points inside the one compiled program: the point axis is (dynamic axes) x (learning
  rates), and each point carries the axis value as a label (``ds.sel(init_scale=0.1)``);
* a **static** field (a shape, a step count, the vocabulary) expands into one program per value,
  run one after another into the same run directory; the results get one dimension per static axis
  (``ds.sel(num_last=5)``).

Every value is validated when the config is built (each one through its section's own dataclass;
each static combination as a whole config), so a bad value fails before anything runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import typing
from typing import Any

SECTIONS = ("data", "model", "train", "flow")
# Optimizer constants that can be traced (optax builds its transformation inside the traced function),
# by the optimizer that uses them.
DYNAMIC_TRAIN = {"sgd_momentum": ("momentum",), "adam": ("adam_b1", "adam_b2", "adam_eps")}


def _section_class(section: str, workload: Any, engine_sections: dict):
    if section in engine_sections:
        return engine_sections[section]
    return workload.data if section == "data" else workload.model


def _takes_many(tp: Any) -> bool:
    """A field whose own value is a list or mapping (``optimizer_args``, a tuple of sizes)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_takes_many(a) for a in typing.get_args(tp) if a is not type(None))
    return tp is Any or tp in (dict, list, tuple) or origin in (tuple, list, dict)


def lift_lists(raw: dict, engine_sections: dict) -> dict:
    """Move every list written in a single-valued field of ``data``/``model``/``train``/``flow`` into
    ``sweep.grid`` (the field keeps the first value). `raw` is a plain mapping, changed in place;
    `engine_sections` maps ``train`` and ``flow`` to the engine's dataclasses (given by the loader: this
    module imports no config module)."""
    from scanflow.engine.registry import get_workload

    name = raw.get("workload")
    if not isinstance(name, str):
        return raw  # Config reports it
    wl = get_workload(name)
    for section in SECTIONS:
        body = raw.get(section)
        if not isinstance(body, dict):
            continue
        hints = typing.get_type_hints(_section_class(section, wl, engine_sections))
        for key, value in list(body.items()):
            if isinstance(value, (list, tuple)) and key in hints and not _takes_many(hints[key]):
                sweep = raw.setdefault("sweep", {}) if isinstance(raw.get("sweep", {}), dict) else None
                if sweep is None:
                    return raw  # Config reports the malformed sweep section
                if not isinstance(sweep.get("grid") or {}, dict):
                    return raw
                sweep["grid"] = {**(sweep.get("grid") or {}), f"{section}.{key}": list(value)}
                body[key] = value[0] if len(value) else None
    return raw


def normalise(grid: Any) -> dict:
    """``sweep.grid`` as ``{"section.field": (values...)}``, checked for form (not for values)."""
    from scanflow.engine.validation import ConfigError

    if not isinstance(grid, dict):
        raise ConfigError(f"sweep.grid: expected a mapping of section.field to a list of values, got "
                          f"{type(grid).__name__}")
    out = {}
    for path, values in grid.items():
        where = f"sweep.grid.{path}"
        parts = str(path).split(".")
        if len(parts) != 2 or parts[0] not in SECTIONS or not parts[1].isidentifier():
            raise ConfigError(f"{where}: expected a field of {'/'.join(SECTIONS)} as section.field (learning rates "
                              "go in sweep.lr)")
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ConfigError(f"{where}: expected a non-empty list of values")
        if any(isinstance(v, (list, tuple, dict)) for v in values):
            raise ConfigError(f"{where}: expected a list of single values, got {values!r}")
        if len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"{where}: expected distinct values, got {values!r}")
        out[str(path)] = tuple(values)
    return out


def validate(cfg) -> None:
    """Each axis names a single-valued field and each value passes that field's own checks."""
    from scanflow.engine.validation import ConfigError

    for path, values in (cfg.sweep.grid or {}).items():
        section, name = path.split(".")
        obj = getattr(cfg, section)
        hints = typing.get_type_hints(type(obj))
        if name not in hints:
            raise ConfigError(f"sweep.grid.{path}: {section} has no field {name!r}; expected one of {sorted(hints)}")
        if _takes_many(hints[name]):
            raise ConfigError(f"sweep.grid.{path}: {path} takes a list or mapping itself and cannot be an axis")
        seen = {}
        for v in values:
            new = _replace(obj, name, v, path)  # the section's own __post_init__ checks the value
            key = repr(getattr(new, name))  # as the field holds it: 1 and 1.0 are one float axis value
            if key in seen:
                raise ConfigError(f"sweep.grid.{path}: expected distinct values, got {seen[key]!r} and {v!r}, "
                                  f"both {key}")
            seen[key] = v


def _replace(obj, name: str, value: Any, path: str):
    from scanflow.engine.validation import ConfigError, _coerce

    tp = typing.get_type_hints(type(obj))[name]
    try:
        value = _coerce(value, tp, path)
        return dataclasses.replace(obj, **{name: value})
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {str(e).splitlines()[0] if str(e) else e.__class__.__name__}") from None


def is_dynamic(cfg, path: str) -> bool:
    from scanflow.engine.registry import get_workload

    section, name = path.split(".")
    if section == "model":
        return name in get_workload(cfg.workload).dynamic_model_fields
    if section == "train" and cfg.train.method == "sgd":
        return name in DYNAMIC_TRAIN.get(cfg.train.optimizer, ())
    return False


def axes(cfg, dynamic: bool | None = None) -> dict:
    """The grid's axes ``{path: values}``; only the dynamic or static ones when `dynamic` is given."""
    return {p: v for p, v in (cfg.sweep.grid or {}).items() if dynamic is None or is_dynamic(cfg, p) == dynamic}


def assign_sections(cfg, values: dict) -> dict:
    """``{section: section object with the fields set}`` for ``values = {"data.num_last": 3, ...}``."""
    sections = {}
    for path, v in values.items():
        section, name = path.split(".")
        sections[section] = _replace(sections.get(section, getattr(cfg, section)), name, v, path)
    return sections


def assign(cfg, values: dict, grid: dict | None = None, checked: bool = False):
    """`cfg` with fields set (``{"data.num_last": 3}``), a valid config of its own: those axes leave
    ``sweep.grid`` (or it is replaced by `grid`). `checked`: build it with every whole-config rule (the
    config's own validation of its parts); otherwise as a config derived from a checked one
    (`validation.derived`)."""
    from scanflow.engine.validation import derived

    if grid is None:
        grid = {p: v for p, v in (cfg.sweep.grid or {}).items() if p not in values} or None
    sweep = dataclasses.replace(cfg.sweep, grid=grid)
    with contextlib.nullcontext() if checked else derived():
        return dataclasses.replace(cfg, **assign_sections(cfg, values), sweep=sweep)


def static_parts(cfg, checked: bool = False) -> list[tuple[dict, Any]]:
    """One (static values, config) per combination of the static axes, in grid order; each config
    keeps only the dynamic axes. Without static axes: ``[({}, cfg)]``."""
    static = axes(cfg, dynamic=False)
    if not static:
        return [({}, cfg)]
    dynamic = axes(cfg, dynamic=True) or None
    out = []
    for combo in itertools.product(*static.values()):
        values = dict(zip(static, combo))
        out.append((values, assign(cfg, values, grid=dynamic, checked=checked)))
    return out


def dynamic_points(cfg) -> list[dict]:
    """The combinations of the dynamic axes (outer to the learning-rate grid); ``[{}]`` if none."""
    dyn = axes(cfg, dynamic=True)
    return [dict(zip(dyn, combo)) for combo in itertools.product(*dyn.values())]


def label(path: str, taken: set) -> str:
    """The coordinate name of an axis: the field name, or section_field if that is taken."""
    section, name = path.split(".")
    return name if name not in taken else f"{section}_{name}"


__all__ = ["assign", "axes", "dynamic_points", "is_dynamic", "label", "lift_lists", "normalise", "static_parts",
           "validate"]
