"""Training throughput of saltseg's loop against a plain PyTorch loop, measured in one run.

Both train the seed UNet (16 filters, 128x128 input, batch 32, batch norm) for the same number
of steps after a warm-up:

- saltseg: the data file in memory as uint8 tensors, batch augmentation, channels-last, the
  precision ``auto`` picks (bf16 autocast on CPUs that compute bf16 natively), via
  ``saltseg.training.steps.train_steps``.
- reference: default memory format, fp32, a torch DataLoader whose Dataset decodes each PNG from
  train.zip every time it is read (as a typical script does), resized to 128x128.

Also printed: the machine's matrix-multiply rate in saltseg's precision, the share of it that
saltseg's loop reaches (the seed UNet costs about 4.5 GFLOP per 128x128 image per training step),
and the peak memory of a CPU training on all 3600 images (one epoch of ``saltseg train`` in a
child process). ``--compile`` also measures saltseg's loop with the model under torch.compile
(compilation time is printed apart and left out of the rate). ``--widths`` also measures the
default network (the residual UNet with scSE, the hypercolumn and the image head, as ``saltseg
train`` builds it) at those start filters: what a wider network costs an hour.

    python benchmarks/train_throughput.py [--data ../shared/data] [--steps 20] [--skip-memory] [--compile]
                                          [--widths 16,24,32]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from saltseg.data.hdf5 import read_dataset
from saltseg.data.prepare import prepare
from saltseg.device import autocast, resolve_precision
from saltseg.models import build_model
from saltseg.models.unet import seed_unet
from saltseg.shapes import Fit, InputFit
from saltseg.training.config import new_config
from saltseg.training.losses import bce
from saltseg.training.options import Augment, TrainOptions
from saltseg.training.steps import train_steps

GFLOP_PER_IMAGE = 4.5
BATCH = 32
WARMUP = 3


class PngZipDataset(torch.utils.data.Dataset):
    """The typical script's dataset: decode image and mask PNGs from the zip on every access."""

    def __init__(self, zip_path: Path) -> None:
        self.zip_path = zip_path
        with zipfile.ZipFile(zip_path) as z:
            self.ids = sorted(n[len("images/") : -4] for n in z.namelist() if n.startswith("images/"))
        self.zip: zipfile.ZipFile | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.zip = self.zip or zipfile.ZipFile(self.zip_path)
        image = np.asarray(Image.open(io.BytesIO(self.zip.read(f"images/{self.ids[i]}.png"))).convert("L"))
        mask = np.asarray(Image.open(io.BytesIO(self.zip.read(f"masks/{self.ids[i]}.png"))))
        x = torch.from_numpy(image.astype(np.float32) / 255)[None, None]
        y = torch.from_numpy((mask > 0).astype(np.float32))[None, None]
        size = (128, 128)
        return F.interpolate(x, size=size, mode="bilinear")[0], F.interpolate(y, size=size)[0]


def reference_rate(zip_path: Path, steps: int) -> float:
    """Images/s of a plain fp32 loop fed by a PNG-decoding DataLoader."""
    torch.manual_seed(0)
    model = seed_unet(batch_norm=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(PngZipDataset(zip_path), batch_size=BATCH, shuffle=True)
    model.train()
    for i, (x, y) in enumerate(loader):
        if i == WARMUP:
            start = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i == WARMUP + steps - 1:
            break
    return steps * BATCH / (time.perf_counter() - start)


def saltseg_rate(
    h5_path: Path, steps: int, compiled: bool = False, resunet_filters: int | None = None
) -> tuple[float, str, float]:
    """Images/s of saltseg's training steps, the precision they ran in, and the warm-up's seconds.

    The seed UNet trains, or the default network with ``resunet_filters`` start filters.
    """
    torch.manual_seed(0)
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    data = read_dataset(h5_path)
    images, masks = torch.from_numpy(data.images), torch.from_numpy(data.masks)
    model = seed_unet(batch_norm=True) if resunet_filters is None else default_network(resunet_filters)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    net = torch.compile(model) if compiled else model
    gen = torch.Generator().manual_seed(0)
    batches = list(torch.randperm(len(images), generator=gen).split(BATCH))[: WARMUP + steps]
    marks = {"warmup": time.perf_counter()}

    def before(i: int) -> bool:
        if i == WARMUP:
            marks["start"] = time.perf_counter()
        return True

    train_steps(
        net,
        images,
        masks,
        batches,
        optimizer,
        bce,
        autocast(device, precision),
        Augment.flip,
        gen,
        InputFit(Fit.reflect, 128),
        before,
        lambda i, loss: None,
    )
    rate = steps * BATCH / (time.perf_counter() - marks["start"])
    return rate, precision.value, marks["start"] - marks["warmup"]


def default_network(start_filters: int) -> torch.nn.Module:
    """The network ``saltseg train`` builds by default, at ``start_filters``."""
    return build_model(new_config(TrainOptions(start_filters=start_filters), torch.device("cpu")))


def matmul_gflops(precision: str, n: int = 2048, repeats: int = 10) -> float:
    """The machine's matrix-multiply rate (GFLOP/s) in ``precision`` (bf16 via autocast)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    ctx = autocast(torch.device("cpu"), resolve_precision(precision, torch.device("cpu")))
    with ctx:
        for _ in range(2):
            torch.mm(a, b)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def peak_training_memory_mb(h5_path: Path) -> float:
    """Peak resident memory (MB) of one CPU epoch of ``saltseg train`` on the whole data file."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "saltseg",
                "train",
                "--data",
                str(h5_path),
                "--run",
                f"{tmp}/run",
                "--epochs",
                "1",
                "--arch",
                "unet",
                "--batch-norm",
                "--device",
                "cpu",
            ],
            check=True,
            capture_output=True,
        )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    """Run every measurement and print the figures as text and one JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also measure the loop under torch.compile")
    parser.add_argument("--widths", default="", metavar="16,24,32",
                        help="also measure the default network at these start filters")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",") if w]
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "train.h5"
        prepare(args.data / "train.zip", h5, None, False)
        ours, precision, _ = saltseg_rate(h5, args.steps)
        compiled = saltseg_rate(h5, args.steps, compiled=True) if args.compile else None
        by_width = {w: saltseg_rate(h5, args.steps, resunet_filters=w)[0] for w in widths}
        reference = reference_rate(args.data / "train.zip", args.steps)
        gflops = matmul_gflops(precision)
        memory = None if args.skip_memory else peak_training_memory_mb(h5)
    share = ours * GFLOP_PER_IMAGE / gflops
    print(f"cpu threads            {torch.get_num_threads()}")
    print(f"saltseg loop           {ours:8.1f} images/s ({precision}, channels-last)")
    if compiled is not None:
        print(f"saltseg, torch.compile {compiled[0]:8.1f} images/s ({compiled[0] / ours:.2f}x eager; "
              f"compiling took {compiled[2]:.0f} s)")
    for width, rate in by_width.items():
        print(f"default network {width:2d}    {rate:8.1f} images/s ({rate / ours:.2f}x the seed UNet's loop)")
    print(f"reference loop         {reference:8.1f} images/s (fp32, PNG DataLoader)")
    print(f"ratio                  {ours / reference:8.2f}x")
    print(f"matmul rate ({precision})   {gflops:8.0f} GFLOP/s")
    print(f"share of matmul rate   {share:8.1%}")
    if memory is not None:
        print(f"peak memory, 1 epoch   {memory:8.0f} MB (3600 images, CPU)")
    print(
        json.dumps(
            {
                "saltseg_img_s": ours,
                "compiled_img_s": compiled[0] if compiled else None,
                "resunet_img_s_by_width": by_width,
                "reference_img_s": reference,
                "ratio": ours / reference,
                "precision": precision,
                "matmul_gflops": gflops,
                "share": share,
                "peak_mb": memory,
            }
        )
    )


if __name__ == "__main__":
    main()
