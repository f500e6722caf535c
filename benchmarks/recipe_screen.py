"""Screen training recipes side by side at a fixed number of epochs (minutes each on a GPU).

Recipes are picked here, so only the holdout's dev.h5 is read (``benchmarks/holdout.py``; a file
that is not it is refused): the test split never takes part in a choice. Each variant trains on
dev.h5 with the same split (seed 0, 20% validation inside dev.h5), all at once,
for ``--epochs`` epochs with the budget schedule spanning them (warm-up, cosine, the Lovasz
switch at its fraction), as a CPU hour that reaches that many epochs would; ``--budget`` only
guards the time. Then ``saltseg threshold``'s sweep cuts each run, and the script prints each variant's
score and its paired difference against the first variant, with standard errors.

    python benchmarks/recipe_screen.py --data bench-out/holdout/dev.h5 --epochs 42 \\
        --variant base= --variant l40="--lovasz-from 0.4" \\
        --variant i112="--input-size 112 --epochs 58"

A variant's own ``--epochs`` wins over the common one (to give a faster recipe the epochs the
same time would give it). Run it where there are cores or a GPU for every variant at once.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from compare_runs import mean_and_error, paired_differences, per_image_validation_scores
from holdout import DEV, require_part

from saltseg.inference.threshold import threshold


def variant(text: str) -> tuple[str, list[str]]:
    """Parse NAME=ARGS into the name and its ``saltseg train`` arguments."""
    name, sep, args = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}': write NAME=ARGS, e.g. l40='--lovasz-from 0.4'")
    return name, shlex.split(args)


def train_all(variants: list[tuple[str, list[str]]], args: argparse.Namespace) -> None:
    """Train every variant at once, each logging to OUT/NAME.log; stop at the first failure."""
    with ExitStack() as logs:
        procs = []
        for name, extra in variants:
            command = [sys.executable, "-m", "saltseg", "train", "--data", str(args.data),
                       "--run", str(args.out / name), "--budget", args.budget,
                       "--epochs", str(args.epochs), "--force", *extra]
            log = logs.enter_context((args.out / f"{name}.log").open("w"))
            procs.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))
        for name, proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"variant {name} failed; see {args.out / name}.log")


def main() -> None:
    """Train, cut and compare the variants; print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("bench-out") / "holdout" / "dev.h5",
                        help="The holdout's dev.h5 (benchmarks/holdout.py).")
    parser.add_argument("--epochs", type=int, default=42, help="Epochs of every variant.")
    parser.add_argument("--budget", default="2h", help="Time guard of each training.")
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "screen")
    parser.add_argument("--variant", type=variant, action="append", required=True,
                        metavar="NAME=ARGS", help="The first is the baseline.")
    args = parser.parse_args()
    require_part(args.data, DEV)
    args.out.mkdir(parents=True, exist_ok=True)
    train_all(args.variant, args)
    runs = [args.out / name for name, _ in args.variant]
    choices = [threshold([run]).choice for run in runs]
    base = per_image_validation_scores(runs[0])
    for run, choice in zip(runs, choices, strict=True):
        diff = paired_differences(per_image_validation_scores(run), base)
        print(f"{run.name}: {choice.score:.4f} (threshold {choice.threshold}, min area "
              f"{choice.min_area}; {choice.score_at_half:.4f} at 0.5), against "
              f"{runs[0].name} {mean_and_error(diff)}")


if __name__ == "__main__":
    main()
