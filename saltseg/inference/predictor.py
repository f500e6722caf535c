"""Which models predict: one run, or an ensemble of runs whose probabilities are averaged.

Commands take one or more RUN directories. One run is its own home: predictions, threshold and
evaluations are written inside it. Several runs form an ensemble whose home is the directory
named by ``--ensemble ENS`` (layout in :mod:`saltseg.rundir`); ENS alone then stands for its
members. Each member predicts with horizontal-flip TTA inside it, and the ensemble's probability
is the mean of its members'.

Probabilities are rounded to float16, the precision of the predictions files, as they are made:
a result computed afresh and one read back from a file are identical.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from saltseg import __version__
from saltseg.data.hdf5 import file_sha256
from saltseg.device import autocast, resolve_device, resolve_precision
from saltseg.errors import SaltsegError, fail
from saltseg.inference.passes import CompiledForInference, predict_probs
from saltseg.models import build_model, read_model_config
from saltseg.rundir import RunDir, load_checkpoint
from saltseg.shapes import InputFit

CHUNK = 1024
"""Images moved to the device and predicted at a time (bounds memory on 18000 test images)."""


@dataclass
class Models:
    """The runs that predict together and the directory their outputs go to."""

    home: RunDir
    members: list[RunDir]
    new_ensemble: bool = False

    @property
    def runs(self) -> list[str]:
        """The member run directories as strings."""
        return [str(m.root) for m in self.members]

    def stamp(self) -> str:
        """Return the SHA-256 of every member's best.pt, joined: changes when any run is retrained."""
        return ",".join(file_sha256(m.best_checkpoint) for m in self.members)

    def save(self) -> None:
        """Write ensemble.json if this ensemble is new (call once its first output is written)."""
        if self.new_ensemble:
            runs = _relative(self.members, self.home)
            self.home.write_ensemble({"runs": runs, "saltseg_version": __version__})
            self.new_ensemble = False


def resolve(paths: Sequence[Path], ensemble: Path | None = None) -> Models:
    """Return the models of ``paths`` (runs, or ensemble directories standing for their members).

    Args:
        paths: one or more run or ensemble directories.
        ensemble: the ensemble directory for several runs (created on :meth:`Models.save`);
            needed when ``paths`` are several runs.

    Raises:
        SaltsegError: a member lacks config.json or best.pt, or the ensemble directory holds a
            run or another ensemble.
    """
    if not paths:
        raise SaltsegError("name at least one run directory")
    members = [m for p in paths for m in _members(RunDir(p))]
    for member in members:
        member.require_model()
    if ensemble is None:
        if len(paths) == 1:
            return Models(RunDir(paths[0]), members)
        raise SaltsegError(f"{len(paths)} runs form an ensemble: name its directory with --ensemble DIR")
    return _ensemble_home(RunDir(ensemble), members)


def _members(run: RunDir) -> list[RunDir]:
    """Return the runs ``run`` stands for: itself, or an ensemble directory's members."""
    if not run.holds_ensemble():
        return [run]
    runs = run.read_ensemble().get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
        raise fail(run.ensemble_path, "lists no runs (a 'runs' list of run directories)")
    return [RunDir(os.path.normpath(run.root / r)) for r in runs]


def _ensemble_home(home: RunDir, members: list[RunDir]) -> Models:
    """Return the ensemble at ``home``, new or matching ``members``."""
    if home.config_path.exists():
        raise fail(home.root, "is a run directory; give the ensemble a directory of its own")
    if not home.holds_ensemble():
        return Models(home, members, new_ensemble=True)
    saved = {_same(m) for m in _members(home)}
    if saved != {_same(m) for m in members}:
        raise fail(home.root, "holds an ensemble of other runs (see ensemble.json); use another directory")
    return Models(home, members)


def _same(run: RunDir) -> Path:
    return run.root.resolve()


def _relative(members: list[RunDir], home: RunDir) -> list[str]:
    """Return the members' paths relative to ``home`` (so the folders can move together)."""
    base = home.root.resolve()
    return [Path(os.path.relpath(m.root.resolve(), base)).as_posix() for m in members]


@dataclass
class Predictor:
    """The loaded networks of a set of models on one device, ready to predict."""

    nets: list[tuple[nn.Module, InputFit]]
    device: torch.device
    batch_size: int
    tta: bool

    def compiled(self) -> Predictor:
        """Return this predictor with every network under torch.compile (see CompiledForInference)."""
        nets = [(CompiledForInference(net, self.batch_size), fit) for net, fit in self.nets]
        return replace(self, nets=nets)

    @property
    def passes(self) -> int:
        """Forward passes over each image (members times TTA views), for progress bars."""
        return len(self.nets) * (2 if self.tta else 1)

    def probs(self, images: np.ndarray, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Return the mean probability of the members (N, 101, 101) float16 for uint8 images (N, 101, 101)."""
        out = np.empty(images.shape, dtype=np.float16)
        precision = autocast(self.device, resolve_precision("auto", self.device))
        for start in range(0, len(images), CHUNK):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + CHUNK])).to(self.device)
            total = sum(
                predict_probs(net, batch, fit, self.batch_size, precision, self.tta, on_batch)
                for net, fit in self.nets
            )
            out[start : start + len(batch)] = (total / len(self.nets)).cpu().numpy()
        return out


def load_predictor(models: Models | Sequence[RunDir], device: str = "auto", batch_size: int = 64,
                   tta: bool = True) -> Predictor:
    """Rebuild each member's network from its config.json and best.pt alone, on ``device``."""
    if batch_size < 1:
        raise SaltsegError(f"--batch-size must be at least 1, got {batch_size}")
    members = models.members if isinstance(models, Models) else list(models)
    torch_device = resolve_device(device)
    nets = [(net, InputFit.of_config(read_model_config(m)))
            for m in members for net in _load_nets(m, torch_device)]
    return Predictor(nets, torch_device, batch_size, tta)


def _load_nets(run: RunDir, device: torch.device) -> list[nn.Module]:
    """Return the run's networks with best.pt's weights (one, or each snapshot of ``train
    --snapshots``), in eval mode on ``device``."""
    config: dict[str, Any] = read_model_config(run)
    state = load_checkpoint(run.best_checkpoint)
    nets = []
    try:
        for weights in state.get("snapshots") or [state["model"]]:
            net = build_model(config)
            net.load_state_dict(weights)
            nets.append(net.to(device, memory_format=torch.channels_last).eval())
    except (KeyError, RuntimeError, AttributeError, TypeError) as exc:
        raise fail(run.best_checkpoint, f"does not fit the network of config.json ({type(exc).__name__})"
                   ) from None
    return nets
