"""The threshold sweep finds known optima and agrees with cutting and scoring one pair at a time."""

from __future__ import annotations

import numpy as np
import pytest

from saltseg.cut import ThresholdChoice, apply_cut
from saltseg.inference.sweep import MIN_AREAS, THRESHOLDS, sweep_thresholds
from saltseg.metric import competition_score

SIDE = 101
SALT, BACKGROUND, SPECK = 0.7, 0.55, 0.8


def constructed(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Return probabilities and truth whose best cut is known.

    Salt pixels are at 0.7 and background at 0.55, so any threshold in [0.55, 0.70) recovers
    salt exactly. Every third image has no salt but a 4x4 speck (16 pixels) at 0.8, which only a
    minimum area above 16 removes; salt regions are 50 pixels or more, so 20 and 40 keep them.
    """
    probs = np.full((n, SIDE, SIDE), BACKGROUND, dtype=np.float32)
    truth = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    for i in range(n):
        if i % 3 == 0:
            probs[i, 50:54, 50:54] = SPECK
        else:
            truth[i, 10 : 10 + 5 * i, 20:30] = 1
    probs[truth == 1] = SALT
    return probs, truth


def test_finds_the_known_optimum() -> None:
    probs, truth = constructed()
    choice, table = sweep_thresholds(probs, truth)
    assert table.shape == (len(THRESHOLDS), len(MIN_AREAS))
    perfect = {(round(THRESHOLDS[i], 2), MIN_AREAS[j]) for i, j in np.argwhere(table == 1.0)}
    expected = {(k / 100, area) for k in range(55, 70) for area in (20, 40)}
    assert perfect == expected
    # ties go to the smallest area, then the threshold nearest 0.5
    assert choice == ThresholdChoice(0.55, 20, 1.0, 0.0, len(probs))


def test_without_specks_no_area_rule_is_needed() -> None:
    probs, truth = constructed()
    probs[probs == SPECK] = BACKGROUND
    choice, table = sweep_thresholds(probs, truth)
    assert (choice.min_area, choice.score) == (0, 1.0)
    assert table[THRESHOLDS.index(0.6), MIN_AREAS.index(200)] < 1.0  # 200 drops small salt


def test_table_equals_cutting_and_scoring_each_pair() -> None:
    rng = np.random.default_rng(0)
    n = 16
    truth = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    for i in range(1, n, 2):
        r, c, h, w = rng.integers(0, 60, size=4)
        truth[i, r : r + h + 5, c : c + w + 5] = 1
    noise = rng.normal(0, 0.2, size=truth.shape)
    # rounded to hundredths, many probabilities sit exactly on a threshold
    probs = np.clip(np.round(0.3 + 0.35 * truth + noise, 2), 0, 1).astype(np.float16)
    choice, table = sweep_thresholds(probs, truth)
    for i, t in enumerate(THRESHOLDS):
        for j, area in enumerate(MIN_AREAS):
            assert table[i, j] == competition_score(apply_cut(probs, t, area), truth), (t, area)
    assert choice.score == table.max() > choice.score_at_half
    assert choice.score_at_half == competition_score(apply_cut(probs, 0.5, 0), truth)
    assert choice.score == competition_score(apply_cut(probs, choice.threshold, choice.min_area), truth)


def test_custom_grid() -> None:
    probs, truth = constructed()
    choice, table = sweep_thresholds(probs, truth, thresholds=(0.5, 0.6), areas=(0, 30))
    assert table.shape == (2, 2)
    assert (choice.threshold, choice.min_area, choice.score) == (0.6, 30, 1.0)


def test_rejects_bad_input() -> None:
    probs, truth = constructed(3)
    with pytest.raises(ValueError, match="probs and masks"):
        sweep_thresholds(probs, truth[:2])
    with pytest.raises(ValueError, match=r"include 0\.5"):
        sweep_thresholds(probs, truth, thresholds=(0.4, 0.6))
    with pytest.raises(ValueError, match="increase"):
        sweep_thresholds(probs, truth, thresholds=(0.6, 0.5))


def test_apply_cut_is_strict_and_keeps_shape() -> None:
    probs = np.array([[0.2, 0.5], [0.501, 1.0]], dtype=np.float16)
    masks = apply_cut(probs, 0.5)
    assert masks.dtype == np.uint8
    np.testing.assert_array_equal(masks, [[0, 0], [1, 1]])
    # float32 0.3 is a hair above the double 0.3, yet equal to the threshold: not salt
    np.testing.assert_array_equal(apply_cut(np.float32([[0.3, 0.31]]), 0.3), [[0, 1]])


def test_apply_cut_min_area_per_image() -> None:
    probs = np.zeros((3, SIDE, SIDE), dtype=np.float32)
    probs[0, :3, :3] = 0.9  # 9 pixels
    probs[1, :10, :10] = 0.9  # 100 pixels
    probs[2, :3, :3] = 0.4  # 9 pixels, all below the threshold
    areas = apply_cut(probs, 0.5, min_area=10).sum(axis=(1, 2))
    np.testing.assert_array_equal(areas, [0, 100, 0])
    np.testing.assert_array_equal(apply_cut(probs, 0.5, min_area=9).sum(axis=(1, 2)), [9, 100, 0])
    np.testing.assert_array_equal(apply_cut(probs[0], 0.5, min_area=10), 0)
