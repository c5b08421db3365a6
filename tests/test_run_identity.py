"""A run's identity (issue 21): everything that decides its numbers is compared on resume and extension.

* an extension along a field that becomes an axis labels the finished runs with the value they were
  computed at, and equals a fresh sweep of the union bit for bit (with and without more seeds; a
  dynamic field, ``train.momentum``, and a static one, ``data.num_unique``);
* the block size is the run's own: an extension without ``--runs-per-block`` uses it (bit-identical to
  a fresh sweep at that block), another one is refused, as on resume;
* a data file whose content changed (a corpus edited in place, a relative path resumed from another
  directory) refuses the resume or extension in one line naming it.
Every comparison is exact (same keys, same program, same block: the same bits).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xarray as xr

import scanflow
from scanflow import cli
from scanflow.engine.config import ConfigError
from scanflow.engine.dataset import manifest_of
from scanflow.engine.results import is_unfinished
from scanflow.engine.extend import extend
from scanflow.engine.store import RecordStore

TINY = {"workload": "scan_snap", 
    "name": "tiny_identity",
    "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "model": {"init": "uniform"},
    "train": {"steps": 6, "record_every": 3, "momentum": 0.9},
    "sweep": {"seeds": 2, "lr": {"Y": [1.0, 4.0], "Z": [0.5]}},
}


def _identical(a: xr.Dataset, b: xr.Dataset) -> None:
    a, b = a.copy(), b.copy()
    a.attrs.clear()
    b.attrs.clear()
    xr.testing.assert_identical(a, b)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run at momentum 0.9, num_unique 4, two seeds."""
    return scanflow.run(TINY, out_dir=tmp_path_factory.mktemp("old")).attrs["run_dir"]


@pytest.mark.parametrize("more", [
    ["train.momentum=[0.9, 0.5]"],
    ["train.momentum=[0.5, 0.9]"],  # the finished value second: the field itself now holds 0.5
    ["sweep.seeds=3", "train.momentum=[0.9, 0.5]"],
    ["data.num_unique=[4, 5]"],  # a static axis: one program per value
    ["sweep.seeds=3", "data.num_unique=[5, 4]"],
], ids=["dynamic", "dynamic-second", "dynamic+seeds", "static", "static+seeds"])
def test_an_extension_along_a_new_axis_equals_a_fresh_sweep(finished, tmp_path, more):
    path = extend(finished, more, out_dir=tmp_path, plot=False)
    fresh = scanflow.run(TINY, more)
    new = scanflow.load_run(path)
    _identical(new, fresh)
    m = manifest_of(new)
    assert m["reused_runs"] == 2 * 2 and m["computed_runs"] == new["diverged"].size - 4  # the old 2 points x 2 seeds


def test_an_axis_value_the_run_was_not_computed_at_reuses_nothing(finished, tmp_path):
    path = extend(finished, ["train.momentum=[0.5, 0.7]"], out_dir=tmp_path, plot=False)
    m = manifest_of(scanflow.load_run(path))
    assert m["reused_runs"] == 0 and m["computed_runs"] == 8
    _identical(scanflow.load_run(path), scanflow.run(TINY, ["train.momentum=[0.5, 0.7]"]))


def test_an_extension_keeps_the_runs_block_size(tmp_path):
    """Made with 2 runs per block: extended without the flag it uses 2 (bit-identical to a fresh block-2
    sweep, which differs from block 1 in its last bits); another block size is refused in one line."""
    old = scanflow.run(TINY, out_dir=tmp_path / "a", runs_per_block=2).attrs["run_dir"]
    assert manifest_of(scanflow.load_run(old))["identity"]["runs_per_block"] == 2
    path = extend(old, ["sweep.seeds=3"], out_dir=tmp_path / "b", plot=False)
    _identical(scanflow.load_run(path), scanflow.run(TINY, ["sweep.seeds=3"], runs_per_block=2))
    with pytest.raises(ConfigError) as e:
        extend(old, ["sweep.seeds=3"], out_dir=tmp_path / "c", plot=False, runs_per_block=1)
    assert str(e.value).startswith("--runs-per-block: ") and "2 runs per block" in str(e.value)
    assert "\n" not in str(e.value) and not (tmp_path / "c").exists()


def _killed(tmp_path, monkeypatch, argv: list[str]) -> Path:
    """The unfinished run directory `scanflow run ARGV --out tmp/runs` leaves when Ctrl-C hits chunk 1."""
    put = RecordStore.put_records

    def interrupted(self, k, rows, recs):
        if k == 1:
            raise KeyboardInterrupt
        return put(self, k, rows, recs)

    monkeypatch.setattr(RecordStore, "put_records", interrupted)
    code = cli.main(["run", *argv, "--quiet", "--no-plot", "--out", str(tmp_path / "runs")])
    monkeypatch.undo()
    assert code == 130
    (partial,) = (tmp_path / "runs").iterdir()
    assert is_unfinished(partial)
    return partial


def test_a_resume_with_another_block_size_is_refused(tmp_path, monkeypatch, capsys):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    partial = _killed(tmp_path, monkeypatch, [str(cfg), "--runs-per-block", "2"])
    capsys.readouterr()
    assert cli.main(["run", str(partial), "--quiet", "--no-plot", "--runs-per-block", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scanflow: error: --runs-per-block: ") and len(err.splitlines()) == 1, err
    assert cli.main(["run", str(partial), "--quiet", "--no-plot"]) == 0  # its own block: 2
    done = partial.with_name(partial.name.removesuffix(".partial"))
    _identical(scanflow.load_run(done), scanflow.run(TINY, runs_per_block=2))


# ------------------------------------------------------------------------------------------ data content

def _corpus(d: Path, seed: int) -> Path:
    from test_real_text import write_skip_bigram_text

    d.mkdir(parents=True)
    write_skip_bigram_text(d / "test.txt", 300, seed=seed)
    write_skip_bigram_text(d / "valid.txt", 100, seed=seed + 1)
    return d


def _killed_real_text(tmp_path, monkeypatch, path_value: str) -> Path:
    from test_real_text import CONFIG, TINY as RT

    return _killed(tmp_path, monkeypatch, [str(CONFIG), f"data.path={path_value}", *RT, "train.records_per_chunk=1"])


def test_a_corpus_edited_between_kill_and_resume_is_refused(tmp_path, monkeypatch, capsys):
    corpus = _corpus(tmp_path / "corpus", seed=0)
    partial = _killed_real_text(tmp_path, monkeypatch, str(corpus))
    text = (corpus / "test.txt").read_text()
    (corpus / "test.txt").write_text(text.replace("w1 ", "w2 ", 1))  # one word, same size class
    capsys.readouterr()
    assert cli.main(["run", str(partial), "--quiet", "--no-plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scanflow: error: data.train: ") and "test.txt" in err and len(err.splitlines()) == 1, err
    (corpus / "test.txt").write_text(text)  # restored: the resume goes on
    assert cli.main(["run", str(partial), "--quiet", "--no-plot"]) == 0


def test_a_relative_corpus_resumed_from_another_directory_is_refused(tmp_path, monkeypatch, capsys):
    _corpus(tmp_path / "here" / "corpus", seed=0)
    _corpus(tmp_path / "there" / "corpus", seed=5)  # same relative path, other text
    monkeypatch.chdir(tmp_path / "here")
    partial = _killed_real_text(tmp_path, monkeypatch, "corpus")
    monkeypatch.chdir(tmp_path / "there")
    capsys.readouterr()
    assert cli.main(["run", str(partial), "--quiet", "--no-plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scanflow: error: data.") and "differs" in err and "here" in err and "there" in err and len(err.splitlines()) == 1, err
    assert os.path.isdir(partial)
