"""What a network with more than one output map returns: its pixel logits and the extra maps that
only training scores."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Outputs(NamedTuple):
    """A network's maps: pixel logits (B, 1, H, W), the image head's logits (B, 1) or None, and in
    training mode the hypercolumn's side logits of the coarser decoder levels, each (B, 1, H, W)."""

    pixel: torch.Tensor
    image: torch.Tensor | None = None
    sides: tuple[torch.Tensor, ...] = ()
