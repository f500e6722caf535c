"""``saltseg rle``: the encoding against its definition, every source kind, and train.csv exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, invoke, source_entries, write_folder, write_zip
from PIL import Image

from saltseg.data.hdf5 import Dataset, Predictions, write_dataset, write_predictions
from saltseg.data.rle import encode_masks, rle_decode, rle_encode
from saltseg.data.sources import read_csv

Examples = dict[str, tuple[np.ndarray, np.ndarray]]


def reference_encode(mask: np.ndarray) -> str:
    """Encode from the definition, one pixel at a time: 1-indexed, column-major runs."""
    runs: list[list[int]] = []
    for number, on in enumerate(mask.flatten(order="F").tolist(), start=1):
        if on and runs and runs[-1][0] + runs[-1][1] == number:
            runs[-1][1] += 1
        elif on:
            runs.append([number, 1])
    return " ".join(f"{start} {length}" for start, length in runs)


def edge_masks() -> list[np.ndarray]:
    """Empty, full, corner pixels, a full column, random noise and a blob."""
    rng = np.random.default_rng(1)
    masks = [np.zeros((101, 101), np.uint8) for _ in range(6)]
    masks[1][:] = 1
    masks[2][0, 0] = masks[2][100, 100] = masks[2][0, 100] = 1
    masks[3][:, 50] = 1
    masks[4] = (rng.random((101, 101)) < 0.5).astype(np.uint8)
    masks[5][20:60, 30:90] = 1
    return masks


def parse_csv(data: bytes) -> list[tuple[str, str]]:
    """Split CSV bytes into (id, rle) rows, checking the header and \\r\\n line ends."""
    lines = data.decode().split("\r\n")
    assert lines[0] == "id,rle_mask" and lines[-1] == ""
    return [tuple(line.split(",")) for line in lines[1:-1]]  # type: ignore[misc]


def test_encode_matches_definition_and_decodes_back() -> None:
    masks = edge_masks()
    rows = encode_masks([str(i) for i in range(len(masks))], np.stack(masks))
    for mask, (_, rle) in zip(masks, rows, strict=True):
        assert rle == reference_encode(mask) == rle_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle, "here"), mask)
    assert rows[0][1] == ""
    assert rows[1][1] == f"1 {101 * 101}"


def test_csv_from_zip_folder_and_h5(tmp_path: Path, train_zip: Path, examples: Examples) -> None:
    folder = write_folder(tmp_path / "masks_only", {
        f"{k}.png": v for k, v in source_entries(examples).items() if k.startswith("masks/")
        for k in [k.removeprefix("masks/").removesuffix(".png")]})
    ids = sorted(examples)
    masks = np.stack([examples[k][1] for k in ids])
    h5 = tmp_path / "train.h5"
    write_dataset(h5, Dataset(ids, np.stack([examples[k][0] for k in ids]), masks))
    for source in (train_zip, folder, h5):
        result = invoke("rle", source)
        assert result.exit_code == 0, result.output
        rows = parse_csv(result.stdout_bytes)
        assert [key for key, _ in rows] == ids
        for key, rle in rows:
            np.testing.assert_array_equal(rle_decode(rle, key), examples[key][1])


def test_predictions_cut_at_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    probs = rng.random((3, 101, 101)).astype(np.float16).astype(np.float32)
    path = tmp_path / "preds.h5"
    write_predictions(path, Predictions(["c", "a", "b"], probs))
    for threshold in (None, 0.8):
        args = [] if threshold is None else ["--threshold", threshold]
        rows = parse_csv(invoke("rle", path, *args).stdout_bytes)
        cut = probs > (0.5 if threshold is None else threshold)
        assert rows == [(key, reference_encode(m)) for key, m in zip("cab", cut, strict=True)]


def test_ids_order_output_file_and_dropped_extras(tmp_path: Path, train_zip: Path,
                                                   examples: Examples) -> None:
    wanted = sorted(examples, reverse=True)[:4]
    ids_csv = tmp_path / "sample.csv"
    ids_csv.write_text("id,rle_mask\n" + "".join(f"{k},1 1\n" for k in wanted))
    out = tmp_path / "sub" / "submission.csv"
    result = invoke("rle", train_zip, "--ids", ids_csv, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "dropped 2" in result.stderr
    rows = parse_csv(out.read_bytes())
    assert rows == [(k, reference_encode(examples[k][1])) for k in wanted]


def test_missing_id_is_an_error(tmp_path: Path, train_zip: Path) -> None:
    ids_csv = tmp_path / "sample.csv"
    ids_csv.write_text("id,rle_mask\nnot_there,1 1\n")
    out = tmp_path / "submission.csv"
    assert_one_line_error(invoke("rle", train_zip, "--ids", ids_csv, "-o", out), "not_there")
    assert not out.exists()


def test_unlabelled_source_is_an_error(tmp_path: Path, examples: Examples) -> None:
    h5 = tmp_path / "test.h5"
    images = np.stack([image for image, _ in examples.values()])
    write_dataset(h5, Dataset(list(examples), images))
    assert_one_line_error(invoke("rle", h5), h5, "no masks")
    test_zip = write_zip(tmp_path / "test.zip", source_entries(examples, masks=False))
    assert_one_line_error(invoke("rle", test_zip), "test.zip", "no PNG files")


def test_decode_writes_8bit_pngs(tmp_path: Path, examples: Examples) -> None:
    csv = tmp_path / "sub.csv"
    csv.write_text("id,rle_mask\n" + "".join(
        f"{k},{reference_encode(m)}\n" for k, (_, m) in examples.items()))
    out = tmp_path / "masks"
    result = invoke("rle", "--decode", csv, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.png" for k in examples)
    for key, (_, mask) in examples.items():
        with Image.open(out / f"{key}.png") as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), mask * 255)


BAD_ROWS = {
    "odd count": "abc,1 2 3",
    "not numbers": "abc,1 x",
    "huge number": "abc,1 99999999999999999999999",
    "start 0": "abc,0 2",
    "past the end": "abc,10200 3",
    "overlapping runs": "abc,5 10 8 2",
    "unsafe id": "../abc,1 1",
}


@pytest.mark.parametrize("row", BAD_ROWS.values(), ids=BAD_ROWS)
def test_decode_bad_rows(tmp_path: Path, row: str) -> None:
    csv = tmp_path / "sub.csv"
    csv.write_text(f"id,rle_mask\nfine,1 1\n{row}\n")
    out = tmp_path / "masks"
    assert_one_line_error(invoke("rle", "--decode", csv, "--out", out), f"{csv}:3")
    assert not out.exists()


def test_decode_needs_out_and_a_csv(tmp_path: Path) -> None:
    csv = tmp_path / "sub.csv"
    csv.write_text("id,rle_mask\n")
    assert_one_line_error(invoke("rle", "--decode", csv), "--out")
    csv.write_text("image,pixels\n")
    assert_one_line_error(invoke("rle", "--decode", csv, "-o", tmp_path / "m"), csv, "rle_mask")
    assert_one_line_error(invoke("rle", "--decode", tmp_path / "nope.csv", "-o", tmp_path / "m"),
                          "nope.csv")


def sorted_rows(data: bytes) -> tuple[bytes, list[bytes]]:
    """Return the header line and the sorted row lines of CSV bytes."""
    header, *rows = data.split(b"\r\n")
    return header, sorted(rows)


def test_real_train_zip_encodes_to_train_csv(shared_data: Path) -> None:
    result = invoke("rle", shared_data / "train.zip")
    assert result.exit_code == 0, result.stderr
    assert sorted_rows(result.stdout_bytes) == sorted_rows((shared_data / "train.csv").read_bytes())


def test_real_train_csv_decode_then_encode_is_identity(shared_data: Path, tmp_path: Path) -> None:
    assert invoke("rle", "--decode", shared_data / "train.csv", "-o", tmp_path / "m").exit_code == 0
    out = tmp_path / "again.csv"
    assert invoke("rle", tmp_path / "m", "-o", out).exit_code == 0
    assert sorted_rows(out.read_bytes()) == sorted_rows((shared_data / "train.csv").read_bytes())
    ids = [row["id"] for _, row in read_csv(shared_data / "train.csv", ["id"])]
    assert sorted(p.stem for p in (tmp_path / "m").iterdir()) == sorted(ids)
