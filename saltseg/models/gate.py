"""The image-level "any salt" head, and the gate that caps every pixel's logit by the image's.

39% of the images hold no salt. A network built with the head returns its pixel logits and image
logits together (:class:`~saltseg.models.outputs.Outputs`), so training can score both
(:func:`saltseg.training.losses.with_image_term`). Wrapped in :class:`SaltGate`, it returns in eval mode
one map, each pixel's logit capped by its image's: a pixel is salt at threshold t only when both
its probability and its image's exceed t. So the test-time flip, the threshold sweep and the
minimum-area rule work on that map as on any other.
"""

from __future__ import annotations

import torch
from torch import nn

from saltseg.models.outputs import Outputs


def image_head(channels: int) -> nn.Sequential:
    """Return global average pooling of (B, channels, h, w) features, then a linear map to (B, 1)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1))


class SaltGate(nn.Module):
    """Wraps a network returning (pixel logits (B, 1, H, W), image logits (B, 1)).

    Training mode passes both through; eval mode returns the pixel logits capped by the image
    logit, ``min(pixel, image)``: the logit of the smaller of the two probabilities.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor | Outputs:
        """Return the network's :class:`Outputs` in training mode, the capped pixel logits in eval
        mode."""
        out = Outputs(*self.net(x))
        if self.training:
            return out
        return torch.minimum(out.pixel, out.image.view(-1, 1, 1, 1).to(out.pixel.dtype))
