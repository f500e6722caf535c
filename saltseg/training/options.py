"""``saltseg train``'s options: every option with its default, and the defaults that follow from
the architecture. Plain data, read by the command line before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from saltseg.precision import Precision
from saltseg.shapes import MODEL_SIZE, Fit

RESUMABLE = frozenset({"epochs", "budget", "device", "data", "run", "teacher", "unlabelled", "init"})
"""Options that may differ on ``--resume``; any other given option must match the saved config
(``init`` may be given again, naming the recorded run: saltseg.training.config checks it)."""

UNLIMITED_EPOCHS = 100_000
NOT_IN_CONFIG = ("resume", "force", "given")
STUDENT_OPTIONS = ("teacher", "unlabelled", "pseudo_ratio")
"""A student's options: config.json records them as saltseg.training.student.student_config resolves them."""
TRAINING_KEYS = ("arch", "fit", "seed", "val_fraction", "folds", "fold", "loss", "monitor", "lr",
                 "batch_size", "epochs", "schedule", "precision", "augment")
"""Keys of config.json that resuming a run needs (the network's own are checked by RunDir)."""


class Augment(str, Enum):
    """How much to augment: nothing, horizontal flips, or flips plus shift, scale and brightness."""

    none = "none"
    flip = "flip"
    full = "full"


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
    init: Path | None = None
    """A trained run whose best.pt, and network, a new run starts from (``--init RUN``)."""
    image_head: bool | None = None
    scse: bool | None = None
    hypercolumn: bool | None = None
    deep_supervision: bool = False
    fit: Fit = Fit.reflect
    input_size: int | None = None
    loss: str = "bce+dice"
    lovasz_from: float | None = 0.4
    lovasz_hinge: str = "elu"
    lovasz_symmetric: bool = True
    average_from: float | None = None
    snapshots: int = 1
    monitor: str = "val_map"
    val_fraction: float = 0.2
    folds: int = 1
    fold: int = 0
    augment: Augment = Augment.flip
    mosaic: float = 0.0
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
