"""``checkpoints/last.pt``: the one object that saving and resuming a training run both use."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from saltseg.errors import fail
from saltseg.rundir import load_checkpoint, save_checkpoint

REQUIRED = ("epoch", "model", "optimizer", "stopper", "rows", "seconds", "torch_rng")
"""Keys every saltseg version wrote; the others default (checkpoints of earlier versions resume)."""


@dataclass
class TrainingState:
    """Everything a run needs to continue exactly where it stopped, after its last complete epoch."""

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    stopper: dict[str, Any]
    rows: list[dict[str, float]]
    seconds: float
    torch_rng: torch.Tensor
    scheduler: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    averaged: dict[str, Any] = field(default_factory=dict)
    averaged_from: int | None = None
    lovasz_since: int | None = None
    """First epoch trained with the Lovasz hinge (it stays on after, even when a run is extended)."""
    cycle_starts: list[int] = field(default_factory=list)
    """First epoch of each snapshot cycle after the first (``--snapshots``)."""

    def save(self, path: Path) -> None:
        """Write the state atomically to ``path``."""
        save_checkpoint(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> TrainingState:
        """Read a state saved by :meth:`save` (or by an earlier version); a damaged one is an error."""
        saved = load_checkpoint(path)
        if not isinstance(saved, dict):
            raise fail(path, "is not a saltseg training checkpoint")
        missing = [key for key in REQUIRED if key not in saved]
        if missing:
            raise fail(path, f"is not a complete training checkpoint (no {', '.join(missing)})")
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in saved.items() if k in known})
        if not isinstance(state.rows, list) or len(state.rows) != state.epoch:
            raise fail(path, f"does not hold one metric row for each of its {state.epoch} epochs")
        return state
