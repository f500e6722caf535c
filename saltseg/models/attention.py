"""Concurrent spatial and channel squeeze-and-excitation (scSE; Roy et al. 2018).

Each decoder block's output is re-weighted twice and the two summed: per channel by a gate
computed from the whole map, and per pixel by a gate computed from all its channels.
"""

from __future__ import annotations

import torch
from torch import nn


class SCSE(nn.Module):
    """Return ``x * channel_gate(x) + x * spatial_gate(x)`` for (B, channels, H, W) maps."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the re-weighted map, same shape as ``x``."""
        return x * self.channel_gate(x) + x * self.spatial_gate(x)
