"""A labelled synthetic survey made the way the field makes them, seeded: an impedance model of
folded, faulted sediment layers with salt bodies, its reflectivity convolved with a Ricker
wavelet, plus noise; written as a SEG-Y of the seismic and a SEG-Y of the labels.

The sediments are layers of random impedance over a compaction trend, folded by two sine waves
and cut by a normal fault; salt bodies are lumpy diapirs of high impedance (fast) whose top is a
strong reflector and whose interior, of small random impedance changes, is dim and chaotic.
The label volume holds 1 in salt and 0 elsewhere; with ``--every K`` only every K-th inline is
labelled and the others hold -1 (unlabelled), as an interpreter's picks leave a volume.

    python benchmarks/synthetic_survey.py --out survey/ --inlines 200 --crosslines 150 --samples 256
    # -> survey/seismic.sgy, survey/labels.sgy (every 10th inline), survey/truth.sgy (every inline)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import segyio
from scipy import ndimage, signal

FIRST_INLINE, FIRST_CROSSLINE = 1000, 2000


def impedance_model(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return impedance (inline, crossline, sample) float32 and the salt mask uint8 of a seeded model."""
    rng = np.random.default_rng(seed)
    il, xl, z = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    n_il, n_xl, n_z = shape
    fold = 12 * np.sin(2 * np.pi * il / (n_il * rng.uniform(0.6, 1.2)) + rng.uniform(0, 6)) \
        + 8 * np.cos(2 * np.pi * xl / (n_xl * rng.uniform(0.5, 1.0)) + rng.uniform(0, 6))
    fault_side = (il * rng.uniform(-0.5, 0.5) + xl - n_xl * rng.uniform(0.3, 0.7)) > 0.3 * (z - n_z / 2)
    depth = z + fold + fault_side * rng.uniform(8, 20)
    layer = np.floor(depth / rng.uniform(5, 9)).astype(int)
    layer_values = rng.normal(0, 0.08, layer.max() - layer.min() + 1)
    sediment = 1.0 + 0.004 * depth + layer_values[layer - layer.min()]
    salt = np.zeros(shape, bool)
    for _ in range(rng.integers(2, 5)):
        salt |= _diapir(il, xl, z, shape, rng)
    chaotic = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), 1.5) * 0.03
    impedance = np.where(salt, 2.2 + chaotic, sediment).astype(np.float32)
    return impedance, salt.astype(np.uint8)


def _diapir(il: np.ndarray, xl: np.ndarray, z: np.ndarray, shape: tuple[int, int, int],
            rng: np.random.Generator) -> np.ndarray:
    """Return a lumpy salt diapir: a stem widening into a head, rising from the base."""
    n_il, n_xl, n_z = shape
    c_il, c_xl = rng.uniform(0.2, 0.8) * n_il, rng.uniform(0.2, 0.8) * n_xl
    top = rng.uniform(0.2, 0.5) * n_z
    radius = rng.uniform(0.15, 0.3) * min(n_il, n_xl)
    height = np.clip((z - top) / (n_z - top), 0, 1)
    width = radius * (0.55 + 0.45 * np.sin(np.pi * np.clip(height * 1.6, 0, 1)))
    lumps = ndimage.gaussian_filter(rng.normal(0, 1, shape[:2]).astype(np.float32), 6)[..., None]
    distance = np.hypot(il - c_il, xl - c_xl) * (1 + 0.8 * lumps)
    return (z > top + 0.15 * distance ** 1.3 / max(radius, 1) ** 0.3) & (distance < width)


def seismic_of(impedance: np.ndarray, seed: int, noise: float = 0.15, peak_hz: float = 25.0,
               dt: float = 0.004) -> np.ndarray:
    """Return the seismic (float32) of an impedance model: reflectivity x Ricker wavelet + noise."""
    log_z = np.log(impedance)
    reflectivity = np.zeros_like(log_z)
    reflectivity[..., 1:] = np.diff(log_z, axis=-1) / 2
    t = np.arange(-32, 33) * dt
    ricker = (1 - 2 * (np.pi * peak_hz * t) ** 2) * np.exp(-((np.pi * peak_hz * t) ** 2))
    traces = signal.fftconvolve(reflectivity, ricker[None, None, :], mode="same", axes=-1)
    rng = np.random.default_rng(seed + 1)
    traces += rng.normal(0, noise * traces.std(), traces.shape)
    return (traces * 1000).astype(np.float32)


def write_segy(path: Path, volume: np.ndarray, endian: str = "big") -> Path:
    """Write a volume (inline, crossline, sample) as a SEG-Y of IEEE floats, inline-sorted, with
    inline numbers from 1000 and crossline numbers from 2000 at bytes 189 and 193."""
    n_il, n_xl, n_z = volume.shape
    spec = segyio.spec()
    spec.iline, spec.xline, spec.format, spec.sorting, spec.endian = 189, 193, 5, 2, endian
    spec.ilines = list(range(FIRST_INLINE, FIRST_INLINE + n_il))
    spec.xlines = list(range(FIRST_CROSSLINE, FIRST_CROSSLINE + n_xl))
    spec.samples = list(range(n_z))
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=4000, hns=n_z)
        for i, (inline, crossline) in enumerate((a, b) for a in spec.ilines for b in spec.xlines):
            f.header[i] = {segyio.su.iline: inline, segyio.su.xline: crossline, segyio.su.ns: n_z,
                           segyio.su.dt: 4000}
        f.trace.raw[:] = np.ascontiguousarray(volume.reshape(n_il * n_xl, n_z), dtype=np.float32)
    return path


def make_survey(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the seismic (float32) and the salt labels (uint8 0/1) of a seeded synthetic survey."""
    impedance, salt = impedance_model(shape, seed)
    return seismic_of(impedance, seed), salt


def every_kth_inline(labels: np.ndarray, k: int, first: int = 0) -> np.ndarray:
    """Return the labels with only inlines first, first + k, ... kept; the others -1 (unlabelled)."""
    kept = np.full(labels.shape, -1, np.float32)
    kept[first::k] = labels[first::k]
    return kept


def main() -> None:
    """Write seismic.sgy, labels.sgy (every K-th inline) and truth.sgy (every inline) into --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--inlines", type=int, default=200)
    parser.add_argument("--crosslines", type=int, default=150)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--every", type=int, default=10, help="label every K-th inline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seismic, salt = make_survey((args.inlines, args.crosslines, args.samples), args.seed)
    write_segy(args.out / "seismic.sgy", seismic)
    write_segy(args.out / "labels.sgy", every_kth_inline(salt, args.every))
    write_segy(args.out / "truth.sgy", salt.astype(np.float32))
    print(f"{args.out}: {seismic.shape} samples, salt {salt.mean():.1%}; labels every {args.every}th inline")


if __name__ == "__main__":
    main()
