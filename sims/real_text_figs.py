"""Scan and Snap on real text: the Fig-7 and Fig-10 analogues on a word-level corpus (WikiText).

    python sims/real_text_figs.py --data data/wikitext-2 [--quick] [--figures figures] [--runs runs] \
        [dotted.key=value ...]
    python sims/real_text_figs.py --redraw REF_RUN ANALYSED_RUN THREE_LAYER_RUN [--figures figures]

Runs three engine configs, each one vmapped program written to a run directory under ``--runs``:
``configs/real_text.yaml`` (the reference model: sinusoidal PE, post-LN, FFN, 1 head, 1 layer; eta x
seed), ``configs/real_text_analysed.yaml`` (no PE, no FFN, l2-normalised attention output) and the
reference config with ``model.n_layers=3`` at the largest eta, one seed. Then it draws, from the run
directories only (``--redraw`` draws from existing ones without training), each as PNG and PDF:

* ``real_text_fig7_attention.png``: lowest-layer attention of one evaluation sequence at 4 iterations,
  for the 1-layer and 3-layer reference models and the analysed variant (largest eta, seed 0);
* ``real_text_fig10_entropy.png``: mean evaluation-set attention entropy against eta (mean +- seed std);
* ``real_text_attention_change.png``: attention change per 100 steps against the step, with the
  detected freeze steps.

``dotted.key=value`` overrides apply to every config (`scanflow.engine.config.load_config`), e.g.
``train.steps=300 sweep.seeds=2``; ``--data PATH`` is short for ``data.path=PATH``; ``--quick`` adds the
small setting of ``scanflow verify real-text --quick`` (`scanflow.papers.real_text.config.QUICK`).
With a directory without train.txt (a WikiText-2 copy with only test and valid) it trains on test.txt and
evaluates on valid.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"reference": ROOT / "configs" / "real_text.yaml", "analysed": ROOT / "configs" / "real_text_analysed.yaml"}


def configs(data: str | None, quick: bool, overrides: list[str]) -> dict:
    """The three configs (reference, analysed, reference_3layer); ConfigError on a bad override or corpus."""
    from scanflow.engine.config import load_config
    from scanflow.papers.real_text.config import QUICK, path_override

    base = [*([path_override(data)] if data else []), *(QUICK if quick else ()), *overrides]
    ref = load_config(CONFIGS["reference"], base)
    ana = load_config(CONFIGS["analysed"], base)
    l3 = load_config(CONFIGS["reference"], [*base, f"name={ref.name}_3layer", "model.n_layers=3",
                                            f"sweep.lr.eta=[{ref.sweep.lr['eta'][-1]!r}]", "sweep.seeds=1"])
    return {"reference": ref, "analysed": ana, "reference_3layer": l3}


def figures(runs: dict) -> dict:
    """The three figures {name: Figure} from loaded runs {reference, analysed, reference_3layer}
    (results Datasets, `scanflow.load_run`; views only, nothing saved)."""
    from scanflow.engine.dataset import manifest_of
    from scanflow.engine.figures import plt, record_values
    from scanflow.papers.real_text import plots as views

    ref, ana, l3 = runs["reference"], runs["analysed"], runs["reference_3layer"]
    manifest = manifest_of(ref)
    info = manifest["workload_info"]
    split = f"train {Path(info['train_path']).name}, eval {Path(info['valid_path']).name}"
    eta = ref["eta"].values
    out = {"real_text_fig7_attention": views.attention_maps(
        [("1 layer", ref, -1), ("3 layers (layer 0)", l3, -1), ("analysed, 1 layer", ana, -1)],
        title=rf"lowest-layer attention, $\eta$={eta[-1]:g}, seed 0, one evaluation sequence ({split})")}
    n_seeds, n_steps = manifest["n_seeds"], int(record_values(ref)[-1])
    out["real_text_fig10_entropy"] = views.entropy_vs_lr({"reference": ref, "analysed": ana},
                                                         title=f"{n_seeds} seeds, {n_steps} SGD steps ({split})")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), sharey=True)
    for ax, (n, r) in zip(axes, (("reference", ref), ("analysed", ana))):
        views.change_vs_step(r, title=f"{n} model", ax=ax)
    out["real_text_attention_change"] = fig
    return out


def draw(runs: dict, fig_dir: Path) -> list[Path]:
    """Save `figures(runs)` into `fig_dir`, each as PNG and PDF; return the paths."""
    from scanflow.engine.figures import save_all

    figs = figures(runs)
    return [path for name, fig in figs.items() for path in save_all(fig, Path(fig_dir) / name)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="corpus directory or text file (short for data.path=PATH)")
    ap.add_argument("--quick", action="store_true", help="the small test-suite settings")
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("--runs", default=str(ROOT / "runs"), help="parent directory of the run directories")
    ap.add_argument("--redraw", nargs=3, metavar=("REF", "ANALYSED", "THREE_LAYER"), default=None,
                    help="draw from these run directories instead of training")
    ap.add_argument("overrides", nargs="*", help="dotted.key=value config overrides, e.g. train.steps=300")
    args = ap.parse_args(argv)

    from scanflow.engine.config import ConfigError
    from scanflow.engine.results import load_run

    names = ("reference", "analysed", "reference_3layer")
    try:
        if args.redraw:
            runs = {n: load_run(p) for n, p in zip(names, args.redraw)}
        else:
            cfgs = configs(args.data, args.quick, args.overrides)
    except (ConfigError, FileNotFoundError) as e:
        print(f"real_text_figs: error: {e}", file=sys.stderr)
        return 2

    if not args.redraw:
        from scanflow.engine.run import execute
        from scanflow.papers.real_text.workload import describe

        runs = {}
        for name in names:
            print(f"{name}: {describe(cfgs[name])}")
            run_dir = execute(cfgs[name], out_dir=args.runs, progress=True, plot=False)
            print(f"run directory {run_dir}")
            runs[name] = load_run(run_dir)
    for p in draw(runs, Path(args.figures)):
        print(f"figure {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
