"""Time run-length encoding of 18000 masks (train.csv's masks, tiled) and print ms per thousand.

Usage: ``python benchmarks/rle_speed.py [--masks N]`` (data: $SALTSEG_DATA or ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from saltseg.data.rle import encode_masks, rle_decode, submission_csv
from saltseg.data.sources import read_csv

DATA = Path(os.environ.get("SALTSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    """Encode ``--masks`` masks (with the real masks' shapes) into a submission and time it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--masks", type=int, default=18000)
    args = parser.parse_args()
    rows = read_csv(DATA / "train.csv", ["id", "rle_mask"])
    real = np.stack([rle_decode(row["rle_mask"], where) for where, row in rows])
    masks = real[np.arange(args.masks) % len(real)]
    ids = [f"{i:010x}" for i in range(args.masks)]
    start = time.perf_counter()
    text = submission_csv(encode_masks(ids, masks))
    seconds = time.perf_counter() - start
    print(f"rle: {args.masks} masks encoded to {len(text) / 1e6:.1f} MB of CSV in {seconds:.2f} s, "
          f"{1000 * seconds / args.masks * 1000:.0f} ms per thousand masks")


if __name__ == "__main__":
    main()
