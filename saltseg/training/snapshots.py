"""Snapshot cycles of ``train --snapshots K``: which cycle of the schedule the run is in, and the
weights that end each cycle (``checkpoints/snapshot-K.pt``), the members of the run's ensemble."""

from __future__ import annotations

from typing import Any

from torch import nn

from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.training.schedule import Cycle, cycle_bounds


class SnapshotCycles:
    """The cycles a run has begun (``starts``: the first epoch of each after the first) and their
    kept weights."""

    def __init__(self, cycles: int, run: RunDir) -> None:
        self.cycles, self.run = cycles, run
        self.starts: list[int] = []

    def cycle(self) -> Cycle:
        """Return the cycle the run is in."""
        start = self.starts[-1] - 1.0 if self.starts else 0.0
        return Cycle(self.cycles, len(self.starts), start)

    def starts_next(self, epoch: int, planned: float) -> bool:
        """Whether ``epoch`` begins the next cycle of a run planned to reach ``planned`` epochs (one
        cycle begins per epoch at most)."""
        following = len(self.starts) + 1
        return following < self.cycles and epoch - 1 >= cycle_bounds(self.cycles)[following] * planned

    def keep(self, model: nn.Module, epoch: int) -> None:
        """Save ``model``'s weights after ``epoch`` as the current cycle's (a later call replaces them)."""
        save_checkpoint(self.run.snapshot_checkpoint(len(self.starts)),
                        {"model": model.state_dict(), "epoch": epoch})

    def kept(self) -> list[dict[str, Any]]:
        """Return every cycle's kept checkpoint ({"model", "epoch"}), in order."""
        return [load_checkpoint(self.run.snapshot_checkpoint(k)) for k in range(len(self.starts) + 1)]
