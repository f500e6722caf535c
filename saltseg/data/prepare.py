"""``saltseg prepare``: turn a competition archive or folder into one HDF5 data file."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltseg.console import progress_bar
from saltseg.data.hdf5 import write_dataset
from saltseg.data.sources import load_source, read_csv
from saltseg.errors import fail


@dataclass
class PrepareSummary:
    """What ``prepare`` wrote: output path, image count, images with salt (None: unlabelled)."""

    out: Path
    images: int
    with_salt: int | None

    def __str__(self) -> str:
        salt = "unlabelled" if self.with_salt is None else f"{self.with_salt} with salt"
        return f"prepared {self.images} images ({salt}) -> {self.out}"


def default_output(source: str | os.PathLike[str]) -> Path:
    """Return ``<SOURCE stem>.h5`` in the current directory."""
    return Path(f"{Path(source).resolve().stem}.h5")


def prepare(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    depths_csv: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> PrepareSummary:
    """Read a source's images (and masks) and write them as a prepared data file.

    Args:
        source: ``train.zip``/``test.zip`` or a folder of the same layout (see saltseg.data.sources).
        out: the HDF5 file to write; default :func:`default_output`.
        depths_csv: a CSV ``id,z``; when given every id must have a depth.
        force: overwrite ``out`` if it exists.

    Returns:
        A summary whose ``str`` is the one-line report.
    """
    out = Path(out) if out is not None else default_output(source)
    if out.is_dir():
        raise fail(out, "is a folder; give a file name")
    if out.exists() and not force:
        raise fail(out, "already exists; use --force to overwrite it")
    data = load_source(source, track=_tracked)
    if depths_csv is not None:
        data.depths = read_depths(depths_csv, data.ids)
    try:
        write_dataset(out, data)
    except OSError as exc:
        raise fail(out, f"cannot write ({exc})") from None
    salt = None if data.masks is None else int(data.masks.any(axis=(1, 2)).sum())
    return PrepareSummary(out, len(data), salt)


def read_depths(path: str | os.PathLike[str], ids: Sequence[str]) -> np.ndarray:
    """Return the depth (N,) float32 of each id from a CSV ``id,z``; a missing id is an error."""
    depths: dict[str, float] = {}
    for where, row in read_csv(path, ["id", "z"]):
        try:
            depths[row["id"]] = float(row["z"])
        except (TypeError, ValueError):
            raise fail(where, f"depth {row['z']!r} is not a number") from None
    missing = [key for key in ids if key not in depths]
    if missing:
        raise fail(path, f"no depth for id {missing[0]} ({len(missing)} ids missing)")
    return np.array([depths[key] for key in ids], np.float32)


def _tracked(ids: Sequence[str]) -> Iterator[str]:
    """Yield ``ids`` while a progress bar on stderr counts them."""
    with progress_bar() as bar:
        yield from bar.track(ids, description="decoding")
