"""Training losses on logits: binary cross-entropy, BCE + Dice, the Lovasz hinge, and the
image-level head's term."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

IMAGE_LOSS_WEIGHT = 0.5
"""Weight of the image head's cross-entropy beside the pixel loss."""

SIDE_LOSS_WEIGHT = 0.1
"""Weight of each hypercolumn side map's pixel loss under deep supervision."""


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, mean over elements. Shapes (B, 1, H, W) or (B, 1)."""
    return F.binary_cross_entropy_with_logits(logits, target)


def soft_dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image, averaged over the batch (smoothed so empty masks are fine)."""
    prob = torch.sigmoid(logits).flatten(1)
    truth = target.flatten(1)
    inter = (prob * truth).sum(1)
    total = prob.sum(1) + truth.sum(1)
    return (1 - (2 * inter + eps) / (total + eps)).mean()


def bce_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice."""
    return bce(logits, target) + soft_dice(logits, target)


HINGES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "elu": lambda errors: F.elu(errors) + 1.0,
}
"""Forms of the Lovasz hinge on the margin errors: ``relu`` (the paper's, no gradient once a pixel
is past its margin) and ``elu`` (``elu + 1``: smooth, every pixel keeps a gradient)."""


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, hinge: str = "relu") -> torch.Tensor:
    """The Lovasz hinge (Berman et al. 2018), per image then averaged: a surrogate of the IoU.

    Each image's hinge errors are sorted in decreasing order, passed through ``HINGES[hinge]``
    and weighted by the gradient of the Lovasz extension of the Jaccard loss.
    """
    logits = logits.flatten(1).float()
    truth = target.flatten(1).float()
    errors = 1.0 - logits * (2.0 * truth - 1.0)
    errors_sorted, order = torch.sort(errors, dim=1, descending=True)
    truth_sorted = torch.gather(truth, 1, order)
    positives = truth_sorted.sum(1, keepdim=True)
    intersection = positives - truth_sorted.cumsum(1)
    union = positives + (1.0 - truth_sorted).cumsum(1)
    jaccard = 1.0 - intersection / union
    weights = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)
    return (HINGES[hinge](errors_sorted) * weights).sum(1).mean()


def symmetric_lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, hinge: str = "relu") -> torch.Tensor:
    """The mean of the Lovasz hinge of the salt (``logits`` against ``target``) and of the rest
    (``-logits`` against ``1 - target``).

    On an empty mask the salt's Jaccard term has no salt to weigh, so the plain hinge pushes only
    its worst pixel; the rest's term pushes every false positive (39% of the competition's masks are empty).
    """
    return (lovasz_hinge(logits, target, hinge) + lovasz_hinge(-logits, 1.0 - target, hinge)) / 2


def with_image_term(
    pixel_loss: torch.Tensor, image_logits: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Return ``pixel_loss`` plus the weighted cross-entropy of image logits (B, 1) against
    whether each target mask (B, 1, H, W) holds any salt."""
    any_salt = target.flatten(1).amax(1, keepdim=True)
    return pixel_loss + IMAGE_LOSS_WEIGHT * bce(image_logits, any_salt)


LOSSES: dict[str, Loss] = {"bce": bce, "bce+dice": bce_dice, "lovasz": lovasz_hinge}


def pixel_loss(name: str, hinge: str = "relu", symmetric: bool = False) -> Loss:
    """Return the loss called ``name`` in LOSSES, the Lovasz one with the hinge ``hinge`` (of salt
    and rest averaged when ``symmetric``)."""
    if name != "lovasz":
        return LOSSES[name]
    return partial(symmetric_lovasz_hinge if symmetric else lovasz_hinge, hinge=hinge)
