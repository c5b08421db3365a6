"""Scan and Snap on real text: the Fig-7 and Fig-10 analogues on a word-level corpus (WikiText).

    python sims/real_text_figs.py --data ../shared/data/wikitext-2 [--quick] [--figures figures] [key=value ...]

Trains (one vmapped program each) the eta x seed sweep of the reference model (sinusoidal PE,
post-LN, FFN, 1 head, 1 layer) and of the analysed variant (no PE, no FFN, l2-normalised attention
output), plus the 3-layer reference model at the largest eta, and draws:

* ``real_text_fig7_attention.png``: lowest-layer attention of one evaluation sequence at 4 iterations,
  for the 1-layer and 3-layer reference models and the analysed variant (largest eta, seed 0);
* ``real_text_fig10_entropy.png``: mean evaluation-set attention entropy against eta (mean +- seed std);
* ``real_text_attention_change.png``: attention change per 100 steps against the step, with the
  detected freeze steps.

The arrays are saved to ``--arrays`` (npz). ``key=value`` overrides fields of the settings
(`scanflow.workloads.real_text.RealTextSettings`), e.g. ``steps=300 seeds=2``. With a directory
without train.txt (this machine's WikiText-2 copy) it trains on test.txt and evaluates on valid.txt.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def parse_overrides(base, items: list[str]):
    """key=value pairs -> a new settings object; one-line ValueError naming the bad field."""
    fields = {f.name: f for f in dataclasses.fields(base)}
    kw = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"{item}: expected key=value with key one of {sorted(fields)}")
        value = yaml.safe_load(raw)
        old = getattr(base, key)
        if isinstance(old, tuple):
            value = tuple(float(v) for v in (value if isinstance(value, list) else [value]))
        elif isinstance(old, bool) or (old is not None and not isinstance(value, type(old))
                                        and not (isinstance(old, float) and isinstance(value, int))):
            raise ValueError(f"{key}: expected {type(old).__name__}, got {raw!r}")
        kw[key] = value
    return dataclasses.replace(base, **kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="corpus directory or text file")
    ap.add_argument("--quick", action="store_true", help="the small test-suite settings")
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    ap.add_argument("--arrays", default=str(ROOT / "runs" / "real_text_figs.npz"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)

    from scanflow.data.corpus import CorpusError, resolve_splits
    from scanflow.workloads.real_text import FULL, QUICK

    try:
        base = parse_overrides(QUICK if args.quick else FULL, args.overrides)
        train, valid = resolve_splits(args.data)
    except (ValueError, CorpusError) as e:
        print(f"real_text_figs: error: {e}", file=sys.stderr)
        return 2

    import numpy as np

    from scanflow.checks.real_text.checks import freeze_analysis
    from scanflow.measure.real_text import uniform_causal_entropy
    from scanflow.plots import real_text as views
    from scanflow.plots.common import plt, save
    from scanflow.results import atomic_write_bytes
    from scanflow.workloads.real_text import replace, run_experiment

    runs, arrays = {}, {}
    for name, s in (("reference", base), ("analysed", replace(base, variant="analysed")),
                    ("reference_3layer", replace(base, n_layers=3, lrs=base.lrs[-1:], seeds=1))):
        print(f"{name}: {s.describe()}")
        out, corpus = run_experiment(s, args.data, log=print)
        runs[name] = (out, s)
        arrays.update({f"{name}/{k}": np.asarray(v) for k, v in out.items()})
    print(f"trained on {train}, evaluated on {valid}; vocabulary {corpus.vocab.size}")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(args.arrays), buf.getvalue())

    figs = Path(args.figures)
    split = f"train {train.name}, eval {valid.name}"
    ref, s_ref = runs["reference"]
    ana, s_ana = runs["analysed"]
    l3, _ = runs["reference_3layer"]
    steps = ref["steps"]
    pick = [int(i) for i in np.linspace(0, len(steps) - 1, 4).round()]
    rows = [("1 layer", ref["attn"][-1, 0, pick, 0]), ("3 layers (layer 0)", l3["attn"][0, 0, pick, 0]),
            ("analysed, 1 layer", ana["attn"][-1, 0, pick, 0])]
    paths = [save(views.attention_maps(rows, [int(steps[i]) for i in pick],
                                       title=rf"lowest-layer attention, $\eta$={ref['lr'][-1]:g}, seed 0, one "
                                             f"evaluation sequence ({split})"),
                  figs / "real_text_fig7_attention.png")]
    curves = [(n, o["entropy_final"][..., 0], o["entropy_init"][..., 0]) for n, o in (("reference", ref),
                                                                                      ("analysed", ana))]
    paths.append(save(views.entropy_vs_lr(curves, ref["lr"], ref=uniform_causal_entropy(s_ref.bptt),
                                          title=f"{s_ref.seeds} seeds, {s_ref.steps} SGD steps ({split})"),
                      figs / "real_text_fig10_entropy.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), sharey=True)
    for ax, (n, o, s) in zip(axes, (("reference", ref, s_ref), ("analysed", ana, s_ana))):
        fa = freeze_analysis(o, s)
        views.change_vs_step(fa["steps"], fa["change"], o["lr"], fa["freeze"], fa["eps"], title=f"{n} model",
                             ax=ax)
    paths.append(save(fig, figs / "real_text_attention_change.png"))
    for p in paths:
        print(f"figure {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
