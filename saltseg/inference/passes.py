"""The network's forward passes on batches of uint8 images, for inference (and for validation)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import torch
from torch import nn

from saltseg.device import channels_last
from saltseg.models.outputs import Outputs
from saltseg.shapes import InputFit

log = logging.getLogger("saltseg")


def network_input(images: torch.Tensor, fit: InputFit) -> torch.Tensor:
    """Return images (B, 101, 101) uint8 or (B, 1, 101, 101) float as the network takes them:
    fitted to its input size, channels-last."""
    return channels_last(fit.model_input(images))


def network_output(model: nn.Module, images: torch.Tensor, fit: InputFit) -> torch.Tensor | Outputs:
    """Return what ``model`` makes of images (B, 101, 101) uint8 or (B, 1, 101, 101) float."""
    return model(network_input(images, fit))


def logits_at_image_size(model: nn.Module, images: torch.Tensor, fit: InputFit) -> torch.Tensor:
    """Return logits (B, 1, 101, 101) float32 of a network that returns one map (eval mode)."""
    return fit.to_image_size(network_output(model, images, fit)).float()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    fit: InputFit,
    batch_size: int,
    precision: contextlib.AbstractContextManager,
    on_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Return logits (N, 101, 101) float32 for uint8 images (N, 101, 101) on the model's device."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        with precision:
            out.append(logits_at_image_size(model, batch, fit)[:, 0])
        if on_batch:
            on_batch(len(batch))
    return torch.cat(out) if out else torch.zeros((0, *images.shape[1:]), device=images.device)


def predict_probs(
    model: nn.Module,
    images: torch.Tensor,
    fit: InputFit,
    batch_size: int,
    precision: contextlib.AbstractContextManager,
    hflip_tta: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Return salt probabilities (N, 101, 101) float32; with ``hflip_tta``, averaged with the mirror's."""
    probs = torch.sigmoid(predict_logits(model, images, fit, batch_size, precision, on_batch))
    if hflip_tta:
        mirrored = predict_logits(model, images.flip(-1), fit, batch_size, precision, on_batch)
        probs = (probs + torch.sigmoid(mirrored).flip(-1)) / 2
    return probs


class CompiledForInference(nn.Module):
    """A network under torch.compile for inference, on batches zero-padded to one fixed size.

    One shape means one compilation; inductor's freezing folds batch norm into the convolutions.
    If compiling or running the compiled network fails (no C++ compiler, say), it warns once and
    runs the plain network from then on.
    """

    def __init__(self, net: nn.Module, batch_size: int) -> None:
        super().__init__()
        self.net, self.batch_size = net, batch_size
        # inductor imports torch.utils.cpp_extension, which warns "No CUDA runtime is found, using
        # CUDA_HOME=..." on a CPU machine with CUDA_HOME set: torch's message, not the user's business
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = torch.compile(net, dynamic=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the network's output for ``x`` (any batch up to ``batch_size``)."""
        n = len(x)
        if self.compiled is None or n > self.batch_size:
            return self.net(x)
        if n < self.batch_size:
            pad = x.new_zeros((self.batch_size - n, *x.shape[1:]))
            x = channels_last(torch.cat([x, pad]))
        from torch._inductor import config as inductor_config

        try:
            with inductor_config.patch(freezing=True):
                return self.compiled(x)[:n]
        except Exception as exc:  # whatever the compiler raises, the plain network still works
            first_line = (str(exc).splitlines() or [""])[0]
            log.warning("torch.compile failed (%s: %s); predicting without it", type(exc).__name__,
                        first_line)
            self.compiled = None
            return self.net(x[:n])
