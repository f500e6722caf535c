"""Accuracy of sliding-window prediction on mosaics of labelled tiles, against tile prediction.

A run's validation tiles (split.json) are laid side by side, ROWS x COLS to a section, and each
section gets a margin of OFFSET samples (its own mirror image) above and to the left, so the
windows start off the tile grid. Every configuration (window size, overlap, blending, gate)
predicts every section; the probabilities are cut at the run's threshold (minimum area on
connected regions, as ``predict --as-masks`` does) and scored on the mosaic without its margin:
IoU over all sections (pixels), the same IoU over the samples at least 20 from a tile's edge
("inner", away from the seams), and the competition metric per tile (the section's mask cut back
into its tiles). The reference is tile prediction of the same tiles (hflip TTA, the tile minimum
area rule), scored the same way; each line prints the difference to it. The last line stacks the
same shifted sections into a uint8 volume (inline, crossline, sample) and predicts it with
``predict``'s volume path at its defaults (along inlines, default windows, masks cut per section).

Mosaics of unrelated tiles have seams real geology lacks, so they are harder than real sections.

    python benchmarks/section_accuracy.py --run bench-out/run25 [--data bench-out/train.h5]
        [--tiles bench-out/holdout/test.h5] [--grid 4 8] [--offset 37] [--device auto]
        [--sections N] [--only TEXT] [--quick]

``--quick`` predicts 2 sections with 3 configurations (a smoke check of the script); ``--only``
keeps the configurations whose name contains TEXT. ``--tiles FILE`` lays every tile of a labelled
HDF5 file instead of the run's validation tiles: the test split of ``benchmarks/holdout.py``
(``bench-out/holdout/test.h5``), which chose neither the run's epoch and cut nor these defaults,
gives the figures to report. A file holding any of the run's training images is refused.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import Dataset, read_dataset
from saltseg.inference.predictor import Predictor, load_predictor
from saltseg.metric import competition_score
from saltseg.rundir import RunDir
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions, WindowOptions
from saltseg.seismic.regions import cut_section
from saltseg.seismic.volume import predict_volume_file
from saltseg.seismic.windows import count_windows, predict_section
from saltseg.shapes import IMAGE_SIZE

CONFIGS = {
    "101 overlap 0 none": WindowOptions(101, 0.0, "none"),
    "101 overlap 0.125 cosine": WindowOptions(101, 0.125, "cosine"),
    "101 overlap 0.25 cosine (default)": WindowOptions(),
    "101 overlap 0.25 linear": WindowOptions(101, 0.25, "linear"),
    "101 overlap 0.25 none": WindowOptions(101, 0.25, "none"),
    "101 overlap 0.5 cosine": WindowOptions(101, 0.5, "cosine"),
    "101 overlap 0.75 cosine": WindowOptions(101, 0.75, "cosine"),
    "101 overlap 0.25 cosine, no gate": WindowOptions(101, 0.25, "cosine", gate=False),
    "202 overlap 0.25 cosine, gate per window": WindowOptions(202, 0.25, "cosine"),
    "202 overlap 0.25 cosine, no gate": WindowOptions(202, 0.25, "cosine", gate=False),
    "303 overlap 0.25 cosine, gate per window": WindowOptions(303, 0.25, "cosine"),
}
INNER = 20
"""Samples from a tile's edge beyond which the "inner" IoU is counted."""
VOLUME = "volume of the sections, along inlines (default)"
QUICK = ("101 overlap 0 none", "101 overlap 0.25 cosine (default)",
         "202 overlap 0.25 cosine, gate per window", VOLUME)


def validation_tiles(run: RunDir, data: Path | None) -> Dataset:
    """Return the run's validation images and masks, from ``data`` or the run's config.json data."""
    dataset = read_dataset(data or run.read_config()["data"])
    wanted = set(run.read_split()["val"])
    keep = [i for i, key in enumerate(dataset.ids) if key in wanted]
    assert dataset.masks is not None, "the data file must be labelled"
    return Dataset([dataset.ids[i] for i in keep], dataset.images[keep], dataset.masks[keep])


def unseen_tiles(run: RunDir, tiles: Path) -> Dataset:
    """Return every labelled tile of ``tiles``; exit if any was one of the run's training images."""
    dataset = read_dataset(tiles)
    if dataset.masks is None:
        raise SystemExit(f"{tiles}: holds no masks")
    if trained := set(run.read_split()["train"]) & set(dataset.ids):
        raise SystemExit(f"{tiles}: {len(trained)} of its tiles trained {run.root}")
    return dataset


def mosaics(tiles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Return sections (S, rows*101, cols*101) of consecutive tiles (N, 101, 101); the rest is dropped."""
    n = len(tiles) // (rows * cols)
    grid = tiles[: n * rows * cols].reshape(n, rows, cols, IMAGE_SIZE, IMAGE_SIZE)
    return grid.transpose(0, 1, 3, 2, 4).reshape(n, rows * IMAGE_SIZE, cols * IMAGE_SIZE)


def tiles_of(sections: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Return the tiles (S*rows*cols, 101, 101) of sections laid by :func:`mosaics`."""
    grid = sections.reshape(len(sections), rows, IMAGE_SIZE, cols, IMAGE_SIZE).transpose(0, 1, 3, 2, 4)
    return grid.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def pixel_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Return the IoU of all salt pixels of 0/1 masks (any shape)."""
    return float(np.logical_and(pred, true).sum() / max(np.logical_or(pred, true).sum(), 1))


def scores(pred_tiles: np.ndarray, true_tiles: np.ndarray) -> dict[str, float]:
    """Return IoU over all pixels, IoU at least :data:`INNER` samples from a tile's edge (away from
    the mosaic's seams), and the mean competition metric per tile, of 0/1 masks (N, 101, 101)."""
    inner = (slice(None), slice(INNER, -INNER), slice(INNER, -INNER))
    return {"iou": pixel_iou(pred_tiles, true_tiles),
            "iou_inner": pixel_iou(pred_tiles[inner], true_tiles[inner]),
            "metric": competition_score(pred_tiles, true_tiles)}


def off_grid(section: np.ndarray, offset: int) -> np.ndarray:
    """Return ``section`` with a mirrored margin of ``offset`` samples above and to the left, so
    windows starting at its corner lie off the tile grid."""
    return np.pad(section, ((offset, 0), (offset, 0)), mode="reflect")


def section_masks(predictor: Predictor, sections: np.ndarray, options: WindowOptions, offset: int,
                  cut: tuple[float, int]) -> tuple[np.ndarray, int]:
    """Return the cut masks of ``sections`` predicted off the tile grid, and the windows predicted."""
    masks, windows = [], 0
    for section in sections:
        shifted = off_grid(section, offset)
        probs = predict_section(predictor, shifted, options)
        windows += count_windows(shifted.shape, options)
        masks.append(cut_section(probs[offset:, offset:], *cut))
    return np.stack(masks), windows


def volume_masks(predictor: Predictor, sections: np.ndarray, offset: int, cut: tuple[float, int]
                 ) -> tuple[np.ndarray, int]:
    """Return the cut masks of ``sections`` stacked, shifted as in :func:`section_masks`, into a
    3-D .npy and predicted by the volume path at its defaults; and the windows predicted."""
    shifted = np.stack([off_grid(section, offset) for section in sections])
    with tempfile.TemporaryDirectory() as work:
        source, out = Path(work) / "mosaics.npy", Path(work) / "salt.npy"
        np.save(source, shifted.transpose(0, 2, 1))  # (inline, crossline, sample)
        predict_volume_file(predictor, source, out, WindowOptions(), AmplitudeOptions(), VolumeOptions(),
                            cut, preview=False)
        masks = np.load(out).transpose(0, 2, 1)[:, offset:, offset:]
    return masks, len(sections) * count_windows(shifted.shape[1:], WindowOptions())


def parse_args() -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="A trained run directory.")
    parser.add_argument("--data", type=Path, help="Labelled HDF5 (default: the run's config.json data).")
    parser.add_argument("--tiles", type=Path, help="Labelled HDF5 to lay out instead.")
    parser.add_argument("--grid", type=int, nargs=2, default=(4, 8), metavar=("ROWS", "COLS"))
    parser.add_argument("--offset", type=int, default=37, help="Margin moving the windows off the grid.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sections", type=int, help="Predict only the first N sections.")
    parser.add_argument("--only", action="append", help="Only the configurations containing this text.")
    parser.add_argument("--quick", action="store_true", help="2 sections, 3 configurations.")
    return parser.parse_args()


def chosen(args: argparse.Namespace) -> list[str]:
    """Return the names of the configurations to run."""
    names = list(QUICK if args.quick else [*CONFIGS, VOLUME])
    return [n for n in names if not args.only or any(part in n for part in args.only)]


def line(name: str, got: dict[str, float], reference: dict[str, float], windows: int, seconds: float) -> str:
    """Return one row of the printed table."""
    return (f"{name:48s} {got['iou']:7.4f} {got['iou'] - reference['iou']:+7.4f} {got['iou_inner']:7.4f} "
            f"{got['iou_inner'] - reference['iou_inner']:+7.4f} {got['metric']:7.4f} "
            f"{got['metric'] - reference['metric']:+7.4f} {windows:8d} {seconds:6.0f}")


def main() -> None:
    """Score tile prediction and every configuration; print a table and one JSON line."""
    args = parse_args()
    run, (rows, cols) = RunDir(args.run), args.grid
    data = unseen_tiles(run, args.tiles) if args.tiles else validation_tiles(run, args.data)
    images, truth = mosaics(data.images, rows, cols), mosaics(data.masks, rows, cols)
    limit = 2 if args.quick else args.sections
    images, truth = images[:limit], truth[:limit]
    true_tiles, cut = tiles_of(truth, rows, cols), run.read_cut()
    predictor = load_predictor([run], args.device, 64, tta=True)
    started = time.perf_counter()
    reference = scores(apply_cut(predictor.probs(tiles_of(images, rows, cols)), *cut), true_tiles)
    figures = {"tiles": len(true_tiles), "sections": len(images), "section_shape": list(images.shape[1:]),
               "cut": list(cut), "offset": args.offset,
               "tile prediction": {**reference, "seconds": time.perf_counter() - started}}
    source = f"tiles of {args.tiles}" if args.tiles else "validation tiles"
    print(f"{len(true_tiles)} {source} in {len(images)} sections of {rows}x{cols} tiles "
          f"({images.shape[1]}x{images.shape[2]}), windows {args.offset} samples off the grid, "
          f"cut at {cut[0]:.2f} / min area {cut[1]}")
    print(f"{'configuration':48s} {'IoU':>7s} {'dIoU':>7s} {'inner':>7s} {'dinner':>7s} {'metric':>7s} "
          f"{'dmetric':>7s} {'windows':>8s} {'s':>6s}")
    print(line("tile prediction (reference)", reference, reference, len(true_tiles),
               figures["tile prediction"]["seconds"]))
    for name in chosen(args):
        started = time.perf_counter()
        masks, windows = (volume_masks(predictor, images, args.offset, cut) if name == VOLUME
                          else section_masks(predictor, images, CONFIGS[name], args.offset, cut))
        got = scores(tiles_of(masks, rows, cols), true_tiles)
        figures[name] = {**got, "windows": windows, "seconds": time.perf_counter() - started}
        print(line(name, got, reference, windows, figures[name]["seconds"]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
