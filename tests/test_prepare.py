"""``saltseg prepare``: small built sources end to end, every bad input, and the real train.zip."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    assert_one_line_error,
    bomb_png,
    image_png,
    invoke,
    mask_png,
    png_bytes,
    source_entries,
    write_folder,
    write_zip,
)

from saltseg.data.hdf5 import read_dataset
from saltseg.data.rle import rle_decode
from saltseg.data.sources import read_csv
from saltseg.shapes import IMAGE_SIZE

Examples = dict[str, tuple[np.ndarray, np.ndarray]]


def assert_matches(out: Path, examples: Examples, labelled: bool = True) -> None:
    """Assert the data file holds exactly ``examples``, sorted by id."""
    data = read_dataset(out)
    ids = sorted(examples)
    assert data.ids == ids
    assert data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, np.stack([examples[k][0] for k in ids]))
    if labelled:
        assert data.masks is not None and data.masks.dtype == np.uint8
        np.testing.assert_array_equal(data.masks, np.stack([examples[k][1] for k in ids]))
    else:
        assert data.masks is None
    assert data.attrs["image_size"] == IMAGE_SIZE


def test_prepare_zip(tmp_path: Path, train_zip: Path, examples: Examples) -> None:
    out = tmp_path / "out" / "train.h5"
    result = invoke("prepare", train_zip, "--out", out)
    assert result.exit_code == 0, result.output
    assert_matches(out, examples)
    attrs = read_dataset(out).attrs
    assert attrs["source"] == "train.zip"
    assert attrs["source_sha256"] == hashlib.sha256(train_zip.read_bytes()).hexdigest()
    with_salt = sum(mask.any() for _, mask in examples.values())
    assert f"{len(examples)} images ({with_salt} with salt)" in result.stderr
    assert str(out) in result.stderr
    assert result.stdout == ""


def test_default_output_and_force(tmp_path: Path, train_zip: Path, examples: Examples,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke("prepare", train_zip).exit_code == 0
    assert_matches(tmp_path / "train.h5", examples)
    before = (tmp_path / "train.h5").read_bytes()
    assert_one_line_error(invoke("prepare", train_zip), "train.h5", "--force")
    assert (tmp_path / "train.h5").read_bytes() == before
    assert invoke("prepare", train_zip, "--force").exit_code == 0



def test_output_folder_is_refused(tmp_path: Path, train_zip: Path) -> None:
    assert_one_line_error(invoke("prepare", train_zip, "-o", tmp_path, "--force"), tmp_path, "folder")


@pytest.mark.parametrize("prefix", ["", "train/"])
def test_prepare_folder_and_extra_top_folder(tmp_path: Path, examples: Examples, prefix: str) -> None:
    entries = source_entries(examples, prefix=prefix)
    for source in (write_folder(tmp_path / "src", entries), write_zip(tmp_path / "re.zip", entries)):
        out = tmp_path / f"{source.stem}.h5"
        assert invoke("prepare", source, "-o", out).exit_code == 0
        assert_matches(out, examples)


def test_prepare_test_layout_with_depths(tmp_path: Path, examples: Examples) -> None:
    source = write_zip(tmp_path / "test.zip", source_entries(examples, masks=False))
    depths = {key: float(i * 7.5) for i, key in enumerate(examples)}
    csv = tmp_path / "depths.csv"
    csv.write_text("id,z\n" + "".join(f"{k},{z}\n" for k, z in depths.items()) + "other,1\n")
    out = tmp_path / "test.h5"
    result = invoke("prepare", source, "-o", out, "--depths", csv)
    assert result.exit_code == 0, result.output
    assert "unlabelled" in result.stderr
    assert_matches(out, examples, labelled=False)
    data = read_dataset(out)
    assert data.depths is not None and data.depths.dtype == np.float32
    assert data.depths.tolist() == [depths[k] for k in data.ids]


def test_grayscale_and_8bit_masks_accepted(tmp_path: Path, examples: Examples) -> None:
    entries = source_entries(examples)
    for key, (image, mask) in examples.items():
        entries[f"images/{key}.png"] = png_bytes(image)
        entries[f"masks/{key}.png"] = png_bytes(mask * 255 if len(key) % 2 else mask)
    out = tmp_path / "gray.h5"
    assert invoke("prepare", write_zip(tmp_path / "gray.zip", entries), "-o", out).exit_code == 0
    assert_matches(out, examples)


def _first(examples: Examples, kind: str) -> str:
    return f"{kind}/{sorted(examples)[0]}.png"


def _with(entries: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    """Return ``entries`` with ``name`` replaced by ``data`` (removed when None)."""
    changed = {k: v for k, v in entries.items() if k != name}
    if data is not None:
        changed[name] = data
    return changed


def _flip_byte_in_png(archive: bytes) -> bytes:
    """Corrupt one byte of the first stored PNG's pixel data inside a stored zip."""
    at = archive.index(b"IDAT") + 12
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1 :]


BadSource = Callable[[Path, Examples], tuple[Path, str]]

BAD_SOURCES: dict[str, BadSource] = {
    "missing path": lambda d, e: (d / "nope.zip", "nope.zip"),
    "not a zip": lambda d, e: (_write(d / "train.zip", b"id,z\n1,2\n"), "train.zip"),
    "truncated zip": lambda d, e: (
        _write(d / "t.zip", write_zip(d / "full.zip", source_entries(e)).read_bytes()[:3000]),
        "t.zip",
    ),
    "bad crc": lambda d, e: (
        _write(d / "crc.zip", _flip_byte_in_png(
            write_zip(d / "ok.zip", source_entries(e), stored=True).read_bytes())),
        "crc.zip:",
    ),
    "empty zip": lambda d, e: (write_zip(d / "empty.zip", {}), "empty.zip"),
    "escaping entry": lambda d, e: (
        write_zip(d / "x.zip", source_entries(e) | {"../evil.png": b"x"}), "../evil.png"),
    "absolute entry": lambda d, e: (
        write_zip(d / "x.zip", source_entries(e) | {"/etc/evil.png": b"x"}), "/etc/evil.png"),
    "image without mask": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "masks"), None)),
        _first(e, "images"),
    ),
    "mask without image": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"), None)),
        _first(e, "masks"),
    ),
    "no images folder": lambda d, e: (write_zip(d / "x.zip", {"a/b.png": b"x"}), "x.zip"),
    "not a png": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"), b"GIF89a...")),
        _first(e, "images"),
    ),
    "not a png name": lambda d, e: (
        write_zip(d / "x.zip", source_entries(e) | {"images/notes.txt": b"hi"}), "notes.txt"),
    "corrupt png": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"),
                                     image_png(e[sorted(e)[0]][0])[:200])),
        _first(e, "images"),
    ),
    "image of another size": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"),
                                     image_png(np.zeros((101, 100), np.uint8)))),
        _first(e, "images"),
    ),
    "mask of another size": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "masks"),
                                     mask_png(np.ones((102, 101), np.uint8)))),
        _first(e, "masks"),
    ),
    "decompression bomb": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"),
                                     bomb_png(100_000, 100_000))),
        _first(e, "images"),
    ),
    "large header": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"), bomb_png(5000, 5000))),
        _first(e, "images"),
    ),
    "colour image": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "images"),
                                     png_bytes(np.arange(101 * 101 * 3, dtype=np.uint8)
                                               .reshape(101, 101, 3)))),
        _first(e, "images"),
    ),
    "mask with grey values": lambda d, e: (
        write_zip(d / "x.zip", _with(source_entries(e), _first(e, "masks"),
                                     png_bytes(np.full((101, 101), 128, np.uint8)))),
        _first(e, "masks"),
    ),
    "folder with a corrupt png": lambda d, e: (
        write_folder(d / "src", _with(source_entries(e), _first(e, "masks"), b"\x89PNG\r\n\x1a\n")),
        _first(e, "masks"),
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_bad_source(tmp_path: Path, examples: Examples, case: str) -> None:
    source, named = BAD_SOURCES[case](tmp_path, examples)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = invoke("prepare", source, "-o", out_dir / "x.h5")
    assert_one_line_error(result, named)
    assert list(out_dir.iterdir()) == []


def test_missing_depth_names_the_id(tmp_path: Path, train_zip: Path, examples: Examples) -> None:
    missing = sorted(examples)[1]
    csv = tmp_path / "depths.csv"
    csv.write_text("id,z\n" + "".join(f"{k},1\n" for k in examples if k != missing))
    out = tmp_path / "train.h5"
    assert_one_line_error(invoke("prepare", train_zip, "-o", out, "--depths", csv), csv, missing)
    assert not out.exists()


@pytest.mark.parametrize("text", ["id,depth\nabc,1\n", "id,z\nabc,deep\n"])
def test_bad_depths_csv(tmp_path: Path, train_zip: Path, text: str) -> None:
    csv = tmp_path / "depths.csv"
    csv.write_text(text)
    assert_one_line_error(invoke("prepare", train_zip, "-o", tmp_path / "o.h5", "--depths", csv), csv)
    assert not (tmp_path / "o.h5").exists()


@pytest.fixture(scope="session")
def prepared_train(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real train.zip prepared once per session."""
    out = tmp_path_factory.mktemp("prepared") / "train.h5"
    result = invoke("prepare", shared_data / "train.zip", "-o", out)
    assert result.exit_code == 0, result.output
    return out


def test_real_train_masks_equal_train_csv(prepared_train: Path, shared_data: Path) -> None:
    data = read_dataset(prepared_train)
    rows = read_csv(shared_data / "train.csv", ["id", "rle_mask"])
    assert data.ids == sorted(row["id"] for _, row in rows)
    assert data.attrs["source_sha256"] == hashlib.sha256(
        (shared_data / "train.zip").read_bytes()).hexdigest()
    assert data.masks is not None
    index = {key: i for i, key in enumerate(data.ids)}
    for where, row in rows:
        np.testing.assert_array_equal(data.masks[index[row["id"]]], rle_decode(row["rle_mask"], where))
