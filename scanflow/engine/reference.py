"""The config reference (docs/config.md), generated from the config dataclasses so it cannot go stale.

Every field of the engine's sections (``train``, ``flow``, ``sweep`` and the top level) and of each
registered workload's ``data`` and ``model`` sections, with its type, default and the comment written
beside it in the source. ``python -m scanflow.engine.reference > docs/config.md`` rewrites the page;
`tests/test_config_reference.py` fails when the page and the code disagree.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import typing


def _comments(cls: type) -> dict[str, str]:
    """``{field: the comment on its line}`` from the class source (empty where there is none)."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out, line_field = {}, {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.start[0] not in line_field:
            line_field[tok.start[0]] = tok.string
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            out.setdefault(line_field[tok.start[0]], tok.string.lstrip("# ").strip())
    return out


def _type_name(tp) -> str:
    text = str(tp).replace("typing.", "")
    return getattr(tp, "__name__", text) if not typing.get_args(tp) else text


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return "(section defaults)" if dataclasses.is_dataclass(f.type) or isinstance(f.type, str) else "(factory)"
    return "(required)"


def section_table(cls: type, prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints.get(f.name)):
            continue  # a section: its own table
        rows.append(f"| `{prefix}{f.name}` | `{_type_name(hints.get(f.name, f.type))}` | `{_default(f)}` | "
                    f"{notes.get(f.name, '').replace('|', '/')} |")
    return rows


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def config_reference() -> str:
    from scanflow.engine.config import Config, FlowConfig, SweepConfig, TrainConfig
    from scanflow.engine.registry import get_workload, workload_names

    lines = ["# Config reference", "",
             "Generated from the config dataclasses by `python -m scanflow.engine.reference > docs/config.md`;",
             "`tests/test_config_reference.py` fails when this page and the code disagree. A list written where a",
             "field takes one value makes it a sweep axis (`sweep.grid`, see the README).", ""]
    for title, cls, prefix in (("Top level", Config, ""), ("`train:`", TrainConfig, "train."),
                               ("`flow:`", FlowConfig, "flow."), ("`sweep:`", SweepConfig, "sweep.")):
        lines += [f"## {title}", "", _doc(cls), "", *section_table(cls, prefix), ""]
    for name in workload_names():
        try:
            wl = get_workload(name)
        except Exception:  # noqa: BLE001 - an installed plug-in that cannot load is left out of the page
            continue
        if wl.name != name or not getattr(wl.build, "__module__", "").startswith("scanflow."):
            continue  # aliases, and plug-ins installed beside scanflow (their own docs describe them)
        lines += [f"## workload `{name}`", "", wl.description or "", ""]
        if wl.train:
            shown = ", ".join(f"`train.{k}: {v}`" for k, v in wl.train.items())
            lines += [f"Its `train:` defaults (a config's own values win): {shown}.", ""]
        for section in ("data", "model"):
            cls = getattr(wl, section)
            lines += [f"### `{section}:`", "", _doc(cls), "", *section_table(cls, f"{section}."), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(config_reference(), end="")
