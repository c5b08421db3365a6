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

from typing import TYPE_CHECKING

from scanflow.engine.validation import ConfigError

if TYPE_CHECKING:  # the workload module imports JAX; listing names (`scanflow verify`) needs none of it
    from scanflow.engine.workload import Workload

WORKLOAD_GROUP = "scanflow.workloads"
PAPER_GROUP = "scanflow.papers"

_WORKLOADS: dict[str, Workload] = {}  # registered at run time (bounded by the number of register calls)
_PAPERS: dict[str, str] = {}


def register_workload(workload: Workload) -> Workload:
    """Make `workload` available as ``workload: <workload.name>`` in this process; return it."""
    from scanflow.engine.workload import Workload

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


def _import(mod_name: str, what: str):
    """Import `mod_name` for `what` (``workload pkg.mod:NAME``, ``paper NAME``): a module that is not there,
    and any exception raised while it is imported (SyntaxError, an ImportError inside it, an error at
    import time), is one line naming it."""
    from scanflow.engine.workload import describe

    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (mod_name == missing or mod_name.startswith(missing + ".")):
            raise ConfigError(f"{what}: cannot import module {mod_name!r} ({e}); expected an installed module or one "
                              "on PYTHONPATH") from None
        raise ConfigError(f"{what}: importing module {mod_name!r} raised {describe(e)}") from e
    except Exception as e:  # noqa: BLE001 - SyntaxError, an ImportError inside it, anything raised at import
        raise ConfigError(f"{what}: importing module {mod_name!r} raised {describe(e)}") from e


def _load_ref(ref: str, what: str):
    """The object ``package.module:ATTR`` names (``what``: how messages call it)."""
    from scanflow.engine.workload import describe

    mod_name, _, attr = ref.partition(":")
    form = "package.module:NAME"
    if not mod_name.strip():
        raise ConfigError(f"{what}: expected {form}, got {ref!r} (an empty module name)")
    if not attr.strip():
        raise ConfigError(f"{what}: expected {form}, got {ref!r} (an empty attribute name after ':')")
    if mod_name.startswith("."):
        raise ConfigError(f"{what}: expected {form} with an absolute module name, got {ref!r}")
    mod = _import(mod_name, f"{what} {ref}")
    obj = mod
    for part in attr.split("."):
        try:
            found = hasattr(obj, part)
            obj = getattr(obj, part) if found else None
        except Exception as e:  # noqa: BLE001 - a module __getattr__ or property that raises
            raise ConfigError(f"{what} {ref}: getting {attr!r} from module {mod_name!r} raised {describe(e)}") from e
        if not found:
            raise ConfigError(f"{what}: module {mod_name!r} has no attribute {attr!r}")
    return obj


def get_workload(name) -> Workload:
    """The `Workload` called `name` (a registered name, an entry point, or ``module:ATTR``). A module that
    cannot be imported, or raises while imported, is one line (`ConfigError`); its hooks are called
    through `workload_hook`."""
    from scanflow.engine.workload import Workload

    if isinstance(name, Workload):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"workload: expected a workload name or package.module:NAME, got {name!r}")
    if ":" in name:
        obj = _load_ref(name, "workload")
    elif name in _WORKLOADS:
        return _WORKLOADS[name]
    else:
        eps = _eps(WORKLOAD_GROUP)
        if name not in eps:
            raise ConfigError(f"workload: expected one of {workload_names()} or package.module:NAME, got {name!r}")
        obj = _load_entry_point(eps[name], f"workload {name}")
    if not isinstance(obj, Workload):
        raise ConfigError(f"workload: {name!r} is an object of type {type(obj).__name__}, expected a scanflow Workload")
    return obj


def workload_hook(name, hook: str):
    """The hook `hook` (``build``, ``validate``, ``hyperparams``, ``footprint``, ``point_arrays``, ``plots``,
    ``summary``) of workload `name`, guarded: an exception from the workload's code is one line
    ``workload NAME: HOOK raised TYPE: ...`` (`scanflow.engine.workload.PluginError`, a `ConfigError`), NAME
    as the config wrote it; ``build`` returns a `Problem` whose functions are guarded too (JAX calls them
    while tracing). None if the workload has no such hook (``footprint``)."""
    from scanflow.engine.workload import guard, guard_problem

    wl = get_workload(name)
    fn = getattr(wl, hook)
    if fn is None:
        return None
    label = name if isinstance(name, str) else wl.name
    return guard(fn, label, hook, (lambda problem: guard_problem(problem, label)) if hook == "build" else None)


def _load_entry_point(ep, what: str):
    """``ep.load()``; any exception raised while its module is imported is one line naming `what` and it."""
    from scanflow.engine.workload import describe

    try:
        return ep.load()
    except Exception as e:  # noqa: BLE001 - SyntaxError, an ImportError inside it, anything raised at import
        raise ConfigError(f"{what}: loading its entry point {ep.value!r} raised {describe(e)}") from e


def paper_names() -> list[str]:
    """Every paper `scanflow verify` knows: built-in and installed (entry points) and registered."""
    return sorted(set(_PAPERS) | set(_eps(PAPER_GROUP)))


def load_paper_module(name: str):
    """Import the module that registers paper `name`'s checks; KeyError if unknown. A module that fails
    to import (or raises while it is imported) is one line naming the paper (`ConfigError`)."""
    if name in _PAPERS:
        return _import(_PAPERS[name], f"paper {name}")
    eps = _eps(PAPER_GROUP)
    if name not in eps:
        raise KeyError(f"unknown paper {name!r}; expected one of {paper_names()}")
    return _load_entry_point(eps[name], f"paper {name}")


def paper_module_name(name: str) -> str:
    """The module whose import registers paper `name`'s checks (registered or an entry point); KeyError if unknown."""
    if name in _PAPERS:
        return _PAPERS[name]
    eps = _eps(PAPER_GROUP)
    if name not in eps:
        raise KeyError(f"unknown paper {name!r}; expected one of {paper_names()}")
    return eps[name].value.partition(":")[0]


def paper_facts(name: str) -> dict:
    """What ``scanflow verify`` lists about paper `name`, read from its source without importing it (an import
    costs seconds: JAX and the paper's code): ``duration`` and ``data_required``, the string constants
    ``EXPECTED_DURATION`` and ``DATA_REQUIRED`` of its check module, and ``mutations``, the names declared with
    ``@mutation(PAPER, "name", ...)`` in the files of the package around that module (PAPER a string or a
    module constant equal to the paper's name). ``{"error": ...}`` when the source cannot be read."""
    import ast
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec(paper_module_name(name))
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        tree = ast.parse(origin.read_bytes()) if origin is not None else None
    except Exception as e:  # noqa: BLE001 - a missing package, a file that does not parse: listed, not fatal
        return {"error": f"{type(e).__name__}: {e}"}
    if tree is None:
        return {"error": f"no source file for {paper_module_name(name)!r}"}
    consts = _string_constants(tree)
    facts = {"duration": consts.get("EXPECTED_DURATION"), "data_required": consts.get("DATA_REQUIRED"), "mutations": []}
    package = origin.parent.parent if origin.name == "__init__.py" else origin.parent  # the paper's folder
    for f in sorted(package.rglob("*.py")):
        try:
            t = ast.parse(f.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        names = _string_constants(t)
        for node in ast.walk(t):
            if isinstance(node, ast.Call) and len(node.args) >= 2 and getattr(
                    node.func, "id", getattr(node.func, "attr", None)) == "mutation":
                paper, mut = (_literal(a, names) for a in node.args[:2])
                if paper == name and isinstance(mut, str):
                    facts["mutations"].append(mut)
    return facts


def _string_constants(tree) -> dict:
    """Module-level ``NAME = "text"`` assignments of a parsed module."""
    import ast

    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _literal(node, names: dict):
    import ast

    if isinstance(node, ast.Constant):
        return node.value
    return names.get(node.id) if isinstance(node, ast.Name) else None


def build_problem(cfg):
    return workload_hook(cfg.workload, "build")(cfg)


__all__ = [
    "build_problem",
    "get_workload",
    "load_paper_module",
    "paper_facts",
    "paper_module_name",
    "paper_names",
    "register_paper",
    "register_workload",
    "workload_hook",
    "workload_names",
]
