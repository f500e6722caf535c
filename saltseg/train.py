"""``saltseg train``: fit a model on a prepared data file into a self-describing run directory.

The run directory (see :mod:`saltseg.rundir`) gets the config first, then after every epoch a
metrics row, ``checkpoints/last.pt`` (the full training state) and, on improvement,
``checkpoints/best.pt``. Every epoch's shuffling, augmentation and dropout draw from generators
seeded by (seed, epoch), so an interrupted run resumed from ``last.pt`` repeats exactly the
epochs an uninterrupted run would have trained.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saltseg import __version__, distributed
from saltseg.augment import Augment
from saltseg.checkpoint import TrainingState
from saltseg.console import add_log_file
from saltseg.datafile import Dataset, file_sha256, read_dataset
from saltseg.device import Precision, resolve_precision
from saltseg.errors import SaltsegError, fail
from saltseg.interrupts import SIGINT_EXIT, exit_code
from saltseg.losses import HINGES, LOSSES
from saltseg.models import ARCHITECTURES, DECODER_SWITCHES, build_model, size_multiple
from saltseg.models.smp_unet import check_encoder_name
from saltseg.pseudo import PseudoLabels
from saltseg.rundir import RunDir
from saltseg.runlock import run_lock
from saltseg.shapes import MODEL_SIZE, Fit, InputFit
from saltseg.split import make_split
from saltseg.student import pseudo_labels, student_config, teacher_split, teacher_weights
from saltseg.trainer import Trainer
from saltseg.training_data import TrainingData

log = logging.getLogger("saltseg")

RESUMABLE = frozenset({"epochs", "budget", "device", "data", "run", "teacher", "unlabelled"})
"""Options that may differ on ``--resume``; any other given option must match the saved config."""

UNLIMITED_EPOCHS = 100_000
NOT_IN_CONFIG = ("resume", "force", "given")
STUDENT_OPTIONS = ("teacher", "unlabelled", "pseudo_ratio")
"""A student's options: config.json records them as saltseg.student.student_config resolves them."""
TRAINING_KEYS = ("arch", "fit", "seed", "val_fraction", "folds", "fold", "loss", "monitor", "lr",
                 "batch_size", "epochs", "schedule", "precision", "augment")
"""Keys of config.json that resuming a run needs (the network's own are checked by RunDir)."""


class Interrupted(SaltsegError):
    """Training stopped by Ctrl-C (exit 130) or SIGTERM (143); the last completed epoch is saved."""

    def __init__(self, message: str, exit_code: int = SIGINT_EXIT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainOptions:
    """Every option of ``saltseg train`` (all of them end up in config.json, but resume/force)."""

    data: Path = Path("train.h5")
    run: Path = Path("run")
    epochs: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    arch: str = "resunet"
    start_filters: int = 16
    batch_norm: bool = True
    dropout: float = 0.0
    encoder: str = "resnet34"
    encoder_weights: str = "none"
    image_head: bool | None = None
    scse: bool | None = None
    hypercolumn: bool | None = None
    deep_supervision: bool = False
    fit: Fit = Fit.reflect
    input_size: int | None = None
    loss: str = "bce+dice"
    lovasz_from: float | None = 0.4
    lovasz_hinge: str = "elu"
    average_from: float | None = None
    monitor: str = "val_map"
    val_fraction: float = 0.2
    folds: int = 1
    fold: int = 0
    augment: Augment = Augment.flip
    seed: int = 0
    device: str = "auto"
    precision: Precision = Precision.auto
    budget: float | None = None
    teacher: Path | None = None
    unlabelled: Path | None = None
    pseudo_ratio: float = 1.0
    resume: bool = False
    force: bool = False
    given: frozenset[str] = field(default_factory=frozenset)


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

    @property
    def best_weights(self) -> str:
        """Return what best.pt holds: 'best epoch N' or 'average of epochs A-N'."""
        if self.averaged_from:
            return f"average of epochs {self.averaged_from}-{self.best_epoch}"
        return f"best epoch {self.best_epoch}"


def train(opts: TrainOptions) -> TrainSummary:
    """Train a model as ``opts`` says and return the summary of the best epoch.

    Everything that can be checked (options, data file, split, encoder weights, the saved run on
    ``--resume``) is checked before ``--force`` removes an earlier run. Under ``torchrun`` rank 0
    alone reads and writes the run directory and shares what it found.
    """
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
    data = plan.data if plan.data is not None else read_dataset(config["data"])
    pseudo = plan.pseudo if plan.data is not None or not student else pseudo_labels(config, plan.split)
    start = teacher_weights(config) if student and plan.state is None else None
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


def check_options(opts: TrainOptions) -> None:
    """Raise on option values that cannot work, before anything is written."""
    if opts.epochs is not None and opts.epochs < 1:
        raise SaltsegError(f"--epochs must be at least 1, got {opts.epochs}")
    if opts.batch_size < 1 or opts.lr <= 0:
        raise SaltsegError("--batch-size must be at least 1 and --lr above 0")
    if opts.budget is not None and opts.budget <= 0:
        raise SaltsegError(f"--budget must be positive, got {opts.budget:g} seconds")
    if opts.loss not in LOSSES:
        raise SaltsegError(f"unknown loss '{opts.loss}'; choose one of: {', '.join(LOSSES)}")
    if opts.lovasz_hinge not in HINGES:
        raise SaltsegError(f"unknown Lovasz hinge '{opts.lovasz_hinge}'; choose one of: {', '.join(HINGES)}")
    for name in ("lovasz_from", "average_from"):
        value = getattr(opts, name)
        if value is not None and not 0 <= value <= 1:
            raise SaltsegError(f"--{name.replace('_', '-')} must be a fraction in [0, 1], got {value}")
    if opts.monitor not in ("val_loss", "val_map"):
        raise SaltsegError(f"unknown monitor '{opts.monitor}'; choose val_loss or val_map")
    if opts.arch not in ARCHITECTURES:
        raise SaltsegError(f"unknown architecture '{opts.arch}'; choose one of: {', '.join(ARCHITECTURES)}")
    if opts.arch == "smp-unet":
        check_encoder_name(opts.encoder)
        if opts.scse or opts.hypercolumn or opts.deep_supervision:
            raise SaltsegError(
                "--scse, --hypercolumn and --deep-supervision are options of --arch unet and resunet only"
            )
    if (opts.teacher is None) != (opts.unlabelled is None):
        raise SaltsegError("a student needs both --teacher RUN and --unlabelled DATA (what it predicted)")
    if opts.deep_supervision and not decoder_switch(opts, "hypercolumn"):
        raise SaltsegError("--deep-supervision scores the hypercolumn's side maps: add --hypercolumn")
    if problem := InputFit(Fit(opts.fit), input_size(opts)).problem(size_multiple(opts.arch)):
        raise SaltsegError(problem)
    if not 0 <= opts.dropout < 1:
        raise SaltsegError(f"--dropout must be in [0, 1), got {opts.dropout}")


def run_config(opts: TrainOptions, run: RunDir, device: torch.device) -> dict[str, Any]:
    """Return the run's config: the saved one on resume (checked against ``opts``), else a new one.
    Writes nothing."""
    if opts.resume:
        return _resumed_config(opts, run, device)
    if run.holds_run() and not opts.force:
        raise fail(run.root, "already holds a run; add --resume to continue it or --force to start over")
    return new_config(opts, device)


def data_path(opts: TrainOptions, config: dict[str, Any]) -> Path:
    """Return the data file to train on: ``--data`` when given or for a new run, else the one the
    resumed run recorded."""
    if not opts.resume or "data" in opts.given or not config.get("data"):
        return Path(opts.data)
    return Path(config["data"])


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
    """Return a new seeded split, stratified by salt coverage, as the config's options ask."""
    assert data.masks is not None
    return make_split(data.ids, data.masks, config["seed"], config["val_fraction"], config["folds"],
                      config["fold"])


def check_encoder_weights(config: dict[str, Any]) -> None:
    """Raise unless the encoder weights file a new smp-unet run starts from loads into its encoder."""
    if config["arch"] == "smp-unet" and config["encoder_weights"] not in ("none", "", None):
        build_model(config, load_encoder_weights=True)


def new_config(opts: TrainOptions, device: torch.device) -> dict[str, Any]:
    """Return a new run's config for ``opts``: the options, their defaults resolved, and provenance."""
    config = {k: v for k, v in asdict(opts).items() if k not in (*NOT_IN_CONFIG, *STUDENT_OPTIONS)}
    config.update(
        data=str(opts.data),
        run=str(opts.run),
        fit=Fit(opts.fit).value,
        augment=Augment(opts.augment).value,
        precision=resolve_precision(opts.precision, device).value,
        precision_option=Precision(opts.precision).value,
        val_loss=opts.loss,
        epochs=opts.epochs or (UNLIMITED_EPOCHS if opts.budget else 50),
        schedule="budget" if opts.budget else "plateau",
        versions=_versions(),
    )
    config.update({name: decoder_switch(opts, name) for name in DECODER_SWITCHES})
    config["input_size"] = input_size(opts)
    return config


RESUNET_INPUT = 112
"""resunet's input side unless ``--input-size`` is given: 1.4x the epochs of 128 in a budget, and
the better validation score at 15 and 60 minutes (measured, benchmarks/README.md)."""


def input_size(opts: TrainOptions) -> int:
    """Return the input side as given, else RESUNET_INPUT for resunet (the default recipe), else
    the seed's 128 (the seed's unet; smp-unet, whose side must be a multiple of 32)."""
    if opts.input_size is not None:
        return opts.input_size
    return RESUNET_INPUT if opts.arch == "resunet" else MODEL_SIZE


def decoder_switch(opts: TrainOptions, name: str) -> bool:
    """Return the decoder option ``name`` as given, else its default: on for resunet (the default
    recipe), off for the seed's unet and smp-unet."""
    value = getattr(opts, name)
    return opts.arch == "resunet" if value is None else value


def _resumed_config(opts: TrainOptions, run: RunDir, device: torch.device) -> dict[str, Any]:
    if not run.last_checkpoint.exists():
        raise fail(run.root, "nothing to resume: no checkpoints/last.pt (start a new run without --resume)")
    config = run.read_config()
    missing = [key for key in TRAINING_KEYS if key not in config]
    if missing:
        raise fail(run.config_path, f"lacks {', '.join(missing)}: not the config of a training run")
    given = asdict(opts)
    for key in sorted(opts.given - RESUMABLE):
        saved = config.get("precision_option" if key == "precision" else key, config.get(key))
        value = given[key].value if hasattr(given[key], "value") else given[key]
        if key in config and saved != value:
            raise SaltsegError(
                f"--{key.replace('_', '-')} {value} conflicts with the run's saved {key} = {saved}; "
                "drop it to resume, or use --force to start over"
            )
    if "epochs" in opts.given:
        config["epochs"] = opts.epochs
    if "budget" in opts.given:
        config["budget"] = opts.budget
    config["device"] = opts.device
    if config.get("precision_option") == Precision.auto.value:
        config["precision"] = resolve_precision(Precision.auto, device).value
    return config


def _clear_run(run: RunDir) -> None:
    """Remove the files of the run that ``--force`` replaces (and nothing else in the folder)."""
    for path in (run.config_path, run.split_path, run.metrics_path, run.log_path, run.curves_path,
                 run.threshold_path, run.threshold_plot_path, run.val_probs_path):
        path.unlink(missing_ok=True)
    for folder in (run.checkpoints_dir, run.predictions_dir, run.root / "eval"):
        shutil.rmtree(folder, ignore_errors=True)


def _versions() -> dict[str, str]:
    return {
        "saltseg": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _summary(run: RunDir, trainer: Trainer, reason: str) -> TrainSummary:
    best = trainer.average_row or next(r for r in trainer.rows if r["epoch"] == trainer.stopper.best_epoch)
    return TrainSummary(
        run=run.root,
        epochs_run=trainer.epoch,
        best_epoch=int(best["epoch"]),
        best_val_loss=best["val_loss"],
        best_val_map=best["val_map"],
        best_checkpoint=run.best_checkpoint,
        stop_reason=reason,
        averaged_from=int(best["averaged_from"]) if trainer.average_row else None,
    )

