"""The seed's hand-built UNet: encoder c1..c5, decoder u6..u9, one output logit per pixel.

:class:`UNet` is the shape (5 levels, 2x2 max pooling, 2x2 transposed convolutions, skip
concatenations, a 1x1 head; optionally an image-level "any salt" head on the bottleneck, see
:mod:`saltseg.models.gate`); the block at each level is a parameter, so the seed's plain
convolutions and the residual blocks of :mod:`saltseg.models.resunet` share it.

Two options of the decoder: ``scse`` re-weights each decoder block's output by
:class:`~saltseg.models.attention.SCSE`; ``hypercolumn`` adds to the 1x1 head's logits one
1x1-convolution logit from each coarser decoder level, upsampled bilinearly (a hypercolumn fused
by a 1x1 convolution, computed level by level so no wide full-size map is built).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from saltseg.models.attention import SCSE
from saltseg.models.gate import image_head
from saltseg.models.outputs import Outputs

Block = Callable[[int, int], nn.Module]


def conv_block(in_ch: int, out_ch: int, batch_norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """Return two 3x3 convolutions with ReLU (optional batch norm, dropout between them)."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(((in_ch, out_ch), (out_ch, out_ch))):
        layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
        if i == 0 and dropout > 0:
            layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """A 5-level UNet of ``block`` (in, out) -> module, widths start_filters * (1, 2, 4, 8, 16).

    Encoder c1..c5 with 2x2 max pooling p1..p4 (an 8x8 bottleneck for a 128x128 input);
    decoder u6..u9 of 2x2 transposed convolutions, each concatenated with c4..c1 and followed by
    a block (and scSE with ``scse``); a 1x1 convolution to one logit, plus the coarser levels'
    logits with ``hypercolumn``. With ``with_image_head``, also one logit per image from the
    bottleneck's pooled features; in training mode with ``hypercolumn``, also those side logits
    apart, for deep supervision (:class:`~saltseg.models.outputs.Outputs`).
    """

    def __init__(
        self,
        block: Block,
        in_channels: int = 1,
        start_filters: int = 16,
        with_image_head: bool = False,
        scse: bool = False,
        hypercolumn: bool = False,
    ) -> None:
        super().__init__()
        widths = [start_filters * 2**i for i in range(5)]
        ins = [in_channels, *widths[:-1]]
        self.encoder = nn.ModuleList(block(cin, cout) for cin, cout in zip(ins, widths, strict=True))
        self.pool = nn.MaxPool2d(2)
        ups = widths[::-1]
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(cin, cout, 2, stride=2) for cin, cout in pairwise(ups)
        )
        self.decoder = nn.ModuleList(
            nn.Sequential(block(2 * cout, cout), SCSE(cout)) if scse else block(2 * cout, cout)
            for cout in ups[1:]
        )
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.side_heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in ups[1:-1]) if hypercolumn else None
        self.image_head = image_head(widths[-1]) if with_image_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | Outputs:
        """Map (B, 1, H, W) with H, W divisible by 16 to logits (B, 1, H, W), or to
        :class:`Outputs` with the image head's logits (B, 1) and, in training, the side logits."""
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = bottleneck = skips.pop()
        levels = []
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
            levels.append(x)
        sides = tuple(
            F.interpolate(side(level), size=x.shape[-2:], mode="bilinear")
            for side, level in zip(self.side_heads or (), levels, strict=False)
        )
        logits = sum(sides, self.head(x))
        image = None if self.image_head is None else self.image_head(bottleneck)
        if image is None and not (self.training and sides):
            return logits
        return Outputs(logits, image, sides if self.training else ())


def seed_unet(
    start_filters: int = 16, batch_norm: bool = False, dropout: float = 0.0, **decoder: bool
) -> UNet:
    """Return the seed's UNet: two 3x3 convolutions (optional batch norm, dropout) per level;
    ``decoder`` takes UNet's switches (with_image_head, scse, hypercolumn)."""
    block = partial(conv_block, batch_norm=batch_norm, dropout=dropout)
    return UNet(block, start_filters=start_filters, **decoder)
