"""Writing files safely: atomically (a temporary sibling, then a rename), naming the path in every
error, and HDF5 writes that fail as an `OSError` instead of crashing the process (`guarded_hdf5_write`).
The lowest layer of the run directory code: it imports no other scanflow module.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file via a temporary sibling and `os.replace` (used for figures). A failed write (full
    disk, file size limit, permissions) is an OSError naming `path`; nothing is left behind."""
    path = Path(path)
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = None
        try:
            try:  # .tmp: what `finish_run` sweeps away if a kill leaves one
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as e:  # a read-only directory: named by the file it was to write
                raise named_error(e, path) from e
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
            os.replace(tmp, path)
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise


class naming:
    """``with naming(path):`` an OSError raised inside without a file name (``f.write`` on a full disk
    says only "No space left on device") gets `path` as its file name, so its message names the file."""

    def __init__(self, path):
        self.path = str(path)

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, OSError) and not err.filename:
            raise named_error(err, self.path).with_traceback(tb) from err
        return False


def named_error(err: OSError, path) -> OSError:
    """`err` again (same type and errno) with `path` as its file name."""
    what = err.strerror or str(err) or type(err).__name__
    try:
        return type(err)(err.errno, what, str(path))
    except TypeError:  # a subclass with its own constructor
        return OSError(err.errno, what, str(path))


def guarded_hdf5_write(path: str | Path, write, name: str | Path | None = None) -> None:
    """``write(f)`` writes an HDF5 file (h5py, h5netcdf, ``xarray.to_netcdf``) into the file object `f`,
    which writes through to `path`; a write that fails is an OSError naming `name` (default `path`)
    after `write` returns, never a crash.

    HDF5 does not survive a failed write: after "File too large" or "No space left on device" it prints
    errors while closing and the process dies with signal 11. So `f` never fails a write: from the first
    failure on it goes on in memory (the part already on disk is read back), HDF5 finishes normally,
    and then the error is raised. Costs nothing while the writes succeed."""
    f = _FailSafeFile(path)
    try:
        with naming(name or path):
            write(f)
    finally:
        f.close()
    if f.error is not None:
        raise named_error(f.error, name or path) from f.error


class _FailSafeFile(io.RawIOBase):
    """A read-write binary file that records its first failed write and then continues in memory."""

    def __init__(self, path):
        self._disk = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self._mem: io.BytesIO | None = None
        self.error: OSError | None = None

    def _file(self):
        return self._disk if self._mem is None else self._mem

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._file().seek(pos, whence)

    def tell(self) -> int:
        return self._file().tell()

    def readinto(self, b) -> int:
        return self._file().readinto(b)

    def _to_memory(self, err: OSError, pos: int) -> None:
        self.error = err
        self._disk.seek(0)
        self._mem = io.BytesIO(self._disk.read())
        self._mem.seek(pos)

    def write(self, b) -> int:
        view = memoryview(b).cast("B")
        if self._mem is not None:
            return self._mem.write(view)
        start, done = self._disk.tell(), 0
        try:
            while done < len(view):  # a raw write may be short (the limit reached mid-buffer)
                n = self._disk.write(view[done:])
                if not n:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
            return done
        except OSError as e:
            self._to_memory(e, start + done)
            return done + self._mem.write(view[done:])

    def truncate(self, size: int | None = None) -> int:
        if self._mem is None:
            try:
                return self._disk.truncate(size)
            except OSError as e:
                self._to_memory(e, self._disk.tell())
        return self._mem.truncate(size)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._disk.close()
            self._mem = None
