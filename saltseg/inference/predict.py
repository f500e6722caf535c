"""``saltseg predict``: salt probabilities for a source of images, from a run or an ensemble.

The predictions file (layout in :mod:`saltseg.data.hdf5`) records what made it in its attributes:
``runs``, ``checkpoint`` (the members' best.pt), ``checkpoint_sha256`` (their hashes, so a
retrained run is noticed), ``tta``, ``source`` and ``source_sha256``. ``evaluate`` reuses a file
whose attributes match instead of predicting again.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from saltseg.console import progress_bar
from saltseg.cut import apply_cut
from saltseg.data.hdf5 import (
    Dataset,
    Predictions,
    file_sha256,
    is_hdf5,
    read_dataset,
    read_predictions,
    write_predictions,
)
from saltseg.data.mask_folder import check_replaceable, write_mask_folder
from saltseg.data.rle import SAFE_ID
from saltseg.data.sources import open_source, read_images
from saltseg.errors import fail
from saltseg.inference.predictor import Models, Predictor, load_predictor, resolve

log = logging.getLogger("saltseg")

COMPILE_FROM_IMAGES = 4000
"""On the CPU, sources of this many images or more are predicted by compiled networks: compiling
takes about ten seconds, and each forward pass is then 1.1-1.3x faster (benchmarks/README.md)."""


@dataclass
class PredictResult:
    """What ``predict`` wrote."""

    path: Path
    n_images: int
    seconds: float
    masks_dir: Path | None = None


def predict(
    runs: list[Path],
    source: Path,
    out: Path | None = None,
    ensemble: Path | None = None,
    tta: bool = True,
    batch_size: int = 64,
    device: str = "auto",
    masks_dir: Path | None = None,
    compile_net: bool | None = None,
) -> PredictResult:
    """Predict every image of ``source`` and write the probabilities.

    Args:
        runs: one run, an ensemble directory, or several runs (then ``ensemble`` names their home).
        source: a zip or folder of images, or an HDF5 data file from ``prepare``.
        out: the predictions file; default ``HOME/predictions/<source stem>.h5``.
        ensemble: the ensemble directory of several runs.
        tta: average each member's prediction with that of the mirrored image.
        batch_size: images per forward pass.
        device: auto, cpu, cuda or cuda:N.
        masks_dir: also write 0/255 PNG masks here, cut at the home's threshold and minimum area.
        compile_net: run the networks under torch.compile; None: on the CPU when the source has
            at least :data:`COMPILE_FROM_IMAGES` images.

    Returns:
        The file written, the number of images and the seconds the prediction took.
    """
    models = resolve(runs, ensemble)
    predictor = load_predictor(models, device, batch_size, tta)
    data = read_source(source)
    if masks_dir is not None:
        check_file_names(data.ids, source)
        check_replaceable(masks_dir)
        threshold, min_area = models.home.read_cut()
    if _compile_pays(compile_net, predictor, len(data)):
        log.info("compiling the network%s for this machine", "s" if len(predictor.nets) > 1 else "")
        predictor = predictor.compiled()
    start = time.perf_counter()
    preds = predict_dataset(models, predictor, data)
    seconds = time.perf_counter() - start
    path = out or models.home.prediction_path(Path(source).stem)
    write_predictions(path, preds)
    models.save()
    log.info("%d images in %.1f s (%.0f images/s) -> %s", len(data), seconds, len(data) / seconds, path)
    if masks_dir is not None:
        write_mask_folder(masks_dir, preds.ids, apply_cut(preds.probs, threshold, min_area))
        log.info("wrote %d masks (threshold %.2f, min area %d) to %s", len(preds.ids), threshold, min_area,
                 masks_dir)
    return PredictResult(Path(path), len(data), seconds, masks_dir)


def _compile_pays(asked: bool | None, predictor: Predictor, n_images: int) -> bool:
    if asked is not None:
        return asked
    return predictor.device.type == "cpu" and n_images >= COMPILE_FROM_IMAGES


def read_source(path: Path) -> Dataset:
    """Read the images (and masks, when present in an HDF5 file) of a source, with its SHA-256."""
    path = Path(path)
    if is_hdf5(path):
        data = read_dataset(path)
        data.attrs["source_sha256"] = file_sha256(path)
    else:
        with progress_bar() as bar:
            ids, images = read_images(path, lambda ids: bar.track(ids, description="reading images"))
        with open_source(path) as src:
            data = Dataset(ids, images, attrs={"source_sha256": src.sha256()})
    if len(data) == 0:
        raise fail(path, "holds no images")
    data.attrs["source"] = path.name
    return data


def check_file_names(ids: list[str], source: Path) -> None:
    """Raise unless every id can be a PNG's file name (before anything is written)."""
    bad = next((key for key in ids if not SAFE_ID.match(key)), None)
    if bad is not None:
        raise fail(source, f"id {bad!r} cannot be a file name for --masks")


def predict_dataset(models: Models, predictor: Predictor, data: Dataset) -> Predictions:
    """Return the ensemble's probabilities for ``data``'s images, with attributes saying what made them."""
    with progress_bar() as bar:
        task = bar.add_task("predicting", total=len(data) * predictor.passes)
        probs = predictor.probs(data.images, lambda n: bar.advance(task, n))
    attrs = {
        "runs": json.dumps(models.runs),
        "checkpoint": json.dumps([str(m.best_checkpoint) for m in models.members]),
        "checkpoint_sha256": models.stamp(),
        "tta": predictor.tta,
        "source": str(data.attrs.get("source", "")),
        "source_sha256": str(data.attrs.get("source_sha256", "")),
    }
    return Predictions(list(data.ids), probs, attrs)


def matching_predictions(path: Path, models: Models, data: Dataset, tta: bool) -> Predictions | None:
    """Return the predictions file at ``path`` if it holds exactly what predicting ``data`` would give."""
    if not is_hdf5(path):
        return None
    preds = read_predictions(path)
    same = (
        preds.ids == list(data.ids)
        and bool(preds.attrs.get("tta")) == tta
        and preds.attrs.get("checkpoint_sha256") == models.stamp()
        and preds.attrs.get("source_sha256") == data.attrs.get("source_sha256")
    )
    return preds if same else None
