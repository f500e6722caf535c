"""The TGS Salt competition metric, for numpy arrays and torch tensors alike.

Per image, the IoU of the predicted and true mask is compared with each threshold in
:data:`THRESHOLDS`; the image scores the fraction of thresholds its IoU is strictly above.
An image whose truth and prediction are both empty scores 1. The score is the mean over images.

The comparison ``IoU > k / 20`` is done as ``intersection * 20 > union * k`` on integers, so an
IoU of exactly 0.5 does not pass the 0.5 threshold whatever the float rounding. Torch tensors stay
on their device.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_TWENTIETHS = tuple(range(10, 20))
THRESHOLDS = tuple(k / 20 for k in _TWENTIETHS)
"""IoU thresholds 0.50, 0.55, ..., 0.95."""


def per_image_scores(pred: Array, true: Array) -> Array:
    """Return each image's competition score.

    Args:
        pred: predicted masks (N, H, W) or (N, 1, H, W); nonzero is salt.
        true: true masks of the same shape.

    Returns:
        (N,) floats in {0, 0.1, ..., 1}, of the inputs' kind (a tensor on their device).
    """
    inter, union = _counts(pred, true)
    return scores_from_counts(inter, union)


def competition_score(pred: Array, true: Array) -> float:
    """Return the competition score: the mean of :func:`per_image_scores` over N > 0 images.

    Summed as integers, so equal hit counts give bit-identical scores.
    """
    hits = hits_from_counts(*_counts(pred, true))
    if hits.shape[0] == 0:
        raise ValueError("no images to score")
    return int(hits.sum()) / (len(THRESHOLDS) * hits.shape[0])


def iou_per_image(pred: Array, true: Array) -> Array:
    """Return each image's IoU (N,) as floats; two empty masks have IoU 1.

    Args:
        pred: predicted masks (N, H, W) or (N, 1, H, W); nonzero is salt.
        true: true masks of the same shape.
    """
    inter, union = _counts(pred, true)
    if isinstance(inter, torch.Tensor):
        return torch.where(union > 0, inter / union.clamp(min=1), 1.0)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def scores_from_counts(inter: Array, union: Array) -> Array:
    """Return competition scores from integer intersection and union counts.

    Args:
        inter: intersection pixel counts, any shape, integer dtype.
        union: union pixel counts, same shape.

    Returns:
        Scores of that shape: the fraction of thresholds passed, 1 where ``union`` is 0.
    """
    hits = hits_from_counts(inter, union)
    if isinstance(hits, torch.Tensor):
        return hits.to(torch.get_default_dtype()) / len(THRESHOLDS)
    return hits / len(THRESHOLDS)


def hits_from_counts(inter: Array, union: Array) -> Array:
    """Return how many thresholds each IoU is strictly above (0..10; all 10 where union is 0).

    Integer counts make sums of scores exact, for comparing candidates without rounding.
    """
    if isinstance(inter, torch.Tensor):
        k = torch.tensor(_TWENTIETHS, device=inter.device)
    else:
        k = np.asarray(_TWENTIETHS, dtype=np.int64)
    hits = (inter[..., None] * 20 > union[..., None] * k).sum(-1)
    return hits + (union == 0) * len(THRESHOLDS)


def _counts(pred: Array, true: Array) -> tuple[Array, Array]:
    """Return the (N,) integer intersection and union of two batches of masks."""
    if pred.shape != true.shape or pred.ndim < 3:
        raise ValueError(f"need masks of equal shape (N, H, W), got {pred.shape} and {true.shape}")
    flat = (pred.shape[0], math.prod(pred.shape[1:]))
    if isinstance(pred, torch.Tensor) or isinstance(true, torch.Tensor):
        device = pred.device if isinstance(pred, torch.Tensor) else true.device
        p = torch.as_tensor(pred, device=device).reshape(flat) != 0
        t = torch.as_tensor(true, device=device).reshape(flat) != 0
    else:
        p = np.asarray(pred).reshape(flat) != 0
        t = np.asarray(true).reshape(flat) != 0
    return (p & t).sum(1), (p | t).sum(1)
