"""Time ``saltseg prepare`` on the competition's train.zip and print images per second.

Usage: ``python benchmarks/prepare_speed.py [--repeat N]`` (data: $SALTSEG_DATA or ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from saltseg.data.prepare import prepare

DATA = Path(os.environ.get("SALTSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    """Prepare train.zip ``--repeat`` times and report the best run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            start = time.perf_counter()
            summary = prepare(DATA / "train.zip", Path(tmp) / "train.h5", force=True)
            seconds.append(time.perf_counter() - start)
    best = min(seconds)
    print(f"prepare train.zip: {summary.images} images in {best:.2f} s (best of {args.repeat}), "
          f"{summary.images / best:.0f} images/s, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
