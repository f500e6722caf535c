"""Batch augmentation on the device, the same geometric change for an image and its mask.

Random numbers come from a CPU generator (then move to the device), so a seed gives the same
augmentations on every device and after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from saltseg.training.options import Augment


@dataclass(frozen=True)
class Augmentation:
    """A training batch's random changes: a ``mosaic`` share of its images replaced by crops
    across four of them (:func:`mosaic_crops`), then the ``level``'s flips and warps."""

    level: Augment = Augment.flip
    mosaic: float = 0.0

    @classmethod
    def of_config(cls, config: dict[str, Any]) -> Augmentation:
        """Return a run's augmentation as its config.json names it (no mosaic in runs made before it)."""
        return cls(Augment(config["augment"]), float(config.get("mosaic", 0.0)))

    def __call__(
        self, images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return augmented copies of images (B, 1, H, W) in 0..1 and masks (B, 1, H, W) 0/1."""
        images, masks = mosaic_crops(images, masks, self.mosaic, gen)
        return augment_batch(images, masks, self.level, gen)


def mosaic_crops(
    images: torch.Tensor, masks: torch.Tensor, share: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the batch with about ``share`` of its images replaced by an image-sized crop of a 2x2
    mosaic: the image itself at top left beside three of the batch drawn at random, cut at a random offset
    so that every crop straddles both seams.

    A section predicted in sliding windows puts windows across whatever lies side by side; a
    network that only ever saw single tiles judges each window as a whole. Draws nothing from
    ``gen`` when ``share`` is 0, so runs without mosaics keep their random streams.
    """
    n, _, height, width = images.shape
    if share <= 0 or n < 2:
        return images, masks
    chosen = (torch.rand(n, generator=gen) < share).nonzero().flatten()
    others = torch.randint(0, n, (n, 3), generator=gen)[chosen]
    top = torch.randint(1, height, (n,), generator=gen)[chosen]
    left = torch.randint(1, width, (n,), generator=gen)[chosen]
    if len(chosen) == 0:
        return images, masks
    quads = torch.cat([chosen.unsqueeze(1), others], 1).to(images.device)
    rows = (top.unsqueeze(1) + torch.arange(height)).to(images.device)
    cols = (left.unsqueeze(1) + torch.arange(width)).to(images.device)
    picked = torch.arange(len(chosen), device=images.device)[:, None, None]
    images, masks = images.clone(), masks.clone()
    for batch in (images, masks):
        tiles = batch[quads]  # (m, 4, C, H, W): top left, top right, bottom left, bottom right
        upper, lower = torch.cat([tiles[:, 0], tiles[:, 1]], -1), torch.cat([tiles[:, 2], tiles[:, 3]], -1)
        mosaic = torch.cat([upper, lower], -2)
        crops = mosaic.permute(0, 2, 3, 1)[picked, rows[:, :, None], cols[:, None, :]]  # (m, H, W, C)
        batch[chosen.to(images.device)] = crops.permute(0, 3, 1, 2)
    return images, masks


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
