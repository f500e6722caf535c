"""Batch augmentation on the device, the same geometric change for an image and its mask.

Random numbers come from a CPU generator (then move to the device), so a seed gives the same
augmentations on every device and after a resume.
"""

from __future__ import annotations

import math
from enum import Enum

import torch
import torch.nn.functional as F


class Augment(str, Enum):
    """How much to augment: nothing, horizontal flips, or flips plus shift, scale and brightness."""

    none = "none"
    flip = "flip"
    full = "full"


def augment_batch(
    images: torch.Tensor, masks: torch.Tensor, level: Augment | str, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return augmented copies of a batch.

    Args:
        images: (B, 1, H, W) float in 0..1.
        masks: (B, 1, H, W) float 0/1.
        level: the Augment level.
        gen: a CPU generator that draws every random choice.
    """
    level = Augment(level)
    if level is Augment.none:
        return images, masks
    images, masks = _random_hflip(images, masks, gen)
    if level is Augment.full:
        images, masks = _random_affine(images, masks, gen)
        images = _random_brightness_contrast(images, gen)
    return images, masks


def _uniform(n: int, low: float, high: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return (low + (high - low) * torch.rand(n, generator=gen)).to(like.device)


def _random_hflip(
    images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    flip = (_uniform(len(images), 0, 1, gen, images) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images), torch.where(flip, masks.flip(-1), masks)


def _random_affine(
    images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale by 0.9..1.1 and shift by up to 10% of the width, mirrored at the borders."""
    n = len(images)
    scale = _uniform(n, math.log(0.9), math.log(1.1), gen, images).exp()
    shift = _uniform(2 * n, -0.2, 0.2, gen, images).view(n, 2)
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warp = dict(padding_mode="reflection", align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", **warp)
    masks = (F.grid_sample(masks, grid, mode="bilinear", **warp) > 0.5).to(masks.dtype)
    return images, masks


def _random_brightness_contrast(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = len(images)
    gain = _uniform(n, 0.9, 1.1, gen, images).view(-1, 1, 1, 1)
    bias = _uniform(n, -0.08, 0.08, gen, images).view(-1, 1, 1, 1)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * gain + mean + bias).clamp(0, 1)
