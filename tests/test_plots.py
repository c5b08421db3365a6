"""Figures are views of a results Dataset: plot functions return matplotlib Figures and save nothing;
`plot_run` saves each figure of a run as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from scanflow.engine.config import config_from_dict
from scanflow.engine.figures import plot_run, plt, save_all
from scanflow.engine.results import load_run
from scanflow.engine.run import execute

TINY = {"workload": "scan_snap",   # 4 x 2 = 8 grid points: more than one heatmap page of MAX_POINTS = 6
    "name": "tiny_plots",
    "data": {"num_unique": 4, "num_common": 3, "seq_len": 16, "batch_size": 8},
    "train": {"steps": 4, "record_every": 2, "record_attention": True},
    "sweep": {"seeds": 2, "lr": {"Y": [1.0, 2.0, 5.0, 10.0], "Z": [0.5, 1.0]}},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return execute(config_from_dict(TINY), out_dir=tmp_path_factory.mktemp("runs"), plot=False)


def _magic(path: Path) -> bytes:
    return path.read_bytes()[:5]


def test_plot_run_writes_png_and_pdf(tiny_run, tmp_path):
    assert not (tiny_run / "figures").exists()
    paths = plot_run(tiny_run)  # default: RUN_DIR/figures
    names = sorted(p.name for p in paths)
    stems = ["loss"]  # 8 points: more than one heatmap page, so the run draws the summary only (all_figures)
    assert names == sorted(f"{s}.{x}" for s in stems for x in ("png", "pdf"))
    assert sorted(p.name for p in (tiny_run / "figures").iterdir()) == names  # no temporary files left
    for p in paths:
        assert p.parent == tiny_run / "figures" and p.stat().st_size > 1000
        assert _magic(p) == (b"\x89PNG\r" if p.suffix == ".png" else b"%PDF-"), p
    # from a loaded Dataset, into another directory with a prefix
    ds = load_run(tiny_run)
    again = plot_run(ds, out_dir=tmp_path / "figs", prefix="x_")
    assert sorted(p.name for p in again) == sorted(f"x_{n}" for n in names)
    assert not plt.get_fignums()  # every figure was closed


def test_plot_run_of_a_dataset_without_a_directory_needs_out_dir(tiny_run):
    ds = load_run(tiny_run)
    del ds.attrs["run_dir"]
    with pytest.raises(ValueError, match="out_dir"):
        plot_run(ds)


def test_plot_functions_take_a_dataset_and_return_figures(tiny_run):
    from scanflow.engine.registry import get_workload
    from scanflow.papers.scan_snap import plots

    ds = load_run(tiny_run)
    before = sorted(tiny_run.rglob("*"))
    try:
        fig = plots.loss_curves(ds)
        assert isinstance(fig, Figure)
        assert sorted(tiny_run.rglob("*")) == before  # a view: nothing saved
        heat = plots.attention_heatmap(ds, points=[6, 7])
        assert isinstance(heat, Figure)
        titles = [ax.get_title() for ax in heat.axes]
        assert any(t.startswith("class 1; point 6:") for t in titles)
        assert "grid points 6-7 of 8 shown" in heat.get_suptitle()
        figs = get_workload("scan_snap").plots(ds)  # the workload's plots: {name: Figure}
        assert list(figs) == ["loss"] and "attention panels (16) not drawn" in figs["loss"].get_suptitle()
        small = get_workload("scan_snap").plots(ds.isel(point=slice(0, 6)))  # one page: drawn
        assert list(small) == ["loss", "attention"] and all(isinstance(f, Figure) for f in small.values())
    finally:
        plt.close("all")


def test_a_fig6_grid_draws_the_papers_panel_per_vocabulary_size_and_no_per_point_pages(tmp_path):
    """A sweep over the (eta_Z, eta_Y/eta_Z) grid with a static vocabulary axis: per vocabulary size the loss
    summary and the Fig-6 panel (entropy against eta_Y/eta_Z, one line per eta_Z, with seed error bars);
    9 points are more than a page, so no attention pages."""
    cfg = config_from_dict({**TINY, "name": "tiny_fig6", "data": {**TINY["data"], "num_last": [1, 2]},
                            "sweep": {"seeds": 2, "lr": {"Z": [0.5, 1.0, 2.0], "Y_over_Z": [1.0, 2.0, 5.0]}}})
    run = execute(cfg, out_dir=tmp_path, plot=False)
    try:
        paths = plot_run(run)
        assert sorted(p.stem for p in paths if p.suffix == ".png") == [
            "num_last1_fig6", "num_last1_loss", "num_last2_fig6", "num_last2_loss"]
        from scanflow.engine.figures import figures_of

        fig = figures_of(load_run(run))["num_last2_fig6"]
        (ax,) = fig.axes
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert [x for x in labels if "eta_Z" in x] == [r"$\eta_Z$ = 0.5", r"$\eta_Z$ = 1", r"$\eta_Z$ = 2"]
        assert len(ax.lines) >= 3 and len(ax.containers) == 3  # three lines with error bars
        assert "(M = " in ax.get_title() and "data.num_last=2" in fig.get_suptitle()
    finally:
        plt.close("all")


def test_the_attention_heatmap_shows_every_point_or_names_those_omitted(tiny_run):
    from scanflow.papers.scan_snap import plots

    ds = load_run(tiny_run)
    try:
        pages = plots.attention_pages(ds)  # 8 points, 6 a page: every point is drawn
        shown = [int(t.split("point ")[1].split(":")[0]) for f in pages.values() for t in
                 (ax.get_title() for ax in f.axes) if t.startswith("class 1;")]
        assert sorted(shown) == list(range(8))
        assert "page 2 of 2" in pages["attention_2"].get_suptitle()
        few = plots.attention_pages(ds, per_page=3, max_pages=2)  # 6 drawn: the title names 6-7 as omitted
        assert list(few) == ["attention", "attention_2"]
        title = few["attention_2"].get_suptitle()
        assert "points 6-7 (2 of 8) omitted" in title and "grid points 3-5 of 8 shown" in title
        with pytest.raises(ValueError, match="points"):
            plots.attention_heatmap(ds, points=[8])
    finally:
        plt.close("all")


def test_save_all_writes_each_format_and_closes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    paths = save_all(fig, tmp_path / "line.png")  # a suffix of a known format is replaced
    assert [p.name for p in paths] == ["line.png", "line.pdf"]
    assert fig.number not in plt.get_fignums()
