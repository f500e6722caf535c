"""Images per second of an exported ONNX file in onnxruntime on the CPU, fp32 and int8, against
``predict``'s compiled PyTorch path on the same tiles, and the int8 file's validation score.

Measured in one process, on one run, with and without hflip TTA:

* predict's path on the CPU: :meth:`saltseg.inference.predictor.Predictor.compiled` then ``probs``
  (torch.compile with freezing, bf16 autocast where the CPU has it, batches of ``--batch-size``),
  after a warm-up batch that compiles;
* onnxruntime (CPU execution provider, as many threads as torch) running the fp32 file that
  ``saltseg export`` writes, on the same tiles in the same batches;
* the same file quantized to int8 (onnxruntime's static quantization,
  calibrated on the run's training tiles).

Then the competition score of the fp32 and int8 files (with TTA) on the run's validation split,
cut at the run's threshold and minimum area, and the decision: int8 is worth offering when it is
faster than fp32 onnxruntime with and without TTA and scores within 0.002 of it.

Usage::

    python benchmarks/export_speed.py --run RUN [--data test.h5] [--images N] [--val-images N]
                                      [--batch-size 64]

``--data``: an HDF5 file from ``prepare`` whose first ``--images`` tiles are timed (default: the
run's data file); take a multiple of the batch size, as the compiled path pads its last batch
(``--images 64 --val-images 50`` is a smoke check, not a measurement). ``--val-images``: at most
this many validation images are scored (default all).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from int8_quantize import SCORE_TOLERANCE, quantized, split_tiles

from saltseg.console import setup_logging
from saltseg.cut import apply_cut
from saltseg.data.hdf5 import read_dataset
from saltseg.export.onnx_file import onnx_probs
from saltseg.export.stage import export
from saltseg.inference.predictor import load_predictor, resolve
from saltseg.metric import competition_score
from saltseg.rundir import RunDir


def images_per_second(predict: Callable[[], object], n: int) -> float:
    """Return n / the seconds one call of ``predict`` takes."""
    start = time.perf_counter()
    predict()
    return n / (time.perf_counter() - start)


def session(model_bytes: bytes) -> ort.InferenceSession:
    """Return a CPU session using as many threads as torch does."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_speed(model_bytes: bytes, tiles: np.ndarray, batch: int) -> float:
    """Return onnxruntime's images/s on ``tiles`` (N, 1, 101, 101), after one warm-up batch."""
    s = session(model_bytes)
    onnx_probs(s, tiles[:batch], batch)
    return images_per_second(lambda: onnx_probs(s, tiles, batch), len(tiles))


def compiled_speed(run: Path, tiles: np.ndarray, batch: int, tta: bool) -> float:
    """Return predict's compiled path's images/s on ``tiles``, after a warm-up batch that compiles."""
    predictor = load_predictor(resolve([run]), "cpu", batch, tta).compiled()
    images = tiles[:, 0]
    predictor.probs(images[:batch])
    return images_per_second(lambda: predictor.probs(images), len(images))


@dataclass
class Measured:
    """Images/s of the three ways with or without TTA, and the two files."""

    compiled: float
    fp32: float
    int8: float
    fp32_file: bytes
    int8_file: bytes

    def line(self, name: str) -> str:
        """Return the speeds and their ratios as one line."""
        return (f"{name}: predict compiled {self.compiled:.1f} images/s, onnxruntime fp32 "
                f"{self.fp32:.1f} ({self.fp32 / self.compiled:.2f}x), int8 {self.int8:.1f} "
                f"({self.int8 / self.compiled:.2f}x; {self.int8 / self.fp32:.2f}x fp32)")


def measure(run: Path, tiles: np.ndarray, batch: int, tta: bool, work: Path) -> Measured:
    """Return the three ways' images/s on ``tiles``, with or without TTA, and the files timed."""
    path = work / f"tta{int(tta)}.onnx"
    export([run], out=path, tta=tta)
    fp32 = path.read_bytes()
    int8 = quantized(fp32, split_tiles(RunDir(run)).calibration).SerializeToString()
    speeds = [compiled_speed(run, tiles, batch, tta), *(onnx_speed(f, tiles, batch) for f in (fp32, int8))]
    measured = Measured(*speeds, fp32, int8)
    print(measured.line("TTA" if tta else "no TTA"), flush=True)
    return measured


def validation_scores(run: Path, fp32: bytes, int8: bytes, n: int | None) -> tuple[float, float, int]:
    """Return the fp32 and int8 files' scores on (the first ``n`` of) the run's validation split."""
    val = split_tiles(RunDir(run)).val
    tiles, masks = val.images[:n, None], val.masks[:n]
    cut = RunDir(run).read_cut()
    fp32_score, int8_score = (
        competition_score(apply_cut(onnx_probs(session(b), tiles)[:, 0], *cut), masks) for b in (fp32, int8)
    )
    return fp32_score, int8_score, len(tiles)


def main() -> None:
    """Measure and print the speeds, the ratios, the validation scores and the int8 decision."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a trained run")
    parser.add_argument("--data", type=Path, help="HDF5 file whose tiles are timed (default: the run's data)")
    parser.add_argument("--images", type=int, default=2000, help="tiles timed")
    parser.add_argument("--val-images", type=int, help="validation images scored (default: all)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    setup_logging()
    data = args.data or Path(RunDir(args.run).read_config()["data"])
    tiles = read_dataset(data).images[: args.images, None]
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch_size}, {len(tiles)} tiles of {data}, run {args.run}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tta = measure(args.run, tiles, args.batch_size, True, Path(tmp))
        plain = measure(args.run, tiles, args.batch_size, False, Path(tmp))
    fp32_score, int8_score, n = validation_scores(args.run, tta.fp32_file, tta.int8_file, args.val_images)
    threshold, min_area = RunDir(args.run).read_cut()
    print(f"validation score with TTA ({n} images, threshold {threshold}, min area {min_area}): "
          f"fp32 {fp32_score:.4f}, int8 {int8_score:.4f} ({int8_score - fp32_score:+.4f})")
    faster = tta.int8 > tta.fp32 and plain.int8 > plain.fp32
    accurate = abs(int8_score - fp32_score) <= SCORE_TOLERANCE
    verdict = "offer it" if faster and accurate else "do not offer it"
    print(f"int8: {'faster' if faster else 'not faster'} than fp32 onnxruntime, "
          f"{'within' if accurate else 'not within'} {SCORE_TOLERANCE} of its score: {verdict}")


if __name__ == "__main__":
    main()
