"""Tiny trained runs for the predict, threshold and evaluate tests, trained once per session.

Two runs are the two folds of ``--folds 2`` on 64 synthetic images (4 filters, 1 epoch, a few
seconds each); tests that change a run work on a copy (:func:`copy_run`).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, salt_examples, source_entries, synthetic_examples, write_zip

Examples = dict[str, tuple[np.ndarray, np.ndarray]]
TRAIN_IMAGES, TEST_IMAGES = 64, 10
_CACHE: dict[str, Path] = {}


def world(factory: pytest.TempPathFactory) -> Path:
    """Return a session folder with train.zip, train.h5, test.zip and two trained fold runs."""
    if "world" in _CACHE:
        return _CACHE["world"]
    root = factory.mktemp("world")
    write_zip(root / "train.zip", source_entries(salt_examples(TRAIN_IMAGES, seed=1)))
    write_zip(root / "test.zip", source_entries(synthetic_examples(TEST_IMAGES, seed=2), masks=False))
    ok(invoke("prepare", root / "train.zip", "--out", root / "train.h5"))
    for fold in (0, 1):
        ok(invoke("train", "--data", root / "train.h5", "--run", root / f"fold{fold}", "--epochs", 1,
                  "--start-filters", 4, "--batch-size", 16, "--folds", 2, "--fold", fold,
                  "--arch", "unet", "--device", "cpu", "--seed", 3))
    _CACHE["world"] = root
    return root


TINY = ("--arch", "unet", "--start-filters", "4", "--batch-size", "8", "--lr", "0.003", "--loss", "bce")
SEED_RECIPE = ("--lovasz-from", "1", "--monitor", "val_loss")


def train_args(data: Path, run: Path, *extra: object) -> list[object]:
    """Arguments of a tiny, fast training of the seed UNet."""
    return ["train", "--data", data, "--run", run, *TINY, *SEED_RECIPE, *extra]


def metrics(run: Path) -> list[dict[str, str]]:
    """Rows of the run's metrics.csv."""
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def copy_run(world_dir: Path, name: str, dest: Path) -> Path:
    """Copy the session's run ``name`` (fold0 or fold1) to ``dest``/``name`` and return it."""
    return Path(shutil.copytree(world_dir / name, dest / name))


def zip_ids() -> list[str]:
    """Return the ids of the session's test.zip images, sorted."""
    return sorted(synthetic_examples(TEST_IMAGES, seed=2))


def ok(result: object) -> object:
    """Assert a CliRunner result succeeded, showing its output otherwise."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)  # type: ignore[attr-defined]
    return result
