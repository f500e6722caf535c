"""Turn probabilities into masks: the one cut every command applies, and the chosen cut.

A pixel is salt when its probability is strictly above the threshold; a mask with fewer than
``min_area`` salt pixels is then emptied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen cut and its validation scores."""

    threshold: float
    min_area: int
    score: float
    score_at_half: float
    n_images: int


def apply_cut(probs: np.ndarray, threshold: float, min_area: int = 0) -> np.ndarray:
    """Return masks: probability > ``threshold``, emptied where fewer than ``min_area`` pixels.

    Args:
        probs: probabilities (..., H, W), e.g. (N, 101, 101) or one (101, 101) image.
        threshold: probability a pixel must exceed to be salt.
        min_area: smallest number of salt pixels a mask may keep.

    Returns:
        uint8 0/1 masks of ``probs``'s shape.
    """
    masks = np.asarray(probs, dtype=np.float32) > np.float32(threshold)
    if min_area > 0:
        masks &= masks.sum(axis=(-2, -1), keepdims=True) >= min_area
    return masks.view(np.uint8)
