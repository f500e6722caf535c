"""What ``train`` does with a run that already exists: --force, --resume, finished and busy runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import assert_one_line_error, invoke
from runs import metrics, ok, train_args

from saltseg.device import resolve_precision
from saltseg.precision import Precision
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.training.state import TrainingState


@pytest.fixture
def run(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's 3-epoch run, with a prediction and an evaluation in it."""
    copy = Path(shutil.copytree(trained_run, tmp_path / "run"))
    for name in ("predictions/test.h5", "eval/train/per_image.csv"):
        (copy / name).parent.mkdir(parents=True)
        (copy / name).write_text("an hour of work")
    return copy


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--data", "trian.h5"), "trian.h5"),
        (("--folds", "3", "--fold", "5"), "--fold"),
        (("--val-fraction", "1.5"), "--val-fraction"),
        (("--arch", "smp-unet", "--encoder", "resnet18", "--encoder-weights", "missing.pth"), "missing.pth"),
    ],
    ids=["typo-in-data", "bad-fold", "bad-val-fraction", "missing-encoder-weights"],
)
def test_force_checks_everything_before_it_removes_the_old_run(
    run: Path, tiny_h5: Path, extra: tuple[str, ...], named: str
) -> None:
    before = _snapshot(run)
    args = ["train", "--data", tiny_h5, "--run", run, "--force", "--epochs", "1", *extra]
    assert_one_line_error(invoke(*args), named)
    assert _snapshot(run) == before


def test_force_replaces_the_run_once_everything_is_good(run: Path, tiny_h5: Path) -> None:
    ok(invoke(*train_args(tiny_h5, run, "--force", "--epochs", "1")))
    assert len(metrics(run)) == 1 and not (run / "predictions").exists() and not (run / "eval").exists()


def test_a_run_works_from_any_working_directory(tiny_h5: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    shutil.copy(tiny_h5, work / "train.h5")
    monkeypatch.chdir(work)
    ok(invoke(*train_args(Path("train.h5"), Path("run"), "--epochs", "1")))
    config = RunDir(work / "run").read_config()
    assert Path(config["data"]) == (work / "train.h5").resolve()

    monkeypatch.chdir(elsewhere)  # no train.h5 here: resume and threshold use the run's own data file
    ok(invoke("train", "--run", work / "run", "--resume", "--epochs", "2"))
    assert len(metrics(work / "run")) == 2
    ok(invoke("threshold", work / "run"))
    (elsewhere / "train.h5").write_bytes(b"not the run's data")
    assert_one_line_error(invoke("train", "--run", work / "run", "--resume", "--epochs", "3",
                                 "--data", "train.h5"), "train.h5")


def test_a_finished_run_resumed_says_so_and_a_larger_limit_extends_it(run: Path) -> None:
    last = (run / "checkpoints" / "last.pt").read_bytes()
    finished = ok(invoke("train", "--run", run, "--resume"))
    assert "already finished: reached 3 epochs" in finished.stdout
    assert len(metrics(run)) == 3 and (run / "checkpoints" / "last.pt").read_bytes() == last
    ok(invoke("train", "--run", run, "--resume", "--epochs", "4"))
    assert [int(r["epoch"]) for r in metrics(run)] == [1, 2, 3, 4]


def test_an_early_stopped_run_trains_no_more_unless_extended(run: Path) -> None:
    rundir = RunDir(run)
    config = rundir.read_config()
    rundir.write_config({**config, "epochs": 50})  # as a run with the seed's default cap
    state = TrainingState.load(rundir.last_checkpoint)
    state.stopper["bad_epochs"] = state.stopper["patience"]  # as after 10 epochs without improvement
    state.save(rundir.last_checkpoint)

    finished = ok(invoke("train", "--run", run, "--resume"))
    assert "already finished: early stop" in finished.stdout and len(metrics(run)) == 3
    ok(invoke("train", "--run", run, "--resume", "--epochs", "5"))  # the patience starts anew
    assert len(metrics(run)) == 5


def test_checkpoints_of_earlier_versions_still_resume(run: Path) -> None:
    path = run / "checkpoints" / "last.pt"
    old = {k: v for k, v in load_checkpoint(path).items() if k not in ("lovasz_since", "averaged_from")}
    save_checkpoint(path, old)
    ok(invoke("train", "--run", run, "--resume", "--epochs", "4"))
    assert len(metrics(run)) == 4


@pytest.mark.parametrize("damage", ["garbage", "not a dict", "no optimizer", "other network"])
def test_a_damaged_last_checkpoint_is_named_in_one_line(run: Path, damage: str) -> None:
    path = run / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "not a dict":
        torch.save([1, 2, 3], path)
    elif damage == "no optimizer":
        save_checkpoint(path, {k: v for k, v in state.items() if k != "optimizer"})
    else:
        save_checkpoint(path, {**state, "model": {"conv.weight": torch.zeros(3)}})
    assert_one_line_error(invoke("train", "--run", run, "--resume", "--epochs", "4"), "last.pt")
    assert len(metrics(run)) == 3


def test_config_json_without_training_keys_is_named_on_resume(run: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    del config["lr"]
    (run / "config.json").write_text(json.dumps(config))
    assert_one_line_error(invoke("train", "--run", run, "--resume", "--epochs", "4"), "config.json", "lr")


def test_resuming_on_another_device_resolves_the_precision_again(run: Path) -> None:
    rundir = RunDir(run)
    # as if trained on a GPU without native bf16: auto chose fp16 there
    rundir.write_config({**rundir.read_config(), "precision": "fp16", "precision_option": "auto"})
    ok(invoke("train", "--run", run, "--resume", "--epochs", "4", "--device", "cpu"))
    expected = resolve_precision(Precision.auto, torch.device("cpu")).value
    assert rundir.read_config()["precision"] == expected != "fp16"


def test_auto_precision_asks_the_chosen_gpu_not_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    capability = {0: (9, 0), 1: (7, 5)}  # an H100-class GPU and a T4-class one on one machine
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability[index])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation counts here
    assert resolve_precision("auto", torch.device("cuda", 0)) is Precision.bf16
    assert resolve_precision("auto", torch.device("cuda", 1)) is Precision.fp16
    assert resolve_precision("auto", torch.device("cuda")) is Precision.bf16
    assert resolve_precision("bf16", torch.device("cuda", 1)) is Precision.bf16  # asked for explicitly


def test_a_second_train_on_a_busy_run_is_refused_naming_the_holder(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "busy"
    args = [sys.executable, "-m", "saltseg", *map(str, train_args(tiny_h5, run, "--epochs", "50"))]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "last.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = invoke("train", "--run", run, "--resume")
        assert_one_line_error(second, run, f"process {proc.pid}")
        assert proc.poll() is None  # the first goes on
    finally:
        proc.kill()
        proc.wait()
    ok(invoke("train", "--run", run, "--resume", "--epochs", "1"))  # a dead process holds no lock


def test_a_run_directory_that_is_a_file_is_one_line(tiny_h5: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert_one_line_error(invoke(*train_args(tiny_h5, tmp_path / "file", "--epochs", "1")), "is a file")
    assert (tmp_path / "file").read_text() == "not a folder"
