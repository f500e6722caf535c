"""Read the competition's inputs: PNGs in a zip archive or a folder, and its CSV files.

A source holds ``images/<id>.png`` and, when labelled, ``masks/<id>.png``, optionally inside one
extra top-level folder (a re-zipped ``train/images/...``). Archives are read entry by entry in
memory, never extracted. Every PNG is checked before it is decoded: signature, header size
(101x101, so a decompression bomb is refused before any pixel is inflated), mode and values.
Images become uint8 gray (RGB only with three equal channels); masks become uint8 0/1 (16-bit
0/65535, or 8-bit 0/255 or 0/1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from saltseg.data.hdf5 import Dataset, file_sha256
from saltseg.errors import SaltsegError, fail
from saltseg.shapes import IMAGE_SIZE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_ENTRY_BYTES = 1 << 20  # a 101x101 PNG is a few kB; a larger entry is not one of ours
IMAGE_MODES = ("L", "RGB")
MASK_MODES = ("1", "L", "I;16", "I;16B")
MASK_ON_VALUES = {"b": (True,), "u1": (1, 255), "u2": (65535,)}  # by dtype kind and size
LAYOUT = "expected images/ (and masks/), optionally inside one top-level folder"

Track = Callable[[Sequence[str]], Iterable[str]]


class Source:
    """A zip archive or a folder of PNGs; entries are POSIX paths relative to it."""

    def __init__(self, path: Path, names: list[str]) -> None:
        self.path = path
        self.names = [n for n in names if not _ignored(n)]
        if not self.names:
            raise fail(path, "empty archive" if path.is_file() else "empty folder")
        self.root = _root(self.names)

    def where(self, name: str) -> str:
        """Return ``path:entry``, the way errors name an entry."""
        return f"{self.path}:{name}"

    def read(self, name: str) -> bytes:
        """Return the bytes of entry ``name``."""
        raise NotImplementedError

    def sha256(self) -> str:
        """Return the hex SHA-256 identifying the source's content."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the source's file handle, if any."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def folder(self, kind: str) -> dict[str, str] | None:
        """Return id -> entry for the PNGs in ``kind/`` (images or masks), None if absent."""
        prefix = f"{self.root}{kind}/"
        if not any(n.startswith(prefix) for n in self.names):
            return None
        return self._pngs([n for n in self.names if n.startswith(prefix)], prefix)

    def flat(self) -> dict[str, str]:
        """Return id -> entry for the PNGs directly at the source's top (a plain folder of PNGs)."""
        names = [n for n in self.names if n.startswith(self.root) and "/" not in n[len(self.root):]]
        return self._pngs(names, self.root)

    def _pngs(self, names: list[str], prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in names:
            rest = name[len(prefix):]
            if "/" in rest:
                raise fail(self.where(name), f"unexpected sub-folder in {prefix}")
            if not rest.lower().endswith(".png"):
                raise fail(self.where(name), "not a PNG file (expected <id>.png)")
            found[rest[:-4]] = name
        return found


class ZipSource(Source):
    """A zip archive, read in memory."""

    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise fail(path, f"corrupt or truncated zip archive ({exc})") from None
        files = [info for info in self._zip.infolist() if not info.is_dir()]
        self._infos = {info.filename: info for info in files}
        try:
            if len(self._infos) != len(files):
                raise fail(path, "duplicate entries in the archive")
            for name in self._infos:
                if _escapes(name):
                    raise fail(f"{path}:{name}", "entry path escapes the archive")
            super().__init__(path, list(self._infos))
        except SaltsegError:
            self._zip.close()
            raise

    def read(self, name: str) -> bytes:
        info = self._infos[name]
        if info.file_size > MAX_ENTRY_BYTES:
            raise fail(self.where(name), f"entry of {info.file_size} bytes is too large")
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                NotImplementedError) as exc:
            raise fail(self.where(name), f"corrupt archive entry ({exc})") from None

    def sha256(self) -> str:
        return file_sha256(self.path)

    def close(self) -> None:
        self._zip.close()


class FolderSource(Source):
    """An extracted folder."""

    def __init__(self, path: Path) -> None:
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        super().__init__(path, names)

    def where(self, name: str) -> str:
        return str(self.path / name)

    def read(self, name: str) -> bytes:
        file = self.path / name
        try:
            if file.stat().st_size > MAX_ENTRY_BYTES:
                raise fail(file, f"file of {file.stat().st_size} bytes is too large")
            return file.read_bytes()
        except OSError as exc:
            raise fail(file, f"cannot read ({exc.strerror})") from None

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.names):
            data = (self.path / name).read_bytes()
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()


def open_source(path: str | os.PathLike[str]) -> Source:
    """Open a zip archive or a folder for reading; use it as a context manager."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise fail(path, "no such file or folder")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic.startswith(b"PK"):
        raise fail(path, "not a zip archive or a folder")
    return ZipSource(path)


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode an image PNG (gray, or RGB with equal channels) to (101, 101) uint8."""
    pixels = _decode_png(data, where, IMAGE_MODES)
    if pixels.ndim == 3:
        if not (pixels == pixels[..., :1]).all():
            raise fail(where, "RGB image with unequal channels; expected grayscale")
        pixels = pixels[..., 0]
    return pixels


def decode_mask(data: bytes, where: str) -> np.ndarray:
    """Decode a mask PNG (16-bit 0/65535, 8-bit 0/255 or 0/1, or 1-bit) to (101, 101) uint8 0/1."""
    pixels = _decode_png(data, where, MASK_MODES)
    salt = pixels != 0
    on = pixels[salt]
    if on.size and not (on[0] in MASK_ON_VALUES[_kind(pixels.dtype)] and (on == on[0]).all()):
        values = np.unique(pixels)[:5].tolist()
        raise fail(where, f"mask values {values} are not 0 and one of 1, 255, 65535")
    return salt.astype(np.uint8)


def _kind(dtype: np.dtype) -> str:
    """Return 'b' for bool, else the dtype's kind and byte size ('u1', 'u2')."""
    return "b" if dtype.kind == "b" else f"{dtype.kind}{dtype.itemsize}"


def _decode_png(data: bytes, where: str, modes: tuple[str, ...]) -> np.ndarray:
    """Check signature, header size and mode, then decode; every failure is one line."""
    if not data.startswith(PNG_SIGNATURE):
        raise fail(where, "not a PNG file")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                width, height = im.size
                raise fail(where, f"is {width}x{height} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
            if im.mode not in modes:
                raise fail(where, f"PNG mode {im.mode} is not one of {', '.join(modes)}")
            return np.asarray(im)
    except UnidentifiedImageError:
        raise fail(where, "corrupt PNG (header unreadable)") from None
    except Image.DecompressionBombError as exc:
        raise fail(where, f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise fail(where, f"corrupt PNG ({exc})") from None


def load_source(path: str | os.PathLike[str], track: Track = iter) -> Dataset:
    """Read a competition source (``images/`` and optional ``masks/``) into a data set.

    Args:
        path: a zip archive or a folder.
        track: wraps the sorted ids while they are decoded (a progress bar).

    Returns:
        A Dataset with ids sorted, images (N, 101, 101) uint8, masks (N, 101, 101) 0/1 or None,
        and attrs ``source`` and ``source_sha256``.
    """
    with open_source(path) as src:
        ids, image_names, mask_names = _pairs(src)
        images = np.empty((len(ids), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        masks = None if mask_names is None else np.empty_like(images)
        for i, key in enumerate(track(ids)):
            images[i] = decode_image(src.read(image_names[key]), src.where(image_names[key]))
            if masks is not None and mask_names is not None:
                masks[i] = decode_mask(src.read(mask_names[key]), src.where(mask_names[key]))
        attrs = {"source": Path(path).name, "source_sha256": src.sha256()}
    return Dataset(ids, images, masks, attrs=attrs)


def read_images(path: str | os.PathLike[str], track: Track = iter) -> tuple[list[str], np.ndarray]:
    """Read the images of ``images/`` in a zip or folder, or the PNGs of a plain folder or zip.

    Returns:
        The sorted ids and their images (N, 101, 101) uint8.
    """
    return _read_pngs(path, "images", decode_image, track)


def read_masks(path: str | os.PathLike[str], track: Track = iter) -> tuple[list[str], np.ndarray]:
    """Read the masks of ``masks/`` in a zip or folder, or the PNGs of a plain folder or zip.

    Returns:
        The sorted ids and their masks (N, 101, 101) uint8 0/1.
    """
    return _read_pngs(path, "masks", decode_mask, track)


def read_csv(path: str | os.PathLike[str], columns: Sequence[str]
             ) -> list[tuple[str, dict[str, str]]]:
    """Read a CSV with a header holding ``columns``.

    Returns:
        ``(where, row)`` for each data row; ``where`` is ``path:line`` for error messages.
    """
    path = Path(path)
    if not path.is_file():
        raise fail(path, "no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise fail(path, f"no column {', '.join(missing)} in header {reader.fieldnames}")
            return [(f"{path}:{reader.line_num}", row) for row in reader]
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise fail(path, f"not a readable CSV file ({exc})") from None


def _read_pngs(path: str | os.PathLike[str], kind: str, decode: Callable[[bytes, str], np.ndarray],
               track: Track) -> tuple[list[str], np.ndarray]:
    with open_source(path) as src:
        names = src.folder(kind) or src.flat()
        if not names:
            raise fail(path, f"no PNG files ({kind}/ or directly in it)")
        ids = sorted(names)
        out = np.empty((len(ids), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        for i, key in enumerate(track(ids)):
            out[i] = decode(src.read(names[key]), src.where(names[key]))
    return ids, out


def _pairs(src: Source) -> tuple[list[str], dict[str, str], dict[str, str] | None]:
    """Return the sorted ids with their image entries and mask entries (None when unlabelled)."""
    images = src.folder("images")
    if not images:
        raise fail(src.path, f"no images/ folder with PNGs ({LAYOUT})")
    masks = src.folder("masks")
    if masks is not None:
        for key in sorted(images.keys() ^ masks.keys()):
            entry = images.get(key) or masks[key]
            problem = "image without a mask" if key in images else "mask without an image"
            raise fail(src.where(entry), problem)
    return sorted(images), images, masks


def _root(names: list[str]) -> str:
    """Return the prefix the data lies under: '' or one extra top-level folder 'name/'."""
    tops = {n.partition("/")[0] for n in names}
    if tops & {"images", "masks"} or len(tops) != 1 or not all("/" in n for n in names):
        return ""
    return f"{tops.pop()}/"


def _escapes(name: str) -> bool:
    """Whether an archive entry's path is absolute or climbs out with '..'."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or ".." in PurePosixPath(posix).parts or bool(
        re.match(r"^[A-Za-z]:", posix))


def _ignored(name: str) -> bool:
    """Whether an entry is operating-system clutter (hidden files, __MACOSX/)."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))
