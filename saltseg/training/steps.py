"""Training steps: the loss of a network's output, a pass over batches, batch-norm statistics."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from saltseg.inference.passes import network_input, network_output
from saltseg.models.outputs import Outputs
from saltseg.shapes import InputFit
from saltseg.training.augment import Augmentation
from saltseg.training.losses import Loss, with_image_term


def step_loss(
    output: torch.Tensor | Outputs,
    target: torch.Tensor,
    loss_fn: Loss,
    fit: InputFit,
    side_weight: float = 0.0,
) -> torch.Tensor:
    """Return the training loss of a network's output: ``loss_fn`` of its pixel logits cut back to
    the image; for :class:`Outputs`, plus ``side_weight`` times ``loss_fn`` of each side map (deep
    supervision, when ``side_weight`` > 0) and the image head's term."""

    def pixel_term(logits: torch.Tensor) -> torch.Tensor:
        return loss_fn(fit.to_image_size(logits).float(), target)

    if not isinstance(output, Outputs):
        return pixel_term(output)
    loss = pixel_term(output.pixel)
    if side_weight > 0:
        loss = loss + side_weight * sum(pixel_term(side) for side in output.sides)
    if output.image is None:
        return loss
    return with_image_term(loss, output.image.float(), target)


def train_steps(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    batches: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    loss_fn: Loss,
    precision: contextlib.AbstractContextManager,
    augmentation: Augmentation,
    gen: torch.Generator,
    fit: InputFit,
    before_step: Callable[[int], bool],
    after_step: Callable[[int, float], None],
    scaler: torch.amp.GradScaler | None = None,
    side_weight: float = 0.0,
) -> tuple[float, int]:
    """Train on ``batches`` (index tensors into images/masks); return the mean loss and steps taken.

    ``before_step(i)`` may set the learning rate, and ends the pass early by returning False;
    ``after_step(i, loss)`` reports progress. A ``scaler`` scales the loss (float16 training);
    ``side_weight`` weighs the side maps' loss (:func:`step_loss`).
    """
    model.train()
    total, steps = 0.0, 0
    for i, idx in enumerate(batches):
        if not before_step(i):
            break
        x = images[idx].unsqueeze(1).float() / 255.0
        y = masks[idx].unsqueeze(1).float()
        x, y = augmentation(x, y, gen)
        with precision:
            output = network_output(model, x, fit)
        loss = step_loss(output, y, loss_fn, fit, side_weight)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        total += (value := loss.item())
        steps += 1
        after_step(i, value)
    return total / max(steps, 1), steps


def recompute_batch_norm(model: nn.Module, images: torch.Tensor, fit: InputFit, batch_size: int) -> None:
    """Re-estimate the batch-norm statistics of ``model`` over uint8 ``images`` (N, 101, 101).

    Weights averaged over epochs need this: the averaged running statistics do not belong to them.
    """
    batches = (
        network_input(images[start : start + batch_size], fit)
        for start in range(0, len(images), batch_size)
    )
    update_bn(batches, model)
    model.eval()
