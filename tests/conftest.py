"""Shared fixtures: the competition's data folder, and small synthetic sources built per test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import salt_examples, source_entries, synthetic_examples, write_zip

REPO = Path(__file__).resolve().parent.parent
SHARED_FILES = ("train.zip", "train.csv", "test.zip", "sample_submission.csv", "depths.csv")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The competition's data folder: $SALTSEG_DATA, else ``<repo>/../shared/data``.

    Missing data skips the test, or fails it when $CI is "true".
    """
    folder = Path(os.environ.get("SALTSEG_DATA", REPO.parent / "shared" / "data"))
    missing = [name for name in SHARED_FILES if not (folder / name).is_file()]
    if missing:
        message = f"competition data missing in {folder}: {', '.join(missing)} (set SALTSEG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture
def examples() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Six synthetic id -> (image, mask) pairs, two of them with empty masks."""
    return synthetic_examples(6)


@pytest.fixture
def train_zip(tmp_path: Path, examples: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A small train.zip with the real quirks, holding ``examples``."""
    return write_zip(tmp_path / "train.zip", source_entries(examples))


@pytest.fixture(scope="session")
def real_train_h5(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The competition's train.zip prepared once per session."""
    from saltseg.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared") / "train.h5"
    prepare(shared_data / "train.zip", out, None, False)
    return out


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 learnable seismic-like tiles (tests/helpers.py's salt_examples) in a train.zip with the
    competition's file quirks, prepared into a data file: what training tests learn from on any
    machine."""
    from saltseg.data.prepare import prepare

    root = tmp_path_factory.mktemp("tiny")
    archive = write_zip(root / "train.zip", source_entries(salt_examples(96)))
    prepare(archive, root / "tiny.h5", None, False)
    return root / "tiny.h5"


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's train.zip, train.h5, test.zip and two trained fold runs (tests/runs.py)."""
    from runs import world

    return world(tmp_path_factory)


@pytest.fixture(scope="session")
def trained_run(tiny_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seed UNet trained on ``tiny_h5`` for 3 epochs, uninterrupted (the reference for resume
    tests; tests that change a run work on a copy)."""
    from helpers import invoke
    from runs import ok, train_args

    run = tmp_path_factory.mktemp("runs") / "reference"
    ok(invoke(*train_args(tiny_h5, run, "--epochs", "3")))
    return run


@pytest.fixture(scope="session")
def real_tiny_h5(real_train_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 real labelled images (the first ids of train.zip) in a data file of their own."""
    from saltseg.data.hdf5 import Dataset, read_dataset, write_dataset

    data = read_dataset(real_train_h5)
    n = 96
    out = tmp_path_factory.mktemp("real_tiny") / "tiny.h5"
    assert data.masks is not None
    write_dataset(out, Dataset(data.ids[:n], data.images[:n], data.masks[:n], None, {"source": "tiny"}))
    return out
