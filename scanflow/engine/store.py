"""Where a running sweep puts its records and its carried state, chunk by chunk.

`RecordStore(None)` keeps everything in memory (`run_sweep` without a directory). With a
directory (an unfinished run directory, see `scanflow.engine.run`) it streams to disk::

    WORK/records/p000-c00000.npz   records of chunk k (k = 0: the record at step 0) of process 0,
                                   with their global run indices in ``__rows__``
    WORK/checkpoint-p000.npz       carried state after the last finished chunk (``__chunks__``)

Every file is written atomically (temp file + rename), records before the checkpoint that counts
them, so a kill at any instant leaves a state from which `latest_checkpoint` resumes exactly.
Only the current chunk is held in memory; `gather` assembles one metric at a time.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from scanflow.engine.validation import OneLineError


class RunDirError(OneLineError):
    """A damaged or incomplete run directory: one line naming the file and what to do."""


_DAMAGE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def open_npz(path: Path, what: str, fix: str) -> dict:
    """All arrays of an .npz file, or `RunDirError` naming the file, the damage and the fix."""
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except _DAMAGE as e:
        raise RunDirError(f"{path}: damaged {what} ({e.__class__.__name__}: {str(e)[:80]}); {fix}") from None


def atomic_savez(path: Path, arrays: dict) -> None:
    """np.savez to a temp sibling, fsync, then rename into place. The directory above `path`'s parent
    must exist: a store never re-creates a run directory that was renamed or removed under it."""
    path = Path(path)
    path.parent.mkdir(exist_ok=True)  # records/ inside an existing run directory (FileNotFoundError if it is gone)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a read-only directory, no inode left: named by the file it was to write
        raise type(e)(e.errno, e.strerror or str(e), str(path)) from e
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a file size limit: the message names the file, not "a file"
        Path(tmp).unlink(missing_ok=True)
        if e.filename:
            raise
        raise type(e)(e.errno, e.strerror or str(e) or type(e).__name__, str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_file(path: str | Path, what: str, fix: str) -> None:
    """A cheap check of a file before a library that may crash on a damaged one opens it: `RunDirError`
    naming the file, the damage and `fix` if it is empty or (HDF5, e.g. ``results.nc``) lacks the
    HDF5 signature or is shorter than its superblock says (truncated by a failed write or a copy).
    HDF5 can die with signal 11 on such a file; a zip (.npz) fails cleanly and needs no check."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4096)
            problem = None
            if size == 0:
                problem = "empty"
            elif path.suffix in (".nc", ".h5", ".hdf5"):
                problem = _hdf5_problem(f, head, size)
    except OSError as e:
        raise RunDirError(f"{path}: cannot read {what} ({e.strerror or e.__class__.__name__}); {fix}") from None
    if problem:
        raise RunDirError(f"{path}: damaged {what} ({problem}); {fix}")


def _hdf5_problem(f, head: bytes, size: int) -> str | None:
    """Why an HDF5 file cannot be whole (None: it may be): no signature (at 0, 512, 1024, ... bytes),
    or fewer bytes than the end-of-file address its superblock records."""
    base = 0
    while base < size and base <= (1 << 20):
        if base == 0:
            block = head[:64]
        else:
            f.seek(base)
            block = f.read(64)
        if block[:8] == HDF5_SIGNATURE:
            break
        base = 512 if base == 0 else base * 2
    else:
        return "not an HDF5/netCDF-4 file: no HDF5 signature"
    if len(block) < 16:
        return f"truncated: {size} bytes"
    version, at = block[8], None
    if version in (0, 1):
        offsets = block[13]
        at = (24 if version == 0 else 28) + 2 * offsets  # base, free-space and then end-of-file addresses
    elif version in (2, 3):
        offsets = block[9]
        at = 12 + 2 * offsets  # base, superblock-extension and then end-of-file addresses
    else:
        return None  # a newer superblock: let HDF5 judge it
    if offsets not in (2, 4, 8) or len(block) < at + offsets:
        return f"truncated: {size} bytes"
    eof = int.from_bytes(block[at:at + offsets], "little")
    stored_base = int.from_bytes(block[at - 2 * offsets:at - offsets], "little")
    if stored_base + eof > size:
        return f"truncated: {size} of {stored_base + eof} bytes"
    return None


class RecordStore:
    """Records and checkpoints of one sweep, in memory (`work=None`) or streamed to `work`."""

    def __init__(self, work: str | Path | None, process: int = 0):
        self.work = None if work is None else Path(work)
        self.process = process
        self._mem: dict[int, list[tuple[np.ndarray, dict]]] = {}
        self._ckpt: tuple[int, np.ndarray, list] | None = None

    # -- records
    def put_records(self, k: int, rows: np.ndarray, recs: dict) -> None:
        """Records of chunk k; leaves have leading axes (rows, records in this chunk, ...)."""
        if self.work is None:
            self._mem[k] = [(rows, recs)]
            return
        atomic_savez(self.work / "records" / f"p{self.process:03d}-c{k:05d}.npz", {"__rows__": rows, **recs})

    def _chunk_parts(self, k: int):
        if self.work is None:
            yield from self._mem[k]
            return
        files = sorted((self.work / "records").glob(f"p*-c{k:05d}.npz"))
        if not files:
            raise RunDirError(f"{self.work / 'records'}: the records of chunk {k} are missing; this run cannot be "
                              f"completed, start it again (scanflow run {self.work / 'config.yaml'})")
        for f in files:
            z = open_npz(f, f"records of chunk {k}", f"this run cannot be completed, start it again "
                          f"(scanflow run {self.work / 'config.yaml'})")
            yield z["__rows__"], z

    def gather(self, n_runs: int, n_chunks: int, per_chunk: int) -> dict[str, np.ndarray]:
        """Every metric over the valid runs and all records: (n_runs, total records, ...).

        Reads each chunk once and fills preallocated arrays (peak memory: the result + one chunk)."""
        out: dict[str, np.ndarray] = {}
        n_rec = 1 + n_chunks * per_chunk
        filled = np.zeros((n_runs, n_rec), bool)  # every (run, record) must come from a file: never np.empty
        at = 0
        for k in range(n_chunks + 1):
            width = 1 if k == 0 else per_chunk
            for rows, recs in self._chunk_parts(k):
                keep = rows < n_runs
                for name in recs:
                    if name == "__rows__":
                        continue
                    a = np.asarray(recs[name])
                    if a.shape[1] != width:
                        raise RunDirError(f"{self._where(k)}: chunk {k} holds {a.shape[1]} records of {name!r}, "
                                          f"expected {width}; the run's layout changed, start it again")
                    if name not in out:
                        out[name] = np.empty((n_runs, n_rec, *a.shape[2:]), a.dtype)
                    out[name][rows[keep], at : at + width] = a[keep]
                filled[rows[keep], at : at + width] = True
            at += width
        if not filled.all():
            runs, recs_ = np.nonzero(~filled)
            raise RunDirError(f"{self._where(None)}: records of {len(set(runs.tolist()))} run(s) are missing (first: run "
                              f"{runs[0]}, record {recs_[0]}); this run cannot be completed, start it again")
        return out

    def _where(self, k) -> str:
        if self.work is None:
            return "records in memory"
        return str(self.work / "records") if k is None else str(self.work / "records" / f"p*-c{k:05d}.npz")

    def missing_records(self, chunks_done: int) -> list[int]:
        """Chunks 0..chunks_done whose records file is absent (any process), checked before resuming."""
        if self.work is None:
            return []
        have = {int(m.group(1)) for f in (self.work / "records").glob("p*-c*.npz")
                if (m := re.fullmatch(r"p\d+-c(\d+)\.npz", f.name))}
        return [k for k in range(chunks_done + 1) if k not in have]

    def check_records(self, chunks_done: int) -> None:
        """Before a resume does any work: every records file of chunks 0..chunks_done (those the checkpoint
        counts) is present and readable, else `RunDirError` saying what to delete. Records after the
        checkpoint are recomputed anyway. A damaged record cannot be recomputed without the state before
        its chunk, and the checkpoint holds only the latest state: the fix restarts at chunk 0 (same bits)."""
        if self.work is None:
            return
        restart = (f"delete {self.work / 'records'} and {self.work / 'checkpoint-p*.npz'}, then resume with "
                   f"scanflow run {self.work}: it restarts at chunk 0 and recomputes every record with the same bits")
        missing = self.missing_records(chunks_done)
        if missing:
            raise RunDirError(f"{self.work / 'records'}: the records of chunk(s) {missing[:5]} are missing but the "
                              f"checkpoint counts {chunks_done} chunks; {restart}")
        for f in sorted((self.work / "records").glob("p*-c*.npz")):
            m = re.fullmatch(r"p\d+-c(\d+)\.npz", f.name)
            if m is None or int(m.group(1)) > chunks_done:
                continue
            try:
                with zipfile.ZipFile(f) as z:
                    bad = z.testzip()  # every member's CRC: a truncated or overwritten file fails here
                if bad is not None:
                    raise zipfile.BadZipFile(f"member {bad} fails its CRC")
            except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
                raise RunDirError(f"{f}: damaged records of chunk {int(m.group(1))} ({e.__class__.__name__}); "
                                  f"{restart}") from None

    # -- checkpoints of the carried state
    def put_checkpoint(self, chunks_done: int, rows: np.ndarray, leaves: list) -> None:
        if self.work is None:
            self._ckpt = (chunks_done, rows, leaves)
            return
        arrays = {"__chunks__": np.asarray(chunks_done), "__rows__": rows}
        arrays.update({f"leaf{i:03d}": np.asarray(x) for i, x in enumerate(leaves)})
        atomic_savez(self.work / f"checkpoint-p{self.process:03d}.npz", arrays)

    def latest_checkpoint(self) -> tuple[int, np.ndarray, list] | None:
        """(chunks done, global rows, state leaves) merged over every process's file, or None."""
        if self.work is None:
            return self._ckpt
        files = sorted(self.work.glob("checkpoint-p*.npz"))
        if not files:
            return None
        done, rows, parts = set(), [], []
        for f in files:
            z = open_npz(f, "checkpoint", f"delete {f} and resume: the run restarts from chunk 0 and recomputes "
                          "every record bit-identically")
            done.add(int(z["__chunks__"]))
            rows.append(z["__rows__"])
            parts.append([z[k] for k in sorted(k for k in z if re.fullmatch(r"leaf\d+", k))])
        if len(done) != 1:
            raise RunDirError(f"{self.work}: processes checkpointed different chunks {sorted(done)}; delete every "
                              "checkpoint-p*.npz and resume (the run restarts from chunk 0 with the same bits)")
        leaves = [np.concatenate(ls) for ls in zip(*parts)]
        return done.pop(), np.concatenate(rows), leaves
