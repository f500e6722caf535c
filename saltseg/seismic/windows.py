"""Predict a section of any size: cut it into square windows, predict each, blend them back.

Windows step by ``size * (1 - overlap)`` samples; the last one on each axis is moved back to end
at the section's edge, so every sample is covered and no window is padded. Each window's
probabilities are weighted by a profile that falls off towards its edges (``cosine``: sin^2,
``linear``: a tent, ``none``: flat) and the weighted sum is divided by the summed weights, so a
window's influence fades out before its edge: the blend shows no seam. Both profiles stay above
zero, so a sample covered by one window (the section's edges) keeps that window's value.

The gate: a run with the image head (:class:`~saltseg.models.gate.SaltGate`) caps every pixel
by one "any salt" logit of its whole input. With 101x101 windows (the default) each window is a
tile and the gate applies per window exactly as in training. A larger window is gated as a whole
(one logit for all its samples); ``gate=False`` drops the cap and keeps the pixel logits. The
mosaic benchmark (``benchmarks/section_accuracy.py``) measures these choices.

Resampling: the tiles have their own sample and trace spacing. ``resample`` = (rows, columns)
factors scale a section (bilinear, antialiased) before it is cut into windows, and its
probabilities back to the section's shape afterwards: (0.5, 0.5) shows the network a section at
half its resolution.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saltseg.device import autocast, resolve_precision
from saltseg.errors import SaltsegError
from saltseg.inference.passes import predict_probs
from saltseg.inference.predictor import Predictor
from saltseg.models.gate import SaltGate
from saltseg.models.outputs import Outputs
from saltseg.seismic.options import WindowOptions
from saltseg.shapes import IMAGE_SIZE, Fit, InputFit

WINDOWS_PER_CALL = 256
"""Windows predicted together (about 10 MB of 101x101 probabilities): full batches on narrow sections."""
SIDE_MULTIPLE = 32
"""A larger window's network input side is rounded up to this (every architecture's downsampling)."""


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Return the first sample of each window along an axis of ``length`` >= ``size`` samples."""
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def blend_weights(size: int, blend: str) -> np.ndarray:
    """Return a window's weights (size, size) float32: 1 in the middle, falling towards the edges."""
    centres = (np.arange(size, dtype=np.float64) + 0.5) / size
    if blend == "cosine":
        profile = np.sin(np.pi * centres) ** 2
    elif blend == "linear":
        profile = 1.0 - np.abs(2.0 * centres - 1.0)
    else:
        profile = np.ones(size)
    return np.outer(profile, profile).astype(np.float32)


def count_windows(shape: tuple[int, int], options: WindowOptions) -> int:
    """Return how many windows a section of ``shape`` is cut into (for progress bars)."""
    shape = options.resampled(shape)
    size = min(options.size, *shape)
    return math.prod(len(window_starts(n, size, options.stride)) for n in shape)


def predict_section(predictor: Predictor, section: np.ndarray, options: WindowOptions,
                    on_windows: Callable[[int], None] | None = None) -> np.ndarray:
    """Return salt probabilities (H, W) float32 for a uint8 section (H, W), H and W >= 101.

    A dead section (all samples equal) returns zeros. A window larger than the section shrinks to
    the section's shorter side. ``on_windows(n)`` is called as each group of n windows is done.

    Raises:
        SaltsegError: the options are invalid or the (resampled) section is smaller than one tile.
    """
    if (problem := options.problem()) is not None:
        raise SaltsegError(problem)
    shape = options.resampled(section.shape) if section.ndim == 2 else section.shape
    if section.ndim != 2 or min(shape) < IMAGE_SIZE:
        raise SaltsegError(f"a section must be at least {IMAGE_SIZE}x{IMAGE_SIZE} (resampled), got {shape}")
    if (section == section.flat[0]).all():
        return np.zeros(section.shape, np.float32)
    if shape == section.shape:
        return _blended(replace(predictor, tta=options.tta), section, options, on_windows)
    pixels = np.rint(resample(section, shape)).astype(np.uint8)
    return resample(_blended(replace(predictor, tta=options.tta), pixels, options, on_windows), section.shape)


def resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``image`` (H, W) resized to ``shape`` (bilinear, antialiased), float32."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return F.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)[0, 0].numpy()


def _blended(predictor: Predictor, section: np.ndarray, options: WindowOptions,
             on_windows: Callable[[int], None] | None) -> np.ndarray:
    """Return the blended window probabilities of a uint8 section, at its own shape.

    Whole rows of windows are predicted together, about :data:`WINDOWS_PER_CALL` at a time, so the
    network sees full batches however narrow the section is.
    """
    size = min(options.size, *section.shape)
    weights = blend_weights(size, options.blend)
    total = np.zeros(section.shape, np.float32)
    weight = np.zeros(section.shape, np.float32)
    rows = window_starts(section.shape[0], size, options.stride)
    cols = window_starts(section.shape[1], size, options.stride)
    rows_per_call = max(1, WINDOWS_PER_CALL // len(cols))
    for first in range(0, len(rows), rows_per_call):
        corners = list(itertools.product(rows[first : first + rows_per_call], cols))
        windows = np.stack([section[top : top + size, left : left + size] for top, left in corners])
        for (top, left), probs in zip(corners, window_probs(predictor, windows, options.gate), strict=True):
            total[top : top + size, left : left + size] += probs * weights
            weight[top : top + size, left : left + size] += weights
        if on_windows:
            on_windows(len(corners))
    return np.divide(total, weight, out=total)


def window_probs(predictor: Predictor, windows: np.ndarray, gate: bool = True) -> np.ndarray:
    """Return the members' mean probabilities (N, S, S) float32 for uint8 windows (N, S, S).

    101x101 gated windows go through :meth:`Predictor.probs`, exactly as tiles do.
    """
    if windows.shape[-1] == IMAGE_SIZE and gate:
        return predictor.probs(windows).astype(np.float32)
    images = torch.from_numpy(np.ascontiguousarray(windows)).to(predictor.device)
    precision = autocast(predictor.device, resolve_precision("auto", predictor.device))
    total = sum(
        predict_probs(_ungated(net) if not gate else net, images, WindowFit(fit, windows.shape[-1]),
                      predictor.batch_size, precision, predictor.tta)
        for net, fit in predictor.nets
    )
    return (total / len(predictor.nets)).cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class WindowFit:
    """:class:`~saltseg.shapes.InputFit`'s policy for a square window of side ``window``.

    ``reflect`` keeps at least the tile's margins and pads the side up to a multiple of 32;
    ``resize`` scales by the tile's factor, rounded up to a multiple of 32. It has InputFit's
    ``model_input`` and ``to_image_size``, so :mod:`saltseg.inference.passes` predicts with it.
    """

    tile: InputFit
    window: int

    @property
    def side(self) -> int:
        """Return the network input side for this window."""
        if self.tile.fit is Fit.reflect:
            extra = self.window - IMAGE_SIZE
        else:
            extra = math.ceil(self.window * self.tile.size / IMAGE_SIZE) - self.tile.size
        return self.tile.size + math.ceil(extra / SIDE_MULTIPLE) * SIDE_MULTIPLE

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Return network input (B, 1, side, side) float centred on 0 for uint8 windows (B, S, S)."""
        x = images.unsqueeze(1).float() / 255.0 - 0.5
        if self.tile.fit is Fit.reflect:
            before, after = self._padding()
            return F.pad(x, (before, after, before, after), mode="reflect")
        return F.interpolate(x, size=(self.side, self.side), mode="bilinear", align_corners=False)

    def to_image_size(self, y: torch.Tensor) -> torch.Tensor:
        """Map network output (B, C, side, side) back to the window, (B, C, S, S)."""
        if self.tile.fit is Fit.reflect:
            before, _ = self._padding()
            return y[..., before : before + self.window, before : before + self.window]
        return F.interpolate(y, size=(self.window, self.window), mode="bilinear", align_corners=False)

    def _padding(self) -> tuple[int, int]:
        before = (self.side - self.window) // 2
        return before, self.side - self.window - before


class _PixelLogits(nn.Module):
    """A gated network's pixel logits alone, without the image logit's cap."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Outputs(*self.net(x)).pixel


def _ungated(net: nn.Module) -> nn.Module:
    """Return ``net`` without its gate (itself when it has none)."""
    return _PixelLogits(net.net) if isinstance(net, SaltGate) else net
