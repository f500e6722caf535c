"""The shape policy, in one place: 101x101 images go into the network at a square size and come back.

``reflect`` pads the image to ``size`` with a mirror image of its border, the extra pixel after
when the padding is odd (for 128: 13 before and 14 after each axis; the network sees real-looking
context, and the crop back is exact); ``resize`` scales bilinearly to ``size`` and back. Either
way the loss and every score are computed at 101x101.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IMAGE_SIZE = 101
"""Side of the competition's square tiles."""
MODEL_SIZE = 128
"""The seed's input side, and the size of runs whose config names none."""


class Fit(str, Enum):
    """How 101x101 images are fitted to the network's square input."""

    reflect = "reflect"
    resize = "resize"


@dataclass(frozen=True)
class InputFit:
    """The network's input: ``fit`` policy and side ``size``."""

    fit: Fit = Fit.reflect
    size: int = MODEL_SIZE

    @classmethod
    def of_config(cls, config: dict[str, Any]) -> InputFit:
        """Return the input fit a run's config.json describes (128 where it names no size)."""
        return cls(Fit(config["fit"]), int(config.get("input_size", MODEL_SIZE)))

    def problem(self, multiple: int) -> str | None:
        """Return why ``size`` cannot work for a network that needs a multiple of ``multiple``, or None."""
        if self.size % multiple:
            return f"--input-size must be a multiple of {multiple} for this network, got {self.size}"
        low, high = (IMAGE_SIZE, 3 * IMAGE_SIZE - 2) if self.fit is Fit.reflect else (multiple, 1024)
        if not low <= self.size <= high:
            return f"--input-size must be in {low}..{high} with --fit {self.fit.value}, got {self.size}"
        return None

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Return network input (B, 1, size, size) float, centred on 0 (pixel / 255 - 0.5).

        Args:
            images: (B, 101, 101) uint8 in 0..255, or (B, 1, 101, 101) float already scaled to 0..1.
        """
        import torch  # at call time: the commands that need no network start without torch

        x = images.unsqueeze(1).float() / 255.0 if images.dtype == torch.uint8 else images
        return self.to_model_size(x - 0.5)

    def to_model_size(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C, 101, 101) to (B, C, size, size)."""
        import torch.nn.functional as F

        if self.fit is Fit.reflect:
            before, after = self._padding()
            return F.pad(x, (before, after, before, after), mode="reflect")
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def to_image_size(self, y: torch.Tensor) -> torch.Tensor:
        """Map network output (B, C, size, size) back to exactly (B, C, 101, 101)."""
        import torch.nn.functional as F

        if self.fit is Fit.reflect:
            before, _ = self._padding()
            return y[..., before : before + IMAGE_SIZE, before : before + IMAGE_SIZE]
        return F.interpolate(y, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)

    def _padding(self) -> tuple[int, int]:
        before = (self.size - IMAGE_SIZE) // 2
        return before, self.size - IMAGE_SIZE - before
