"""Test-split score of the default training flow for a time budget: the figure the README reports.

``benchmarks/holdout.py`` splits the prepared train.zip into dev.h5 (3000 images) and test.h5 (the
fixed 600 of the test split). For each seed, exactly as a user's run: ``saltseg train --data dev.h5
--budget B --seed S`` (its own stratified 20% validation split inside dev.h5 picks the best
epoch), ``saltseg threshold`` (threshold and minimum area from that validation split), then the
test split is scored once, by ``saltseg evaluate`` at that cut. Nothing is chosen on the test split.

Printed: for each seed its test score with the split's standard error (std of the per-image
scores / sqrt(n)), its validation score, cut, epochs and minutes; then the mean test score of the
seeds with the standard error of the per-image mean over seeds; the CPU; and one JSON line.

    python benchmarks/accuracy.py --budget 60m [--seeds 0 1] [--prepared bench-out/train.h5]
        [--data ../shared/data] [--holdout bench-out/holdout] [--out bench-out/accuracy]
        [--set arch=unet --set batch_norm=true ...]

``--pseudo`` measures the pseudo-label chain instead, within the same budget: a teacher on dev.h5
for ``--teacher-share`` of it (0.45), its threshold, its predictions on the competition's 18000
unlabelled test.zip images (checked to hold no test-split image), and a student (``train
--teacher --unlabelled``) for what is left; the student is thresholded and scored as above.

``--folds K`` measures a K-fold ensemble within the same budget instead: K runs on dev.h5
(``train --folds K --fold I``, each for a K-th of the budget), one cut for their ensemble from
every dev image's out-of-fold prediction (``saltseg threshold f0 ... --ensemble``), and the
ensemble scored on the test split once.

``--set KEY=VALUE`` overrides a training option (as named in config.json) to compare recipes;
give each recipe its own ``--out``. A smoke check: ``--budget 2m --seeds 0 --set arch=unet --set
start_filters=4 --set epochs=1``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from holdout import TEST, HoldoutFiles, require_part, write_parts

from saltseg.cut import ThresholdChoice
from saltseg.data.hdf5 import read_dataset, read_predictions
from saltseg.data.prepare import prepare
from saltseg.inference.evaluate import evaluate
from saltseg.inference.predict import predict
from saltseg.inference.threshold import threshold
from saltseg.rundir import RunDir
from saltseg.training.options import TrainOptions
from saltseg.training.pseudo import check_predictions
from saltseg.training.schedule import parse_duration
from saltseg.training.stage import TrainSummary, train

FIXED_OPTIONS = ("data", "run", "seed", "folds", "fold")
"""Training options this script sets itself (``--set`` may not)."""


@dataclass
class SeedResult:
    """One seed's run (or ensemble of runs): its validation choice and its test-split scores."""

    seed: int
    run: Path
    summaries: list[TrainSummary]
    """What each trained model reports: one run, a student, or each fold."""
    validation: ThresholdChoice
    test_scores: np.ndarray
    train_minutes: float
    images_per_s: float

    def as_dict(self) -> dict[str, object]:
        """Return the figures as JSON-ready values."""
        return {
            "seed": self.seed,
            "test_score": float(self.test_scores.mean()),
            "test_standard_error": standard_error(self.test_scores),
            "validation_score": self.validation.score,
            "threshold": self.validation.threshold,
            "min_area": self.validation.min_area,
            "best_epoch": [s.best_epoch for s in self.summaries],
            "epochs": [s.epochs_run for s in self.summaries],
            "train_minutes": self.train_minutes,
            "train_images_per_s": self.images_per_s,
        }


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def overrides(pairs: list[str]) -> dict[str, object]:
    """Parse KEY=VALUE pairs into option values (JSON where the text is JSON, else the text)."""
    known = {f.name for f in fields(TrainOptions)} - set(FIXED_OPTIONS)
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in known:
            raise SystemExit(f"--set {pair}: unknown option {key}, or one this script sets "
                             "(--seeds, --folds)")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def standard_error(scores: np.ndarray) -> float:
    """Return the standard error of the mean of per-image ``scores``."""
    return float(scores.std(ddof=1) / np.sqrt(len(scores)))


def holdout_files(args: argparse.Namespace) -> HoldoutFiles:
    """Return dev.h5 and test.h5, preparing train.zip and splitting it when needed."""
    if not args.prepared.exists():
        prepare(args.data / "train.zip", args.prepared, None, False)
    return write_parts(args.prepared, args.holdout)


def train_on_dev(dev: Path, run: Path, budget: str, seed: int, extra: dict[str, object]) -> TrainSummary:
    """Train the recipe (defaults plus ``extra``) on dev.h5 into ``run``, from scratch."""
    options = TrainOptions(data=dev, run=run, budget=parse_duration(budget), seed=seed, force=True)
    for key, value in extra.items():
        setattr(options, key, value)
    return train(options)


def test_scores(run: Path, test: Path) -> np.ndarray:
    """Score the run on the test split once, at its threshold.json's cut; return per-image scores."""
    require_part(test, TEST)
    result = evaluate([run], test)
    with result.per_image.open(newline="") as f:
        return np.array([float(row["score"]) for row in csv.DictReader(f)])


def images_per_s(summaries: list[TrainSummary]) -> float:
    """Return the runs' training rate: training images times epochs over the epochs' seconds."""
    return float(np.mean([run_images_per_s(s.run) for s in summaries]))


def run_images_per_s(run: Path) -> float:
    """Return one run's training rate: training images times epochs over the epochs' seconds."""
    rundir = RunDir(run)
    rows = rundir.read_metrics()
    return len(rundir.read_split()["train"]) * len(rows) / sum(r["seconds"] for r in rows)


def unlabelled_file(args: argparse.Namespace) -> Path:
    """Return the competition's test.zip prepared (the unlabelled images of the pseudo-label chain)."""
    path = args.prepared.with_name("test.h5")
    if not path.exists():
        prepare(args.data / "test.zip", path, None, False)
    return path


def train_student(files: HoldoutFiles, unlabelled: Path, run: Path, seconds: float, seed: int,
                  extra: dict[str, object]) -> TrainSummary:
    """The pseudo-label chain within ``seconds``: a teacher on dev.h5 for ``--teacher-share`` of them,
    its threshold, its predictions on the unlabelled images (no TTA), then a student for the rest."""
    started, teacher = time.monotonic(), run.with_name(run.name + "-teacher")
    share = float(str(extra.pop("teacher_share")))
    train_on_dev(files.dev, teacher, f"{seconds * share:.0f}s", seed, dict(extra))
    threshold([teacher])
    predictions = predict([teacher], unlabelled, tta=False).path
    check_predictions(predictions, read_predictions(predictions), unlabelled, read_dataset(unlabelled),
                      {"test split": read_dataset(files.test).ids})
    left = seconds - (time.monotonic() - started)
    student = {**extra, "teacher": teacher, "unlabelled": unlabelled}
    return train_on_dev(files.dev, run, f"{left:.0f}s", seed, student)


def train_folds(dev: Path, home: Path, seconds: float, seed: int, extra: dict[str, object], k: int
                ) -> list[TrainSummary]:
    """K runs on dev.h5 beside their ensemble ``home`` (fold I of K each, a K-th of ``seconds``
    each)."""
    return [train_on_dev(dev, home.with_name(f"{home.name}-fold{i}"), f"{seconds / k:.0f}s", seed,
                         {**extra, "folds": k, "fold": i}) for i in range(k)]


def validation_cut(home: Path, summaries: list[TrainSummary]) -> ThresholdChoice:
    """Threshold the trained model, or the ensemble ``home`` of several (from their out-of-fold
    predictions), on validation; return the choice."""
    ensemble = home if len(summaries) > 1 else None
    return threshold([s.run for s in summaries], ensemble=ensemble).choice


def run_seed(files: HoldoutFiles, args: argparse.Namespace, seed: int) -> SeedResult:
    """Train (the pseudo-label chain with ``--pseudo``, K folds with ``--folds``), threshold on
    validation, and score the test split, for one seed."""
    run = args.out / f"run-{args.budget}-seed{seed}"
    started, seconds = time.monotonic(), parse_duration(args.budget)
    if args.pseudo:
        extra = {**overrides(args.set), "teacher_share": args.teacher_share}
        summaries = [train_student(files, unlabelled_file(args), run, seconds, seed, extra)]
    elif args.folds > 1:
        summaries = train_folds(files.dev, run, seconds, seed, overrides(args.set), args.folds)
    else:
        summaries = [train_on_dev(files.dev, run, args.budget, seed, overrides(args.set))]
    minutes = (time.monotonic() - started) / 60
    choice = validation_cut(run, summaries)
    return SeedResult(seed, run, summaries, choice, test_scores(run, files.test), minutes,
                      images_per_s(summaries))


def report(results: list[SeedResult], args: argparse.Namespace) -> None:
    """Print each seed's line, the mean over seeds, and one JSON line."""
    for r in results:
        models = "; ".join(f"{s.best_weights} of {s.epochs_run} epochs" for s in r.summaries)
        print(f"seed {r.seed}: test {r.test_scores.mean():.4f} +- {standard_error(r.test_scores):.4f} "
              f"({len(r.test_scores)} images); validation {r.validation.score:.4f} at threshold "
              f"{r.validation.threshold:.2f}, min area {r.validation.min_area}; {models}; "
              f"{r.train_minutes:.1f} min, {r.images_per_s:.1f} images/s")
    per_image = np.mean([r.test_scores for r in results], axis=0)
    mean, error = float(per_image.mean()), standard_error(per_image)
    print(f"budget {args.budget}: test score {mean:.4f} +- {error:.4f} "
          f"(mean of {len(results)} seeds); validation {np.mean([r.validation.score for r in results]):.4f}; "
          f"{cpu_model()}")
    print(json.dumps({"budget": args.budget, "test_score": mean, "test_standard_error": error,
                      "seeds": [r.as_dict() for r in results], "cpu": cpu_model(), "overrides": args.set}))


def main() -> None:
    """Run the flow for every seed and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", required=True, help="Training budget: 15m, 30m, 1h.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--prepared", type=Path, default=Path("bench-out") / "train.h5",
                        help="train.zip prepared by 'saltseg prepare' (made from --data when missing).")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--holdout", type=Path, default=Path("bench-out") / "holdout")
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "accuracy")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--pseudo", action="store_true",
                        help="Teacher, its predictions on test.zip and a student, all within --budget.")
    parser.add_argument("--teacher-share", type=float, default=0.45, help="The teacher's share of --budget.")
    parser.add_argument("--folds", type=int, default=1,
                        help="K > 1: a K-fold ensemble on dev.h5 within --budget (a K-th of it each).")
    args = parser.parse_args()
    if args.folds > 1 and args.pseudo:
        raise SystemExit("--folds and --pseudo measure different flows; give one")
    overrides(args.set)
    files = holdout_files(args)
    report([run_seed(files, args, seed) for seed in args.seeds], args)


if __name__ == "__main__":
    main()
