"""Learning-rate schedules and early stopping.

Two schedules, chosen by whether the run has a time budget:

- ``plateau`` (the seed's): the learning rate is multiplied by 0.1 (down to 1e-5) when the
  monitored validation value has not improved for 5 epochs; training stops after 10.
- ``budget``: a linear warm-up over the first epoch, then a cosine decay to 1% of the base rate
  over the epochs that fit in the budget, re-estimated from the measured epoch time (a new
  estimate never raises the rate). No early stop: the budget ends the run.

With ``--snapshots K`` the budget's cosine runs in K cycles (:class:`Cycle`): the first over
:data:`FIRST_CYCLE_SHARE` of the run, the others sharing the rest equally, each restarting at the
base rate and ending at 1% of it, where its weights are kept as one member of the run's ensemble.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import torch

from saltseg.errors import SaltsegError

PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 5
PLATEAU_MIN_LR = 1e-5
EARLY_STOP_PATIENCE = 10
BUDGET_FINAL_FRACTION = 0.01
FIRST_CYCLE_SHARE = 0.5
"""Share of the run taken by the first of several snapshot cycles (the others share the rest)."""


@dataclass
class EarlyStopping:
    """Tracks the best monitored value; ``stop`` once ``patience`` epochs pass without improvement."""

    mode: str = "min"
    patience: int = EARLY_STOP_PATIENCE
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far."""
        return self.best is None or (value < self.best if self.mode == "min" else value > self.best)

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's value; return whether it improved on the best so far."""
        better = self.improves(value)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def stop(self) -> bool:
        """Whether training should stop."""
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Return the state to checkpoint."""
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpointed state."""
        for key, value in state.items():
            setattr(self, key, value)


def plateau_scheduler(
    optimizer: torch.optim.Optimizer, mode: str
) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """Return the seed's decay: x0.1 after 5 epochs without improvement, not below 1e-5."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, min_lr=PLATEAU_MIN_LR
    )


def budget_lr(base_lr: float, progress_epochs: float, total_epochs: float) -> float:
    """Return the budget schedule's learning rate at fractional epoch ``progress_epochs``.

    Linear warm-up from 10% over the first epoch, then cosine from ``base_lr`` at epoch 1 to
    ``base_lr * 0.01`` at ``total_epochs``.
    """
    if progress_epochs < 1.0:
        return base_lr * (0.1 + 0.9 * progress_epochs)
    span = max(total_epochs - 1.0, 1e-9)
    return cosine_decay(base_lr, min((progress_epochs - 1.0) / span, 1.0))


def cosine_decay(base_lr: float, t: float) -> float:
    """Return the rate at share ``t`` (0..1) of a cosine from ``base_lr`` down to its final 1%."""
    floor = base_lr * BUDGET_FINAL_FRACTION
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def cycle_bounds(cycles: int) -> list[float]:
    """Return the run fractions where ``cycles`` cosine cycles start, and 1 (where the last ends)."""
    if cycles == 1:
        return [0.0, 1.0]
    rest = (1.0 - FIRST_CYCLE_SHARE) / (cycles - 1)
    return [0.0, *(FIRST_CYCLE_SHARE + k * rest for k in range(cycles - 1)), 1.0]


@dataclass(frozen=True)
class Cycle:
    """The snapshot cycle a step belongs to: ``index`` of ``cycles``, begun at epoch ``start``
    (fractional epochs, 0 for the first)."""

    cycles: int = 1
    index: int = 0
    start: float = 0.0

    def end(self, planned: float) -> float:
        """Return the epoch this cycle ends at when the run is to reach ``planned`` epochs."""
        return max(cycle_bounds(self.cycles)[self.index + 1] * planned, self.start + 1.0)

    def rate(self, base_lr: float, progress: float, planned: float) -> float:
        """Return the learning rate at fractional epoch ``progress``: the budget's warm-up and cosine
        in the first cycle, a cosine from ``base_lr`` down in a later one."""
        if self.index == 0:
            return budget_lr(base_lr, progress, self.end(planned))
        share = (progress - self.start) / (self.end(planned) - self.start)
        return cosine_decay(base_lr, min(max(share, 0.0), 1.0))

    def restarts_at(self, progress: float) -> bool:
        """Whether ``progress`` is this later cycle's first step (where the rate may rise)."""
        return self.index > 0 and progress <= self.start


def planned_epochs(budget_s: float, elapsed_s: float, epoch_s: float, done: int, cap: int) -> float:
    """Return how many epochs the run will reach (fractional): those done plus those that still fit."""
    more = max(budget_s - elapsed_s, 0.0) / max(epoch_s, 1e-9)
    return min(done + more, float(cap))


def parse_duration(text: str) -> float:
    """Return seconds for ``90s``, ``45m``, ``2h``, ``1h30m`` or a bare number of seconds."""
    parts = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or parts is None:
        raise SaltsegError(f"cannot read '{text}' as a duration; write e.g. 90s, 45m or 2h")
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds
