"""The computation an exported file holds, as one torch module, and the forward pass it must equal.

:class:`ProbabilityGraph` takes tiles as they come, uint8 (N, 1, 101, 101), and returns salt
probabilities (N, 1, 101, 101) float32: each member network's input fit (scaling to -0.5..0.5,
reflect padding or resizing), the network in eval mode (a :class:`~saltseg.models.gate.SaltGate`
caps each pixel's logit by its image's), the crop or resize back, the sigmoid, the horizontal-flip
TTA (the mean of the image's probabilities and the flipped-back mirror's), and the mean of the
members' probabilities. :func:`reference_probs` is saltseg's own fp32 forward pass of the same
networks (:func:`saltseg.inference.passes.predict_probs`, no autocast, no float16 rounding).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from saltseg.inference.passes import logits_at_image_size, predict_probs
from saltseg.inference.predictor import Predictor
from saltseg.shapes import IMAGE_SIZE, InputFit


class ProbabilityGraph(nn.Module):
    """The mean salt probability of a set of networks for uint8 tiles, as predict computes it."""

    def __init__(self, nets: list[tuple[nn.Module, InputFit]], tta: bool) -> None:
        super().__init__()
        self.nets = nn.ModuleList(net for net, _ in nets)
        self.fits = [fit for _, fit in nets]
        self.tta = tta

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Return probabilities (N, 1, 101, 101) float32 for tiles (N, 1, 101, 101) uint8."""
        images = tiles[:, 0]
        members = zip(self.nets, self.fits, strict=True)
        total = sum(self._member_probs(net, fit, images) for net, fit in members)
        return total / len(self.nets)

    def _member_probs(self, net: nn.Module, fit: InputFit, images: torch.Tensor) -> torch.Tensor:
        """Return one network's probabilities; with TTA, image and mirror go through in one batch."""
        if not self.tta:
            return torch.sigmoid(logits_at_image_size(net, images, fit))
        n = images.shape[0]
        both = torch.sigmoid(logits_at_image_size(net, torch.cat([images, images.flip(-1)]), fit))
        return (both[:n] + both[n:].flip(-1)) / 2


def graph_of(predictor: Predictor) -> ProbabilityGraph:
    """Return the graph of a predictor's networks and TTA setting; the networks (shared with the
    predictor) are moved to the CPU's contiguous memory format, which the exporter traces simply."""
    nets = [(net.to("cpu", memory_format=torch.contiguous_format).eval(), fit) for net, fit in predictor.nets]
    return ProbabilityGraph(nets, predictor.tta).eval()


def reference_probs(predictor: Predictor, tiles: np.ndarray) -> np.ndarray:
    """Return saltseg's fp32 probabilities (N, 1, 101, 101) float32 for tiles (N, 1, 101, 101) uint8.

    The members' mean of :func:`saltseg.inference.passes.predict_probs` (TTA as the predictor's), without
    autocast or float16 rounding.
    """
    images = torch.from_numpy(np.ascontiguousarray(tiles[:, 0])).to(predictor.device)
    total = sum(
        predict_probs(net, images, fit, predictor.batch_size, contextlib.nullcontext(), predictor.tta)
        for net, fit in predictor.nets
    )
    return (total / len(predictor.nets)).cpu().numpy()[:, None]


def random_tiles(n: int, seed: int = 0) -> np.ndarray:
    """Return ``n`` seeded random tiles (n, 1, 101, 101) uint8."""
    return np.random.default_rng(seed).integers(0, 256, (n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
