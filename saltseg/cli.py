"""The ``saltseg`` command line: each command parses its options, calls one stage function, prints.

Stage modules never import typer; errors they raise (SaltsegError) become one line on stderr and
exit code 2 here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from saltseg import __version__, prepare, rle
from saltseg.atomic import write_text_atomic
from saltseg.console import log, setup_logging
from saltseg.errors import SaltsegError, fail

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


@app.command("prepare", rich_help_panel="Data")
def prepare_cli(
    source: Annotated[Path, typer.Argument(help="train.zip, test.zip, or a folder like them.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HDF5 file.", show_default="<SOURCE stem>.h5 here"),
    ] = None,
    depths: Annotated[Path | None, typer.Option(help="depths.csv (id,z): store depths.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Turn a competition archive or folder into one HDF5 data file."""
    with reported_errors():
        summary = prepare.prepare(source, out, depths, force)
    log.info("%s", summary)


@app.command("rle", rich_help_panel="Data")
def rle_cli(
    source: Annotated[
        Path, typer.Argument(help="PNG masks (folder, zip), a .h5 file; with --decode a CSV.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV, or folder.", show_default="stdout")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Probability cut.", show_default="0.5", min=0.0, max=1.0)
    ] = None,
    ids: Annotated[
        Path | None, typer.Option("--ids", help="CSV whose id column orders the rows.")
    ] = None,
    decode: Annotated[
        bool, typer.Option("--decode", help="Write the masks of CSV SOURCE as PNGs in OUT.")
    ] = False,
) -> None:
    """Run-length encode masks as a submission CSV, or decode one back to PNG masks."""
    with reported_errors():
        if decode:
            if out is None:
                raise fail("--decode", "needs --out FOLDER for the PNG masks")
            log.info("wrote %d masks to %s", rle.decode(source, out), out)
            return
        text = rle.encode(source, threshold, ids)
        if out is None:
            sys.stdout.write(text)
        else:
            write_text_atomic(out, text)


def main() -> None:
    """Entry point of the ``saltseg`` console script."""
    app()
