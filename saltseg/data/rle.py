"""The competition's run-length encoding, and submission CSVs in and out.

A mask is encoded as "start length" pairs over its pixels numbered from 1 in column-major
(Fortran) order; an empty mask is the empty string. A submission is a CSV ``id,rle_mask`` with
the competition's ``\\r\\n`` line endings (those of ``train.csv``).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
from PIL import Image

from saltseg.atomic import write_text_atomic
from saltseg.console import log
from saltseg.cut import apply_cut
from saltseg.data.hdf5 import holds_predictions, is_hdf5, read_dataset, read_predictions
from saltseg.data.sources import read_csv, read_masks
from saltseg.errors import fail
from saltseg.rundir import RunDir
from saltseg.shapes import IMAGE_SIZE

COLUMNS = ("id", "rle_mask")
DEFAULT_THRESHOLD = 0.5
CHUNK = 1024  # masks encoded per vectorised batch
SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")

Rows = list[tuple[str, str]]


def rle_encode(mask: np.ndarray) -> str:
    """Encode one (H, W) mask (nonzero = salt) as "start length" pairs."""
    return encode_masks(["_"], mask[None])[0][1]


def encode_masks(ids: Sequence[str], masks: np.ndarray) -> Rows:
    """Encode masks (N, H, W), nonzero = salt, vectorised over the batch.

    Returns:
        ``(id, rle)`` rows in the order given.
    """
    rows: Rows = []
    for start in range(0, len(ids), CHUNK):
        batch = masks[start : start + CHUNK]
        rows += zip(ids[start : start + CHUNK], _encode_batch(batch), strict=True)
    return rows


def _encode_batch(masks: np.ndarray) -> list[str]:
    """Encode a batch (N, H, W): change points of the column-major pixels, padded with zeros."""
    n = len(masks)
    padded = np.zeros((n, masks[0].size + 2), np.int8)
    padded[:, 1:-1] = masks.transpose(0, 2, 1).reshape(n, -1) != 0
    row, col = np.nonzero(np.diff(padded, axis=1))
    pairs = np.stack([col[0::2] + 1, col[1::2] - col[0::2]], axis=1)
    bounds = np.searchsorted(row[0::2], np.arange(n + 1))
    return [" ".join(map(str, pairs[a:b].ravel().tolist())) for a, b in pairwise(bounds)]


def rle_decode(rle: str, where: str, shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)
               ) -> np.ndarray:
    """Decode "start length" pairs to an (H, W) uint8 0/1 mask; bad runs are errors at ``where``."""
    try:
        values = np.array(rle.split(), dtype=np.int64)
    except (ValueError, OverflowError):
        raise fail(where, f"run-length encoding {rle[:40]!r} is not whole numbers") from None
    if values.size % 2:
        raise fail(where, "odd count of numbers; expected start length pairs")
    starts, lengths = values[0::2] - 1, values[1::2]
    size = shape[0] * shape[1]
    if (starts < 0).any() or (lengths < 1).any() or (starts + lengths > size).any():
        raise fail(where, f"run outside the {shape[0]}x{shape[1]} mask")
    if (starts[1:] < starts[:-1] + lengths[:-1]).any():
        raise fail(where, "runs overlap or are out of order")
    ends = starts + lengths
    delta = np.bincount(starts, minlength=size + 1) - np.bincount(ends, minlength=size + 1)
    return np.cumsum(delta[:size]).astype(np.uint8).reshape(shape, order="F")


def masks_from_source(path: str | os.PathLike[str], threshold: float | None = None
                      ) -> tuple[list[str], np.ndarray]:
    """Read masks from PNGs (folder, zip), a prepared data file, predictions, or a run directory.

    Args:
        path: the source. A run or ensemble directory stands for its newest predictions file.
            Probabilities are cut by :func:`saltseg.cut.apply_cut`: at ``threshold`` if given
            (no area rule), else at the threshold and minimum area of the run the predictions
            sit in (its threshold.json), else at 0.5.
        threshold: probability cut; ignored for masks.

    Returns:
        ids and masks (N, 101, 101), nonzero = salt.
    """
    if _is_home(path):
        newest = RunDir(path).newest_prediction()
        if newest is None:
            raise fail(path, "has no predictions yet; run 'saltseg predict' on it first")
        log.debug("encoding %s", newest)
        path = newest
    if not is_hdf5(path):
        return read_masks(path)
    if holds_predictions(path):
        preds = read_predictions(path)
        return preds.ids, apply_cut(preds.probs, *_cut(Path(path), threshold))
    data = read_dataset(path)
    if data.masks is None:
        raise fail(path, "has no masks (an unlabelled data set)")
    return data.ids, data.masks


def _is_home(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a run or ensemble directory (not a folder of PNG masks)."""
    run = RunDir(path)
    return run.root.is_dir() and (run.config_path.exists() or run.holds_ensemble())


def _cut(predictions: Path, threshold: float | None) -> tuple[float, int]:
    """Return (threshold, min_area) for a predictions file: given, else its run's, else 0.5."""
    if threshold is not None:
        return threshold, 0
    home = predictions.resolve().parent.parent
    return RunDir(home).read_cut() if _is_home(home) else (DEFAULT_THRESHOLD, 0)


def order_by_ids(rows: Rows, ids_csv: str | os.PathLike[str]) -> Rows:
    """Put rows in the order of ``ids_csv``'s ``id`` column.

    Every listed id must have a row (a missing one is an error naming it); rows whose id is not
    listed are dropped, with a warning.
    """
    by_id = dict(rows)
    listed = read_csv(ids_csv, ["id"])
    for where, row in listed:
        if row["id"] not in by_id:
            raise fail(where, f"id {row['id']} has no mask in the source")
    dropped = by_id.keys() - {row["id"] for _, row in listed}
    if dropped:
        log.warning("dropped %d masks whose ids are not in %s", len(dropped), ids_csv)
    return [(row["id"], by_id[row["id"]]) for _, row in listed]


def submission_csv(rows: Rows) -> str:
    """Return the ``id,rle_mask`` CSV text of ``rows``."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return text.getvalue()


def encode(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    ids_csv: str | os.PathLike[str] | None = None,
) -> str:
    """Encode a source's masks as a submission CSV (``saltseg rle``).

    Args:
        source: see :func:`masks_from_source`.
        out: when given, the CSV file to write (atomically).
        threshold: cut for probabilities (default 0.5).
        ids_csv: a CSV whose ``id`` column gives the rows and their order (sample_submission.csv).

    Returns:
        The CSV text; rows sorted by id unless ``ids_csv`` orders them.
    """
    ids, masks = masks_from_source(source, threshold)
    rows = encode_masks(ids, masks)
    text = submission_csv(order_by_ids(rows, ids_csv) if ids_csv else rows)
    if out is not None:
        try:
            write_text_atomic(out, text)
        except OSError as exc:
            raise fail(out, f"cannot write ({exc.strerror})") from None
    return text


def decode(csv_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> int:
    """Write each row of a submission CSV as ``out_dir/<id>.png`` (8-bit, 0/255).

    Every row is checked before any file is written. Returns the number of masks written.
    """
    rows = read_csv(csv_path, COLUMNS)
    seen: set[str] = set()
    for where, row in rows:
        if not SAFE_ID.match(row["id"]):
            raise fail(where, f"id {row['id']!r} cannot be a file name")
        if row["id"] in seen:
            raise fail(where, f"id {row['id']} appears twice")
        seen.add(row["id"])
        rle_decode(row["rle_mask"], where)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for where, row in rows:
            mask = rle_decode(row["rle_mask"], where)
            Image.fromarray(mask * 255).save(out_dir / f"{row['id']}.png")
    except OSError as exc:
        raise fail(out_dir, f"cannot write ({exc.strerror})") from None
    return len(rows)
