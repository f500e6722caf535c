"""``saltseg train``: fit a model on a prepared data file into a self-describing run directory.

The run directory (see :mod:`saltseg.rundir`) gets the config first, then after every epoch a
metrics row, ``checkpoints/last.pt`` (the full training state) and, on improvement,
``checkpoints/best.pt``. Every epoch's shuffling, augmentation and dropout draw from generators
seeded by (seed, epoch), so an interrupted run resumed from ``last.pt`` repeats exactly the
epochs an uninterrupted run would have trained.
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from saltseg.console import add_log_file
from saltseg.data.hdf5 import Dataset, file_sha256, read_dataset
from saltseg.data.split import make_block_split, make_split
from saltseg.errors import SaltsegError, fail
from saltseg.interrupts import SIGINT_EXIT, exit_code
from saltseg.models import build_model
from saltseg.rundir import RunDir
from saltseg.runlock import run_lock
from saltseg.training import distributed
from saltseg.training.config import check_options, data_path, run_config, with_init_network
from saltseg.training.data import TrainingData
from saltseg.training.options import TrainOptions
from saltseg.training.pseudo import PseudoLabels
from saltseg.training.state import TrainingState
from saltseg.training.student import pseudo_labels, start_weights, student_config, teacher_split
from saltseg.training.trainer import Trainer

log = logging.getLogger("saltseg")


class Interrupted(SaltsegError):
    """Training stopped by Ctrl-C (exit 130) or SIGTERM (143); the last completed epoch is saved."""

    def __init__(self, message: str, exit_code: int = SIGINT_EXIT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainSummary:
    """What a finished training reports."""

    run: Path
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    best_val_map: float
    best_checkpoint: Path
    stop_reason: str
    averaged_from: int | None = None
    """First epoch of the weight average when the average is best.pt, else None."""
    snapshot_epochs: list[int] | None = None
    """The epochs whose weights best.pt holds as an ensemble (``--snapshots``), else None."""

    @property
    def best_weights(self) -> str:
        """Return what best.pt holds: 'best epoch N', 'average of epochs A-N' or 'snapshots of epochs
        A, B, N'."""
        if self.averaged_from:
            return f"average of epochs {self.averaged_from}-{self.best_epoch}"
        if self.snapshot_epochs:
            return f"snapshots of epochs {', '.join(map(str, self.snapshot_epochs))}"
        return f"best epoch {self.best_epoch}"


def train(opts: TrainOptions) -> TrainSummary:
    """Train a model as ``opts`` says and return the summary of the best epoch.

    Everything that can be checked (options, data file, split, encoder weights, the saved run on
    ``--resume``) is checked before ``--force`` removes an earlier run. Under ``torchrun`` rank 0
    alone reads and writes the run directory and shares what it found.
    """
    opts = with_init_network(opts)
    check_options(opts)
    ranks, device = distributed.start(opts.device)
    run = RunDir(opts.run)
    try:
        with run_lock(run.root, run.lock_path) if ranks.is_main else nullcontext():
            plan = distributed.settled_on_main(lambda: plan_run(opts, run, device), ranks, RunPlan.shared)
            return _train_planned(opts, plan, run, device, ranks)
    finally:
        distributed.stop()


@dataclass
class RunPlan:
    """What rank 0 settled before training: the config, the split and, on resume, the state."""

    config: dict[str, Any]
    split: dict[str, Any]
    state: TrainingState | None = None
    data: Dataset | None = field(default=None, repr=False)
    """The data file's contents on rank 0 (the other ranks read it themselves)."""
    pseudo: PseudoLabels | None = field(default=None, repr=False)
    """A student's pseudo-labelled images on rank 0 (the other ranks select them themselves)."""

    def shared(self) -> RunPlan:
        """Return the plan without the data and pseudo-labels, to send to the other ranks."""
        return RunPlan(self.config, self.split, self.state)


def plan_run(opts: TrainOptions, run: RunDir, device: torch.device) -> RunPlan:
    """Check everything and return the plan; only then clear an earlier run (``--force``) and
    write config.json and split.json."""
    config = run_config(opts, run, device)
    data = training_data(data_path(opts, config), config)
    if opts.teacher is not None and not opts.resume:
        config.update(student_config(opts.teacher, Path(opts.unlabelled or ""), opts.pseudo_ratio,
                                     config["data_sha256"]))
    split = run.read_split() if opts.resume else first_split(data, config)
    pseudo = pseudo_labels(config, split) if config.get("teacher") else None
    if pseudo is not None:
        split["pseudo"] = pseudo.ids
        log.info("%d pseudo-labelled images of %s join training", len(pseudo), config["unlabelled"])
    state = TrainingState.load(run.last_checkpoint) if opts.resume else None
    if state is None:
        check_encoder_weights(config)
    if opts.force and not opts.resume and run.holds_run():
        _clear_run(run)
    run.write_config(config)
    run.write_split(split)
    return RunPlan(config, split, state, data, pseudo)


def first_split(data: Dataset, config: dict[str, Any]) -> dict[str, Any]:
    """Return a new run's split: a student's teacher's, else a new seeded one."""
    if config.get("teacher"):
        return {k: v for k, v in teacher_split(config).items() if k != "pseudo"}
    return new_split(data, config)


def _train_planned(opts: TrainOptions, plan: RunPlan, run: RunDir, device: torch.device,
                   ranks: distributed.Ranks) -> TrainSummary:
    config, student = plan.config, bool(plan.config.get("teacher"))
    if ranks.is_main:  # rank 0 read them while planning; the others read them now
        data, pseudo = plan.data, plan.pseudo
    else:
        data = read_dataset(config["data"])
        pseudo = pseudo_labels(config, plan.split) if student else None
    start = start_weights(config) if plan.state is None else None
    handler = add_log_file(run.log_path) if ranks.is_main else None
    try:
        extending = bool(opts.given & {"epochs", "budget"})
        training = TrainingData.from_split(data, plan.split, device, pseudo)
        trainer = Trainer(config, run, training, device, ranks, plan.state, extending, start)
        try:
            reason = trainer.fit()
        except KeyboardInterrupt as exc:
            raise Interrupted(
                f"{run.last_checkpoint} holds epoch {trainer.epoch}; continue with: "
                f"saltseg train --run {run.root} --resume", exit_code(exc)
            ) from None
        if not trainer.epochs_this_call:
            reason = f"already finished: {reason}; a larger --epochs or --budget extends it"
        return _summary(run, trainer, reason)
    finally:
        if handler:
            logging.getLogger("saltseg").removeHandler(handler)
            handler.close()


def training_data(path: Path, config: dict[str, Any]) -> Dataset:
    """Read the labelled data file, checking it is the one the config names (if it names one), and
    record its absolute path (so the run works from any working directory)."""
    if not Path(path).exists():
        raise fail(path, "no such data file; make it with 'saltseg prepare train.zip'")
    data = read_dataset(path)
    if not data.labelled:
        raise fail(path, "has no masks: training needs a labelled data file (the competition's train.zip)")
    digest = file_sha256(path)
    if config.setdefault("data_sha256", digest) != digest:
        raise fail(path, "differs from the data file this run was trained on (SHA-256 mismatch)")
    config["data"] = str(Path(path).resolve())
    return data


def new_split(data: Dataset, config: dict[str, Any]) -> dict[str, Any]:
    """Return a new seeded split as the config's options ask: for a survey's patches, blocks of lines
    apart in space; otherwise stratified by salt coverage."""
    assert data.masks is not None
    if data.origins is not None:
        return make_block_split(data.ids, data.origins, json.loads(str(data.attrs["survey"])), config["seed"],
                                config["val_fraction"], config["folds"], config["fold"])
    return make_split(data.ids, data.masks, config["seed"], config["val_fraction"], config["folds"],
                      config["fold"])


def check_encoder_weights(config: dict[str, Any]) -> None:
    """Raise unless the encoder weights file a new smp-unet run starts from loads into its encoder."""
    if config["arch"] == "smp-unet" and config["encoder_weights"] not in ("none", "", None):
        build_model(config, load_encoder_weights=True)


def _clear_run(run: RunDir) -> None:
    """Remove the files of the run that ``--force`` replaces (and nothing else in the folder)."""
    for path in (run.config_path, run.split_path, run.metrics_path, run.log_path, run.curves_path,
                 run.threshold_path, run.threshold_plot_path, run.val_probs_path):
        path.unlink(missing_ok=True)
    for folder in (run.checkpoints_dir, run.predictions_dir, run.root / "eval"):
        shutil.rmtree(folder, ignore_errors=True)


def _summary(run: RunDir, trainer: Trainer, reason: str) -> TrainSummary:
    best = trainer.adopted_row or next(r for r in trainer.rows if r["epoch"] == trainer.stopper.best_epoch)
    return TrainSummary(
        run=run.root,
        epochs_run=trainer.epoch,
        best_epoch=int(best["epoch"]),
        best_val_loss=best["val_loss"],
        best_val_map=best["val_map"],
        best_checkpoint=run.best_checkpoint,
        stop_reason=reason,
        averaged_from=best.get("averaged_from"),
        snapshot_epochs=best.get("snapshot_epochs"),
    )

