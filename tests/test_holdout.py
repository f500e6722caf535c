"""The benchmarks' fixed test split: deterministic, stratified by coverage, never in a run's split nor a fold
ensemble's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke
from runs import ok

from saltseg.data.hdf5 import Dataset, file_sha256, read_dataset, write_dataset
from saltseg.data.split import coverage_classes
from saltseg.errors import SaltsegError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import accuracy
import holdout

SIZE = 101


def labelled_set(n: int, seed: int = 0) -> Dataset:
    """Return ``n`` images whose masks cover every coverage class (salt in the top rows, some empty)."""
    rng = np.random.default_rng(seed)
    heights = rng.integers(0, SIZE + 1, n)
    heights[: n // 4] = 0
    masks = (np.arange(SIZE)[None, :, None] < heights[:, None, None]).repeat(SIZE, axis=2).astype(np.uint8)
    ids = [f"{rng.integers(16**10):010x}" for _ in range(n)]
    images = rng.integers(0, 256, (n, SIZE, SIZE), dtype=np.uint8)
    return Dataset(ids, images, masks, attrs={"source": "synthetic"})


def test_the_split_is_deterministic_whatever_the_row_order() -> None:
    data = labelled_set(300)
    order = np.random.default_rng(1).permutation(len(data))
    shuffled = Dataset([data.ids[i] for i in order], data.images[order], data.masks[order])
    assert holdout.test_ids(data) == holdout.test_ids(shuffled) == holdout.test_ids(labelled_set(300))


def test_the_split_takes_a_sixth_of_every_coverage_class() -> None:
    data = labelled_set(600)
    assert data.masks is not None
    classes = coverage_classes(data.masks)
    is_test = np.isin(data.ids, holdout.test_ids(data))
    assert len(np.unique(classes)) == 11
    for cls in np.unique(classes):
        assert is_test[classes == cls].sum() == round((classes == cls).sum() / 6)


def test_the_parts_hold_every_image_once(tmp_path: Path) -> None:
    data = labelled_set(240)
    write_dataset(tmp_path / "train.h5", data)
    files = holdout.write_parts(tmp_path / "train.h5", tmp_path / "holdout")
    dev, test = holdout.require_part(files.dev, "dev"), holdout.require_part(files.test, "test")
    assert test.ids == holdout.test_ids(data) and not set(dev.ids) & set(test.ids)
    assert sorted(dev.ids + test.ids) == sorted(data.ids)
    for part in (dev, test):
        rows = [data.ids.index(key) for key in part.ids]
        np.testing.assert_array_equal(part.images, data.images[rows])
        np.testing.assert_array_equal(part.masks, data.masks[rows])
    with pytest.raises(SaltsegError, match="is not the holdout's dev part"):
        holdout.require_part(files.test, "dev")


def test_parts_already_written_are_kept(tmp_path: Path) -> None:
    write_dataset(tmp_path / "train.h5", labelled_set(120))
    files = holdout.write_parts(tmp_path / "train.h5", tmp_path / "holdout")
    digests = file_sha256(files.dev), file_sha256(files.test)
    holdout.write_parts(tmp_path / "train.h5", tmp_path / "holdout")
    assert (file_sha256(files.dev), file_sha256(files.test)) == digests


def test_a_run_trained_on_dev_never_sees_a_test_id(tmp_path: Path) -> None:
    write_dataset(tmp_path / "train.h5", labelled_set(120))
    files = holdout.write_parts(tmp_path / "train.h5", tmp_path / "holdout")
    ok(invoke("train", "--data", files.dev, "--run", tmp_path / "run", "--epochs", 1, "--arch", "unet",
              "--start-filters", 4, "--batch-size", 16, "--device", "cpu", "--seed", 5))
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    test = set(read_dataset(files.test).ids)
    assert split["train"] and split["val"] and not test & {*split["train"], *split["val"]}


def test_a_fold_ensemble_validates_every_dev_image_once_and_never_sees_a_test_id(tmp_path: Path) -> None:
    write_dataset(tmp_path / "train.h5", labelled_set(120))
    files = holdout.write_parts(tmp_path / "train.h5", tmp_path / "holdout")
    tiny = {"arch": "unet", "start_filters": 4, "batch_size": 16, "device": "cpu", "epochs": 1}
    summaries = accuracy.train_folds(files.dev, tmp_path / "ens", 60.0, 5, tiny, 3)
    choice = accuracy.validation_cut(tmp_path / "ens", summaries)
    splits = [json.loads((s.run / "split.json").read_text()) for s in summaries]
    dev, test = read_dataset(files.dev).ids, read_dataset(files.test).ids
    assert sorted(i for split in splits for i in split["val"]) == sorted(dev)
    assert not set(test) & {i for split in splits for i in split["train"] + split["val"]}
    assert choice.n_images == len(dev)
    assert json.loads((tmp_path / "ens" / "threshold.json").read_text())["n_images"] == len(dev)
    assert len(accuracy.test_scores(tmp_path / "ens", files.test)) == len(test)


def test_the_competition_split_matches_its_recorded_hash(real_train_h5: Path) -> None:
    data = read_dataset(real_train_h5)
    test = holdout.test_ids(data)
    assert holdout.is_competition_set(data.ids) and len(test) == 600
    holdout.verify(data.ids, test)
    with pytest.raises(SaltsegError, match="procedure"):
        holdout.verify(data.ids, test[1:])
