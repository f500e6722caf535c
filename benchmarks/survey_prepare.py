"""``saltseg prepare SEISMIC --labels LABELS`` on a 1 GB SEG-Y: seconds and peak memory.

Writes a survey of 500 inlines x 500 crosslines x 1000 samples (1.0 GB of IEEE floats, plus
headers) and its label SEG-Y with every 10th inline labelled (the others -1, unlabelled), both a
slab at a time from a tiled synthetic block, then runs ``saltseg prepare`` under ``/usr/bin/time
-v`` (its maximum resident set size is the peak). The reference is the file's size: the peak
should be a small fraction of it, since the survey is read and the patches written a line at a
time; and the time is set against reading both files once (``cat`` to /dev/null, page cache
dropped where allowed).

    python benchmarks/survey_prepare.py --work bench-out/big
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import segyio
from synthetic_survey import make_survey

BLOCK_INLINES = 20


def write_tiled(path: Path, shape: tuple[int, int, int], block: np.ndarray) -> Path:
    """Write a SEG-Y of ``shape`` whose inlines repeat ``block``'s (block inlines, crosslines, samples)."""
    n_il, n_xl, n_z = shape
    spec = segyio.spec()
    spec.iline, spec.xline, spec.format, spec.sorting = 189, 193, 5, 2
    spec.ilines, spec.xlines, spec.samples = list(range(n_il)), list(range(n_xl)), list(range(n_z))
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=4000, hns=n_z)
        for il in range(n_il):
            for xl in range(n_xl):
                f.header[il * n_xl + xl] = {segyio.su.iline: il, segyio.su.xline: xl}
            traces = np.ascontiguousarray(block[il % len(block)], np.float32)
            f.trace.raw[il * n_xl : (il + 1) * n_xl] = traces
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out/big"))
    parser.add_argument("--shape", type=int, nargs=3, default=(500, 500, 1000))
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shape = tuple(args.shape)
    seismic, salt = make_survey((BLOCK_INLINES, *shape[1:]), seed=0)
    labels = np.full(salt.shape, -1, np.float32)
    labels[:: args.every] = salt[:: args.every]
    source = write_tiled(args.work / "big.sgy", shape, seismic)
    label_file = write_tiled(args.work / "big_labels.sgy", shape, labels)
    del seismic, salt, labels
    size = source.stat().st_size
    start = time.perf_counter()
    subprocess.run(["cat", str(source), str(label_file)], stdout=subprocess.DEVNULL, check=True)
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    command = ["saltseg", "prepare", source, "--labels", label_file, "--out", args.work / "big.h5", "--force"]
    done = subprocess.run(["/usr/bin/time", "-v", *map(str, command)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    summary = next(line for line in done.stderr.splitlines() if line.startswith("prepared"))
    print(f"survey {shape[0]}x{shape[1]}x{shape[2]}: {size / 1e9:.2f} GB (+ labels of the same size)")
    print(summary)
    print(f"prepare: {seconds:.1f} s; reading both files once: {read_seconds:.1f} s "
          f"({seconds / read_seconds:.1f}x)")
    print(f"peak memory: {peak_kb / 1024:.0f} MB ({peak_kb * 1024 / size:.2f}x the SEG-Y's size)")


if __name__ == "__main__":
    main()
