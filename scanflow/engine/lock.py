"""One writer per unfinished run directory: ``RUN.partial/lock`` holds "pid host" of the process writing
it; a second writer is refused in one line, a lock whose process is gone (same host) is taken over.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


from scanflow.engine.store import RunDirError
LOCK = "lock"  # RUN.partial/lock: "pid host" of the process writing the directory


EMPTY_LOCK_STALE_S = 10.0  # an empty lock this old was left by a kill between its creation and its write


def _acquire_lock(work: Path) -> Path:
    """Create RUN.partial/lock (pid, host) or refuse: one writer per run directory."""
    lock = work / LOCK
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text = lock.read_text()
                if not text.strip() and time.time() - lock.stat().st_mtime > EMPTY_LOCK_STALE_S:
                    lock.unlink(missing_ok=True)  # killed between creating and writing it: no writer
                    continue
                pid_s, host = text.split(maxsplit=1)
                pid = int(pid_s)
            except (OSError, ValueError):
                pid, host = -1, "?"
            if host.strip() == socket.gethostname() and pid > 0 and not _alive(pid):
                lock.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            raise RunDirError(f"{lock}: {work} is being written by pid {pid} on {host.strip()}; wait for it to finish, "
                              f"or delete the lock file if that process is gone") from None
        except FileNotFoundError:
            raise RunDirError(f"{work}: the run directory disappeared (finished or removed by another process)") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return lock
    raise RunDirError(f"{lock}: could not take the lock of {work}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_lock(lock: Path | None) -> None:
    if lock is not None:
        try:
            if lock.read_text().split()[0] == str(os.getpid()):
                lock.unlink()
        except (OSError, IndexError):
            pass

