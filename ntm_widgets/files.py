"""Writing files so that a crash, a kill or a second process never leaves half of one.

``atomic_write(path, data)`` writes a uniquely named temporary file beside ``path``
and renames it over ``path`` (``os.replace`` is atomic on POSIX and Windows), so a
reader sees the old file or the new one; two writers never share a temporary name,
and a failed write removes its temporary file. ``RunLock`` keeps a second trainer
out of a run folder; the operating system releases it when its process dies, even
by ``kill -9``.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union

Data = Union[bytes, str, Callable[[str], None]]


def atomic_write(path, data: Data) -> Path:
    """Replace ``path`` with ``data`` (bytes, str, or a function writing to the temp path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if callable(data):
            os.close(fd)
            fd = -1
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fd = -1
                fh.write(data.encode() if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def remove_stale_temps(folder) -> int:
    """Delete temporary files ``atomic_write`` left in ``folder`` when a process was
    killed mid-write (hold the folder's RunLock: nobody else is writing). Returns how many."""
    removed = 0
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_dir_problem(folder) -> Optional[str]:
    """Why ``folder`` cannot hold output files, or None: tried by creating it and a file in it."""
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    return None


class LockedError(RuntimeError):
    """The run folder is in use by another process."""


class RunLock:
    """An exclusive lock on a folder (``.lock`` inside it, holding the owner's pid).

    ``fcntl.flock`` locks belong to the open file: the kernel drops them when the
    process exits in any way, so a killed trainer never leaves a folder locked.
    """

    NAME = ".lock"

    def __init__(self, folder):
        self.folder = Path(folder)
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; run unlocked
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / self.NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockedError(
                    f"{self.folder} is in use by process {owner} (another ntm-widgets training); "
                    f"wait for it to finish or choose another folder"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
