"""The arithmetic a network runs in: an option of train, resolved per device by saltseg.device."""

from __future__ import annotations

from enum import Enum


class Precision(str, Enum):
    """Arithmetic of the forward and backward passes (weights stay float32)."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
