"""The run's config.json from ``saltseg train``'s options: the checks before anything is written,
what a new run records, what a resumed run reads back and which options may change on ``--resume``.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saltseg import __version__
from saltseg.data.hdf5 import file_sha256
from saltseg.device import resolve_precision
from saltseg.errors import SaltsegError, fail
from saltseg.models import (
    ARCHITECTURE_KEYS,
    ARCHITECTURES,
    DECODER_SWITCHES,
    read_model_config,
    size_multiple,
)
from saltseg.models.smp_unet import check_encoder_name
from saltseg.precision import Precision
from saltseg.rundir import RunDir, load_checkpoint
from saltseg.shapes import MODEL_SIZE, Fit, InputFit
from saltseg.training.losses import HINGES, LOSSES
from saltseg.training.options import (
    NOT_IN_CONFIG,
    RESUMABLE,
    STUDENT_OPTIONS,
    TRAINING_KEYS,
    UNLIMITED_EPOCHS,
    Augment,
    TrainOptions,
    decoder_switch,
    input_size,
)

INIT_KEYS = ("arch", "fit", "input_size", *DECODER_SWITCHES,
             *sorted({key for keys in ARCHITECTURE_KEYS.values() for key in keys} - {"encoder_weights"}))
"""The options a run started with ``--init RUN`` takes from RUN's config.json: those that shape the
network (its encoder weights come with best.pt)."""


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
    for name in ("lovasz_from", "average_from", "mosaic"):
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
    if opts.init is not None and opts.teacher is not None:
        raise SaltsegError("--init and --teacher both give the weights to start from (a student starts "
                           "from its teacher's best.pt): use one")
    if opts.deep_supervision and not decoder_switch(opts, "hypercolumn"):
        raise SaltsegError("--deep-supervision scores the hypercolumn's side maps: add --hypercolumn")
    if problem := InputFit(Fit(opts.fit), input_size(opts)).problem(size_multiple(opts.arch)):
        raise SaltsegError(problem)
    if opts.snapshots < 1:
        raise SaltsegError(f"--snapshots must be at least 1, got {opts.snapshots}")
    if opts.snapshots > 1 and opts.budget is None:
        raise SaltsegError("--snapshots cycles the budget's cosine schedule: add --budget")
    if opts.snapshots > 1 and opts.average_from is not None:
        raise SaltsegError("--snapshots and --average-from each choose what best.pt holds: use one")
    if not 0 <= opts.dropout < 1:
        raise SaltsegError(f"--dropout must be in [0, 1), got {opts.dropout}")


def with_init_network(opts: TrainOptions) -> TrainOptions:
    """Return ``opts`` with the network of the run ``--init`` names (INIT_KEYS of its config.json),
    for a new run; a resumed run keeps its own. A model option given that differs is an error."""
    if opts.init is None or opts.resume:
        return opts
    if Path(opts.init).resolve() == Path(opts.run).resolve():
        raise SaltsegError(f"--init {opts.init} names the run being trained; start the new run in another "
                           "folder")
    if "encoder_weights" in opts.given and opts.encoder_weights != "none":
        raise SaltsegError(f"--encoder-weights {opts.encoder_weights}: --init {opts.init} starts every "
                           "weight from that run's best.pt; drop --encoder-weights")
    network, given = init_network(RunDir(opts.init)), asdict(opts)
    for key in sorted(opts.given & network.keys()):
        value = given[key].value if hasattr(given[key], "value") else given[key]
        if value != network[key]:
            raise SaltsegError(f"--{key.replace('_', '-')} {value} conflicts with {key} = {network[key]} of "
                               f"--init {opts.init}; drop it: the network comes from that run")
    return replace(opts, **{**network, "fit": Fit(network["fit"])}, encoder_weights="none")


def init_network(run: RunDir) -> dict[str, Any]:
    """Return the INIT_KEYS of a trained run's config.json (defaults where an older run lacks one)."""
    run.require_model()
    config = read_model_config(run)
    network = {"input_size": MODEL_SIZE, **dict.fromkeys(DECODER_SWITCHES, False)}
    return {**network, **{key: config[key] for key in INIT_KEYS if key in config}}


def init_record(path: Path) -> dict[str, str]:
    """Return config.json's ``init``: the run ``--init`` names and the SHA-256 of its best.pt, which
    must hold one network (not the ensemble of ``--snapshots``)."""
    run = RunDir(path)
    snapshots = load_checkpoint(run.best_checkpoint).get("snapshots")
    if snapshots:
        raise fail(run.best_checkpoint, f"holds the ensemble of {len(snapshots)} snapshots (train "
                   "--snapshots); --init starts from one network")
    return {"run": str(run.root.resolve()), "best_sha256": file_sha256(run.best_checkpoint)}


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


def new_config(opts: TrainOptions, device: torch.device) -> dict[str, Any]:
    """Return a new run's config for ``opts``: the options, their defaults resolved, and provenance."""
    config = {k: v for k, v in asdict(opts).items() if k not in (*NOT_IN_CONFIG, *STUDENT_OPTIONS, "init")}
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
    if opts.init is not None:
        config["init"] = init_record(opts.init)
    return config


def _resumed_config(opts: TrainOptions, run: RunDir, device: torch.device) -> dict[str, Any]:
    if not run.last_checkpoint.exists():
        raise fail(run.root, "nothing to resume: no checkpoints/last.pt (start a new run without --resume)")
    config = read_model_config(run)
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
    if "init" in opts.given:
        _check_same_init(Path(opts.init or ""), config.get("init"), run)
    if "epochs" in opts.given:
        config["epochs"] = opts.epochs
    if "budget" in opts.given:
        config["budget"] = opts.budget
    config["device"] = opts.device
    if config.get("precision_option") == Precision.auto.value:
        config["precision"] = resolve_precision(Precision.auto, device).value
    return config


def _check_same_init(init: Path, saved: dict[str, Any] | None, run: RunDir) -> None:
    """Raise unless ``--init`` given on resume names the run this one started from."""
    if not saved:
        raise SaltsegError(f"--init {init}: {run.root} was not started from another run's weights; "
                           "drop --init to resume, or use --force to start over")
    if init.resolve() != Path(saved["run"]).resolve():
        raise SaltsegError(f"--init {init} conflicts with the run's saved init = {saved['run']}; "
                           "drop it to resume, or use --force to start over")


def _versions() -> dict[str, str]:
    return {
        "saltseg": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
