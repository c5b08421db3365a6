"""Scan and Snap on real text (Figs 7 and 10, spec §4-§5, S14): checks RT1-RT3, for the reference
model and for the analysed variant. Importing this package registers them.

The corpus comes from ``scanflow verify real-text --data PATH`` (`Context.data`). One (eta x seed) sweep
per model variant is trained once (one vmapped program) and shared by the three checks of that
variant.
"""

from scanflow.papers.real_text.checks.checks import corpus_path  # noqa: F401  registers RT1-RT3
from scanflow.papers.real_text import mutations  # noqa: F401  registers the rt- mutations

__all__ = ["corpus_path", "mutations"]

# `scanflow verify` reads these two names from any paper's module: a paper that needs input data says so
# (DATA_REQUIRED, shown when --data is missing) and checks the path before any check runs (check_data).
EXPECTED_DURATION = "about 15 min (--quick: about 30 s) on 2 CPU cores"  # README "Real text"
DATA_REQUIRED = ("real-text needs a corpus, e.g. --data data/wikitext-2 (a directory with train.txt + "
                 "valid.txt or test.txt + valid.txt, or one text file)")


def check_data(path) -> None:
    """Raise ValueError with a one-line message if `path` is not a usable corpus."""
    from scanflow.engine.config import decode_text
    from scanflow.papers.real_text.data import resolve_splits

    for split in resolve_splits(path):  # read here, so a binary or empty file is one line, not six ERRORs
        text = decode_text(split.read_bytes(), str(split))  # a ConfigError is a ValueError
        if not text.split():
            raise ValueError(f"{split}: expected a text corpus, got no words")
