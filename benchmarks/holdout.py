"""The fixed test split of train.zip: images no choice of a benchmark ever sees.

Procedure (kept here, with the SHA-256 of its result, instead of the ids):

1. take the labelled images of train.zip (as ``saltseg prepare`` writes them), sorted by id;
2. give each its salt-coverage class (:func:`saltseg.data.split.coverage_classes`: 0 for empty, else
   ceil(10 x salt fraction));
3. draw :data:`TEST_FRACTION` of every class, rounded, with ``numpy.random.default_rng``
   (:data:`HOLDOUT_SEED`), classes in increasing order: exactly :func:`saltseg.data.split.make_split`'s
   validation draw, whose ``val`` ids are the test split.

On the competition's 3600 images this gives 600 test images and 3000 others. The test ids,
sorted and joined by newlines, hash to :data:`TEST_IDS_SHA256`; whenever the procedure runs on
the competition's set (all ids hashing to :data:`TRAIN_IDS_SHA256`) the hash is checked, so a
changed procedure (or a changed ``make_split``) is noticed before a figure is reported.

The two parts are written as prepared data files: ``dev.h5`` (trained and validated on, the
``saltseg train`` data of every benchmark) and ``test.h5`` (only scored, once per figure). Their
attributes say which part they are (``holdout_part``).

    python benchmarks/holdout.py --data bench-out/train.h5 --out bench-out/holdout
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltseg.data.hdf5 import Dataset, read_dataset, write_dataset
from saltseg.data.split import coverage_classes, make_split
from saltseg.errors import SaltsegError, fail

HOLDOUT_SEED = 16
"""Seed of the draw (the issue that asked for the split)."""
TEST_FRACTION = 1 / 6
"""Share of each coverage class in the test split: 600 of the competition's 3600 images."""
TRAIN_IDS_SHA256 = "f06e34add11d88a0f5d0de6ad7ca3dd572e36f9680f0d7148f8ddf2f699afa5a"
"""SHA-256 of all ids of the competition's train.zip, sorted, joined by newlines."""
TEST_IDS_SHA256 = "7a4a4f793461ba4e79979694f84f7f3c283d0222c7e8d1cbd076ac33557a9877"
"""SHA-256 of the test split's ids, sorted, joined by newlines."""
DEV, TEST = "dev", "test"


@dataclass(frozen=True)
class HoldoutFiles:
    """The two prepared files of a holdout split."""

    dev: Path
    test: Path


def ids_sha256(ids: list[str]) -> str:
    """Return the SHA-256 of ``ids`` sorted and joined by newlines."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def test_ids(data: Dataset) -> list[str]:
    """Return the sorted test-split ids of a labelled data set, by the module's procedure."""
    if data.masks is None:
        raise SaltsegError("the holdout split needs labelled images (masks)")
    order = np.argsort(np.asarray(data.ids))
    ids = [data.ids[i] for i in order]
    split = make_split(ids, data.masks[order], HOLDOUT_SEED, TEST_FRACTION, folds=1, fold=0)
    return sorted(split["val"])


def is_competition_set(ids: list[str]) -> bool:
    """Whether ``ids`` are exactly the ids of the competition's train.zip."""
    return ids_sha256(ids) == TRAIN_IDS_SHA256


def verify(all_ids: list[str], test: list[str]) -> None:
    """Raise if ``all_ids`` are the competition's set but ``test`` is not the recorded test split."""
    if is_competition_set(all_ids) and ids_sha256(test) != TEST_IDS_SHA256:
        raise SaltsegError(
            f"the holdout procedure gave a test split hashing to {ids_sha256(test)}, not the recorded "
            f"{TEST_IDS_SHA256}: the procedure (or saltseg.data.split) changed; figures would not compare"
        )


def split_parts(data: Dataset) -> tuple[Dataset, Dataset]:
    """Return the (dev, test) parts of a labelled data set, each sorted by id; the test split is
    checked by :func:`verify`."""
    test = test_ids(data)
    verify(data.ids, test)
    order = np.argsort(np.asarray(data.ids))
    is_test = np.isin(np.asarray(data.ids)[order], test)
    attrs = {**data.attrs, "holdout_seed": HOLDOUT_SEED, "holdout_test_ids_sha256": ids_sha256(test)}
    dev = _rows(data, order[~is_test], attrs | {"holdout_part": DEV})
    return dev, _rows(data, order[is_test], attrs | {"holdout_part": TEST})


def _rows(data: Dataset, rows: np.ndarray, attrs: dict[str, object]) -> Dataset:
    """Return the rows of ``data`` (indices) as a data set with ``attrs``."""
    assert data.masks is not None
    depths = None if data.depths is None else data.depths[rows]
    ids = [data.ids[i] for i in rows]
    return Dataset(ids, data.images[rows], data.masks[rows], depths, attrs)


def write_parts(train_h5: Path, out: Path) -> HoldoutFiles:
    """Write OUT/dev.h5 and OUT/test.h5 from a labelled prepared file; keep files already right.

    A part already on disk with the right ids from the same source archive is not rewritten, so
    runs trained on it keep a matching data SHA-256.
    """
    files = HoldoutFiles(out / f"{DEV}.h5", out / f"{TEST}.h5")
    dev, test = split_parts(read_dataset(train_h5))
    for path, part in ((files.dev, dev), (files.test, test)):
        if not _already_written(path, part):
            write_dataset(path, part)
    return files


def _already_written(path: Path, part: Dataset) -> bool:
    """Whether ``path`` holds ``part``: the same ids, made from the same source archive."""
    if not path.exists():
        return False
    written = read_dataset(path)
    return written.ids == part.ids and written.attrs.get("source_sha256") == part.attrs.get("source_sha256")


def require_part(path: Path, name: str) -> Dataset:
    """Return the data file at ``path`` if it is holdout part ``name`` (dev or test), else raise."""
    data = read_dataset(path)
    if data.attrs.get("holdout_part") != name:
        raise fail(path, f"is not the holdout's {name} part; make it with benchmarks/holdout.py")
    return data


def main() -> None:
    """Write the two parts and print their sizes, coverage classes and the test split's hash."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("bench-out") / "train.h5",
                        help="train.zip prepared by 'saltseg prepare'.")
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "holdout")
    args = parser.parse_args()
    files = write_parts(args.data, args.out)
    parts = [read_dataset(path) for path in (files.dev, files.test)]
    for path, data in zip((files.dev, files.test), parts, strict=True):
        assert data.masks is not None
        counts = np.bincount(coverage_classes(data.masks), minlength=11).tolist()
        print(f"{path}: {len(data)} images; per coverage class 0..10: {counts}")
    checked = "checked" if is_competition_set(parts[0].ids + parts[1].ids) else "not the competition's set"
    print(f"test ids SHA-256 {ids_sha256(parts[1].ids)} ({checked})")

if __name__ == "__main__":
    main()
