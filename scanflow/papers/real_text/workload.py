"""Real text (Scan and Snap Figs 7 and 10 on a word-level corpus) as an engine workload.

A causal transformer LM (`scanflow.models.causal`) trained on a fixed corpus: step i trains on
chunk ``i mod C`` of the batchified training split, the same chunk for every run (no shuffling, as
PyTorch's word_language_model); seeds differ only in their init. The engine vmaps the eta x seed
grid in one program. The reference notebook's optimizer is ``train.optimizer: sgd`` with
``train.clip_norm: 0.5`` (clip the global gradient norm, then plain SGD); every parameter group
(``embed``, ``attn``, ``ffn``, ``norm``, ``decoder``: the top-level keys of the parameters) gets the
rate eta, the FFN group eta * ``model.ffn_lr_mult``.

Recorded at every record (step 0 included):

* ``attn`` (probe, query, key): the lowest layer's attention on ``data.probe`` fixed evaluation
  sequences (evaluation chunk min(100, C'/2)), averaged over heads: the Fig-7 maps and the freeze
  detector;
* ``entropy`` (layer): the mean attention entropy of each layer over the whole evaluation set (the
  Fig-10 measure; record 0 is the value at init, the last record the final value);
* ``loss``: the mean evaluation cross-entropy over the same set; ``finite``: every parameter finite;
* ``train_loss`` (by the engine): the mean training loss since the previous record.

Reference (spec §5, the official ``figure_7.ipynb``): emsize 200, FFN 200, 1 head, 1 layer,
sinusoidal positions, post-LN, dropout 0.3, SGD lr 5 (FFN 10), clip 0.5, batch 20, bptt 35, the full
vocabulary. ``configs/real_text.yaml`` shrinks it to fit 2 CPU cores: vocabulary capped at 2000 words,
d_model = d_ff = 64, no dropout (the causal model has none), one shared rate (Fig 10), the evaluation
split cut to its first 60k tokens.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from scanflow.engine.config import Config
from scanflow.engine.workload import Problem, Workload
from scanflow.models import causal
from scanflow.papers.real_text import config as config_mod
from scanflow.papers.real_text.data import Corpus, load_corpus, resolve_splits
from scanflow.papers.real_text.measure import mean_attention_entropy, uniform_causal_entropy

PROBE_CHUNK = 100  # Fig 7 showed evaluation chunk 100 (or the middle chunk of a shorter split)


# ---------------------------------------------------------------------------------------------- corpus


@functools.lru_cache(maxsize=4)  # a few corpora per process (each a few MB of token ids)
def _load(train: str, valid: str, stamp: tuple, vocab_cap, batch, bptt, eval_batch, max_valid_tokens) -> Corpus:
    del stamp  # part of the cache key only: an edited file is read again
    return load_corpus(train, valid, vocab_cap, batch, bptt, eval_batch, max_valid_tokens)


def corpus_of(data: config_mod.DataConfig) -> Corpus:
    """The tokenised, batched corpus of a data section (cached on the files and the batching)."""
    train, valid = resolve_splits(data.path)
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in (train, valid))
    return _load(str(train), str(valid), stamp, data.vocab_cap, data.batch, data.bptt, data.eval_batch,
                 data.max_valid_tokens)


def probe_index(corpus: Corpus) -> int:
    return min(PROBE_CHUNK, len(corpus.valid_x) // 2)


def model_spec(cfg: Config, vocab: int) -> causal.CausalSpec:
    m, T = cfg.model, cfg.data.bptt
    if m.variant == "reference":  # sinusoidal PE, post-LN residual, FFN (the notebook's model)
        return causal.CausalSpec(vocab=vocab, d_model=m.d_model, n_heads=m.n_heads, n_layers=m.n_layers, d_ff=m.d_ff,
                                 norm="post", pos="sinusoidal", max_len=T)
    # the analysed model: no positions, no FFN, no residual, no LN, l2-normalised attention output
    return causal.CausalSpec(vocab=vocab, d_model=m.d_model, n_heads=m.n_heads, n_layers=m.n_layers, d_ff=0,
                             norm="none", residual=False, pos="none", l2_attn_out=True, max_len=T)


def describe(cfg) -> str:
    """One sentence: the model, the data batching and the sweep (of a `Config` or a run's config dict)."""
    from scanflow.engine.config import to_dict

    c = to_dict(cfg) if isinstance(cfg, Config) else cfg
    m, d, t, s = c["model"], c["data"], c["train"], c["sweep"]
    model = (f"sinusoidal PE, post-LN, FFN d_ff={m['d_ff']}" if m["variant"] == "reference" else
             "analysed variant: no PE, no FFN, no residual/LN, l2-normalised attention output")
    opt = t["optimizer"] + (f" (clip {t['clip_norm']:g})" if t.get("clip_norm") is not None else "")
    ffn = f" (FFN x{m['ffn_lr_mult']:g})" if m["variant"] == "reference" and m["ffn_lr_mult"] != 1 else ""
    return (f"{m['n_layers']}-layer causal transformer ({model}), d_model={m['d_model']}, {m['n_heads']} head(s), "
            f"vocab cap {d['vocab_cap']}, batch {d['batch']} x bptt {d['bptt']}, {opt} eta in "
            f"{[float(x) for x in s['lr']['eta']]}{ffn}, {s['seeds']} seeds, {t['steps']} steps")


# ----------------------------------------------------------------------------------------------- build


def build(cfg: Config) -> Problem:
    corpus = corpus_of(cfg.data)
    spec = model_spec(cfg, corpus.vocab.size)
    dtype = jnp.float64 if cfg.x64 else jnp.float32
    tx, ty = corpus.train_x, corpus.train_y  # C x B x T int32 (host; constants of the program)
    vx, vy = corpus.valid_x, corpus.valid_y
    n_chunks = tx.shape[0]
    probe_QxT = corpus.valid_x[probe_index(corpus), : cfg.data.probe]
    keep_attn = cfg.train.record_attention

    def init(key, hp):
        del hp
        return causal.init(key, spec, dtype=dtype)

    def loss(params, key, step):
        del key  # the data stream is the corpus order, the same for every run
        c = jnp.asarray(step) % n_chunks
        x = lax.dynamic_index_in_dim(jnp.asarray(tx), c, keepdims=False)
        y = lax.dynamic_index_in_dim(jnp.asarray(ty), c, keepdims=False)
        return causal.loss(params, {"x": x, "y": y}, spec)

    def evaluate(params):
        """Mean attention entropy of every layer (L,) and the mean loss over the evaluation chunks."""

        def one(_, xy):
            x, y = xy
            logits, attn = causal.apply(params, x, spec)
            ent_L = jax.vmap(mean_attention_entropy)(attn)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return None, (ent_L, ce)

        _, (ent_CxL, ce_C) = lax.scan(one, None, (jnp.asarray(vx), jnp.asarray(vy)))
        return ent_CxL.mean(0), ce_C.mean()

    def metrics(params, rec):
        del rec
        ent_L, ce = evaluate(params)
        out = {
            "entropy": ent_L,
            "loss": ce,
            "finite": jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)])),
        }
        if keep_attn:
            _, attn_LxQxHxTxT = causal.apply(params, jnp.asarray(probe_QxT), spec)
            out["attn"] = attn_LxQxHxTxT[0].mean(1)  # lowest layer, mean over heads: Q x T x T
        return out

    metric_dims = {"attn": ("probe", "query", "key"), "entropy": ("layer",), "loss": (), "train_loss": (),
                   "finite": ()}
    T = cfg.data.bptt
    coords = {"probe": np.arange(len(probe_QxT)), "query": np.arange(T), "key": np.arange(T),
              "layer": np.arange(spec.n_layers)}
    groups = list(jax.eval_shape(lambda k: causal.init(k, spec, dtype=dtype), jax.random.PRNGKey(0)))
    info = {
        "groups": groups,
        "vocab": corpus.vocab.size,
        "train_path": corpus.train_path,
        "valid_path": corpus.valid_path,
        "n_train_tokens": corpus.n_train_tokens,
        "n_valid_tokens": corpus.n_valid_tokens,
        "train_chunks": int(n_chunks),
        "valid_chunks": int(vx.shape[0]),
        "unk_rate_train": corpus.unk_rate_train,
        "probe_chunk": probe_index(corpus),
        "probe_words": [corpus.vocab.decode(row) for row in probe_QxT],
        "uniform_entropy": uniform_causal_entropy(T),
    }
    return Problem(init, loss, metrics, None, metric_dims, coords, info)


def hyperparams(cfg: Config, info: dict) -> dict:
    """Every group gets eta; the FFN group eta * model.ffn_lr_mult. No init scales."""
    dt = np.float64 if cfg.x64 else np.float32
    eta = np.asarray(cfg.sweep.lr["eta"], np.float64)
    lr = {g: (eta * (cfg.model.ffn_lr_mult if g == "ffn" else 1.0)).astype(dt) for g in info["groups"]}
    return {"lr": lr, "init_scale": {}}


def point_arrays(cfg: Config, hp: dict, record_steps) -> tuple[dict, dict]:
    """``eta`` (point,): the shared rate of each grid point."""
    return {"eta": np.asarray(cfg.sweep.lr["eta"], np.float64)}, {"eta": ("point",)}


def setting(run) -> str:
    """The setting of a finished run in words (model, corpus, timings), for reports (the run alone: the
    corpus need not exist any more)."""
    from scanflow.engine.dataset import config_of, manifest_of

    config, manifest = config_of(run), manifest_of(run)
    info, t, d = manifest["workload_info"], manifest["timings"], config["data"]
    return (f"{describe(config)}. Trained on {info['train_path']} ({info['n_train_tokens']} tokens, "
            f"{info['train_chunks']} chunks/epoch, <unk> rate {info['unk_rate_train']:.3f}); entropy measured on "
            f"{info['valid_path']} ({info['n_valid_tokens']} tokens, {info['valid_chunks']} chunks of "
            f"{d['eval_batch']} x {d['bptt']}); vocabulary {info['vocab']} words. Sweep: compile "
            f"{t['compile_s']:.0f} s + run {t['run_s']:.0f} s ({len(manifest.get('devices', []))} "
            f"{manifest.get('backend', '?')} device(s)).")


# ----------------------------------------------------------------------------------------------- plots


def _plots(ds) -> dict:
    """Views of a finished run (``{name: Figure}``; `scanflow.papers.real_text.plots.all_figures`): entropy
    against eta, the probe maps, the change per 100 steps."""
    from scanflow.papers.real_text import plots

    return plots.all_figures(ds)


def data_files(cfg) -> dict:
    """The corpus files a run reads (their content is part of the run's identity)."""
    train, valid = resolve_splits(cfg.data.path)
    return {"train": train, "eval": valid}


WORKLOAD = Workload(
    name="real_text",
    train={"optimizer": "sgd"},  # the train: defaults a config may leave out
    data=config_mod.DataConfig,
    model=config_mod.ModelConfig,
    lr_keys=config_mod.LR_KEYS,
    lr_default=config_mod.LR_DEFAULT,
    dynamic_model_fields=config_mod.DYNAMIC_MODEL_FIELDS,
    build=build,
    hyperparams=hyperparams,
    point_arrays=point_arrays,
    validate=config_mod.validate,
    footprint=config_mod.footprint,
    plots=_plots,
    data_files=data_files,
    description="Scan and Snap on real text (Figs 7, 10): a causal transformer LM trained by SGD on a corpus",
)
