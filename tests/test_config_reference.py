"""docs/config.md is the config reference generated from the dataclasses: it must match the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scanflow.engine.reference import config_reference

ROOT = Path(__file__).resolve().parents[1]


def test_the_config_reference_is_current():
    page = (ROOT / "docs" / "config.md").read_text()
    assert page == config_reference(), "regenerate: python -m scanflow.engine.reference > docs/config.md"


def test_every_field_of_every_section_is_listed():
    from scanflow.engine.config import Config, FlowConfig, SweepConfig, TrainConfig
    from scanflow.engine.registry import get_workload

    page = (ROOT / "docs" / "config.md").read_text()
    for cls, prefix in ((TrainConfig, "train."), (FlowConfig, "flow."), (SweepConfig, "sweep.")):
        for f in dataclasses.fields(cls):
            assert f"| `{prefix}{f.name}` |" in page, f"{prefix}{f.name}"
    for f in dataclasses.fields(get_workload("scan_snap").data):
        assert f"| `data.{f.name}` |" in page
    assert "| `x64` |" in page and Config  # the top level too
