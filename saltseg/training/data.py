"""The images a run trains and validates on, placed on the device once as uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from saltseg.data.hdf5 import Dataset
from saltseg.errors import SaltsegError
from saltseg.training.pseudo import PseudoLabels


def ids_to_rows(ids: list[str], wanted: list[str]) -> np.ndarray:
    """Return the row of each id of ``wanted`` in ``ids``; an unknown id is an error."""
    index = {name: i for i, name in enumerate(ids)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise SaltsegError(f"the split names {len(missing)} ids the data file lacks, e.g. {missing[0]}")
    return np.array([index[name] for name in wanted], dtype=np.int64)


@dataclass
class TrainingData:
    """Training and validation images (N, 101, 101) uint8 and masks (N, 101, 101) 0/1 on the device.

    The training images are the labelled ones, then (for a student) the pseudo-labelled ones.
    """

    train_images: torch.Tensor
    train_masks: torch.Tensor
    val_images: torch.Tensor
    val_masks: torch.Tensor
    labelled: int
    """How many of the training images are labelled (the first ones)."""

    @classmethod
    def from_split(cls, data: Dataset, split: dict[str, Any], device: torch.device,
                   pseudo: PseudoLabels | None = None) -> TrainingData:
        """Place the split's training and validation images of ``data`` (and ``pseudo``'s) on ``device``."""
        if data.masks is None:
            raise SaltsegError("training needs a labelled data file")
        train, val = (ids_to_rows(data.ids, split[part]) for part in ("train", "val"))
        images, masks = [data.images[train]], [data.masks[train]]
        if pseudo is not None:
            images.append(pseudo.images)
            masks.append(pseudo.masks)
        tensors = [torch.from_numpy(a).to(device) for a in (np.concatenate(images), np.concatenate(masks),
                                                             data.images[val], data.masks[val])]
        return cls(*tensors, len(train))

    def epoch_order(self, gen: torch.Generator, pseudo_ratio: float) -> torch.Tensor:
        """Return the rows an epoch trains on, shuffled: every labelled image and, for a student,
        a fresh draw of ``pseudo_ratio`` times as many pseudo-labelled ones (all, when fewer)."""
        pseudo = len(self.train_images) - self.labelled
        if pseudo == 0:
            return torch.randperm(self.labelled, generator=gen)
        drawn = self.labelled + torch.randperm(pseudo, generator=gen)[: round(pseudo_ratio * self.labelled)]
        rows = torch.cat([torch.arange(self.labelled), drawn])
        return rows[torch.randperm(len(rows), generator=gen)]
