"""``train.final_metrics``: metrics kept at the last record only (no record axis). They are still computed at
every record, so the stored values are the last record of the same run without the option, bit for bit; the
other metrics are untouched; an extension keeps the form; bad names are one line."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import scanflow
from scanflow.engine.config import ConfigError, config_from_dict
from scanflow.engine.dataset import at_last_record

BASE = {"workload": "scan_snap", "name": "final_metrics",
        "data": {"num_last": 2, "num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
        "train": {"steps": 6, "record_every": 2, "metrics": ["entropy", "loss", "finite", "attn", "z"]},
        "sweep": {"seeds": 2, "lr": {"Y": [1.0, 5.0], "Z": [1.0]}}}


def test_final_metrics_are_the_last_record_of_the_same_run_bit_for_bit(tmp_path):
    every = scanflow.run(BASE)
    final = scanflow.run(BASE, ["train.final_metrics=[attn, z]"])
    for name in ("attn", "z"):
        assert "step" in every[name].dims and "step" not in final[name].dims
        xr.testing.assert_identical(final[name].reset_coords(drop=True),
                                    every[name].isel(step=-1).reset_coords(drop=True))
        np.testing.assert_array_equal(at_last_record(final, name).values, at_last_record(every, name).values)
    for name in ("entropy", "loss", "train_loss", "diverged"):
        xr.testing.assert_identical(final[name], every[name])
    # a run directory and its extension keep the form, and the extension equals a fresh sweep of the union
    run_dir = scanflow.execute(config_from_dict(BASE, ["train.final_metrics=[attn, z]"]), out_dir=tmp_path)
    from scanflow.engine.extend import extend

    grown = scanflow.load_run(extend(run_dir, ["sweep.seeds=3"], out_dir=tmp_path / "x"))
    fresh = scanflow.run(BASE, ["train.final_metrics=[attn, z]", "sweep.seeds=3"])
    assert "step" not in grown["attn"].dims
    np.testing.assert_array_equal(grown["attn"].values, fresh["attn"].values)


@pytest.mark.parametrize("override, words", [
    ("train.final_metrics=[train_loss]", "train.final_metrics: expected distinct metric names other than train_loss"),
    ("train.final_metrics=[attn, attn]", "train.final_metrics: expected distinct metric names"),
    ("train.final_metrics=[grad_norm_Y]", "train.final_metrics: expected names among train.metrics"),
])
def test_bad_final_metrics_are_one_line(override, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        config_from_dict(BASE, [override])


def test_an_unknown_final_metric_is_named_before_any_work():
    raw = {**BASE, "train": {k: v for k, v in BASE["train"].items() if k != "metrics"}}
    with pytest.raises(ConfigError, match="train.final_metrics: unknown metric 'nope'"):
        scanflow.run(raw, ["train.final_metrics=[nope]"])
