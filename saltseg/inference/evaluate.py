"""``saltseg evaluate``: score a run or an ensemble on labelled data, and show its worst and best cases.

The probabilities come from ``HOME/predictions/<data stem>.h5`` (written by ``predict``) or
``HOME/eval/<data stem>/probs.h5`` (by an earlier ``evaluate``) when that file was made by the
same weights, TTA setting and data (see :func:`saltseg.inference.predict.matching_predictions`); otherwise
they are predicted into the latter, so ``rle HOME`` still encodes what ``predict`` wrote last.
They are cut exactly as ``rle HOME`` cuts them: the home's threshold and minimum area, 0.5 and
none before ``threshold`` has run.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saltseg.atomic import write_text_atomic
from saltseg.console import progress_bar
from saltseg.cut import apply_cut
from saltseg.data.hdf5 import Dataset, Predictions, is_hdf5, write_predictions
from saltseg.data.sources import load_source
from saltseg.errors import fail
from saltseg.inference.predict import matching_predictions, predict_dataset, read_source
from saltseg.inference.predictor import Models, load_predictor, resolve
from saltseg.metric import competition_score, iou_per_image, per_image_scores
from saltseg.plots import plot_overlays
from saltseg.rundir import RunDir

log = logging.getLogger("saltseg")

OVERLAY_CASES = 8
"""Worst cases and best cases each drawn in overlays.png."""
TABLE_COLUMNS = ("id", "score", "iou", "true_area", "pred_area")


@dataclass
class EvalResult:
    """Scores of a run on a labelled data set, and where the details were written."""

    data: str
    n_images: int
    score: float
    mean_iou: float
    empty_right: float | None
    n_empty: int
    threshold: float
    min_area: int
    reused: bool
    per_image: Path
    overlays: Path

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        """Return the result as two short lines."""
        empty = "n/a" if self.empty_right is None else f"{self.empty_right:.4f}"
        return (
            f"score {self.score:.4f}  mean IoU {self.mean_iou:.4f}  empty masks right {empty} "
            f"(of {self.n_empty})  images {self.n_images}\n"
            f"cut at threshold {self.threshold:.2f}, min area {self.min_area}; "
            f"details in {self.per_image.parent}"
        )


def evaluate(
    runs: list[Path],
    data: Path,
    ensemble: Path | None = None,
    tta: bool = True,
    batch_size: int = 64,
    device: str = "auto",
) -> EvalResult:
    """Score the models on labelled ``data`` and write HOME/eval/<data stem>/.

    Args:
        runs: one run, an ensemble directory, or several runs (then ``ensemble`` names their home).
        data: an HDF5 data file with masks, or a zip or folder of images and masks.
        ensemble: the ensemble directory of several runs.
        tta: predict with horizontal-flip test-time augmentation.
        batch_size: images per forward pass.
        device: auto, cpu, cuda or cuda:N.
    """
    models = resolve(runs, ensemble)
    dataset = _labelled(data)
    name = Path(data).stem
    preds, reused = _probabilities(models, dataset, name, tta, batch_size, device)
    models.save()
    threshold, min_area = models.home.read_cut()
    masks = apply_cut(preds.probs, threshold, min_area)
    return _report(models.home, name, dataset, masks, (threshold, min_area), reused)


def _probabilities(models: Models, data: Dataset, name: str, tta: bool, batch_size: int, device: str
                   ) -> tuple[Predictions, bool]:
    """Return matching probabilities from ``predict``'s file or evaluate's own, else predict them."""
    for path in (models.home.prediction_path(name), models.home.eval_probs_path(name)):
        preds = matching_predictions(path, models, data, tta)
        if preds is not None:
            log.info("reusing the probabilities in %s", path)
            return preds, True
    preds = predict_dataset(models, load_predictor(models, device, batch_size, tta), data)
    write_predictions(models.home.eval_probs_path(name), preds)
    preds.probs = preds.probs.astype(np.float32)
    return preds, False


def _labelled(path: Path) -> Dataset:
    """Read labelled data: an HDF5 file with masks, or a zip or folder of images and masks."""
    if is_hdf5(path):
        data = read_source(path)
    else:
        with progress_bar() as bar:
            data = load_source(path, lambda ids: bar.track(ids, description="reading images"))
    if not data.labelled:
        raise fail(path, "has no masks; evaluate needs labelled data (images and masks)")
    return data


def _report(home: RunDir, name: str, data: Dataset, masks: np.ndarray, cut: tuple[float, int],
            reused: bool) -> EvalResult:
    """Score ``masks`` against the truth, write per_image.csv and overlays.png, return the result."""
    assert data.masks is not None
    truth = data.masks
    scores, ious = per_image_scores(masks, truth), iou_per_image(masks, truth)
    empty = ~truth.reshape(len(truth), -1).any(1)
    predicted_empty = ~masks.reshape(len(masks), -1).any(1)
    _write_table(home.eval_table_path(name), data.ids, scores, ious, truth, masks)
    cases = _cases(scores, ious)
    plot_overlays(data.images[cases], truth[cases], masks[cases], [data.ids[i] for i in cases],
                  scores[cases].tolist(), home.eval_overlays_path(name), per_row=4)
    return EvalResult(
        data=name,
        n_images=len(truth),
        score=competition_score(masks, truth),
        mean_iou=float(ious.mean()),
        empty_right=float(predicted_empty[empty].mean()) if empty.any() else None,
        n_empty=int(empty.sum()),
        threshold=cut[0],
        min_area=cut[1],
        reused=reused,
        per_image=home.eval_table_path(name),
        overlays=home.eval_overlays_path(name),
    )


def _cases(scores: np.ndarray, ious: np.ndarray) -> np.ndarray:
    """Return the rows of the worst cases then the best, without repeats when there are few images."""
    order = np.lexsort((ious, scores))
    k = min(OVERLAY_CASES, len(order) // 2) or 1
    worst, best = order[:k], order[::-1][:k]
    return np.concatenate([worst, [i for i in best if i not in set(worst)]]).astype(np.int64)


def _write_table(path: Path, ids: list[str], scores: np.ndarray, ious: np.ndarray, truth: np.ndarray,
                 masks: np.ndarray) -> None:
    """Write per_image.csv: each image's score, IoU, true and predicted salt area."""
    areas = truth.reshape(len(truth), -1).sum(1), masks.reshape(len(masks), -1).sum(1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TABLE_COLUMNS)
    for row in zip(ids, scores, ious, *areas, strict=True):
        writer.writerow([row[0], f"{row[1]:.2f}", f"{row[2]:.4f}", int(row[3]), int(row[4])])
    write_text_atomic(path, out.getvalue())
