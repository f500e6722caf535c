"""A residual UNet: the seed's shape (5 levels, transposed-convolution decoder) with residual,
batch-normalised blocks, which train faster and further than plain convolutions."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


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


class ResUNet(nn.Module):
    """UNet with residual blocks: widths start_filters * (1, 2, 4, 8, 16), 8x8 bottleneck at 128."""

    def __init__(self, in_channels: int = 1, start_filters: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        widths = [start_filters * 2**i for i in range(5)]
        ins = [in_channels, *widths[:-1]]
        self.encoder = nn.ModuleList(
            ResidualBlock(cin, cout, dropout) for cin, cout in zip(ins, widths, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        ups = widths[::-1]
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(cin, cout, 2, stride=2) for cin, cout in pairwise(ups)
        )
        self.decoder = nn.ModuleList(ResidualBlock(2 * cout, cout, dropout) for cout in ups[1:])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, 1, H, W) with H, W divisible by 16 to logits (B, 1, H, W)."""
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
