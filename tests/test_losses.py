"""The training losses on real masks."""

from __future__ import annotations

from pathlib import Path

import torch

from saltseg.data.hdf5 import read_dataset
from saltseg.training.losses import (
    IMAGE_LOSS_WEIGHT,
    bce_dice,
    lovasz_hinge,
    symmetric_lovasz_hinge,
    with_image_term,
)


def test_the_image_term_scores_whether_each_mask_holds_salt(tiny_h5: Path) -> None:
    masks = torch.from_numpy(read_dataset(tiny_h5).masks[:32]).unsqueeze(1).float()
    has_salt = masks.flatten(1).amax(1, keepdim=True)
    assert 0 < int(has_salt.sum()) < len(masks)
    pixel_loss = torch.tensor(0.25)
    right = with_image_term(pixel_loss, 20 * (2 * has_salt - 1), masks)
    wrong = with_image_term(pixel_loss, -20 * (2 * has_salt - 1), masks)
    torch.testing.assert_close(right, pixel_loss, atol=1e-6, rtol=0)
    torch.testing.assert_close(wrong, pixel_loss + IMAGE_LOSS_WEIGHT * 20, atol=1e-5, rtol=0)


def test_pixel_losses_are_lowest_for_the_true_masks(tiny_h5: Path) -> None:
    masks = torch.from_numpy(read_dataset(tiny_h5).masks[:16]).unsqueeze(1).float()
    truth_logits = 10 * (2 * masks - 1)
    for loss in (bce_dice, lovasz_hinge):
        assert loss(truth_logits, masks) < loss(-truth_logits, masks)
        assert loss(truth_logits, masks) < loss(torch.zeros_like(masks), masks)


def test_the_smooth_lovasz_hinge_keeps_a_gradient_past_the_margin(tiny_h5: Path) -> None:
    masks = torch.from_numpy(read_dataset(tiny_h5).masks[:16]).unsqueeze(1).float()
    confident = (5 * (2 * masks - 1)).requires_grad_()
    for hinge, expect_gradient in (("relu", False), ("elu", True)):
        confident.grad = None
        loss = lovasz_hinge(confident, masks, hinge=hinge)
        loss.backward()
        assert bool(confident.grad.abs().sum() > 0) == expect_gradient
        assert loss < lovasz_hinge(-confident.detach(), masks, hinge=hinge)


def test_the_symmetric_hinge_pushes_every_false_positive_of_an_empty_mask() -> None:
    empty = torch.zeros(1, 1, 12, 12)
    logits = torch.full_like(empty, -4.0)
    logits[..., 2:5, 3:7] = torch.linspace(0.5, 3.0, 12).view(3, 4)  # 12 false positives
    for loss, pushed in ((lovasz_hinge, 1), (symmetric_lovasz_hinge, 12)):
        wrong = logits.clone().requires_grad_()
        loss(wrong, empty).backward()
        assert int((wrong.grad[..., 2:5, 3:7] > 0).sum()) == pushed


def test_the_symmetric_hinge_treats_salt_and_the_rest_alike(tiny_h5: Path) -> None:
    masks = torch.from_numpy(read_dataset(tiny_h5).masks[:16]).unsqueeze(1).float()
    logits = torch.randn(masks.shape, generator=torch.Generator().manual_seed(0))
    swapped = symmetric_lovasz_hinge(-logits, 1 - masks)
    torch.testing.assert_close(symmetric_lovasz_hinge(logits, masks), swapped)
    assert not torch.isclose(lovasz_hinge(logits, masks), lovasz_hinge(-logits, 1 - masks))
    assert symmetric_lovasz_hinge(10 * (2 * masks - 1), masks) < symmetric_lovasz_hinge(logits, masks)
