"""Pseudo-label selection: the rules on hand-built probabilities, and the guard against leaked images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import invoke
from runs import ok, world, zip_ids

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import (
    Dataset,
    Predictions,
    file_sha256,
    read_predictions,
    write_dataset,
    write_predictions,
)
from saltseg.errors import SaltsegError
from saltseg.rundir import RunDir
from saltseg.training import pseudo
from saltseg.training.pseudo import StableCut, UncertainShare, confident_rows, select_pseudo_labels

SIZE = 101
LOW, HIGH = 0.02, 0.98
IMAGES = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE), dtype=np.uint8)
RULE = UncertainShare(band=0.3, limit=0.02, empty_below=0.3)


def half_salt(uncertain_pixels: int = 0) -> np.ndarray:
    """Return probabilities: left half sure salt, right half sure rock, some pixels at 0.5 on the right."""
    probs = np.full((SIZE, SIZE), LOW, dtype=np.float32)
    probs[:, :50] = HIGH
    right = np.flatnonzero(np.arange(SIZE * SIZE) % SIZE >= 60)
    probs.reshape(-1)[right[:uncertain_pixels]] = 0.5
    return probs


def specks(n: int) -> np.ndarray:
    """Return sure rock with ``n`` pixels at 0.9 (fewer than a minimum area of 20)."""
    probs = np.full((SIZE, SIZE), LOW, dtype=np.float32)
    probs[0, :n] = 0.9
    return probs


def constructed() -> np.ndarray:
    """Five images: sure empty, sure half salt, all doubtful, specks cut away, half salt with 3% doubt."""
    return np.stack([
        np.full((SIZE, SIZE), LOW, dtype=np.float32),
        half_salt(),
        np.full((SIZE, SIZE), 0.35, dtype=np.float32),
        specks(10),
        half_salt(uncertain_pixels=int(0.03 * SIZE * SIZE)),
    ])


def test_uncertain_share_keeps_sure_images_and_confident_empties() -> None:
    keep = RULE.confident(constructed(), 0.5, 20)
    assert keep.tolist() == [True, True, False, False, False]


def test_uncertain_share_limit_decides_the_doubtful_image() -> None:
    loose = UncertainShare(band=0.3, limit=0.05, empty_below=0.3)
    assert loose.confident(constructed(), 0.5, 20).tolist() == [True, True, False, False, True]


def test_specks_below_the_minimum_area_are_kept_only_as_sure_empties() -> None:
    probs = constructed()[[3]]
    assert UncertainShare(band=0.3, limit=0.02, empty_below=0.95).confident(probs, 0.5, 20).tolist() == [True]
    assert not RULE.confident(probs, 0.5, 20).any()
    assert RULE.confident(probs, 0.5, 0).tolist() == [True]


def test_an_empty_cut_is_judged_by_its_highest_probability_alone() -> None:
    faint = np.full((1, SIZE, SIZE), 0.25, dtype=np.float32)
    assert RULE.confident(faint, 0.5, 0).tolist() == [True]
    assert UncertainShare(band=0.3, limit=0.02, empty_below=0.2).confident(faint, 0.5, 0).tolist() == [False]


def test_stable_cut_refuses_a_mask_that_moves_with_the_threshold() -> None:
    ramp = np.tile(np.linspace(0, 1, SIZE, dtype=np.float32), (SIZE, 1))
    probs = np.stack([half_salt(), ramp, np.full((SIZE, SIZE), LOW, dtype=np.float32)])
    rule = StableCut(delta=0.2, min_iou=0.95, empty_below=0.3)
    assert rule.confident(probs, 0.5, 0).tolist() == [True, False, True]


def test_chunks_of_images_decide_as_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudo, "CHUNK", 2)
    probs = constructed()
    assert confident_rows(RULE, probs, (0.5, 20)).tolist() == RULE.confident(probs, 0.5, 20).tolist()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """An unlabelled data file of five images and a predictions file of it with the constructed probs."""
    ids = [f"{i:010x}" for i in range(5)]
    unlabelled = tmp_path / "test.h5"
    write_dataset(unlabelled, Dataset(ids, IMAGES))
    preds = tmp_path / "preds.h5"
    write_predictions(preds, Predictions(ids, constructed(), {"source_sha256": file_sha256(unlabelled)}))
    return unlabelled, preds, ids


def test_select_returns_the_kept_images_and_their_masks(files: tuple[Path, Path, list[str]]) -> None:
    unlabelled, preds, ids = files
    labels = select_pseudo_labels(preds, unlabelled, (0.5, 20), RULE)
    assert labels.ids == ids[:2] and labels.source_sha256 == file_sha256(preds)
    np.testing.assert_array_equal(labels.images, IMAGES[:2])
    assert labels.masks.dtype == np.uint8 and not labels.masks[0].any()
    np.testing.assert_array_equal(labels.masks[1], half_salt() > 0.5)


def test_guard_refuses_predictions_holding_forbidden_ids(files: tuple[Path, Path, list[str]]) -> None:
    unlabelled, preds, ids = files
    with pytest.raises(SaltsegError, match=f"{preds}: holds 1 images of the validation set"):
        select_pseudo_labels(preds, unlabelled, (0.5, 20), RULE, {"test": ["x"], "validation": [ids[3]]})


def test_guard_refuses_predictions_of_another_file(files: tuple[Path, Path, list[str]], tmp_path: Path
                                                   ) -> None:
    _, preds, ids = files
    other = tmp_path / "other.h5"
    write_dataset(other, Dataset(ids, np.zeros((5, SIZE, SIZE), np.uint8)))
    with pytest.raises(SaltsegError, match=f"{preds}: was not predicted from {other}"):
        select_pseudo_labels(preds, other, (0.5, 0), RULE)
    fewer = tmp_path / "fewer.h5"
    write_dataset(fewer, Dataset(ids[:4], np.zeros((4, SIZE, SIZE), np.uint8)))
    with pytest.raises(SaltsegError, match=f"{preds}: its ids are not those of {fewer}"):
        select_pseudo_labels(preds, fewer, (0.5, 0), RULE)


def test_a_teachers_predictions_of_its_own_validation_images_are_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = world(tmp_path_factory)
    run = RunDir(home / "fold0")
    ok(invoke("prepare", home / "test.zip", "--out", home / "unlabelled.h5"))
    forbidden = {"validation": run.read_split()["val"]}
    on_test = tmp_path_factory.mktemp("preds") / "test.h5"
    ok(invoke("predict", run.root, home / "unlabelled.h5", "--out", on_test, "--device", "cpu"))
    labels = select_pseudo_labels(on_test, home / "unlabelled.h5", run.read_cut(), RULE, forbidden)
    preds = read_predictions(on_test)
    keep = RULE.confident(preds.probs, *run.read_cut())
    assert labels.ids == [key for key, kept in zip(zip_ids(), keep, strict=True) if kept]
    np.testing.assert_array_equal(labels.masks, apply_cut(preds.probs[keep], *run.read_cut()))
    on_train = on_test.with_name("train.h5")
    ok(invoke("predict", run.root, home / "train.h5", "--out", on_train, "--device", "cpu"))
    leaked = len(forbidden["validation"])
    with pytest.raises(SaltsegError, match=f"{on_train}: holds {leaked} images of the validation set"):
        select_pseudo_labels(on_train, home / "train.h5", run.read_cut(), forbidden=forbidden)
