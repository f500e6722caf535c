"""The competition metric on hand-computed cases, against an exact reference, numpy and torch."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from saltseg.metric import THRESHOLDS, competition_score, iou_per_image, per_image_scores

SIDE = 101


def pair(true_area: int, pred_area: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (pred, true) single-image batches (1, 101, 101) with the given pixel counts."""
    true = np.zeros(SIDE * SIDE, dtype=np.uint8)
    pred = np.zeros(SIDE * SIDE, dtype=np.uint8)
    true[:true_area] = 1
    start = true_area - overlap
    pred[start : start + pred_area] = 1
    return pred.reshape(1, SIDE, SIDE), true.reshape(1, SIDE, SIDE)


def reference_score(pred: np.ndarray, true: np.ndarray) -> float:
    """Score one image from the definition, with exact fractions."""
    inter = int(np.logical_and(pred, true).sum())
    union = int(np.logical_or(pred, true).sum())
    if union == 0:
        return 1.0
    passed = sum(Fraction(inter, union) > Fraction(k, 20) for k in range(10, 20))
    return passed / 10


def test_thresholds_are_the_competition_ones() -> None:
    np.testing.assert_allclose(THRESHOLDS, 0.5 + 0.05 * np.arange(10))


@pytest.mark.parametrize(
    ("true_area", "pred_area", "overlap", "expected"),
    [
        (0, 0, 0, 1.0),  # both empty
        (0, 30, 0, 0.0),  # empty truth, spurious prediction
        (30, 0, 0, 0.0),  # salt missed entirely
        (20, 10, 10, 0.0),  # IoU 10/20 = 0.5 exactly: not above 0.5
        (20, 11, 11, 0.1),  # IoU 11/20 = 0.55 exactly: above 0.50 only
        (20, 15, 15, 0.5),  # IoU 15/20 = 0.75 exactly: above 0.50..0.70, five of ten
        (40, 40, 40, 1.0),  # identical
        (60, 60, 50, 0.5),  # IoU 50/70 = 0.714: above 0.50, 0.55, 0.60, 0.65, 0.70
        (60, 60, 54, 0.7),  # IoU 54/66 = 0.818: above 0.50 .. 0.80
    ],
)
def test_hand_computed_cases(true_area: int, pred_area: int, overlap: int, expected: float) -> None:
    pred, true = pair(true_area, pred_area, overlap)
    assert per_image_scores(pred, true)[0] == pytest.approx(expected)
    assert competition_score(pred, true) == pytest.approx(expected)


def test_batch_score_is_the_mean_over_images() -> None:
    cases = [pair(0, 0, 0), pair(0, 30, 0), pair(20, 11, 11), pair(20, 15, 15)]
    pred = np.concatenate([p for p, _ in cases])
    true = np.concatenate([t for _, t in cases])
    np.testing.assert_allclose(per_image_scores(pred, true), [1.0, 0.0, 0.1, 0.5])
    assert competition_score(pred, true) == pytest.approx(0.4)


def test_iou_per_image() -> None:
    cases = [pair(0, 0, 0), pair(20, 10, 10), pair(0, 5, 0), pair(30, 20, 10)]
    pred = np.concatenate([p for p, _ in cases])
    true = np.concatenate([t for _, t in cases])
    np.testing.assert_allclose(iou_per_image(pred, true), [1.0, 0.5, 0.0, 0.25])


def random_masks(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Return (pred, true) (n, 101, 101) uint8: overlapping rectangles, some empty."""
    rng = np.random.default_rng(seed)
    pred = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    true = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    for i in range(n):
        r, c = rng.integers(0, 40, size=2)
        if i % 5:
            true[i, r : r + 40, c : c + 40] = 1
        if i % 7:
            dr, dc = rng.integers(-12, 12, size=2)
            pred[i, max(r + dr, 0) : r + dr + 40, max(c + dc, 0) : c + dc + 40] = 1
    return pred, true


def test_matches_exact_reference_on_random_masks() -> None:
    pred, true = random_masks(0)
    expected = [reference_score(p, t) for p, t in zip(pred, true, strict=True)]
    assert len(set(expected)) > 3
    np.testing.assert_allclose(per_image_scores(pred, true), expected)
    assert competition_score(pred, true) == pytest.approx(np.mean(expected))


def test_numpy_and_torch_agree() -> None:
    pred, true = random_masks(1)
    tp, tt = torch.from_numpy(pred), torch.from_numpy(true).bool()
    scores = per_image_scores(tp, tt)
    assert isinstance(scores, torch.Tensor)
    np.testing.assert_allclose(scores.numpy(), per_image_scores(pred, true), atol=1e-6)
    np.testing.assert_allclose(iou_per_image(tp, tt).numpy(), iou_per_image(pred, true), atol=1e-6)
    assert competition_score(tp, tt) == competition_score(pred, true)


def test_channel_axis_and_mixed_inputs() -> None:
    pred, true = random_masks(2, n=6)
    expected = per_image_scores(pred, true)
    np.testing.assert_allclose(per_image_scores(pred[:, None], true[:, None]), expected)
    mixed = per_image_scores(torch.from_numpy(pred), true)
    np.testing.assert_allclose(mixed.numpy(), expected, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_stays_on_its_device() -> None:
    pred, true = random_masks(3, n=8)
    tp, tt = torch.from_numpy(pred).cuda(), torch.from_numpy(true).cuda()
    scores = per_image_scores(tp, tt)
    assert scores.device == tp.device
    np.testing.assert_allclose(scores.cpu().numpy(), per_image_scores(pred, true), atol=1e-6)


def test_rejects_bad_shapes() -> None:
    pred, true = random_masks(4, n=2)
    with pytest.raises(ValueError, match="equal shape"):
        per_image_scores(pred, true[:1])
    with pytest.raises(ValueError, match="equal shape"):
        per_image_scores(pred[0], true[0])
    with pytest.raises(ValueError, match="no images"):
        competition_score(pred[:0], true[:0])
