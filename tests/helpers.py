"""Small competition-like sources for tests: synthetic pixels with the real files' quirks.

Images are RGB PNGs with three equal channels; masks with salt are 16-bit PNGs (0/65535), empty
masks 8-bit PNGs of zeros; entries live in ``images/<id>.png`` and ``masks/<id>.png``.
"""

from __future__ import annotations

import io
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from saltseg.cli import app

SIZE = 101


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an array as a PNG (mode from its dtype and shape, as Pillow chooses)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_png(gray: np.ndarray) -> bytes:
    """Encode a gray (H, W) uint8 image as the competition does: RGB with three equal channels."""
    return png_bytes(np.repeat(gray[..., None], 3, axis=2))


def mask_png(mask: np.ndarray) -> bytes:
    """Encode a 0/1 mask as the competition does: 16-bit 0/65535 with salt, 8-bit zeros without."""
    if mask.any():
        return png_bytes(mask.astype(np.uint16) * 65535)
    return png_bytes(np.zeros(mask.shape, np.uint8))


def bomb_png(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims ``width`` x ``height`` 8-bit gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width + 1) * 16)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def synthetic_examples(n: int = 6, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return id -> (image (101,101) uint8, mask (101,101) 0/1); every third mask is empty."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    examples = {}
    for i in range(n):
        image = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
        cy, cx = rng.integers(0, SIZE, 2)
        mask = ((rows - cy) ** 2 + (cols - cx) ** 2 < rng.integers(5, 40) ** 2).astype(np.uint8)
        examples[f"{rng.integers(16**10):010x}"] = (image, mask * (i % 3 != 0))
    return examples


def salt_section(rng: np.random.Generator, salt: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return one seismic-like tile (101, 101) uint8 and its 0/1 mask.

    Layered reflectors (dipping, gently folded sinusoids with noise) fill the tile; a salt body,
    when ``salt``, is a lobed blob of chaotic low-amplitude texture with a bright top reflector,
    as salt looks in seismic: the mask follows the image, so a network can learn it.
    """
    rows, cols = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    period, dip, phase = rng.uniform(6, 14), rng.uniform(-0.3, 0.3), rng.uniform(0, 2 * np.pi)
    fold = 4 * np.sin(cols / rng.uniform(15, 40) + rng.uniform(0, 6))
    layers = 128 + 55 * np.sin(2 * np.pi * (rows + dip * cols + fold) / period + phase)
    image = layers + rng.normal(0, 8, (SIZE, SIZE))
    mask = np.zeros((SIZE, SIZE), bool)
    if salt:
        cy, cx = rng.uniform(10, 90, 2)
        radius, lobes, turn = rng.uniform(12, 45), rng.integers(2, 5), rng.uniform(0, 2 * np.pi)
        angle, dist = np.arctan2(rows - cy, cols - cx), np.hypot(rows - cy, cols - cx)
        mask = dist < radius * (1 + 0.25 * np.sin(lobes * angle + turn))
        image[mask] = 120 + rng.normal(0, 14, int(mask.sum()))
        top = mask & ~np.roll(mask, 2, axis=0)
        image[top] = 235
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def salt_examples(n: int = 96, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return id -> (image, mask) of ``n`` learnable seismic-like tiles (:func:`salt_section`);
    two in five masks are empty, as about 39% of the competition's are."""
    rng = np.random.default_rng(seed)
    return {f"{rng.integers(16**10):010x}": salt_section(rng, i % 5 >= 2) for i in range(n)}


def source_entries(
    examples: dict[str, tuple[np.ndarray, np.ndarray]], masks: bool = True, prefix: str = ""
) -> dict[str, bytes]:
    """Return the entries of a train.zip-like source (test.zip-like when ``masks`` is False)."""
    entries = {f"{prefix}images/{key}.png": image_png(img) for key, (img, _) in examples.items()}
    if masks:
        entries |= {f"{prefix}masks/{key}.png": mask_png(m) for key, (_, m) in examples.items()}
    return entries


def write_zip(path: Path, entries: dict[str, bytes], stored: bool = False) -> Path:
    """Write ``entries`` (name -> bytes) as a zip archive (deflated unless ``stored``)."""
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def write_folder(root: Path, entries: dict[str, bytes]) -> Path:
    """Write ``entries`` (relative name -> bytes) as files under ``root``."""
    for name, data in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def invoke(*args: object) -> Result:
    """Run ``saltseg ARGS`` in-process, stdout and stderr captured apart."""
    log = logging.getLogger("saltseg")
    for handler in list(log.handlers):  # bound to an earlier invocation's stderr
        log.removeHandler(handler)
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result: Result, *names: object) -> None:
    """Assert exit code 2 and one error line on stderr naming each of ``names``, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(str(name) in lines[0] for name in names), lines[0]
    assert result.stdout == ""
