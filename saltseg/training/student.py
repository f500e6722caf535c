"""A student run: a teacher run's confident predictions on unlabelled images as extra training images.

``saltseg train --teacher RUN --unlabelled test.h5`` trains a student that

- reuses the teacher's split (so its validation images stay out of training, and scores compare),
- starts from the teacher's best weights (same network) and trains on the labelled training
  images plus, each epoch, a draw of pseudo-labelled images (``--pseudo-ratio`` times as many),
- takes the pseudo-labels from ``RUN/predictions/<unlabelled stem>.h5`` (``saltseg predict RUN
  test.h5``), cut at the teacher's threshold and minimum area, keeping only the images the
  measured rule of :mod:`saltseg.training.pseudo` finds confident.

The student's config.json records the teacher, the unlabelled file, the predictions file and
their SHA-256 (checked on resume), and the rule; its split.json lists the pseudo-labelled ids.

:func:`start_weights` gives a new run the weights it starts from: a student's teacher's best, or
the best of the run ``--init RUN`` names (saltseg.training.config gives it that run's network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from saltseg.data.hdf5 import file_sha256
from saltseg.errors import fail
from saltseg.models import read_model_config
from saltseg.rundir import RunDir, load_checkpoint
from saltseg.training.pseudo import (
    DEFAULT_RULE,
    PseudoLabels,
    rule_config,
    rule_from_config,
    select_pseudo_labels,
)


def student_config(teacher: Path, unlabelled: Path, ratio: float, data_sha256: str) -> dict[str, Any]:
    """Return the config entries of a student of ``teacher`` on ``unlabelled`` (checked, nothing read
    but the teacher's files and the hashes)."""
    run = RunDir(teacher)
    run.require_model()
    if read_model_config(run).get("data_sha256") != data_sha256:
        raise fail(teacher, "was trained on another data file than --data; a student reuses its split")
    if not Path(unlabelled).is_file():
        raise fail(unlabelled, "no such unlabelled data file; make it with 'saltseg prepare test.zip'")
    predictions = run.prediction_path(Path(unlabelled).stem)
    if not predictions.is_file():
        raise fail(predictions, f"no teacher predictions; run 'saltseg predict {teacher} {unlabelled}' first")
    if not 0 < ratio <= 100:
        raise fail("--pseudo-ratio", f"must be in (0, 100] (pseudo images per labelled one), got {ratio}")
    return {
        "teacher": str(run.root.resolve()),
        "teacher_sha256": file_sha256(run.best_checkpoint),
        "unlabelled": str(Path(unlabelled).resolve()),
        "pseudo_labels": str(predictions.resolve()),
        "pseudo_labels_sha256": file_sha256(predictions),
        "pseudo_rule": rule_config(DEFAULT_RULE),
        "pseudo_ratio": ratio,
    }


def teacher_split(config: dict[str, Any]) -> dict[str, Any]:
    """Return the teacher's split, which the student reuses."""
    return RunDir(config["teacher"]).read_split()


def pseudo_labels(config: dict[str, Any], split: dict[str, Any]) -> PseudoLabels:
    """Return the student's pseudo-labelled images, selected again from the recorded predictions
    file (whose SHA-256 must not have changed) by the recorded rule."""
    path = Path(config["pseudo_labels"])
    if not path.is_file() or file_sha256(path) != config["pseudo_labels_sha256"]:
        raise fail(path, "is not the predictions file this student learned from (missing or SHA-256 differs)")
    teacher = RunDir(config["teacher"])
    labels = select_pseudo_labels(path, Path(config["unlabelled"]), teacher.read_cut(),
                                  rule_from_config(config["pseudo_rule"]), {"validation": split["val"]})
    if not len(labels):
        raise fail(path, "has no image the pseudo-label rule finds confident; train the teacher longer")
    return labels


def teacher_weights(config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Return the teacher's best weights, which a new student starts from."""
    return load_checkpoint(RunDir(config["teacher"]).best_checkpoint)["model"]


def start_weights(config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """Return the weights a new run starts from: its teacher's best, or its ``--init`` run's best
    (model and batch-norm statistics), else None (the network's own initialisation)."""
    if config.get("teacher"):
        return teacher_weights(config)
    if config.get("init"):
        return load_checkpoint(RunDir(config["init"]["run"]).best_checkpoint)["model"]
    return None
