"""The ``saltseg`` command line: each command parses its options, calls one stage function, prints.

Stage modules never import typer; errors they raise (SaltsegError) become one line on stderr and
exit code 2 here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from saltseg import __version__
from saltseg.console import setup_logging
from saltseg.errors import SaltsegError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Segment salt in seismic images: prepare data, train a UNet, threshold, predict, submit.",
)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a SaltsegError into one line on stderr and its exit code; Ctrl-C into exit 130."""
    try:
        yield
    except SaltsegError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"saltseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More messages.")] = False,
) -> None:
    setup_logging(verbose)


def main() -> None:
    """Entry point of the ``saltseg`` console script."""
    app()
