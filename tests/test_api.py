"""The Python front door: docs/python.md's example runs, and a model predicts as the commands do."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import salt_examples, source_entries, write_zip

import saltseg
from saltseg.data.hdf5 import read_dataset, read_predictions
from saltseg.errors import SaltsegError
from saltseg.rundir import RunDir

REPO = Path(__file__).resolve().parent.parent


def _example() -> str:
    """Return the first Python block of docs/python.md."""
    return re.search(r"```python\n(.*?)```", (REPO / "docs" / "python.md").read_text(), re.S).group(1)


def test_the_documented_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_zip(tmp_path / "train.zip", source_entries(salt_examples(48)))
    monkeypatch.chdir(tmp_path)
    code = _example()
    assert 'budget="15m"' in code
    # the example's 15 minutes become 2 epochs of a small network: the same calls, a test's time
    code = code.replace('budget="15m"', 'epochs=2, start_filters=8, arch="unet"')
    exec(compile(code, "docs/python.md", "exec"), {})
    assert RunDir(tmp_path / "run").threshold_path.exists()


def test_a_model_predicts_what_predict_writes_and_cuts_at_the_runs_threshold(
    trained_run: Path, tiny_h5: Path, tmp_path: Path
) -> None:
    model = saltseg.open_model(trained_run, device="cpu")
    data = read_dataset(tiny_h5)
    written = saltseg.predict([trained_run], tiny_h5, tmp_path / "p.h5", device="cpu").path
    probs = model.probabilities(data.images)
    assert probs.dtype == np.float32
    np.testing.assert_array_equal(probs, read_predictions(written).probs.astype(np.float32))
    np.testing.assert_array_equal(model.probabilities(data.images[3]), probs[3])
    threshold, min_area = RunDir(trained_run).read_cut()
    assert (model.threshold, model.min_area) == (threshold, min_area)
    expected = (probs > threshold) & ((probs > threshold).sum(axis=(1, 2), keepdims=True) >= min_area)
    np.testing.assert_array_equal(model.masks(data.images), expected.astype(np.uint8))


@pytest.mark.parametrize("tiles", [np.zeros((2, 101, 101), np.float32), np.zeros((2, 100, 101), np.uint8)])
def test_tiles_of_another_kind_are_one_line_error(trained_run: Path, tiles: np.ndarray) -> None:
    with pytest.raises(SaltsegError, match=r"tiles must be uint8 \(N, 101, 101\)"):
        saltseg.open_model(trained_run, device="cpu").probabilities(tiles)


def test_train_refuses_an_option_it_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(SaltsegError, match="unknown training option"):
        saltseg.train(data=tmp_path / "x.h5", run=tmp_path / "run", epoch=3)
