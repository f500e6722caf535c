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
