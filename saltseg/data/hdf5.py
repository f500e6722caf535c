"""The HDF5 files saltseg writes: prepared data sets (``prepare``) and predictions (``predict``).

Prepared data set (one file per source archive)::

    ids      (N,)          UTF-8 strings, sorted
    images   (N, 101, 101) uint8 grayscale
    masks    (N, 101, 101) uint8 0/1       labelled sources only
    depths   (N,)          float32         only when depths were given
    origins  (N, 4)        int32           a survey's patches only: axis (0 inline, 1 crossline),
                                           line index, first sample, first trace index
    attrs:   saltseg_version, source, source_sha256, image_size (a survey's: survey, a JSON record)

Predictions file::

    ids      (N,)          UTF-8 strings, in the source's order
    probs    (N, 101, 101) float16 salt probabilities
    attrs:   saltseg_version plus what made them (checkpoint, tta, runs)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from saltseg import __version__
from saltseg.atomic import atomic_path
from saltseg.errors import fail
from saltseg.shapes import IMAGE_SIZE

_STR = h5py.string_dtype("utf-8")


@dataclass
class Dataset:
    """Images (N,101,101) uint8 with their ids, and masks (N,101,101) 0/1 when labelled."""

    ids: list[str]
    images: np.ndarray
    masks: np.ndarray | None = None
    depths: np.ndarray | None = None
    attrs: dict[str, object] = field(default_factory=dict)
    origins: np.ndarray | None = None
    """(N, 4) int32 where a survey's patches come from: axis, line index, first sample, first trace."""

    @property
    def labelled(self) -> bool:
        """Whether the data set has masks."""
        return self.masks is not None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Predictions:
    """Salt probabilities (N,101,101) float in [0, 1] for the images ``ids``."""

    ids: list[str]
    probs: np.ndarray
    attrs: dict[str, object] = field(default_factory=dict)


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_dataset(path: str | Path, data: Dataset) -> None:
    """Write a prepared data set atomically (see the module docstring for the layout)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=np.array(data.ids, dtype=object), dtype=_STR)
        f.create_dataset("images", data=data.images, dtype=np.uint8, compression="lzf")
        if data.masks is not None:
            f.create_dataset("masks", data=data.masks, dtype=np.uint8, compression="lzf")
        if data.depths is not None:
            f.create_dataset("depths", data=data.depths, dtype=np.float32)
        if data.origins is not None:
            f.create_dataset("origins", data=data.origins, dtype=np.int32)
        f.attrs.update({"saltseg_version": __version__, "image_size": IMAGE_SIZE, **data.attrs})


def read_dataset(path: str | Path) -> Dataset:
    """Read a data set written by :func:`write_dataset`; a file that is not one is an error."""
    with _reading(path), _open_h5(path) as f:
        if "ids" not in f or "images" not in f:
            raise fail(path, "not a saltseg data file (no 'ids' or 'images'); make it with 'saltseg prepare'")
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
        images = f["images"][()]
        masks = f["masks"][()] if "masks" in f else None
        depths = f["depths"][()] if "depths" in f else None
        origins = f["origins"][()] if "origins" in f else None
        attrs = dict(f.attrs)
    if images.shape != (len(ids), IMAGE_SIZE, IMAGE_SIZE):
        raise fail(path, f"images have shape {images.shape}, expected ({len(ids)}, 101, 101)")
    return Dataset(ids, images, masks, depths, attrs, origins)


class PatchWriter:
    """A labelled data file written a batch of patches at a time (a survey, line by line)."""

    def __init__(self, file: h5py.File) -> None:
        self.file = file
        tiles = (0, IMAGE_SIZE, IMAGE_SIZE)
        file.create_dataset("ids", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(1024,))
        for name in ("images", "masks"):
            file.create_dataset(name, shape=tiles, maxshape=(None, *tiles[1:]), dtype=np.uint8,
                                chunks=(64, *tiles[1:]), compression="lzf")
        file.create_dataset("origins", shape=(0, 4), maxshape=(None, 4), dtype=np.int32, chunks=(1024, 4))

    def __len__(self) -> int:
        return len(self.file["ids"])

    def append(self, ids: list[str], images: np.ndarray, masks: np.ndarray, origins: np.ndarray) -> None:
        """Append patches: ids (n,), images and masks (n, 101, 101) uint8, origins (n, 4)."""
        start = len(self)
        for name, values in (("ids", np.array(ids, dtype=object)), ("images", images), ("masks", masks),
                             ("origins", origins)):
            self.file[name].resize(start + len(ids), axis=0)
            self.file[name][start:] = values


@contextmanager
def writing_patches(path: str | Path, attrs: dict[str, object]) -> Iterator[PatchWriter]:
    """Write a data file patch batch by patch batch under a temporary name; renamed when complete."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        writer = PatchWriter(f)
        yield writer
        f.attrs.update({"saltseg_version": __version__, "image_size": IMAGE_SIZE, **attrs})


def read_attrs(path: str | Path) -> dict[str, object]:
    """Return a data file's attributes alone (no images are read)."""
    with _reading(path), _open_h5(path) as f:
        return dict(f.attrs)


def write_predictions(path: str | Path, preds: Predictions) -> None:
    """Write predicted probabilities atomically as float16."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=np.array(preds.ids, dtype=object), dtype=_STR)
        f.create_dataset("probs", data=preds.probs.astype(np.float16))
        f.attrs.update({"saltseg_version": __version__, **preds.attrs})


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions file written by :func:`write_predictions`."""
    with _reading(path), _open_h5(path) as f:
        if "ids" not in f or "probs" not in f:
            raise fail(path, "not a saltseg predictions file (no 'ids' or 'probs')")
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
        return Predictions(ids, f["probs"][()].astype(np.float32), dict(f.attrs))


def holds_predictions(path: str | Path) -> bool:
    """Whether the HDF5 file at ``path`` is a predictions file (it has ``probs``), not a data set."""
    with _reading(path), _open_h5(path) as f:
        return "probs" in f


def is_hdf5(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file (by its signature, not its name)."""
    return Path(path).is_file() and h5py.is_hdf5(path)


@contextmanager
def _reading(path: str | Path) -> Iterator[None]:
    """Report h5py's errors on a damaged or truncated file as one line naming it."""
    try:
        yield
    except (OSError, KeyError, ValueError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise fail(path, f"damaged or truncated HDF5 file ({first_line})") from None


def _open_h5(path: str | Path) -> h5py.File:
    if not Path(path).exists():
        raise fail(path, "no such file")
    if not is_hdf5(path):
        raise fail(path, "not an HDF5 file")
    return h5py.File(path, "r")
