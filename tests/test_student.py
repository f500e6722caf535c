"""A teacher's confident predictions on unlabelled images train a student (``train --teacher``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, invoke, salt_examples, source_entries, write_zip
from runs import TINY, metrics, ok

from saltseg.data.hdf5 import Dataset, read_dataset
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.training.data import TrainingData
from saltseg.training.pseudo import DEFAULT_RULE, PseudoLabels, rule_config


@pytest.fixture(scope="module")
def teacher(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the session's 3-epoch run made confident (its output layer's logits scaled up 20x,
    as a longer-trained teacher's would be), thresholded, with its predictions on 60 unlabelled tiles."""
    root = tmp_path_factory.mktemp("teacher")
    run = Path(shutil.copytree(trained_run, root / "teacher"))
    best = load_checkpoint(RunDir(run).best_checkpoint)
    for name in ("head.weight", "head.bias"):
        best["model"][name] = best["model"][name] * 20
    save_checkpoint(RunDir(run).best_checkpoint, best)
    archive = write_zip(root / "unlabelled.zip", source_entries(salt_examples(60, seed=7), masks=False))
    ok(invoke("prepare", archive, "--out", root / "unlabelled.h5"))
    ok(invoke("threshold", run))
    ok(invoke("predict", run, root / "unlabelled.h5"))
    return run, root / "unlabelled.h5"


def _student(teacher: Path, unlabelled: Path, run: Path, *extra: object) -> list[object]:
    data = RunDir(teacher).read_config()["data"]
    return ["train", "--data", data, "--run", run, *TINY, "--lovasz-from", "1", "--teacher", teacher,
            "--unlabelled", unlabelled, *extra]


def test_a_student_learns_from_the_teachers_confident_predictions(teacher: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    teacher_run, unlabelled = teacher
    student = tmp_path / "student"
    result = ok(invoke(*_student(teacher_run, unlabelled, student, "--epochs", "1")))
    split, taught = RunDir(student).read_split(), RunDir(teacher_run).read_split()
    assert (split["train"], split["val"]) == (taught["train"], taught["val"])  # the teacher's split
    unlabelled_ids = read_dataset(unlabelled).ids
    assert 0 < len(split["pseudo"]) <= len(unlabelled_ids) and set(split["pseudo"]) <= set(unlabelled_ids)
    assert "pseudo-labelled images" in result.stderr
    config = RunDir(student).read_config()
    assert Path(config["teacher"]) == teacher_run.resolve()
    assert Path(config["unlabelled"]) == unlabelled.resolve()
    assert config["pseudo_labels"] == str(RunDir(teacher_run).prediction_path("unlabelled").resolve())
    assert len(config["pseudo_labels_sha256"]) == 64 and config["pseudo_rule"] == rule_config(DEFAULT_RULE)
    assert len(metrics(student)) == 1

    # the student changed the teacher's weights it started from, on more images than the labelled ones
    teacher_best = torch.load(RunDir(teacher_run).best_checkpoint, weights_only=True)["model"]
    student_last = torch.load(RunDir(student).last_checkpoint, weights_only=True)["model"]
    assert teacher_best.keys() == student_last.keys()
    assert any(not torch.equal(teacher_best[k], student_last[k]) for k in teacher_best)


def test_each_epoch_draws_pseudo_labelled_images_beside_every_labelled_one() -> None:
    zeros, ones = np.zeros((10, 101, 101), np.uint8), np.ones((30, 101, 101), np.uint8)
    labelled = Dataset([f"l{i}" for i in range(10)], zeros, zeros)
    split = {"train": labelled.ids[:8], "val": labelled.ids[8:]}
    pseudo = PseudoLabels([f"p{i}" for i in range(30)], ones, ones, "sha")
    data = TrainingData.from_split(labelled, split, torch.device("cpu"), pseudo)
    assert (len(data.train_images), data.labelled, len(data.val_images)) == (38, 8, 2)
    orders = [data.epoch_order(torch.Generator().manual_seed(e), 1.5) for e in range(2)]
    for order in orders:
        assert len(order) == 8 + 12 and set(range(8)) <= set(order.tolist())
        assert all(8 <= r < 38 for r in order.tolist() if r >= 8)
    assert set(orders[0].tolist()) != set(orders[1].tolist())  # a fresh draw each epoch
    plain = TrainingData.from_split(labelled, split, torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    same = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(plain.epoch_order(gen, 1.0), same)  # runs without pseudo-labels draw as before


def test_predictions_that_hold_validation_images_are_refused(teacher: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    teacher_run, _ = teacher
    labelled = Path(RunDir(teacher_run).read_config()["data"])
    ok(invoke("predict", teacher_run, labelled))  # the teacher's predictions on its own labelled images
    result = invoke(*_student(teacher_run, labelled, tmp_path / "leaky", "--epochs", "1"))
    assert_one_line_error(result, "validation")
    assert not (tmp_path / "leaky" / "config.json").exists()


def test_a_student_resumes_only_from_the_predictions_it_learned_from(teacher: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    teacher_run, unlabelled = teacher
    student = tmp_path / "student"
    ok(invoke(*_student(teacher_run, unlabelled, student, "--epochs", "1")))
    predictions = RunDir(teacher_run).prediction_path("unlabelled")
    saved = predictions.read_bytes()
    try:
        ok(invoke("predict", teacher_run, unlabelled, "--no-tta"))  # other predictions in the same file
        assert_one_line_error(invoke("train", "--run", student, "--resume", "--epochs", "2"), predictions)
    finally:
        predictions.write_bytes(saved)
    ok(invoke("train", "--run", student, "--resume", "--epochs", "2"))
    assert len(metrics(student)) == 2


@pytest.mark.parametrize("missing", ["--teacher", "--unlabelled"])
def test_a_student_needs_a_teacher_and_its_unlabelled_file(teacher: tuple[Path, Path], tmp_path: Path,
                                                           missing: str) -> None:
    args = _student(*teacher, tmp_path / "s")
    i = args.index(missing)
    del args[i : i + 2]
    assert_one_line_error(invoke(*args), "--teacher", "--unlabelled")
