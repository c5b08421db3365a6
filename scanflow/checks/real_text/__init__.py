"""Scan and Snap on real text (Figs 7 and 10, spec §4-§5, S14): checks RT1-RT3, for the reference
model and for the analysed variant. Importing this package registers them.

The corpus comes from ``scanflow verify real-text --data PATH`` (`Context.data`). One (eta x seed) sweep
per model variant is trained once (one vmapped program) and shared by the three checks of that
variant.
"""

from scanflow.checks.real_text.checks import corpus_path  # noqa: F401  registers RT1-RT3

__all__ = ["corpus_path"]
