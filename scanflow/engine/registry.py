"""Find workloads and papers by name: built-in and external ones the same way.

Workloads
    * ``workload: package.module:NAME`` in a config imports ``NAME`` (a `Workload`) from that module;
    * a plain name is looked up among workloads registered in this process (`register_workload`) and
      then in the ``scanflow.workloads`` entry-point group, which is how scanflow's own papers are
      found too (``pyproject.toml``): an installed package declares
      ``[project.entry-points."scanflow.workloads"] my_toy = "my_pkg.workload:WORKLOAD"``.

Papers (`scanflow verify NAME`)
    * the ``scanflow.papers`` entry-point group maps a paper name to the module whose import registers
      its checks (``scanflow.verify.check``); `register_paper` does the same at run time.

The engine never imports a paper module by name; it only follows these strings.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from scanflow.engine.config import ConfigError
from scanflow.engine.workload import Workload

WORKLOAD_GROUP = "scanflow.workloads"
PAPER_GROUP = "scanflow.papers"

_WORKLOADS: dict[str, Workload] = {}  # registered at run time (bounded by the number of register calls)
_PAPERS: dict[str, str] = {}


def register_workload(workload: Workload) -> Workload:
    """Make `workload` available as ``workload: <workload.name>`` in this process; return it."""
    if not isinstance(workload, Workload):
        raise TypeError(f"register_workload: expected a scanflow Workload, got {type(workload).__name__}")
    _WORKLOADS[workload.name] = workload
    return workload


def register_paper(name: str, module: str) -> None:
    """Make ``scanflow verify NAME`` import `module` (which registers the paper's checks)."""
    _PAPERS[name] = module


def _eps(group: str) -> dict:
    return {ep.name: ep for ep in entry_points(group=group)}


def workload_names() -> list[str]:
    """Every workload name known without importing anything: registered + installed entry points."""
    return sorted(set(_WORKLOADS) | set(_eps(WORKLOAD_GROUP)))


def _load_ref(ref: str, what: str):
    mod_name, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ConfigError(f"{what}: cannot import module {mod_name!r} ({e})") from None
    if not attr:
        return mod
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def get_workload(name) -> Workload:
    """The `Workload` called `name` (a registered name, an entry point, or ``module:ATTR``)."""
    if isinstance(name, Workload):
        return name
    if not isinstance(name, str) or not name:
        raise ConfigError(f"workload: expected a workload name or package.module:NAME, got {name!r}")
    if ":" in name:
        obj = _load_ref(name, "workload")
    elif name in _WORKLOADS:
        return _WORKLOADS[name]
    else:
        eps = _eps(WORKLOAD_GROUP)
        if name not in eps:
            raise ConfigError(f"workload: expected one of {workload_names()} or package.module:NAME, got {name!r}")
        obj = eps[name].load()
    if not isinstance(obj, Workload):
        raise ConfigError(f"workload: {name!r} is a {type(obj).__name__}, expected a scanflow Workload")
    return obj


def paper_names() -> list[str]:
    """Every paper `scanflow verify` knows: built-in and installed (entry points) and registered."""
    return sorted(set(_PAPERS) | set(_eps(PAPER_GROUP)))


def load_paper_module(name: str):
    """Import the module that registers paper `name`'s checks; KeyError if unknown."""
    if name in _PAPERS:
        return importlib.import_module(_PAPERS[name])
    eps = _eps(PAPER_GROUP)
    if name not in eps:
        raise KeyError(f"unknown paper {name!r}; expected one of {paper_names()}")
    return eps[name].load()


def build_problem(cfg):
    return get_workload(cfg.workload).build(cfg)


__all__ = [
    "build_problem",
    "get_workload",
    "load_paper_module",
    "paper_names",
    "register_paper",
    "register_workload",
    "workload_names",
]
