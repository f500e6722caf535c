"""``saltseg evaluate``: its numbers are the metric module's on the masks rle would write."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, invoke
from runs import TRAIN_IMAGES, copy_run, ok

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import read_dataset, read_predictions
from saltseg.data.rle import masks_from_source
from saltseg.metric import competition_score, iou_per_image, per_image_scores
from saltseg.rundir import RunDir


@pytest.fixture
def run(home: Path, tmp_path: Path) -> RunDir:
    """A private copy of a trained run, with a chosen cut."""
    run = RunDir(copy_run(home, "fold0", tmp_path))
    run.write_threshold({"threshold": 0.45, "min_area": 10})
    return run


def test_numbers_equal_the_metric_modules(home: Path, run: RunDir) -> None:
    result = json.loads(ok(invoke("evaluate", run.root, home / "train.h5", "--json")).stdout)
    data = read_dataset(home / "train.h5")
    probs = read_predictions(run.eval_probs_path("train")).probs
    masks = apply_cut(probs, 0.45, 10)
    empty = ~data.masks.any(axis=(1, 2))
    assert result["n_images"] == TRAIN_IMAGES and (result["threshold"], result["min_area"]) == (0.45, 10)
    assert result["score"] == competition_score(masks, data.masks)
    assert result["mean_iou"] == pytest.approx(float(iou_per_image(masks, data.masks).mean()))
    assert result["empty_right"] == pytest.approx(float((~masks[empty].any(axis=(1, 2))).mean()))
    with open(run.eval_table_path("train"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == data.ids
    np.testing.assert_allclose([float(r["score"]) for r in rows], per_image_scores(masks, data.masks))
    assert run.eval_overlays_path("train").stat().st_size > 0


def test_cuts_exactly_as_rle(home: Path, run: RunDir) -> None:
    ok(invoke("predict", run.root, home / "train.h5"))
    result = json.loads(ok(invoke("evaluate", run.root, home / "train.h5", "--json")).stdout)
    assert result["reused"]  # predict's file matches: same weights, TTA and data
    _, masks = masks_from_source(run.root)
    assert result["score"] == competition_score(masks, read_dataset(home / "train.h5").masks)


def test_a_zip_scores_as_its_hdf5_and_is_reused(home: Path, run: RunDir) -> None:
    from_h5 = json.loads(ok(invoke("evaluate", run.root, home / "train.h5", "--json")).stdout)
    from_zip = json.loads(ok(invoke("evaluate", run.root, home / "train.zip", "--json")).stdout)
    again = ok(invoke("evaluate", run.root, home / "train.zip"))
    assert (from_zip["score"], from_zip["mean_iou"]) == (from_h5["score"], from_h5["mean_iou"])
    assert not from_zip["reused"] and "reusing" in again.stderr
    assert again.stdout.startswith(f"score {from_zip['score']:.4f}")


def test_unlabelled_data_exits_2(home: Path, run: RunDir) -> None:
    assert_one_line_error(invoke("evaluate", run.root, home / "test.zip"), "test.zip", "no masks")
    assert not (run.root / "eval").exists()
