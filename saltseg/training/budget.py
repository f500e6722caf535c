"""The time budget's decisions, from measured times alone (no clock inside, so a test's fake
times give the same decisions as a real run's).

Under ``torchrun`` only rank 0 asks these questions and shares the answers: ranks whose clocks
disagree would otherwise enter different collectives and hang.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saltseg.training.schedule import Cycle, planned_epochs

END_MARGIN_EPOCHS = 0.2
"""No new epoch starts when less than this share of an epoch's time is left."""
VALIDATION_SHARE = 1 / 3
"""Before any epoch has been validated, a validation step is taken to cost a third of a training
step (no backward pass, twice the batch)."""


@dataclass(frozen=True)
class Budget:
    """The seconds a whole run may take (None: no budget), less ``reserve_epochs`` epochs' time
    kept for work after the last epoch (the weight average), and the cap on epochs."""

    seconds: float | None
    cap: int
    reserve_epochs: float = 0.0

    @staticmethod
    def epoch_seconds(epoch_times: Sequence[float]) -> float | None:
        """Return the median epoch time, leaving out the first (a one-off warm-up) once others
        exist: an epoch slowed by another program does not shorten the schedule."""
        return float(np.median(epoch_times[1:] or epoch_times)) if epoch_times else None

    def for_epochs(self, epoch_times: Sequence[float]) -> float | None:
        """Return the seconds the epochs may take: the budget less the reserve."""
        epoch_s = self.epoch_seconds(epoch_times)
        if self.seconds is None or epoch_s is None:
            return self.seconds
        return self.seconds - self.reserve_epochs * epoch_s

    def spent(self, elapsed: float, epoch_times: Sequence[float]) -> bool:
        """Whether no further epoch fits after ``elapsed`` seconds of training."""
        budget, epoch_s = self.for_epochs(epoch_times), self.epoch_seconds(epoch_times)
        if budget is None or epoch_s is None:
            return False
        return budget - elapsed < END_MARGIN_EPOCHS * epoch_s

    def planned_epochs(self, elapsed: float, epoch_times: Sequence[float]) -> float:
        """Return how many epochs the run is expected to reach: the cap, or what the budget allows
        after ``len(epoch_times)`` epochs in ``elapsed`` seconds."""
        budget, epoch_s = self.for_epochs(epoch_times), self.epoch_seconds(epoch_times)
        if budget is None or epoch_s is None:
            return float(self.cap)
        return planned_epochs(budget, elapsed, epoch_s, len(epoch_times), self.cap)

    def must_cut(self, before_epoch: float, in_epoch: float, steps_done: int, val_steps: int,
                 epoch_times: Sequence[float], last_validation: float | None) -> bool:
        """Whether one more training step and the validation would overrun the budget.

        Args:
            before_epoch: seconds of the run before this epoch.
            in_epoch: seconds of this epoch so far, over ``steps_done`` (>= 1) steps.
            val_steps: batches of one validation.
            epoch_times: the seconds of every epoch so far.
            last_validation: the seconds the last validation took, None before the first.
        """
        budget = self.for_epochs(epoch_times)
        if budget is None:
            return False
        step_s = in_epoch / steps_done
        val_s = max(last_validation or 0.0, val_steps * step_s * VALIDATION_SHARE)
        return before_epoch + in_epoch + step_s + val_s > budget

    def learning_rate(self, base_lr: float, progress: float, elapsed: float,
                      epoch_times: Sequence[float], current: float, cycle: Cycle = Cycle()) -> float:
        """Return the budget schedule's rate at fractional epoch ``progress``: warm-up, then cosine
        over the planned epochs (or over ``cycle``'s share of them); after the first epoch a new
        estimate never raises the rate, only a cycle's restart does."""
        lr = cycle.rate(base_lr, progress, self.planned_epochs(elapsed, epoch_times))
        return min(lr, current) if progress >= 1 and not cycle.restarts_at(progress) else lr
