"""The seeded validation split, stratified by salt coverage, and K-fold cross-validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from saltseg.errors import SaltsegError

COVERAGE_CLASSES = 10


def coverage_classes(masks: np.ndarray) -> np.ndarray:
    """Return each mask's coverage class: 0 for empty, else ceil(10 * salt fraction) in 1..10."""
    coverage = masks.reshape(len(masks), -1).mean(axis=1)
    return np.ceil(coverage * COVERAGE_CLASSES).astype(int)


def fold_of_each(masks: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Return a fold index in 0..folds-1 for each image, balanced within each coverage class."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(masks), dtype=int)
    offset = 0
    for cls in np.unique(classes := coverage_classes(masks)):
        members = rng.permutation(np.flatnonzero(classes == cls))
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return fold


def make_split(
    ids: list[str], masks: np.ndarray, seed: int, val_fraction: float, folds: int, fold: int
) -> dict[str, Any]:
    """Return the split: ``train`` and ``val`` id lists plus how they were drawn.

    With ``folds`` > 1, validation is fold ``fold`` of a stratified K-fold partition; otherwise
    a stratified ``val_fraction`` of each coverage class.
    """
    if folds > 1:
        if not 0 <= fold < folds:
            raise SaltsegError(f"--fold must be in 0..{folds - 1}, got {fold}")
        is_val = fold_of_each(masks, folds, seed) == fold
    else:
        if not 0 < val_fraction < 1:
            raise SaltsegError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
        is_val = _stratified_fraction(masks, val_fraction, seed)
    if is_val.all() or not is_val.any():
        raise SaltsegError(f"{len(ids)} images are too few to split into training and validation")
    chosen = np.asarray(ids)
    return {
        "seed": seed,
        "val_fraction": val_fraction,
        "folds": folds,
        "fold": fold,
        "train": chosen[~is_val].tolist(),
        "val": chosen[is_val].tolist(),
    }


def _stratified_fraction(masks: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(masks), dtype=bool)
    classes = coverage_classes(masks)
    for cls in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == cls))
        is_val[members[: round(len(members) * fraction)]] = True
    return is_val


GAP_SHARE = 0.05
"""The gap on each side of a held-out block, as a share of the labelled lines' extent (1 line at least)."""
AXIS_NAMES = ("inline", "crossline")


def make_block_split(ids: list[str], origins: np.ndarray, survey: dict[str, Any], seed: int,
                     val_fraction: float, folds: int, fold: int) -> dict[str, Any]:
    """Return a survey's split apart in space: a block of lines validates, the lines of a gap on each
    side go nowhere, and only patches wholly outside block and gaps train.

    Lines are counted along the split axis: inlines, or the traces of a survey of one inline (a 2-D
    section). An inline patch covers its own line; a crossline patch covers the ``patch`` inlines
    it crosses. With ``folds`` > 1 the extent is cut into K blocks and block ``fold`` validates;
    otherwise one block of ``val_fraction`` of the extent, placed by ``seed``.

    Args:
        ids: the patches' ids.
        origins: (N, 4) axis, line index, first sample, first trace of each patch.
        survey: the data file's survey record (its ``shape``, ``patch`` and line numbers).
    """
    split_axis = 0 if survey["shape"][0] > 1 else 1
    first, last = _spans(origins, split_axis, survey["patch"])
    lo, hi = int(first.min()), int(last.max())
    extent, gap = hi - lo + 1, max(1, round(GAP_SHARE * (hi - lo + 1)))
    start, stop = _block(lo, extent, seed, val_fraction, folds, fold)
    is_val = (first >= start) & (last <= stop)
    is_train = (last < start - gap) | (first > stop + gap)
    if not is_val.any() or not is_train.any():
        raise SaltsegError(f"{extent} labelled {AXIS_NAMES[split_axis]}s are too few to hold out a block "
                           f"and a gap of {gap} on each side with training lines beyond")
    numbers = np.asarray(survey[f"{AXIS_NAMES[split_axis]}_numbers"])
    chosen = np.asarray(ids)
    return {
        "seed": seed, "val_fraction": val_fraction, "folds": folds, "fold": fold,
        "train": chosen[is_train].tolist(), "val": chosen[is_val].tolist(),
        "apart": {
            "axis": AXIS_NAMES[split_axis], "gap": gap,
            "val_lines": _covered(numbers, first[is_val], last[is_val]),
            "gap_lines": [int(n) for n in numbers[max(lo, start - gap) : start]]
            + [int(n) for n in numbers[stop + 1 : min(hi, stop + gap) + 1]],
            "train_lines": _covered(numbers, first[is_train], last[is_train]),
        },
    }


def _spans(origins: np.ndarray, split_axis: int, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and last line (along ``split_axis``) each patch covers."""
    along = origins[:, 0] == split_axis
    first = np.where(along, origins[:, 1], origins[:, 3])
    return first, np.where(along, first, first + patch - 1)


def _block(lo: int, extent: int, seed: int, val_fraction: float, folds: int, fold: int) -> tuple[int, int]:
    """Return the first and last line of the validation block."""
    if folds > 1:
        if not 0 <= fold < folds:
            raise SaltsegError(f"--fold must be in 0..{folds - 1}, got {fold}")
        return lo + fold * extent // folds, lo + (fold + 1) * extent // folds - 1
    if not 0 < val_fraction < 1:
        raise SaltsegError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    size = max(1, round(val_fraction * extent))
    start = lo + int(np.random.default_rng(seed).integers(0, extent - size + 1))
    return start, start + size - 1


def _covered(numbers: np.ndarray, first: np.ndarray, last: np.ndarray) -> list[int]:
    """Return the numbers of the lines that the spans [first, last] cover, sorted."""
    covered = np.zeros(len(numbers), bool)
    for a, b in zip(first, last, strict=True):
        covered[a : b + 1] = True
    return [int(n) for n in numbers[covered]]
