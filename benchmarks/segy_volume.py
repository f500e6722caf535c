"""Samples per second of predicting a SEG-Y volume of 1 GB or more, against the tile path, and peak memory.

Measured in one process, with one run:

* the volume: a SEG-Y of ``--inlines`` x ``--crosslines`` x ``--samples`` 4-byte IEEE floats
  (400 x 400 x 1600 by default: 1.02 GB of samples, 1.06 GB on disk), made here: synthetic
  layered seismic with a quiet salt-like body, the trace headers and traces written inline by
  inline;
* :func:`saltseg.seismic.volume.predict_volume_file` at the default settings (along inlines, the
  default windows, overlap and blend), with and without hflip TTA, end to end: amplitude map,
  reading, prediction, the SEG-Y output with the input's headers, its JSON and preview;
* the tile path on the same footing: :meth:`Predictor.probs` on ``--tiles`` 101x101 tiles cut
  from the volume's inlines (the same pixels), with the same TTA setting, given as pixels/s;
* the ratio of the two rates (target: at least 0.5), and the process's peak memory
  (``ru_maxrss``) once the volume predictions are done (target: under 2 GB).

Neither path runs under torch.compile. The volume and the outputs live in ``--work`` (a temporary
folder inside it, removed at the end; about 2.2 GB of disk by default).

Usage::

    python benchmarks/segy_volume.py [--run /work/bench-out/run25] [--device auto] [--batch-size 64]
                                     [--inlines 400 --crosslines 400 --samples 1600] [--tiles 2048]
                                     [--overlap F] [--work DIR] [--quick]

``--quick`` makes a 6 x 128 x 160 volume and 64 tiles: a smoke check of the script, not a figure.
``--overlap`` measures another window overlap than the default.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import segyio

from saltseg.console import setup_logging
from saltseg.inference.predictor import Predictor, load_predictor, resolve
from saltseg.seismic.amplitude import AmplitudeMap
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions, WindowOptions
from saltseg.seismic.segy import SegyVolume
from saltseg.seismic.volume import predict_volume_file
from saltseg.seismic.windows import count_windows
from saltseg.shapes import IMAGE_SIZE

QUICK = {"inlines": 6, "crosslines": 128, "samples": 160, "tiles": 64}


def synthetic_inline(inline: int, crosslines: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Return one inline (crosslines, samples) float32: dipping, folded layers; a quiet dome; noise."""
    x = np.arange(crosslines, dtype=np.float32)[:, None]
    t = np.arange(samples, dtype=np.float32)[None, :]
    fold = 12.0 * np.sin(x / 60.0 + inline / 80.0)
    layers = np.sin(2 * np.pi * (t + 0.15 * x + fold) / (14.0 + t / 200.0))
    dome = -0.15 * np.cos((x - crosslines / 2) / (0.3 * crosslines)) - 0.1 * np.sin(inline / 90)
    salt = t > samples * (0.45 + dome)
    section = np.where(salt, 0.08, 1.0) * layers + 0.05 * rng.standard_normal((crosslines, samples))
    return (1000.0 * section).astype(np.float32)


def make_volume(path: Path, inlines: int, crosslines: int, samples: int) -> Path:
    """Write the synthetic SEG-Y (inline-sorted, IEEE float, 4 ms) to ``path``."""
    spec = segyio.spec()
    spec.ilines, spec.xlines, spec.offsets = list(range(1, inlines + 1)), list(range(1, crosslines + 1)), [1]
    spec.samples, spec.format, spec.sorting = list(range(0, 4 * samples, 4)), 5, 2
    rng = np.random.default_rng(0)
    with segyio.create(str(path), spec) as f:
        for inline in range(inlines):
            first = inline * crosslines
            for xl in range(crosslines):
                f.header[first + xl] = {segyio.su.iline: inline + 1, segyio.su.xline: xl + 1,
                                        segyio.su.offset: 1, segyio.su.cdp: first + xl + 1}
            f.trace[first : first + crosslines] = synthetic_inline(inline, crosslines, samples, rng)
    return path


def tiles_of(source: Path, mapping: AmplitudeMap, n: int) -> np.ndarray:
    """Return ``n`` 101x101 uint8 tiles (or all there are) cut on a grid from the volume's inlines."""
    tiles: list[np.ndarray] = []
    with SegyVolume(source) as volume:
        for inline in range(volume.shape[0]):
            section = mapping.to_uint8(volume.read(0, inline, inline + 1)[0].T)
            for top in range(0, section.shape[0] - IMAGE_SIZE + 1, IMAGE_SIZE):
                tiles += [section[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
                          for left in range(0, section.shape[1] - IMAGE_SIZE + 1, IMAGE_SIZE)]
            if len(tiles) >= n:
                break
    return np.stack(tiles[:n])


def tile_rate(predictor: Predictor, tiles: np.ndarray) -> float:
    """Return Predictor.probs's pixels per second on ``tiles`` (after one warm-up batch)."""
    predictor.probs(tiles[: predictor.batch_size])
    start = time.perf_counter()
    predictor.probs(tiles)
    return tiles.size / (time.perf_counter() - start)


def peak_memory_gb() -> float:
    """Return this process's peak resident memory so far, in GB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("/work/bench-out/run25"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--inlines", type=int, default=400)
    parser.add_argument("--crosslines", type=int, default=400)
    parser.add_argument("--samples", type=int, default=1600)
    parser.add_argument("--tiles", type=int, default=2048)
    parser.add_argument("--overlap", type=float, default=None, help="Window overlap (default: the default).")
    parser.add_argument("--work", type=Path, default=None, help="Folder for the volume and outputs.")
    parser.add_argument("--quick", action="store_true", help="A tiny volume: checks the script runs.")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    setup_logging()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        measure(args, Path(work))


def measure(args: argparse.Namespace, work: Path) -> None:
    """Make the volume in ``work``, predict it with and without TTA, time the tiles; print it all."""
    start = time.perf_counter()
    source = make_volume(work / "volume.sgy", args.inlines, args.crosslines, args.samples)
    n_samples = args.inlines * args.crosslines * args.samples
    print(f"volume: {args.inlines} x {args.crosslines} x {args.samples} IEEE float samples, "
          f"{source.stat().st_size / 1e9:.2f} GB on disk (made in {time.perf_counter() - start:.0f} s)")
    windows = WindowOptions() if args.overlap is None else WindowOptions(overlap=args.overlap)
    covered = count_windows((args.samples, args.crosslines), windows) * windows.size**2 * args.inlines
    print(f"windows: {windows.size}, overlap {windows.overlap:g}, {windows.blend} blend: "
          f"{covered / n_samples:.2f} window pixels per sample")
    predictor = load_predictor(resolve([args.run]), args.device, args.batch_size)
    rates = {}
    for tta in (True, False):
        start = time.perf_counter()
        result = predict_volume_file(predictor, source, work / f"salt_tta{int(tta)}.sgy",
                                     replace(windows, tta=tta), AmplitudeOptions(), VolumeOptions())
        seconds = time.perf_counter() - start
        rates[tta] = n_samples / seconds
        print(f"volume, TTA {'on' if tta else 'off'}: {rates[tta]:,.0f} samples/s ({seconds:.1f} s end to "
              f"end, {result.seconds:.1f} s predicting and writing)")
    print(f"peak memory (ru_maxrss) after the volume predictions: {peak_memory_gb():.2f} GB (target < 2 GB)")
    amplitude = result.amplitude or {}
    tiles = tiles_of(source, AmplitudeMap(amplitude["low"], amplitude["high"]), args.tiles)
    for tta in (True, False):
        rate = tile_rate(replace(predictor, tta=tta), tiles)
        print(f"tiles, TTA {'on' if tta else 'off'}: {rate:,.0f} pixels/s ({len(tiles)} tiles); volume/tiles "
              f"ratio {rates[tta] / rate:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
