"""saltseg from Python: the functions the commands call, and a trained run as a model for tiles.

::

    import saltseg

    saltseg.prepare("train.zip", "train.h5")                   # saltseg prepare
    saltseg.train(data="train.h5", run="run", budget="15m")    # saltseg train
    saltseg.threshold(["run"])                                 # saltseg threshold
    model = saltseg.open_model("run")                          # a run, or an ensemble directory
    probs = model.probabilities(tiles)                         # uint8 (N, 101, 101) -> float32
    masks = model.masks(tiles)                                 # 0/1, cut at model.threshold

``prepare``, ``threshold``, ``evaluate`` and ``predict`` are the very functions behind the
commands; :func:`train` takes the command's options as keywords. Errors are
:class:`~saltseg.errors.SaltsegError`, whose message is the command's one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from saltseg.cut import apply_cut
from saltseg.data.prepare import prepare
from saltseg.errors import SaltsegError
from saltseg.inference.evaluate import evaluate
from saltseg.inference.predict import predict
from saltseg.inference.predictor import Models, Predictor, load_predictor, resolve
from saltseg.inference.threshold import threshold
from saltseg.shapes import IMAGE_SIZE
from saltseg.training.options import TrainOptions
from saltseg.training.schedule import parse_duration
from saltseg.training.stage import TrainSummary
from saltseg.training.stage import train as train_stage

__all__ = ["SaltModel", "evaluate", "open_model", "predict", "prepare", "threshold", "train"]


def train(**options: object) -> TrainSummary:
    """Train as ``saltseg train`` does and return the summary of the best epoch.

    Args:
        **options: the command's options by their Python names (``data``, ``run``, ``budget``,
            ``arch``, ``resume``...; see :class:`~saltseg.training.options.TrainOptions`).
            ``budget`` is seconds or a duration like ``"15m"``. Options given here count as
            given on the command line: on ``resume=True`` they must match the saved run.
    """
    known = {f.name for f in fields(TrainOptions)} - {"given"}
    if unknown := sorted(set(options) - known):
        raise SaltsegError(f"unknown training option(s): {', '.join(unknown)}")
    if isinstance(options.get("budget"), str):
        options["budget"] = parse_duration(options["budget"])
    return train_stage(TrainOptions(**options, given=frozenset(options)))  # type: ignore[arg-type]


@dataclass
class SaltModel:
    """A trained run or ensemble, loaded to predict tiles as ``saltseg predict`` does."""

    models: Models
    predictor: Predictor

    @property
    def threshold(self) -> float:
        """The probability a pixel must exceed to be salt (threshold.json's, else 0.5)."""
        return self.models.home.read_cut()[0]

    @property
    def min_area(self) -> int:
        """The fewest salt pixels a mask keeps (threshold.json's, else 0)."""
        return self.models.home.read_cut()[1]

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        """Return salt probabilities (N, 101, 101) float32 for uint8 tiles (N, 101, 101) or one
        (101, 101) tile (then (101, 101)); the members' mean, with hflip TTA unless opened without."""
        batch = _tile_batch(tiles)
        probs = self.predictor.probs(batch).astype(np.float32)
        return probs[0] if np.ndim(tiles) == 2 else probs

    def masks(self, tiles: np.ndarray) -> np.ndarray:
        """Return uint8 0/1 masks of :meth:`probabilities`, cut as ``rle`` and ``evaluate`` cut them."""
        return apply_cut(self.probabilities(tiles), self.threshold, self.min_area)


def open_model(*runs: str | Path, ensemble: str | Path | None = None, device: str = "auto",
               tta: bool = True, batch_size: int = 64) -> SaltModel:
    """Load one run, an ensemble directory, or several runs with their ``ensemble`` directory."""
    models = resolve([Path(r) for r in runs], Path(ensemble) if ensemble is not None else None)
    return SaltModel(models, load_predictor(models, device, batch_size, tta))


def _tile_batch(tiles: Sequence | np.ndarray) -> np.ndarray:
    """Return ``tiles`` as a (N, 101, 101) uint8 batch; any other input is an error naming its shape."""
    array = np.asarray(tiles)
    batch = array[None] if array.ndim == 2 else array
    if batch.ndim != 3 or batch.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or batch.dtype != np.uint8:
        raise SaltsegError(f"tiles must be uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}) or ({IMAGE_SIZE}, "
                           f"{IMAGE_SIZE}), got {array.dtype} {array.shape}")
    return batch
