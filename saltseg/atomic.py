"""Write files under a temporary name and rename them into place, so no reader sees half a file.

A temporary name carries the writer's process id (``.NAME.PID.tmp``). One left behind by a
process that died (``kill -9``) is swept by the next write to the same target. A write that
fails (disk full, file-size limit) leaves the previous file in place and is reported as one
line naming the target.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from saltseg.errors import fail

WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO)
"""Errors of the file system (not of the data) that make a write fail."""


def temporary_sibling(target: Path) -> Path:
    """Return a hidden temporary path in ``target``'s folder (same file system, so rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temporaries(target: Path) -> list[Path]:
    """Delete the temporary siblings of ``target`` whose writer is dead; return what was deleted."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.tmp")
    swept = []
    for path in target.parent.glob(f".{glob_escape(target.name)}.*.tmp"):
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1))):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
            swept.append(path)
    return swept


def glob_escape(name: str) -> str:
    """Return ``name`` with glob's special characters bracketed."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def write_failure(target: Path, exc: BaseException) -> Exception | None:
    """Return the one-line error for a write to ``target`` that failed with ``exc``, or None when
    ``exc`` is not a file-system failure (an OSError of :data:`WRITE_ERRORS`, or h5py's report of
    one, which carries no errno)."""
    reason = exc
    while reason is not None and not isinstance(reason, OSError):
        reason = reason.__cause__ or reason.__context__
    if isinstance(reason, OSError) and reason.errno in WRITE_ERRORS:
        return fail(target, f"could not be written ({os.strerror(reason.errno)}); the previous file is kept")
    text = str(exc).lower()
    if "file too large" in text or "no space left" in text or "quota exceeded" in text:
        return fail(target, f"could not be written ({str(exc).splitlines()[0]}); the previous file is kept")
    return None


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``target``, on any failure delete it.

    Args:
        target: the final path. Its parent folder is created if missing.

    Raises:
        SaltsegError: the file system refused the write (the previous ``target`` is untouched).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(target)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except (OSError, RuntimeError) as exc:  # h5py reports a failed close as a RuntimeError
        if (error := write_failure(target, exc)) is None:
            raise
        raise error from None
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
