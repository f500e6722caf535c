"""Ctrl-C and SIGTERM end a command the same way: an exception that unwinds every ``finally``.

SIGTERM is what ``timeout``, Docker, Kubernetes and batch schedulers send before they kill. Its
default action ends the process at once, leaving temporary files and no word on how to resume;
raised as :class:`Terminated` instead, it runs the same clean-up as Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGINT_EXIT, SIGTERM_EXIT = 130, 143
"""Exit codes of a command ended by Ctrl-C and by SIGTERM (128 + the signal's number)."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (a KeyboardInterrupt, so Ctrl-C's handling applies)."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """Return the exit code for an interruption: 143 for SIGTERM, 130 for Ctrl-C."""
    return SIGTERM_EXIT if isinstance(interrupt, Terminated) else SIGINT_EXIT


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
