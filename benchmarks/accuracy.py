"""Validation score of the default training flow for a time budget, on the competition's train.zip.

prepare -> train --budget B (stratified 20% validation split, seed 0) -> threshold; prints the
validation score at the chosen threshold and minimum area, the score at 0.5, minutes used,
training images/s and the CPU model.

    python benchmarks/accuracy.py --budget 15m [--data ../shared/data] [--out bench-out/acc]
                                  [--set arch=unet --set batch_norm=true ...]

``--set KEY=VALUE`` overrides a training option (as named in config.json) to compare recipes.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import fields
from pathlib import Path

from saltseg.prepare import prepare
from saltseg.rundir import RunDir
from saltseg.schedule import parse_duration
from saltseg.threshold import threshold
from saltseg.train import TrainOptions, train


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
    known = {f.name for f in fields(TrainOptions)}
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in known:
            raise SystemExit(f"--set {pair}: unknown option {key}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def main() -> None:
    """Run the flow and print its figures as text and one JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", required=True, help="Training budget: 15m, 30m, 1h.")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "accuracy")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    h5 = args.out / "train.h5"
    if not h5.exists():
        prepare(args.data / "train.zip", h5, None, False)
    run = args.out / f"run-{args.budget}"
    started = time.monotonic()
    options = TrainOptions(data=h5, run=run, budget=parse_duration(args.budget), force=True)
    for key, value in overrides(args.set).items():
        setattr(options, key, value)
    summary = train(options)
    trained_s = time.monotonic() - started
    result = threshold([run])
    rows = RunDir(run).read_metrics()
    n_train = len(RunDir(run).read_split()["train"])
    rate = n_train * len(rows) / sum(r["seconds"] for r in rows)
    choice = result.choice
    figures = {
        "budget": args.budget,
        "score": choice.score,
        "threshold": choice.threshold,
        "min_area": choice.min_area,
        "score_at_0.5": choice.score_at_half,
        "best_epoch": summary.best_epoch,
        "averaged_from": summary.averaged_from,
        "epochs": summary.epochs_run,
        "train_minutes": trained_s / 60,
        "total_minutes": (time.monotonic() - started) / 60,
        "train_images_per_s": rate,
        "cpu": cpu_model(),
        "overrides": args.set,
    }
    print(f"budget {args.budget}: validation score {choice.score:.4f} at threshold {choice.threshold:.2f}, "
          f"min area {choice.min_area} (at 0.5: {choice.score_at_half:.4f}), "
          f"weights of the {summary.best_weights}; "
          f"{summary.epochs_run} epochs in {trained_s / 60:.1f} min, {rate:.1f} images/s; {cpu_model()}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
