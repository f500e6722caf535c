"""Damaged files, failed writes, leftovers of killed processes and masks folders: one line, exit 2,
nothing lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import assert_one_line_error, invoke
from PIL import Image
from runs import copy_run, ok, zip_ids

from saltseg.data.hdf5 import Dataset, read_dataset, read_predictions, write_dataset
from saltseg.data.mask_folder import MANIFEST
from saltseg.rundir import RunDir


@pytest.fixture
def run(home: Path, tmp_path: Path) -> RunDir:
    """A private copy of a trained run."""
    return RunDir(copy_run(home, "fold0", tmp_path))


def _truncated_copy(path: Path, dest: Path) -> Path:
    dest.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return dest


def _drop_key(path: Path, key: str) -> None:
    obj = json.loads(path.read_text())
    del obj[key]
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize("key", ["arch", "fit", "start_filters"])
def test_a_config_without_a_needed_key_is_named(home: Path, run: RunDir, key: str) -> None:
    _drop_key(run.config_path, key)
    for args in (("predict", run.root, home / "test.zip"), ("threshold", run.root),
                 ("evaluate", run.root, home / "train.h5")):
        assert_one_line_error(invoke(*args), "config.json", key)
    assert not run.predictions_dir.exists()


@pytest.mark.parametrize("content", ['{"threshold": 0.4}', '{"threshold": "high", "min_area": 3}', "[1, 2]",
                                     '{"threshold": 7, "min_area": 0}'])
def test_a_damaged_threshold_json_is_named_before_anything_is_written(
    home: Path, run: RunDir, tmp_path: Path, content: str
) -> None:
    ok(invoke("predict", run.root, home / "test.zip"))
    run.threshold_path.write_text(content)
    assert_one_line_error(invoke("rle", run.root), "threshold.json")
    masks, out = tmp_path / "masks", tmp_path / "p.h5"
    result = invoke("predict", run.root, home / "test.zip", "--masks", masks, "--out", out)
    assert_one_line_error(result, "threshold.json")
    assert not (tmp_path / "masks").exists() and not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize("content", ["[]", '{"train": ["a"]}', '{"train": [], "val": [1, 2]}', "{broken"])
def test_a_damaged_split_json_is_named(run: RunDir, content: str) -> None:
    run.split_path.write_text(content)
    assert_one_line_error(invoke("threshold", run.root), "split.json")
    assert not run.threshold_path.exists()


@pytest.mark.parametrize("content", ['{"runs": [1, 2]}', '{"runs": []}', '{"members": ["../a"]}', "null"])
def test_a_damaged_ensemble_json_is_named(home: Path, tmp_path: Path, content: str) -> None:
    ens = tmp_path / "ens"
    ens.mkdir()
    (ens / "ensemble.json").write_text(content)
    assert_one_line_error(invoke("predict", ens, home / "test.zip"), "ensemble.json")
    assert not (ens / "predictions").exists()


def test_a_garbage_checkpoint_is_named(home: Path, run: RunDir) -> None:
    run.best_checkpoint.write_bytes(b"PK\x03\x04 not really a checkpoint")
    assert_one_line_error(invoke("predict", run.root, home / "test.zip"), "best.pt")


def test_truncated_hdf5_files_are_named(home: Path, run: RunDir, tmp_path: Path) -> None:
    ok(invoke("prepare", home / "test.zip", "--out", tmp_path / "test.h5"))
    data = _truncated_copy(tmp_path / "test.h5", tmp_path / "cut.h5")
    assert_one_line_error(invoke("predict", run.root, data), "cut.h5")
    labelled = _truncated_copy(home / "train.h5", tmp_path / "cut_train.h5")
    assert_one_line_error(invoke("threshold", run.root, "--data", labelled), "cut_train.h5")
    assert_one_line_error(invoke("evaluate", run.root, labelled), "cut_train.h5")
    ok(invoke("predict", run.root, home / "test.zip"))
    cut = run.prediction_path("test")
    cut.write_bytes(cut.read_bytes()[:2000])
    assert_one_line_error(invoke("rle", cut), cut.name)


def test_a_damaged_validation_cache_is_rebuilt_with_a_warning(run: RunDir) -> None:
    first = json.loads(ok(invoke("threshold", run.root, "--json")).stdout)
    run.val_probs_path.write_bytes(run.val_probs_path.read_bytes()[:3000])
    again = ok(invoke("threshold", run.root, "--json"))
    assert "val_probs.h5" in again.stderr and "predicting the validation images again" in again.stderr
    assert json.loads(again.stdout)["score"] == first["score"]
    assert len(read_predictions(run.val_probs_path).ids) == first["n_images"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_files_of_a_killed_process_are_swept_by_the_next_write(home: Path, run: RunDir) -> None:
    dead, alive = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = run.root / f".threshold.json.{dead}.tmp"
        busy = run.root / f".threshold.json.{alive.pid}.tmp"
        stale_dir = run.predictions_dir / f".test.h5.{dead}.tmp"
        for path in (stale, busy):
            path.write_text("half a file")
        stale_dir.mkdir(parents=True)
        ok(invoke("threshold", run.root))
        ok(invoke("predict", run.root, home / "test.zip"))
        assert not stale.exists() and not stale_dir.exists()
        assert busy.exists()  # another live process may still be writing it
    finally:
        alive.kill()
        alive.wait()


LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["saltseg", *sys.argv[2:]]
from saltseg.cli import main
main()
"""


def _saltseg_with_file_size_limit(limit: int, *args: object) -> subprocess.CompletedProcess[str]:
    """Run saltseg in a child whose files may not grow past ``limit`` bytes (a full disk, without root)."""
    command = [sys.executable, "-c", LIMITED, str(limit), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _one_line(done: subprocess.CompletedProcess[str], *names: str) -> None:
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the command's progress messages
    assert last.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert all(name in last for name in names), last


def test_a_full_disk_keeps_the_previous_predictions(home: Path, run: RunDir) -> None:
    ok(invoke("predict", run.root, home / "test.zip", "--no-tta"))
    before = run.prediction_path("test").read_bytes()
    done = _saltseg_with_file_size_limit(20_000, "predict", run.root, home / "test.zip")
    _one_line(done, "test.h5", "could not be written")
    assert run.prediction_path("test").read_bytes() == before
    assert not [p for p in run.predictions_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_keeps_the_previous_checkpoints(run: RunDir) -> None:
    before = {p: p.read_bytes() for p in (run.last_checkpoint, run.best_checkpoint)}
    config = run.read_config()
    done = _saltseg_with_file_size_limit(
        max(run.metrics_path.stat().st_size, 60_000), "train", "--run", run.root, "--resume",
        "--epochs", config["epochs"] + 1,
    )
    _one_line(done, "checkpoints", "could not be written")
    assert {p: p.read_bytes() for p in before} == before
    assert not [p for p in run.checkpoints_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_masks_folder_ends_holding_exactly_this_predictions_masks(home: Path, run: RunDir,
                                                                    tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    ok(invoke("predict", run.root, home / "test.zip", "--masks", masks))
    assert sorted(p.stem for p in masks.glob("*.png")) == zip_ids()
    data = read_dataset(home / "train.h5")
    ok(invoke("predict", run.root, home / "train.h5", "--masks", masks))
    assert sorted(p.stem for p in masks.glob("*.png")) == sorted(data.ids)  # no stale masks of test.zip
    assert sorted(p.name for p in masks.iterdir()) == sorted([f"{i}.png" for i in data.ids] + [MANIFEST])


def test_a_masks_folder_with_files_saltseg_did_not_write_is_refused(home: Path, run: RunDir,
                                                                    tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    result = invoke("predict", run.root, home / "test.zip", "--masks", mine, "--out", tmp_path / "p.h5")
    assert_one_line_error(result, mine)
    assert (mine / "notes.txt").read_text() == "my notes" and not (tmp_path / "p.h5").exists()

    masks = tmp_path / "masks"
    ok(invoke("predict", run.root, home / "test.zip", "--masks", masks))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(masks / "my_own.png")
    assert_one_line_error(invoke("predict", run.root, home / "test.zip", "--masks", masks), "my_own.png")
    assert (masks / "my_own.png").exists() and len(list(masks.glob("*.png"))) == len(zip_ids()) + 1


def test_hdf5_readers_name_a_file_missing_its_datasets(tmp_path: Path, run: RunDir) -> None:
    odd = tmp_path / "odd.h5"
    with h5py.File(odd, "w") as f:
        f.create_dataset("ids", data=np.array([b"a"]))
        f.create_dataset("images", data=np.zeros((1, 5, 5), np.uint8))
    assert_one_line_error(invoke("predict", run.root, odd), "odd.h5")


def test_sigterm_during_predict_leaves_no_half_written_file(run: RunDir, tmp_path: Path) -> None:
    source = tmp_path / "many.h5"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6000, 101, 101), dtype=np.uint8)
    write_dataset(source, Dataset([f"{i:05d}" for i in range(6000)], images))
    out = tmp_path / "preds.h5"
    command = [sys.executable, "-m", "saltseg", "predict", run.root, source, "--out", out,
               "--batch-size", "1", "--no-compile"]
    proc = subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(8)  # past start-up (about 3 s), into the 12000 forward passes
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "terminated" and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
