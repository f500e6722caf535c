"""Whether one run's validation score really differs from another's: the paired difference.

Both runs must validate the same images (the same split, as ``benchmarks/accuracy.py`` makes).
Each run's ``val_probs.h5`` (written by ``saltseg threshold``) is cut at its own threshold and
minimum area; the per-image competition scores give each run's score with its standard error,
and the mean per-image difference with the standard error of that paired difference. A
difference within about two standard errors is noise of the split, not a better recipe.

``--test`` compares the runs' scores on the test split instead, from the per-image scores that
``benchmarks/accuracy.py`` had ``saltseg evaluate`` write (``RUN/eval/test/per_image.csv``).

    python benchmarks/compare_runs.py RUN_A RUN_B [--test]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import read_dataset, read_predictions
from saltseg.metric import per_image_scores
from saltseg.rundir import RunDir
from saltseg.training.data import ids_to_rows


def per_image_validation_scores(run: Path) -> dict[str, float]:
    """Return each validation image's competition score for ``run``, cut as ``threshold`` chose."""
    rundir = RunDir(run)
    preds = read_predictions(rundir.val_probs_path)
    data = read_dataset(rundir.read_config()["data"])
    assert data.masks is not None
    truth = data.masks[ids_to_rows(data.ids, preds.ids)].astype(bool)
    threshold, min_area = rundir.read_cut()
    scores = per_image_scores(apply_cut(preds.probs.astype(np.float32), threshold, min_area), truth)
    return dict(zip(preds.ids, scores.tolist(), strict=True))


def per_image_test_scores(run: Path) -> dict[str, float]:
    """Return each test-split image's competition score for ``run``, as ``accuracy.py`` evaluated it."""
    table = run / "eval" / "test" / "per_image.csv"
    if not table.exists():
        raise SystemExit(f"{table}: missing; benchmarks/accuracy.py writes it when it scores the test split")
    with table.open(newline="") as f:
        return {row["id"]: float(row["score"]) for row in csv.DictReader(f)}


def paired_differences(a: dict[str, float], b: dict[str, float]) -> np.ndarray:
    """Return a's score minus b's, image by image; both must score the same images."""
    if a.keys() != b.keys():
        raise SystemExit("the runs scored different images; compare runs of one split")
    return np.array([a[name] - b[name] for name in a])


def mean_and_error(values: np.ndarray) -> str:
    """Return 'mean +- standard error' of ``values``."""
    return f"{values.mean():.4f} +- {values.std(ddof=1) / np.sqrt(len(values)):.4f}"


def main() -> None:
    """Print each run's score and their paired difference, with standard errors."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs=2, metavar="RUN")
    parser.add_argument("--test", action="store_true", help="Compare the test-split scores.")
    args = parser.parse_args()
    scores = per_image_test_scores if args.test else per_image_validation_scores
    a, b = (scores(run) for run in args.runs)
    first = np.array(list(a.values()))
    print(f"A {mean_and_error(first)}, B {mean_and_error(np.array(list(b.values())))}, "
          f"A - B {mean_and_error(paired_differences(a, b))} over {len(first)} images")


if __name__ == "__main__":
    main()
