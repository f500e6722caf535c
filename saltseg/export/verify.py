"""Does the exported graph give saltseg's probabilities? Random tiles before writing, and ``--check``
on a whole data file (with both competition scores when it is labelled)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import Dataset, is_hdf5, read_dataset
from saltseg.data.sources import load_source
from saltseg.errors import fail
from saltseg.export.graph import random_tiles, reference_probs
from saltseg.export.onnx_file import onnx_probs
from saltseg.inference.predictor import Predictor
from saltseg.metric import competition_score

TOLERANCE = 1e-4
"""Largest absolute difference of probabilities allowed between onnxruntime and saltseg (fp32)."""
VERIFY_BATCHES = (1, 7)


@dataclass(frozen=True)
class CheckResult:
    """onnxruntime against saltseg's fp32 forward pass on one data file."""

    data: Path
    n_images: int
    largest_difference: float
    onnx_score: float | None
    torch_score: float | None

    def summary(self) -> str:
        """Return the result as one line."""
        line = f"check {self.data}: {self.n_images} images, largest difference {self.largest_difference:.2e}"
        if self.onnx_score is None:
            return line
        return f"{line}; score onnxruntime {self.onnx_score:.4f}, saltseg {self.torch_score:.4f}"


def largest_difference(session: ort.InferenceSession, predictor: Predictor, tiles: np.ndarray
                       ) -> tuple[float, np.ndarray, np.ndarray]:
    """Return the largest |onnxruntime - saltseg| on ``tiles``, and both probabilities (N, 1, 101, 101)."""
    got, want = onnx_probs(session, tiles), reference_probs(predictor, tiles)
    return float(np.abs(got - want).max()), got, want


def verify(session: ort.InferenceSession, predictor: Predictor, where: Path) -> float:
    """Return the largest difference on random batches of 1 and 7 tiles.

    Raises:
        SaltsegError: naming ``where``, when a difference exceeds :data:`TOLERANCE`.
    """
    worst = 0.0
    for seed, n in enumerate(VERIFY_BATCHES):
        worst = max(worst, largest_difference(session, predictor, random_tiles(n, seed))[0])
        _require_close(worst, where, f"a batch of {n} random tiles")
    return worst


def check(session: ort.InferenceSession, predictor: Predictor, where: Path, data: Dataset,
          cut: tuple[float, int]) -> CheckResult:
    """Compare on every image of ``data``, read from ``where`` by :func:`read_data`.

    For labelled data both are scored as the competition does, cut at ``cut`` (threshold, min area).

    Raises:
        SaltsegError: a difference exceeds :data:`TOLERANCE`.
    """
    worst, got, want = largest_difference(session, predictor, data.images[:, None])
    _require_close(worst, where, f"its {len(data)} images")
    if data.masks is None:
        return CheckResult(where, len(data), worst, None, None)
    scores = [competition_score(apply_cut(p[:, 0], *cut), data.masks) for p in (got, want)]
    return CheckResult(where, len(data), worst, *scores)


def read_data(path: Path) -> Dataset:
    """Read the images (and masks) of an HDF5 data file, or of a zip or folder of PNGs, for ``check``."""
    data = read_dataset(path) if is_hdf5(path) else load_source(path)
    if len(data) == 0:
        raise fail(path, "holds no images")
    return data


def _require_close(difference: float, where: Path, on_what: str) -> None:
    """Raise when ``difference`` exceeds the tolerance (a NaN counts as exceeding it)."""
    if not difference <= TOLERANCE:
        raise fail(where, f"onnxruntime's probabilities differ from saltseg's by {difference:.2e} on "
                          f"{on_what} (more than {TOLERANCE:g}); nothing written")
