"""The images a run trains and validates on, placed on the device once as uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from saltseg.datafile import Dataset
from saltseg.errors import SaltsegError


def ids_to_rows(ids: list[str], wanted: list[str]) -> np.ndarray:
    """Return the row of each id of ``wanted`` in ``ids``; an unknown id is an error."""
    index = {name: i for i, name in enumerate(ids)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise SaltsegError(f"the split names {len(missing)} ids the data file lacks, e.g. {missing[0]}")
    return np.array([index[name] for name in wanted], dtype=np.int64)


@dataclass
class TrainingData:
    """Training and validation images (N, 101, 101) uint8 and masks (N, 101, 101) 0/1 on the device."""

    train_images: torch.Tensor
    train_masks: torch.Tensor
    val_images: torch.Tensor
    val_masks: torch.Tensor

    @classmethod
    def from_split(cls, data: Dataset, split: dict[str, Any], device: torch.device) -> TrainingData:
        """Place the split's training and validation images of ``data`` on ``device``."""
        if data.masks is None:
            raise SaltsegError("training needs a labelled data file")
        tensors = []
        for part in ("train", "val"):
            rows = ids_to_rows(data.ids, split[part])
            tensors += [torch.from_numpy(data.images[rows]).to(device),
                        torch.from_numpy(data.masks[rows]).to(device)]
        return cls(*tensors)
