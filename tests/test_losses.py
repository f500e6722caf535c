"""The training losses on real masks."""

from __future__ import annotations

from pathlib import Path

import torch

from saltseg.datafile import read_dataset
from saltseg.losses import IMAGE_LOSS_WEIGHT, bce_dice, lovasz_hinge, with_image_term


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
