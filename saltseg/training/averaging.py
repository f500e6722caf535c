"""Weight averaging over the last epochs of a run (stochastic weight averaging of the schedule's tail)."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel


class WeightAverage:
    """The running average of a model's weights over the epochs added to it."""

    def __init__(self, model: nn.Module) -> None:
        self.averaged = AveragedModel(model)
        self.first_epoch: int | None = None

    @property
    def epochs(self) -> int:
        """How many epochs' weights are in the average."""
        return int(self.averaged.n_averaged)

    @property
    def module(self) -> nn.Module:
        """The network holding the averaged weights."""
        return self.averaged.module

    def add(self, model: nn.Module, epoch: int) -> None:
        """Add ``model``'s weights after ``epoch`` to the average."""
        self.averaged.update_parameters(model)
        self.first_epoch = self.first_epoch or epoch

    def state_dict(self) -> dict[str, Any]:
        """Return the averaged weights and their count, to checkpoint."""
        return self.averaged.state_dict()

    def load(self, state: dict[str, Any], first_epoch: int | None) -> None:
        """Restore a checkpointed average (an empty ``state`` leaves it empty)."""
        if state:
            self.averaged.load_state_dict(state)
            self.first_epoch = first_epoch
