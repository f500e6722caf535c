"""Choose how probabilities become masks: the threshold and minimum-area sweep.

Masks are cut as :func:`saltseg.cut.apply_cut` cuts them.

:func:`sweep_thresholds` scores every (threshold, min_area) pair of :data:`THRESHOLDS` x
:data:`MIN_AREAS` at once: each pixel is binned by how many thresholds lie below its probability,
so one histogram per image gives every threshold's predicted area and intersection, and the area
rule only edits those counts.
"""

from __future__ import annotations

import numpy as np

from saltseg.cut import ThresholdChoice
from saltseg.metric import THRESHOLDS as IOU_THRESHOLDS
from saltseg.metric import hits_from_counts

THRESHOLDS = tuple(k / 100 for k in range(5, 96))
"""Probability thresholds searched: 0.05, 0.06, ..., 0.95."""
MIN_AREAS = (0, 10, 20, 40, 60, 80, 100, 150, 200)
"""Minimum predicted areas (pixels) searched; 0 keeps every mask."""
_CHUNK = 256
_GRID = 1 << 16


def sweep_thresholds(
    probs: np.ndarray,
    truth: np.ndarray,
    thresholds: tuple[float, ...] = THRESHOLDS,
    areas: tuple[int, ...] = MIN_AREAS,
) -> tuple[ThresholdChoice, np.ndarray]:
    """Find the threshold and minimum area that maximise the competition score.

    Ties go to the smallest area, then the threshold nearest 0.5.

    Args:
        probs: probabilities (N, H, W), N > 0.
        truth: true masks (N, H, W), nonzero is salt.
        thresholds: increasing probability thresholds in (0, 1); must include 0.5.
        areas: minimum areas; must include 0.

    Returns:
        The choice, and the score table (len(thresholds), len(areas)) that
        ``competition_score(apply_cut(probs, t, a), truth)`` would give for each pair.
    """
    _check(probs, truth, thresholds, areas)
    hits = sum(
        _hits_table(probs[i : i + _CHUNK], truth[i : i + _CHUNK], thresholds, areas)
        for i in range(0, len(probs), _CHUNK)
    )
    table = hits / (len(IOU_THRESHOLDS) * len(probs))
    return _choose(table, hits, thresholds, areas, len(probs)), table


def _check(
    probs: np.ndarray, truth: np.ndarray, thresholds: tuple[float, ...], areas: tuple[int, ...]
) -> None:
    """Raise ValueError unless the inputs are what sweep_thresholds documents."""
    if probs.shape != truth.shape or probs.ndim != 3 or len(probs) == 0:
        raise ValueError(f"need (N, H, W) probs and masks, got {probs.shape}, {truth.shape}")
    if 0.5 not in thresholds or 0 not in areas:
        raise ValueError("thresholds must include 0.5 and areas must include 0")
    cells = (np.asarray(thresholds, dtype=np.float32) * _GRID).astype(np.int64)
    if cells[0] <= 0 or cells[-1] >= _GRID or np.any(np.diff(cells) <= 0):
        raise ValueError("thresholds must increase in (0, 1), at least 1/65536 apart")


def _hits_table(
    probs: np.ndarray, truth: np.ndarray, thresholds: tuple[float, ...], areas: tuple[int, ...]
) -> np.ndarray:
    """Return thresholds passed, summed over images, per (threshold, area): (T, A) int64."""
    pred_area, inter = _cut_counts(probs, truth, np.asarray(thresholds, dtype=np.float32))
    true_area = (truth.reshape(len(truth), -1) != 0).sum(1)[:, None]
    union = pred_area + true_area - inter
    table = np.empty((len(thresholds), len(areas)), dtype=np.int64)
    for j, area in enumerate(areas):
        kept = pred_area >= area
        table[:, j] = hits_from_counts(inter * kept, np.where(kept, union, true_area)).sum(0)
    return table


def _cut_counts(
    probs: np.ndarray, truth: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return predicted area and intersection (n, T) of every image at every threshold."""
    n, n_t = len(probs), len(thresholds)
    codes = _count_below(np.asarray(probs, dtype=np.float32).reshape(n, -1), thresholds)
    codes += (n_t + 1) * (truth.reshape(n, -1) != 0)
    codes += 2 * (n_t + 1) * np.arange(n, dtype=codes.dtype)[:, None]
    hist = np.bincount(codes.ravel(), minlength=2 * (n_t + 1) * n).reshape(n, 2, n_t + 1)
    above = hist[:, :, ::-1].cumsum(-1)[:, :, ::-1][:, :, 1:]
    return above.sum(1), above[:, 1]


def _count_below(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Return how many thresholds lie strictly below each probability, as int64.

    Equal to ``np.searchsorted(thresholds, probs)`` but 4x faster: a lookup table over a
    2**16-cell grid of [0, 1], where a cell holding a threshold needs one exact comparison.
    """
    cells = (thresholds * _GRID).astype(np.int64)
    below = np.searchsorted(cells, np.arange(_GRID + 1))
    at = np.full(_GRID + 1, np.inf, dtype=np.float32)
    at[cells] = thresholds
    clipped = np.clip(probs, 0, 1)
    index = (clipped * _GRID).astype(np.int32)
    return below[index] + (clipped > at[index])


def _choose(
    table: np.ndarray,
    hits: np.ndarray,
    thresholds: tuple[float, ...],
    areas: tuple[int, ...],
    n_images: int,
) -> ThresholdChoice:
    """Pick the best (threshold, area) by exact integer hits; ties as in sweep_thresholds."""
    best = np.argwhere(hits == hits.max())
    i, j = min(best, key=lambda ij: (areas[ij[1]], abs(thresholds[ij[0]] - 0.5)))
    return ThresholdChoice(
        threshold=float(thresholds[i]),
        min_area=int(areas[j]),
        score=float(table[i, j]),
        score_at_half=float(table[thresholds.index(0.5), areas.index(0)]),
        n_images=n_images,
    )
