"""Reading sources directly: the image and mask readers used by ``predict`` and ``rle``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import image_png, mask_png, source_entries, write_folder, write_zip

from saltseg.data.sources import load_source, read_images, read_masks
from saltseg.errors import SaltsegError

Examples = dict[str, tuple[np.ndarray, np.ndarray]]


def test_read_images_from_zip_and_plain_folder(tmp_path: Path, examples: Examples) -> None:
    ids = sorted(examples)
    expected = np.stack([examples[k][0] for k in ids])
    plain = write_folder(tmp_path / "pngs", {f"{k}.png": image_png(examples[k][0]) for k in ids})
    zipped = write_zip(tmp_path / "test.zip", source_entries(examples, masks=False))
    for source in (plain, zipped):
        got_ids, images = read_images(source)
        assert got_ids == ids
        np.testing.assert_array_equal(images, expected)


def test_read_masks_ignores_system_clutter(tmp_path: Path, examples: Examples) -> None:
    entries = {f"out/{k}.png": mask_png(m) for k, (_, m) in examples.items()}
    entries |= {"out/.DS_Store": b"junk", "__MACOSX/out/._x.png": b"junk"}
    ids, masks = read_masks(write_zip(tmp_path / "masks.zip", entries))
    assert ids == sorted(examples)
    np.testing.assert_array_equal(masks, np.stack([examples[k][1] for k in ids]))


def test_folder_hash_follows_content(tmp_path: Path, examples: Examples) -> None:
    entries = source_entries(examples)
    first = load_source(write_folder(tmp_path / "a", entries)).attrs["source_sha256"]
    assert load_source(write_folder(tmp_path / "b", entries)).attrs["source_sha256"] == first
    key = sorted(examples)[0]
    entries[f"images/{key}.png"] = image_png(255 - examples[key][0])
    assert load_source(write_folder(tmp_path / "c", entries)).attrs["source_sha256"] != first


def test_duplicate_entries_are_refused(tmp_path: Path, examples: Examples) -> None:
    path = write_zip(tmp_path / "dup.zip", source_entries(examples))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"images/{sorted(examples)[0]}.png", b"again")
    with pytest.raises(SaltsegError, match="duplicate entries"):
        load_source(path)
