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

Small sections: a (resampled) section shorter than one tile (101) on a side is padded to 101 on
that side, centred: reflected where the side is longer than the padding on either end, its edge
samples repeated where not (a few traces). It is predicted so, and the padding cropped off; the
callers log one warning per file (:func:`padding_note`). Larger sections are never padded.

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
from saltseg.seismic.options import WindowOptions, check_options
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
    shape = padded_shape(options.resampled(shape))
    size = min(options.size, *shape)
    return math.prod(len(window_starts(n, size, options.stride)) for n in shape)


def predict_section(predictor: Predictor, section: np.ndarray, options: WindowOptions,
                    on_windows: Callable[[int], None] | None = None) -> np.ndarray:
    """Return salt probabilities (H, W) float32 for a uint8 section (H, W) of any size.

    A dead section (all samples equal) returns zeros. A window larger than the section shrinks to
    the section's shorter side; a side shorter than one tile is padded to it (:func:`pad_to_tile`)
    and cropped back. ``on_windows(n)`` is called as each group of n windows is done.

    Raises:
        SaltsegError: the options are invalid or the section is not 2-D with samples.
    """
    check_options(options)
    if section.ndim != 2 or section.size == 0:
        raise SaltsegError(f"a section is a 2-D array of samples, got shape {section.shape}")
    if (section == section.flat[0]).all():
        return np.zeros(section.shape, np.float32)
    shape = options.resampled(section.shape)
    pixels = section if shape == section.shape else np.rint(resample(section, shape)).astype(np.uint8)
    padded, crop = pad_to_tile(pixels)
    probs = _blended(replace(predictor, tta=options.tta), padded, options, on_windows)
    probs = probs if padded is pixels else np.ascontiguousarray(probs[crop])
    return probs if shape == section.shape else resample(probs, section.shape)


def padded_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Return ``shape`` with each side shorter than one tile raised to one tile."""
    return (max(shape[0], IMAGE_SIZE), max(shape[1], IMAGE_SIZE))


def pad_to_tile(pixels: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Return ``pixels`` (H, W) padded to :func:`padded_shape` (``pixels`` itself when no side is
    short), and the slices that crop the padding off again.

    Each short side is padded at both ends, centred: reflected where the longer end's padding is
    shorter than the side, else by repeating the edge samples.
    """
    crop = []
    for axis, n in enumerate(pixels.shape):
        before = max(0, IMAGE_SIZE - n) // 2
        after = max(0, IMAGE_SIZE - n) - before
        if after:
            widths = [(0, 0), (0, 0)]
            widths[axis] = (before, after)
            pixels = np.pad(pixels, widths, mode="reflect" if after < n else "edge")
        crop.append(slice(before, before + n))
    return pixels, (crop[0], crop[1])


def padding_note(shape: tuple[int, int], options: WindowOptions) -> str | None:
    """Return what padding a section of ``shape`` (samples, traces) gets before it is predicted, in
    words for a warning; None when it gets none."""
    predicted = options.resampled(shape)
    padded = padded_shape(predicted)
    if padded == predicted:
        return None
    resampled = f" (resampled to {predicted[0]}x{predicted[1]})" if predicted != tuple(shape) else ""
    return (f"{shape[0]}x{shape[1]} samples{resampled}, padded to {padded[0]}x{padded[1]} to fill one "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} window; the padding is cropped off the output")


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
