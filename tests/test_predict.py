"""``saltseg predict`` and ``rle RUN``: probabilities from a run or an ensemble, then a submission."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, invoke, png_bytes, source_entries, synthetic_examples, write_zip
from PIL import Image
from runs import copy_run, ok, zip_ids

from saltseg import __version__
from saltseg.cut import apply_cut
from saltseg.data.hdf5 import read_predictions
from saltseg.data.rle import encode_masks, submission_csv
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint


@pytest.fixture
def run(home: Path, tmp_path: Path) -> Path:
    """A private copy of a trained run."""
    return copy_run(home, "fold0", tmp_path)


def test_predict_then_rle_gives_exactly_the_ids_asked_for(home: Path, run: Path, tmp_path: Path) -> None:
    result = ok(invoke("predict", run, home / "test.zip"))
    path = RunDir(run).prediction_path("test")
    assert result.stdout.strip() == str(path)
    preds = read_predictions(path)
    assert preds.ids == zip_ids() and preds.probs.shape == (len(preds.ids), 101, 101)
    assert preds.attrs["tta"] and preds.attrs["saltseg_version"] == __version__
    assert json.loads(preds.attrs["runs"]) == [str(run)]
    assert json.loads(preds.attrs["checkpoint"]) == [str(RunDir(run).best_checkpoint)]
    wanted = zip_ids()[::-1][:7]  # a subset, in another order
    (tmp_path / "ids.csv").write_text("id,rle_mask\n" + "".join(f"{i},1 1\n" for i in wanted))
    ok(invoke("rle", run, "--ids", tmp_path / "ids.csv", "--out", tmp_path / "submission.csv"))
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "id,rle_mask" and [line.split(",")[0] for line in lines[1:]] == wanted


def test_masks_and_rle_follow_the_runs_threshold(home: Path, run: Path, tmp_path: Path) -> None:
    RunDir(run).write_threshold({"threshold": 0.3, "min_area": 20})
    ok(invoke("predict", run, home / "test.zip", "--no-tta", "--masks", tmp_path / "masks"))
    preds = read_predictions(RunDir(run).prediction_path("test"))
    assert not preds.attrs["tta"]
    expected = apply_cut(preds.probs, 0.3, 20)
    written = np.stack([np.asarray(Image.open(tmp_path / "masks" / f"{i}.png")) for i in preds.ids])
    assert set(np.unique(written)) <= {0, 255} and np.array_equal(written, expected * 255)
    from_run = ok(invoke("rle", run)).stdout
    from_masks = ok(invoke("rle", tmp_path / "masks")).stdout
    from_file = ok(invoke("rle", RunDir(run).prediction_path("test"))).stdout
    assert from_run == from_masks == from_file


def test_compiled_networks_predict_what_plain_ones_do(home: Path, run: Path, tmp_path: Path) -> None:
    plain, compiled = tmp_path / "plain.h5", tmp_path / "compiled.h5"
    ok(invoke("predict", run, home / "test.zip", "--batch-size", 4, "--no-compile", "-o", plain))
    result = ok(invoke("predict", run, home / "test.zip", "--batch-size", 4, "--compile", "-o", compiled))
    assert "torch.compile failed" not in result.stderr  # batches of 4, 4 and 2: one shape, padded
    a, b = read_predictions(plain), read_predictions(compiled)
    assert a.ids == b.ids == zip_ids()
    assert np.abs(a.probs.astype(np.float32) - b.probs.astype(np.float32)).max() < 0.02


def test_hdf5_source_gives_the_zips_probabilities(home: Path, run: Path, tmp_path: Path) -> None:
    ok(invoke("prepare", home / "test.zip", "--out", tmp_path / "test.h5"))
    ok(invoke("predict", run, home / "test.zip", "--out", tmp_path / "a.h5"))
    ok(invoke("predict", run, tmp_path / "test.h5", "--out", tmp_path / "b.h5", "--batch-size", 3))
    a, b = read_predictions(tmp_path / "a.h5"), read_predictions(tmp_path / "b.h5")
    assert a.ids == b.ids
    np.testing.assert_allclose(a.probs, b.probs, atol=2e-3)


def test_an_ensemble_predicts_the_mean_of_its_runs(home: Path, tmp_path: Path) -> None:
    runs = [copy_run(home, name, tmp_path) for name in ("fold0", "fold1")]
    shift_output(RunDir(runs[1]), 0.5)  # two folds of a 1-epoch run barely differ: make them
    members = []
    for run in runs:
        ok(invoke("predict", run, home / "test.zip"))
        members.append(read_predictions(RunDir(run).prediction_path("test")).probs)
    ens = tmp_path / "ens"
    ok(invoke("predict", *runs, home / "test.zip", "--ensemble", ens))
    mean = read_predictions(RunDir(ens).prediction_path("test"))
    assert not np.allclose(members[0], members[1], atol=1e-3)
    np.testing.assert_allclose(mean.probs, (members[0] + members[1]) / 2, atol=1e-3)
    assert json.loads((ens / "ensemble.json").read_text())["runs"] == ["../fold0", "../fold1"]
    again = ok(invoke("predict", ens, home / "test.zip", "--out", tmp_path / "again.h5"))
    assert np.array_equal(read_predictions(again.stdout.strip()).probs, mean.probs)
    RunDir(ens).write_threshold({"threshold": 0.45, "min_area": 10})
    expected = submission_csv(encode_masks(mean.ids, apply_cut(mean.probs, 0.45, 10)))
    ok(invoke("rle", ens, "--out", tmp_path / "submission.csv"))
    assert (tmp_path / "submission.csv").read_bytes() == expected.encode()


def shift_output(run: RunDir, logit: float) -> None:
    """Add ``logit`` to the seed UNet's output bias in best.pt (a differently trained run)."""
    state = load_checkpoint(run.best_checkpoint)
    state["model"]["head.bias"] += logit
    save_checkpoint(run.best_checkpoint, state)


def test_several_runs_need_an_ensemble_directory(home: Path, tmp_path: Path) -> None:
    result = invoke("predict", home / "fold0", home / "fold1", home / "test.zip")
    assert_one_line_error(result, "--ensemble")
    other = tmp_path / "ens"
    ok(invoke("predict", home / "fold0", home / "test.zip", "--ensemble", other, "--out", tmp_path / "x.h5"))
    result = invoke("predict", home / "fold0", home / "fold1", home / "test.zip", "--ensemble", other)
    assert_one_line_error(result, other, "other runs")


def bad_sources(tmp_path: Path) -> dict[str, Path]:
    """Sources predict must refuse: no images at all, and an image of the wrong size."""
    (tmp_path / "empty").mkdir()
    images = source_entries(synthetic_examples(3, seed=5), masks=False)
    key = next(iter(images))
    images[key] = png_bytes(np.zeros((100, 101), np.uint8))
    return {
        "empty folder": tmp_path / "empty",
        "no PNG": write_zip(tmp_path / "notes.zip", {"notes/readme.txt": b"hello"}),
        "100x101": write_zip(tmp_path / "small.zip", images),
    }


@pytest.mark.parametrize("problem", ["empty folder", "no PNG", "100x101"])
def test_bad_sources_exit_2_and_write_nothing(home: Path, run: Path, tmp_path: Path, problem: str) -> None:
    source = bad_sources(tmp_path)[problem]
    result = invoke("predict", run, source, "--masks", tmp_path / "masks")
    assert_one_line_error(result, source.name)
    assert not RunDir(run).predictions_dir.exists() and not (tmp_path / "masks").exists()


@pytest.mark.parametrize("missing", ["config.json", "checkpoints/best.pt"])
def test_an_untrained_run_dir_exits_2(home: Path, run: Path, tmp_path: Path, missing: str) -> None:
    (run / missing).unlink()
    result = invoke("predict", run, home / "test.zip")
    assert_one_line_error(result, run)
    assert not RunDir(run).predictions_dir.exists()


def test_rle_refuses_ids_the_predictions_lack(home: Path, run: Path, tmp_path: Path) -> None:
    ok(invoke("predict", run, home / "test.zip"))
    (tmp_path / "ids.csv").write_text("id,rle_mask\n" + f"{zip_ids()[0]},1 1\nnot_a_test_id,1 1\n")
    result = invoke("rle", run, "--ids", tmp_path / "ids.csv", "--out", tmp_path / "submission.csv")
    assert_one_line_error(result, "not_a_test_id")
    assert not (tmp_path / "submission.csv").exists()


def test_rle_of_a_run_without_predictions_exits_2(home: Path, run: Path) -> None:
    assert_one_line_error(invoke("rle", run), run, "saltseg predict")
