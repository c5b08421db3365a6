"""Reading a config: a YAML file (UTF-8, unique keys) or a mapping, plus Hydra-style dotted overrides
(``train.steps=200``), with the workload's ``train:`` defaults filled in, into a validated `Config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scanflow.engine.config import Config, ConfigError, _build


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

    _workload_train_defaults(raw)
    from scanflow.engine.config import FlowConfig, TrainConfig

    grid.lift_lists(raw, {"train": TrainConfig, "flow": FlowConfig})  # a list in a single-valued field is an axis
    return _build(Config, raw, "")


def _workload_train_defaults(raw: dict) -> None:
    """Fill the ``train:`` fields the config leaves out with the workload's own defaults
    (`Workload.train`, e.g. its optimizer), so that they are visible in the resolved config; a
    workload that states none gets the engine's (plain ``sgd``). Changes `raw` in place."""
    from scanflow.engine.registry import get_workload

    name = raw.get("workload")
    train = raw.get("train")
    if not isinstance(name, str) or not (train is None or isinstance(train, dict)):
        return  # Config reports the malformed field
    try:
        defaults = get_workload(name).train
    except ConfigError:
        return  # Config reports the unknown workload
    if defaults:
        raw["train"] = {**defaults, **(train or {})}


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
                          "(e.g. workload: NAME)")
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

