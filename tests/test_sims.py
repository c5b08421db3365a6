"""Smoke tests of the `sims/` scripts with tiny configs (the full runs live in the scripts)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fig4_script_smoke(tmp_path):
    p = subprocess.run(
        [sys.executable, str(ROOT / "sims" / "scan_snap_fig4.py"), "--figures", str(tmp_path / "figs"),
         "--runs", str(tmp_path / "runs"), "train.steps=4", "sweep.seeds=2", "data.batch_size=8",
         "data.seq_len=16", "name=smoke"],
        capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "figs").iterdir()) == [
        "smoke_attention.pdf", "smoke_attention.png", "smoke_loss.pdf", "smoke_loss.png"]
    bad = subprocess.run([sys.executable, str(ROOT / "sims" / "scan_snap_fig4.py"), "train.steps=0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "train.steps" in bad.stderr
