"""One training process per run directory: an advisory lock on ``RUN/.lock`` naming its holder.

The lock is the operating system's (``flock``), so a process that dies, even by ``kill -9``,
holds it no longer; the file itself only says who held it last.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from saltseg.errors import fail


@contextmanager
def run_lock(root: Path, lock_file: Path) -> Iterator[None]:
    """Hold the lock of the run directory ``root`` for the block; refuse at once when another
    process holds it, naming that process."""
    if root.exists() and not root.is_dir():
        raise fail(root, "is a file, not a run directory")
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise fail(root, f"cannot be written ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise fail(root, f"is in use by process {holder} (saltseg train); wait for it to end or stop it"
                   ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        lock_file.unlink(missing_ok=True)
        os.close(fd)
        if created and not any(root.iterdir()):
            root.rmdir()
