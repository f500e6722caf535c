"""The one exception saltseg raises for bad input; only the CLI turns it into an exit code."""

from __future__ import annotations


class SaltsegError(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""

    exit_code = 2


def fail(path: object, problem: str) -> SaltsegError:
    """Return an error whose message names ``path`` and ``problem`` in one line."""
    return SaltsegError(f"{path}: {problem}")
