"""Snapshot ensembles (``train --snapshots K``): the cycled schedule, the kept weights, and a run
whose best.pt holds several networks predicting as their ensemble."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, invoke
from runs import metrics, train_args

from saltseg.data.hdf5 import read_dataset
from saltseg.inference.predictor import load_predictor
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.training.budget import Budget
from saltseg.training.schedule import BUDGET_FINAL_FRACTION, FIRST_CYCLE_SHARE, Cycle, cycle_bounds

LR = 0.003  # runs.TINY's rate
FLOOR = LR * BUDGET_FINAL_FRACTION


def test_the_first_cycle_takes_half_the_run_and_the_others_share_the_rest() -> None:
    assert cycle_bounds(1) == [0.0, 1.0]
    assert cycle_bounds(3) == pytest.approx([0.0, FIRST_CYCLE_SHARE, 0.75, 1.0])
    first, second = Cycle(3, 0, 0.0), Cycle(3, 1, 20.0)
    assert first.rate(1e-3, 20.0, planned=40) == pytest.approx(1e-3 * BUDGET_FINAL_FRACTION)
    assert second.rate(1e-3, 20.0, planned=40) == pytest.approx(1e-3)  # restarts at the base rate
    assert second.rate(1e-3, 30.0, planned=40) == pytest.approx(1e-3 * BUDGET_FINAL_FRACTION)
    assert Cycle().rate(1e-3, 7.0, planned=40) == Cycle(1, 0, 0.0).rate(1e-3, 7.0, 40)


def test_only_a_cycles_first_step_may_raise_the_rate() -> None:
    budget, times = Budget(1000.0, cap=40), [10.0] * 20
    second = Cycle(3, 1, 20.0)
    assert budget.learning_rate(1e-3, 20.0, 200.0, times, current=1e-5, cycle=second) == pytest.approx(1e-3)
    assert budget.learning_rate(1e-3, 21.0, 210.0, times, current=1e-5, cycle=second) == 1e-5
    assert budget.learning_rate(1e-3, 21.0, 210.0, times, current=1e-5) == 1e-5  # one cycle: never


def test_cycles_restart_the_rate_and_keep_each_cycles_last_weights(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "snap"
    # A budget that 8 epochs cannot spend: the schedule plans the 8, so the cycles start at epochs 5 and 7.
    result = invoke(*train_args(tiny_h5, run, "--budget", "1h", "--epochs", "8", "--snapshots", "3"))
    assert result.exit_code == 0, result.output
    lrs = [float(r["lr"]) for r in metrics(run)]  # each epoch's last step, just before its end
    assert [lr < 2 * FLOOR for lr in lrs[3:]] == [True, False, True, False, True]
    assert lrs[4] > 10 * lrs[3] and lrs[6] > 10 * lrs[5]
    rundir = RunDir(run)
    snapshots = [load_checkpoint(rundir.snapshot_checkpoint(k)) for k in range(3)]
    assert [s["epoch"] for s in snapshots] == [4, 6, 8]
    last = load_checkpoint(rundir.last_checkpoint)
    assert last["cycle_starts"] == [5, 7]
    for name, weights in last["model"].items():
        torch.testing.assert_close(snapshots[2]["model"][name], weights)
    line = next(x for x in rundir.log_path.read_text().splitlines() if "snapshots of epochs 4, 6, 8" in x)
    ensemble_loss = float(line.split("val_loss ")[1].split()[0])
    best = load_checkpoint(rundir.best_checkpoint)
    if ensemble_loss < min(float(r["val_loss"]) for r in metrics(run)):  # monitor val_loss (runs.py)
        assert "snapshots of epochs 4, 6, 8 of 8" in result.stdout and len(best["snapshots"]) == 3
        name = next(iter(best["model"]))
        for kept, snapshot in zip(best["snapshots"], snapshots, strict=True):
            torch.testing.assert_close(kept[name], snapshot["model"][name])
    else:
        assert "snapshots" not in best and "*best" not in line


def test_a_best_pt_of_snapshots_predicts_as_their_ensemble(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "snap"
    result = invoke(*train_args(tiny_h5, run, "--budget", "1h", "--epochs", "4", "--snapshots", "2"))
    assert result.exit_code == 0, result.output
    rundir = RunDir(run)
    states = [load_checkpoint(rundir.snapshot_checkpoint(k))["model"] for k in range(2)]
    save_checkpoint(rundir.best_checkpoint, {"model": states[-1], "snapshots": states})
    singles = []
    for k, state in enumerate(states):  # each snapshot as a run of its own
        single = RunDir(shutil.copytree(run, tmp_path / f"single{k}"))
        save_checkpoint(single.best_checkpoint, {"model": state})
        singles.append(single)
    images = read_dataset(tiny_h5).images[:16]
    together = load_predictor([rundir], "cpu")
    assert len(together.nets) == 2
    expected = load_predictor(singles, "cpu").probs(images).astype(np.float32)
    np.testing.assert_allclose(together.probs(images).astype(np.float32), expected, atol=2e-3)
    alone = load_predictor([singles[1]], "cpu").probs(images).astype(np.float32)
    assert np.abs(alone - expected).max() > 0.01  # the snapshots differ: the ensemble is no one member


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--snapshots", "0"), "--snapshots"),
        (("--snapshots", "3", "--epochs", "4"), "--budget"),
        (("--snapshots", "3", "--budget", "1m", "--average-from", "0.5"), "--average-from"),
    ],
)
def test_bad_snapshot_options_exit_2_with_one_line(
    extra: tuple[str, ...], named: str, tiny_h5: Path, tmp_path: Path
) -> None:
    run = tmp_path / "r"
    assert_one_line_error(invoke("train", "--data", tiny_h5, "--run", run, *extra), named)
    assert not run.exists() or not any(run.iterdir())
