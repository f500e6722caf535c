"""``saltseg threshold``: choose the probability threshold and minimum area on validation images.

Each run predicts its own validation split (``split.json``) with its own best.pt, so the K runs
of ``--folds K`` give out-of-fold probabilities for every image; they are concatenated and swept
together (:func:`saltseg.inference.sweep.sweep_thresholds`) for one choice, written to the home's
``threshold.json`` and ``threshold.png``.

A run's validation probabilities are kept in its ``val_probs.h5`` with the SHA-256 of the
best.pt that made them, and reused while it and the TTA setting are unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saltseg.console import progress_bar
from saltseg.cut import ThresholdChoice
from saltseg.data.hdf5 import (
    Dataset,
    Predictions,
    file_sha256,
    read_dataset,
    read_predictions,
    write_predictions,
)
from saltseg.errors import SaltsegError, fail
from saltseg.inference.predictor import load_predictor, resolve
from saltseg.inference.sweep import MIN_AREAS, THRESHOLDS, sweep_thresholds
from saltseg.models import read_model_config
from saltseg.plots import plot_threshold
from saltseg.rundir import RunDir

log = logging.getLogger("saltseg")

TABLE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
"""Rows of the short table printed besides the best choice."""


@dataclass
class ThresholdResult:
    """The chosen cut, the full score table and where it was written."""

    choice: ThresholdChoice
    table: np.ndarray = field(repr=False)
    home: Path
    runs: list[str]
    reused: list[bool]
    tta: bool
    stamp: str

    def as_dict(self) -> dict[str, Any]:
        """Return threshold.json's content."""
        choice = asdict(self.choice)
        return {
            "threshold": choice["threshold"],
            "min_area": choice["min_area"],
            "score": choice["score"],
            "score_at_0.5": choice["score_at_half"],
            "n_images": choice["n_images"],
            "tta": self.tta,
            "runs": self.runs,
            "checkpoint_sha256": self.stamp,
            "thresholds": [THRESHOLDS[0], THRESHOLDS[-1], 0.01],
            "min_areas": list(MIN_AREAS),
        }


def threshold(
    runs: list[Path],
    data: Path | None = None,
    ensemble: Path | None = None,
    tta: bool = True,
    batch_size: int = 64,
    device: str = "auto",
) -> ThresholdResult:
    """Sweep threshold and minimum area on the runs' validation images; write the choice.

    Args:
        runs: one run, an ensemble directory, or several runs (then ``ensemble`` names their home).
        data: the labelled data file, instead of the one each run's config.json names.
        ensemble: the ensemble directory of several runs.
        tta: predict with horizontal-flip test-time augmentation.
        batch_size: images per forward pass.
        device: auto, cpu, cuda or cuda:N.

    Returns:
        The choice (also in HOME/threshold.json) and the score table (HOME/threshold.png).
    """
    models = resolve(runs, ensemble)
    _warn_overlap(models.members)
    parts = [validation_probs(m, data, tta, batch_size, device) for m in models.members]
    probs = np.concatenate([p for p, _, _ in parts])
    truth = np.concatenate([t for _, t, _ in parts])
    choice, table = sweep_thresholds(probs, truth)
    reused = [r for _, _, r in parts]
    result = ThresholdResult(choice, table, models.home.root, models.runs, reused, tta, models.stamp())
    plot_threshold(table, THRESHOLDS, MIN_AREAS, choice, models.home.threshold_plot_path)
    models.home.write_threshold(result.as_dict())
    models.save()
    return result


def _warn_overlap(members: list[RunDir]) -> None:
    """Warn when runs validate on the same images (not folds): those images count once per run."""
    ids = [key for m in members for key in m.read_split()["val"]]
    if len(set(ids)) < len(ids):
        log.warning("%d validation images are shared by several runs (not K folds); each run's "
                    "prediction of them counts", len(ids) - len(set(ids)))


def validation_probs(
    run: RunDir, data: Path | None, tta: bool, batch_size: int, device: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return the run's validation probabilities and true masks, and whether the cache served them."""
    val_ids = run.read_split()["val"]
    dataset = _labelled_data(run, data)
    rows = _rows(dataset.ids, val_ids, run)
    assert dataset.masks is not None
    truth = dataset.masks[rows]
    stamp = file_sha256(run.best_checkpoint)
    cached = _cached(run, val_ids, stamp, tta)
    if cached is not None:
        log.info("%s: reusing validation probabilities of %d images", run.root, len(val_ids))
        return cached.probs, truth, True
    predictor = load_predictor([run], device, batch_size, tta)
    with progress_bar() as bar:
        task = bar.add_task(f"validating {run.root.name}", total=len(rows) * predictor.passes)
        probs = predictor.probs(dataset.images[rows], lambda n: bar.advance(task, n))
    attrs = {"checkpoint": str(run.best_checkpoint), "checkpoint_sha256": stamp, "tta": tta}
    write_predictions(run.val_probs_path, Predictions(list(val_ids), probs, attrs))
    return probs.astype(np.float32), truth, False


def _labelled_data(run: RunDir, data: Path | None) -> Dataset:
    """Read the labelled data file: ``data``, else the one config.json names (checked by SHA-256)."""
    config = read_model_config(run)
    path = Path(data if data is not None else config.get("data") or "<none>")
    if not path.is_file():
        raise fail(path, f"no such data file (named by {run.config_path}); pass --data FILE")
    expected = config.get("data_sha256")
    if expected and file_sha256(path) != expected:
        raise fail(path, f"differs from the data file {run.root} was trained on (SHA-256 mismatch)")
    dataset = read_dataset(path)
    if not dataset.labelled:
        raise fail(path, "has no masks; the validation images need their true masks")
    return dataset


def _rows(ids: list[str], wanted: list[str], run: RunDir) -> np.ndarray:
    """Return the rows of ``wanted`` ids in ``ids``; a missing one is an error."""
    index = {key: i for i, key in enumerate(ids)}
    missing = [key for key in wanted if key not in index]
    if missing:
        raise fail(run.split_path, f"names {len(missing)} ids the data file lacks, e.g. {missing[0]}")
    if not wanted:
        raise fail(run.split_path, "has no validation ids")
    return np.array([index[key] for key in wanted], dtype=np.int64)


def _cached(run: RunDir, val_ids: list[str], stamp: str, tta: bool) -> Predictions | None:
    """Return val_probs.h5 if it holds these ids predicted by this best.pt with this TTA setting."""
    if not run.val_probs_path.exists():
        return None
    try:
        preds = read_predictions(run.val_probs_path)
    except SaltsegError as exc:
        log.warning("%s; predicting the validation images again", exc)
        return None
    attrs = preds.attrs
    same = attrs.get("checkpoint_sha256") == stamp and bool(attrs.get("tta")) == tta
    return preds if same and preds.ids == list(val_ids) else None


def summary_table(result: ThresholdResult) -> str:
    """Return the best choice and the score at a few thresholds, with and without its area rule."""
    c = result.choice
    areas = sorted({0, c.min_area})
    lines = [
        f"best: threshold {c.threshold:.2f}, min area {c.min_area}: score {c.score:.4f} "
        f"(0.5 and no area rule: {c.score_at_half:.4f}; {c.n_images} images)",
        "threshold  " + "  ".join(f"{f'min area {a}':<12}" for a in areas),
    ]
    for t in sorted({*TABLE_THRESHOLDS, c.threshold}):
        i = int(np.argmin(np.abs(np.asarray(THRESHOLDS) - t)))
        cells = "  ".join(f"{result.table[i, MIN_AREAS.index(a)]:<12.4f}" for a in areas)
        mark = "  <- best" if THRESHOLDS[i] == c.threshold else ""
        lines.append(f"{THRESHOLDS[i]:<9.2f}  {cells}{mark}")
    return "\n".join(lines)
