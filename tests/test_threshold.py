"""``saltseg threshold``: the sweep on validation probabilities, their cache, and out-of-fold ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, invoke
from runs import TRAIN_IMAGES, copy_run, ok

from saltseg.data.hdf5 import read_dataset, read_predictions
from saltseg.inference.sweep import sweep_thresholds
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint

KEYS = {"threshold", "min_area", "score", "score_at_0.5", "n_images"}


@pytest.fixture
def run(home: Path, tmp_path: Path) -> RunDir:
    """A private copy of a trained run."""
    return RunDir(copy_run(home, "fold0", tmp_path))


def test_writes_the_choice_and_reuses_the_probabilities(home: Path, run: RunDir) -> None:
    first = ok(invoke("threshold", run.root, "--json"))
    chosen = json.loads(first.stdout)
    assert chosen.keys() >= KEYS and chosen == json.loads(run.threshold_path.read_text())
    assert run.threshold_plot_path.stat().st_size > 0
    val_ids = run.read_split()["val"]
    cached = read_predictions(run.val_probs_path)
    assert cached.ids == val_ids and chosen["n_images"] == len(val_ids)
    data = read_dataset(home / "train.h5")
    truth = data.masks[[data.ids.index(i) for i in val_ids]]
    choice, _ = sweep_thresholds(cached.probs, truth)
    assert (chosen["threshold"], chosen["min_area"], chosen["score"]) == (
        choice.threshold, choice.min_area, choice.score)
    stamp = run.val_probs_path.stat().st_mtime_ns
    second = ok(invoke("threshold", run.root, "--json"))
    assert run.val_probs_path.stat().st_mtime_ns == stamp and second.stdout == first.stdout
    assert "reusing" in second.stderr


def test_a_retrained_run_or_other_tta_invalidates_the_cache(run: RunDir) -> None:
    ok(invoke("threshold", run.root))
    stamp = run.val_probs_path.stat().st_mtime_ns
    ok(invoke("threshold", run.root, "--no-tta"))
    assert run.val_probs_path.stat().st_mtime_ns != stamp
    assert not read_predictions(run.val_probs_path).attrs["tta"]
    state = load_checkpoint(run.best_checkpoint)
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.add_(0.05)
    save_checkpoint(run.best_checkpoint, state)
    stamp = run.val_probs_path.stat().st_mtime_ns
    result = ok(invoke("threshold", run.root, "--no-tta"))
    assert run.val_probs_path.stat().st_mtime_ns != stamp and "reusing" not in result.stderr


def test_prints_a_short_table(run: RunDir) -> None:
    lines = ok(invoke("threshold", run.root)).stdout.splitlines()
    assert lines[0].startswith("best: threshold") and "0.50" in "\n".join(lines[2:])
    assert 5 <= len(lines) <= 10


def test_folds_give_one_out_of_fold_choice(home: Path, tmp_path: Path) -> None:
    runs = [copy_run(home, name, tmp_path) for name in ("fold0", "fold1")]
    ens = tmp_path / "ens"
    chosen = json.loads(ok(invoke("threshold", *runs, "--ensemble", ens, "--json")).stdout)
    assert chosen["n_images"] == TRAIN_IMAGES  # each image validated once, by the fold that left it out
    assert RunDir(ens).read_threshold() == chosen and RunDir(ens).threshold_plot_path.exists()
    assert json.loads((ens / "ensemble.json").read_text())["runs"] == ["../fold0", "../fold1"]
    assert all(RunDir(r).val_probs_path.exists() for r in runs)
    probs = np.concatenate([read_predictions(RunDir(r).val_probs_path).probs for r in runs])
    ids = [i for r in runs for i in RunDir(r).read_split()["val"]]
    data = read_dataset(home / "train.h5")
    choice, _ = sweep_thresholds(probs, data.masks[[data.ids.index(i) for i in ids]])
    assert (chosen["threshold"], chosen["min_area"]) == (choice.threshold, choice.min_area)
    assert json.loads(ok(invoke("threshold", ens, "--json")).stdout) == chosen


def test_a_missing_data_file_exits_2(run: RunDir, tmp_path: Path) -> None:
    result = invoke("threshold", run.root, "--data", tmp_path / "nowhere.h5")
    assert_one_line_error(result, "nowhere.h5")
    assert not run.threshold_path.exists() and not run.val_probs_path.exists()


def test_other_data_than_the_run_was_trained_on_exits_2(home: Path, run: RunDir, tmp_path: Path) -> None:
    ok(invoke("prepare", home / "test.zip", "--out", tmp_path / "test.h5"))
    result = invoke("threshold", run.root, "--data", tmp_path / "test.h5")
    assert_one_line_error(result, "SHA-256")
    assert not run.threshold_path.exists()


def test_a_run_without_weights_exits_2(run: RunDir) -> None:
    run.best_checkpoint.unlink()
    assert_one_line_error(invoke("threshold", run.root), run.root, "best.pt")
    assert not run.threshold_path.exists()
