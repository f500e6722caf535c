"""The residual UNet: the seed's shape with residual, batch-normalised blocks at every level."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from saltseg.models.unet import UNet


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (1x1 convolution when widths differ)."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = (
            nn.Identity()
            if in_ch == out_ch
            else nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ReLU(body(x) + shortcut(x))."""
        return self.act(self.body(x) + self.shortcut(x))


def residual_unet(start_filters: int = 16, dropout: float = 0.0, **decoder: bool) -> UNet:
    """Return the seed's UNet shape with a residual block at every level; ``decoder`` takes
    UNet's switches (with_image_head, scse, hypercolumn)."""
    block = partial(ResidualBlock, dropout=dropout)
    return UNet(block, start_filters=start_filters, **decoder)
