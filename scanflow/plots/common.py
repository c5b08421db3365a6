"""Shared plotting helpers (headless backend, atomic PNG writes)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scanflow.results import atomic_write_bytes  # noqa: E402


def save(fig, path: Path, dpi: int = 130) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def lr_label(r, p: int) -> str:
    return rf"$\eta_Y$={r['lr_Y'][p]:g}, $\eta_Z$={r['lr_Z'][p]:g}"
