"""The shape policy, in one place: 101x101 images go into the network at 128x128 and come back.

``reflect`` pads 13 pixels before and 14 after each axis with a mirror image of the border (the
network sees real-looking context, and the crop back is exact); ``resize`` scales bilinearly to
128x128 and back. Either way the loss and every score are computed at 101x101.
"""

from __future__ import annotations

from enum import Enum

import torch
import torch.nn.functional as F

from saltseg.datafile import IMAGE_SIZE

MODEL_SIZE = 128
_PAD_BEFORE = (MODEL_SIZE - IMAGE_SIZE) // 2
_PAD_AFTER = MODEL_SIZE - IMAGE_SIZE - _PAD_BEFORE


class Fit(str, Enum):
    """How 101x101 images are fitted to the network's 128x128 input."""

    reflect = "reflect"
    resize = "resize"


def model_input(images: torch.Tensor, fit: Fit | str) -> torch.Tensor:
    """Return network input from uint8 or float images.

    Args:
        images: (B, 101, 101) uint8 in 0..255, or (B, 1, 101, 101) float already scaled to 0..1.
        fit: ``reflect`` or ``resize``.

    Returns:
        (B, 1, 128, 128) float, centred on 0 (pixel / 255 - 0.5).
    """
    x = images.unsqueeze(1).float() / 255.0 if images.dtype == torch.uint8 else images
    return to_model_size(x - 0.5, fit)


def to_model_size(x: torch.Tensor, fit: Fit | str) -> torch.Tensor:
    """Map (B, C, 101, 101) to (B, C, 128, 128) by the ``fit`` policy."""
    if Fit(fit) is Fit.reflect:
        pad = (_PAD_BEFORE, _PAD_AFTER, _PAD_BEFORE, _PAD_AFTER)
        return F.pad(x, pad, mode="reflect")
    return F.interpolate(x, size=(MODEL_SIZE, MODEL_SIZE), mode="bilinear", align_corners=False)


def to_image_size(y: torch.Tensor, fit: Fit | str) -> torch.Tensor:
    """Map network output (B, C, 128, 128) back to exactly (B, C, 101, 101)."""
    if Fit(fit) is Fit.reflect:
        end = _PAD_BEFORE + IMAGE_SIZE
        return y[..., _PAD_BEFORE:end, _PAD_BEFORE:end]
    return F.interpolate(y, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
