"""Your own survey, measured: on a synthetic labelled survey (synthetic_survey.py), with every 10th
inline labelled outside a test block of inlines, which chooses nothing and is scored line by line:

  (a) a competition run as it is (``--competition RUN``, already thresholded on its own split);
  (b) a run trained from scratch on the labelled inlines (``saltseg train --budget B``);
  (c) the same fine-tuned from (a) (``--init RUN``), same budget.

Each of (b) and (c) holds out its own block of labelled inlines for the best epoch and the
threshold (``saltseg threshold``). The test block (the last ``--test-share`` of the inlines, after
a gap of ``--gap`` inlines) is evaluated against the full truth with ``saltseg evaluate --lines``:
IoU per inline, their mean, and the paired differences (mean +- standard error over the test
inlines). Also timed: ``evaluate`` of the test block against ``predict`` of the same inlines.

    python benchmarks/survey_accuracy.py --competition bench/comp60 --budget 10m --work bench/survey
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from synthetic_survey import FIRST_INLINE, make_survey, write_segy


def run(*args: object) -> float:
    """Run ``saltseg ARGS`` and return its wall time in seconds; stop the benchmark on failure."""
    start = time.perf_counter()
    done = subprocess.run(["saltseg", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"saltseg {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def line_ious(run_dir: Path, name: str) -> dict[str, float]:
    """Return the IoU of each line of ``RUN/eval/<name>/per_line.csv``."""
    with open(run_dir / "eval" / name / "per_line.csv", newline="") as f:
        return {row["line"]: float(row["iou"]) for row in csv.DictReader(f)}


def paired(a: dict[str, float], b: dict[str, float]) -> str:
    """Return the mean of b - a over the lines and its standard error."""
    diff = np.array([b[k] - a[k] for k in a])
    return f"{diff.mean():+.3f} +- {diff.std(ddof=1) / np.sqrt(len(diff)):.3f}"


def write_survey(work: Path, shape: tuple[int, int, int], every: int, test_first: int, seed: int) -> None:
    """Write seismic.sgy, truth.sgy and labels.sgy (every ``every``-th inline before ``test_first``)."""
    seismic, salt = make_survey(shape, seed)
    labels = np.full(shape, -1, np.float32)
    labels[:test_first:every] = salt[:test_first:every]
    write_segy(work / "seismic.sgy", seismic)
    write_segy(work / "truth.sgy", salt.astype(np.float32))
    write_segy(work / "labels.sgy", labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competition", type=Path, required=True, help="a thresholded competition run")
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--work", type=Path, default=Path("bench-out/survey"))
    parser.add_argument("--shape", type=int, nargs=3, default=(200, 150, 256))
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--gap", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    n_il = args.shape[0]
    test_first = n_il - round(args.test_share * n_il)
    write_survey(work, tuple(args.shape), args.every, test_first - args.gap, args.seed)
    test = f"{FIRST_INLINE + test_first}-{FIRST_INLINE + n_il - 1}"
    seconds = {"prepare": run("prepare", work / "seismic.sgy", "--labels", work / "labels.sgy", "--out",
                              work / "survey.h5", "--force")}
    rows = {}
    for name, extra in (("scratch", ()), ("fine-tuned", ("--init", args.competition))):
        run_dir = work / name
        seconds[f"train {name}"] = run("train", "--data", work / "survey.h5", "--run", run_dir, "--budget",
                                       args.budget, "--force", *extra)
        seconds[f"threshold {name}"] = run("threshold", run_dir)
        rows[name] = run_dir
    rows["competition"] = args.competition
    ious = {}
    for name, run_dir in rows.items():
        seconds[f"evaluate {name}"] = run("evaluate", run_dir, work / "seismic.sgy", "--labels",
                                          work / "truth.sgy", "--lines", test)
        ious[name] = line_ious(run_dir, "seismic")
        summary = json.loads((run_dir / "eval" / "seismic" / "summary.json").read_text())
        epochs = len((run_dir / "metrics.csv").read_text().splitlines()) - 1
        print(f"{name:12s} mean line IoU {np.mean(list(ious[name].values())):.3f}, IoU {summary['iou']:.3f}, "
              f"precision {summary['precision']:.3f}, recall {summary['recall']:.3f}, {epochs} epochs")
    print(f"scratch - competition:    {paired(ious['competition'], ious['scratch'])}")
    print(f"fine-tuned - competition: {paired(ious['competition'], ious['fine-tuned'])}")
    print(f"fine-tuned - scratch:     {paired(ious['scratch'], ious['fine-tuned'])}")
    seconds["predict the test block (.npy)"] = _predict_block(rows["scratch"], work, test_first)
    for key, value in seconds.items():
        print(f"{key:32s} {value:7.1f} s")
    print(f"test inlines {test} ({n_il - test_first}); labelled inlines every {args.every}th before "
          f"{FIRST_INLINE + test_first - args.gap}; CPU: {_cpu()}")


def _predict_block(run_dir: Path, work: Path, test_first: int) -> float:
    """Return the seconds ``predict`` takes on the test block's inlines alone (a .npy of them)."""
    import segyio

    with segyio.open(work / "seismic.sgy") as f:
        block = segyio.tools.cube(f)[test_first:]
    np.save(work / "test_seismic.npy", block)
    return run("predict", run_dir, work / "test_seismic.npy", "--out", work / "test_probs.npy",
               "--no-preview", f"--clip={_clip(work)}")


def _clip(work: Path) -> str:
    """Return the survey data file's amplitude clip as LOW,HIGH (what evaluate applies to it)."""
    import h5py

    with h5py.File(work / "survey.h5") as f:
        mapping = json.loads(f.attrs["survey"])["amplitude"]
    return f"{mapping['low']},{mapping['high']}"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
