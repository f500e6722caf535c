"""Images per second of ``saltseg predict`` on test.zip, against a notebook-style reference.

Measured in one process, on the same model:

* ``predict`` with and without hflip TTA: :func:`saltseg.inference.predict.predict` end to end (zip read
  and checked, probabilities in batches, predictions file written), and its forward passes alone;
* the reference: one image at a time, as a typical notebook does it: each PNG read from the zip
  and decoded with Pillow, converted to a float32 tensor, the network run on a batch of one in
  float32, no TTA. Timed on ``--reference-images`` images and given per image;
* the whole test set to ``submission.csv`` with TTA: predict, then ``rle`` with the sample
  submission's ids.

Usage::

    python benchmarks/predict_throughput.py [--run RUN] [--images N] [--device cpu] [--batch-size 64]
                                            [--eager]

``predict`` compiles the network on the CPU for sources of 4000 images or more; ``--eager``
measures it without torch.compile.

Without ``--run`` it first trains a quick run itself (the seed UNet, ``--arch unet``, one epoch)
in a temporary folder. Data: $SALTSEG_DATA, else ../shared/data.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from saltseg.console import setup_logging
from saltseg.data import prepare, rle
from saltseg.data.hdf5 import read_predictions
from saltseg.inference.predict import predict
from saltseg.inference.predictor import load_predictor, resolve
from saltseg.rundir import RunDir
from saltseg.training import stage as training
from saltseg.training.options import TrainOptions

DATA = Path(os.environ.get("SALTSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def quick_run(work: Path) -> Path:
    """Train the seed UNet for one epoch on train.zip into ``work``/run and return it."""
    data = work / "train.h5"
    prepare.prepare(DATA / "train.zip", data, None, False)
    run = work / "run"
    start = time.perf_counter()
    training.train(TrainOptions(data=data, run=run, epochs=1, arch="unet", device="cpu"))
    print(f"trained a 1-epoch seed UNet in {time.perf_counter() - start:.0f} s: {run}")
    return run


def subset_zip(source: Path, n: int, work: Path) -> Path:
    """Return ``source`` itself, or a zip of its first ``n`` images when ``n`` is smaller."""
    with zipfile.ZipFile(source) as z:
        names = sorted(i for i in z.namelist() if i.endswith(".png"))
        if n >= len(names):
            return source
        out = work / "test_subset.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
            for name in names[:n]:
                dst.writestr(name, z.read(name))
    return out


def reference(run: Path, source: Path, n: int) -> tuple[float, np.ndarray, list[str]]:
    """Return the notebook way's images/s on ``n`` images, with its probabilities and ids."""
    predictor = load_predictor([RunDir(run)], "cpu", 1, tta=False)
    net, fit = predictor.nets[0]
    net = net.to(memory_format=torch.contiguous_format)
    probs, ids = [], []
    start = time.perf_counter()
    with zipfile.ZipFile(source) as z:
        names = sorted(i for i in z.namelist() if i.endswith(".png"))[:n]
        for name in names:
            image = np.array(Image.open(io.BytesIO(z.read(name))).convert("L"))
            x = fit.model_input(torch.from_numpy(image)[None])
            with torch.no_grad():
                probs.append(torch.sigmoid(fit.to_image_size(net(x)))[0, 0].numpy())
            ids.append(Path(name).stem)
    return len(names) / (time.perf_counter() - start), np.stack(probs), ids


def timed_predict(run: Path, source: Path, out: Path, tta: bool, args: argparse.Namespace
                  ) -> tuple[float, float]:
    """Return (end-to-end seconds, forward-pass seconds) of one ``predict``."""
    start = time.perf_counter()
    result = predict([run], source, out, tta=tta, batch_size=args.batch_size, device=args.device,
                     compile_net=False if args.eager else None)
    return time.perf_counter() - start, result.seconds


def main() -> None:
    """Measure and print images/s with and without TTA, the reference's, the ratios, submission time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: train a 1-epoch seed UNet)")
    parser.add_argument("--images", type=int, default=18000, help="test images to predict")
    parser.add_argument("--reference-images", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--eager", action="store_true", help="predict without torch.compile")
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = args.run or quick_run(work)
        resolve([run])  # fails early on a run without config.json or best.pt
        source = subset_zip(DATA / "test.zip", args.images, work)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
              f"batch {args.batch_size}, {'eager' if args.eager else 'compiled as predict chooses'}, "
              f"run {run}")
        ref_speed, ref_probs, ref_ids = reference(run, source, args.reference_images)
        print(f"reference (one image at a time from PNG, fp32): {ref_speed:.1f} images/s")
        start = time.perf_counter()
        total, forward = timed_predict(run, source, work / "tta.h5", True, args)
        ids = DATA / "sample_submission.csv" if source == DATA / "test.zip" else None
        rle.encode(work / "tta.h5", work / "submission.csv", None, ids)
        submission = time.perf_counter() - start
        n = len(read_predictions(work / "tta.h5").ids)
        report("predict, TTA", n, total, forward, ref_speed)
        total, forward = timed_predict(run, source, work / "plain.h5", False, args)
        report("predict, no TTA", n, total, forward, ref_speed)
        plain = read_predictions(work / "plain.h5")
        diff = np.abs(plain.probs[: len(ref_ids)] - ref_probs).max()
        print(f"largest difference from the reference's probabilities: {diff:.4f} (ids equal: "
              f"{plain.ids[: len(ref_ids)] == ref_ids})")
        print(f"test set ({n} images) to submission.csv with TTA: {submission:.1f} s")


def report(name: str, n: int, total: float, forward: float, ref_speed: float) -> None:
    """Print one predict measurement and its ratio to the reference."""
    speed = n / total
    print(f"{name}: {speed:.1f} images/s end to end ({total:.1f} s for {n}), {n / forward:.1f} images/s "
          f"in forward passes; {speed / ref_speed:.1f}x the reference")


if __name__ == "__main__":
    main()
