"""Does the faster precision cost accuracy? The default recipe trained in fp32 and in bf16.

Both trainings use the same data, split, seed, network and epochs (the default recipe, plateau
schedule); only ``--precision`` differs. Prints each epoch's validation loss and score at 0.5 for
both, their training images/s, and the ratio.

    python benchmarks/precision_accuracy.py [--epochs 4] [--data ../shared/data] [--out bench-out/precision]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from saltseg.data.prepare import prepare
from saltseg.device import resolve_precision
from saltseg.precision import Precision
from saltseg.rundir import RunDir
from saltseg.training.options import TrainOptions
from saltseg.training.stage import train

PRECISIONS = (Precision.fp32, Precision.auto)


def trained_metrics(h5: Path, run: Path, epochs: int, precision: Precision) -> list[dict]:
    """Train the default recipe for ``epochs`` in ``precision``; return metrics.csv's rows."""
    train(TrainOptions(data=h5, run=run, epochs=epochs, precision=precision, force=True))
    return RunDir(run).read_metrics()


def images_per_s(run: Path, rows: list[dict]) -> float:
    """Training images/s of a run, validation included."""
    return len(RunDir(run).read_split()["train"]) * len(rows) / sum(r["seconds"] for r in rows)


def main() -> None:
    """Train in both precisions and print the per-epoch comparison and one JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "precision")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    h5 = args.out / "train.h5"
    if not h5.exists():
        prepare(args.data / "train.zip", h5, None, False)
    cpu = torch.device("cpu")
    fast = resolve_precision("auto", cpu).value
    results = {}
    for name in dict.fromkeys(resolve_precision(p, cpu).value for p in PRECISIONS):  # fp32 once without bf16
        run = args.out / f"run-{name}"
        rows = trained_metrics(h5, run, args.epochs, Precision(name))
        results[name] = {
            "val_loss": [r["val_loss"] for r in rows],
            "val_map": [r["val_map"] for r in rows],
            "images_per_s": images_per_s(run, rows),
        }
    print("epoch  " + "  ".join(f"{n} val_loss  {n} val_map" for n in results))
    for epoch in range(args.epochs):
        print(f"{epoch + 1:5d}  " + "  ".join(
            f"{r['val_loss'][epoch]:12.4f}  {r['val_map'][epoch]:11.4f}" for r in results.values()
        ))
    ratio = results[fast]["images_per_s"] / results["fp32"]["images_per_s"]
    print("images/s: " + ", ".join(f"{n} {r['images_per_s']:.1f}" for n, r in results.items())
          + f"; {fast} / fp32 = {ratio:.2f}x")
    print(json.dumps({"epochs": args.epochs, "results": results, "speedup": ratio}))


if __name__ == "__main__":
    main()
