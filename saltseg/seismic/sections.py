"""2-D sections on disk: PNG, TIFF and .npy readers, and the .npy, .tif and .png writers.

Rows are depth (or time) samples and columns traces, as in the tiles. Readers check the size in
the file's header before any sample is decoded: a section must hold samples and at most
``max_pixels`` of them, so a decompression bomb is refused (one smaller than a tile is padded
when predicted, :func:`~saltseg.seismic.windows.pad_to_tile`). PNGs are 8- or 16-bit
gray, or RGB with three equal channels; TIFFs hold one 2-D image of any numeric type (32-bit
float included); .npy files one 2-D numeric array. Writers write atomically: ``.npy`` float32
probabilities (or the uint8 0/1 mask), ``.tif`` float32 (probabilities or 0/1), ``.png`` the
0/255 mask.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from saltseg.atomic import atomic_path
from saltseg.errors import fail
from saltseg.seismic.amplitude import AmplitudeMap, amplitude_map
from saltseg.seismic.options import MAX_PIXELS, AmplitudeOptions

SECTION_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
OUTPUT_SUFFIXES = (".npy", ".tif", ".tiff", ".png")
"""Default bound on a section's samples (about 15 bytes of memory each while predicting float32)."""
AMPLITUDE_SAMPLE = 1_000_000
"""Samples of a section the amplitude mapping is estimated from (evenly strided)."""
PNG_MODES = ("L", "I;16", "I;16B", "I", "RGB")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def read_section(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the samples (H, W) of a PNG, TIFF or 2-D .npy section, in the file's numeric type.

    Raises:
        SaltsegError: the file is not what its suffix says, not 2-D, empty, or larger than
            ``max_pixels``.
    """
    path = Path(path)
    readers: dict[str, Callable[[Path, int], np.ndarray]] = {
        ".png": _read_png, ".tif": _read_tiff, ".tiff": _read_tiff, ".npy": _read_npy}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise fail(path, f"not a section file; expected one of: {', '.join(SECTION_SUFFIXES)}")
    if not path.is_file():
        raise fail(path, "no such file")
    return reader(path, max_pixels)


def npy_ndim(path: Path) -> int:
    """Return the number of dimensions of the array in a .npy file (its header alone is read)."""
    if not Path(path).is_file():
        raise fail(path, "no such file")
    return len(_npy_header(Path(path))[0])


def section_pixels(samples: np.ndarray, options: AmplitudeOptions) -> tuple[np.ndarray, AmplitudeMap | None]:
    """Return a section as uint8 pixels, and the amplitude mapping used (None for 8-bit input).

    8-bit samples are pixels already; any other type is mapped by :func:`amplitude_map` estimated
    from an even sample of at most :data:`AMPLITUDE_SAMPLE` samples (``options.clip`` overrides).
    """
    if samples.dtype == np.uint8 and options.clip is None:
        return samples, None
    step = max(1, samples.size // AMPLITUDE_SAMPLE)
    mapping = amplitude_map(samples.ravel()[::step], options)
    return mapping.to_uint8(samples), mapping


def check_output(path: Path) -> None:
    """Raise unless ``path``'s suffix is a section output format (before anything is predicted)."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise fail(path, f"unknown output format; use one of: {', '.join(OUTPUT_SUFFIXES)}")


def write_section(path: Path, probs: np.ndarray, mask: np.ndarray | None) -> None:
    """Write probabilities (H, W) float32, or the 0/1 ``mask`` when given, in ``path``'s format.

    ``.png`` always holds a mask (0/255); pass it. ``.npy`` keeps the mask as uint8 0/1, ``.tif``
    writes float32 either way.
    """
    suffix = path.suffix.lower()
    check_output(path)
    with atomic_path(path) as tmp:
        if suffix == ".png":
            assert mask is not None, ".png holds the mask"
            Image.fromarray(mask * np.uint8(255)).save(tmp, format="PNG")
        elif suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(probs, np.float32) if mask is None else np.asarray(mask, np.uint8))
        else:
            tifffile.imwrite(tmp, np.asarray(probs if mask is None else mask, np.float32))


def _check_size(path: Path, shape: tuple[int, ...], max_pixels: int) -> None:
    """Raise unless ``shape`` is a 2-D section of at least one and at most ``max_pixels`` samples."""
    if len(shape) != 2:
        raise fail(path, f"holds a {len(shape)}-D array of shape {tuple(shape)}; a section is 2-D")
    if min(shape) < 1:
        raise fail(path, f"is {shape[0]}x{shape[1]} samples: an empty section")
    if shape[0] * shape[1] > max_pixels:
        raise fail(path, f"is {shape[0]}x{shape[1]} samples, more than --max-pixels {max_pixels}")


def _read_png(path: Path, max_pixels: int) -> np.ndarray:
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise fail(path, "not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    _check_size(path, (height, width), max_pixels)
    try:
        with _pillow_limit(max_pixels), Image.open(path) as image:
            mode, pixels = image.mode, np.asarray(image)
    except (OSError, SyntaxError, UnidentifiedImageError) as exc:
        raise fail(path, f"unreadable PNG ({type(exc).__name__})") from None
    if mode not in PNG_MODES:
        raise fail(path, f"PNG mode {mode} is not a section; expected 8- or 16-bit gray or RGB")
    return _gray(path, pixels)


@contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow decode up to ``max_pixels`` (already checked from the header), without its warning."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(max_pixels, saved or 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _read_tiff(path: Path, max_pixels: int) -> np.ndarray:
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = series.shape
            _check_size(path, shape[:2] if _is_rgb(shape) else shape, max_pixels)
            pixels = series.asarray()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as exc:
        raise fail(path, f"not a readable TIFF ({type(exc).__name__})") from None
    return _gray(path, pixels)


def _read_npy(path: Path, max_pixels: int) -> np.ndarray:
    shape, dtype = _npy_header(path)
    _check_size(path, shape, max_pixels)
    if dtype.kind not in "uif":
        raise fail(path, f"holds {dtype} samples; expected numbers")
    return np.load(path, allow_pickle=False)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Return the shape and dtype a .npy file's header declares."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = _NPY_HEADERS.get(version)
            if read_header is None:
                raise ValueError(f"version {version}")
            shape, _, dtype = read_header(f)
    except (ValueError, OSError, SyntaxError) as exc:
        raise fail(path, f"not a .npy array ({type(exc).__name__})") from None
    return tuple(shape), dtype


def _is_rgb(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[-1] == 3


def _gray(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Return 2-D samples: RGB only with three equal channels."""
    if _is_rgb(pixels.shape):
        if not (pixels == pixels[..., :1]).all():
            raise fail(path, "RGB with unequal channels; a section is gray")
        pixels = pixels[..., 0]
    return np.ascontiguousarray(pixels)
