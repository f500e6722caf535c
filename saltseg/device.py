"""Where and in what precision the network runs: the device, autocast and memory format."""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch

from saltseg.errors import SaltsegError
from saltseg.precision import Precision


def resolve_device(name: str) -> torch.device:
    """Return the torch device for ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; absent CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SaltsegError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise SaltsegError(f"device '{name}' is not available: this machine has {count} CUDA device(s)")
    elif device.type != "cpu":
        raise SaltsegError(f"unsupported device '{name}'; use auto, cpu, cuda or cuda:N")
    return device


@cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


NATIVE_BF16_CAPABILITY = (8, 0)
"""The first CUDA compute capability whose tensor cores compute bfloat16 (Ampere); older GPUs
only emulate it, which recent PyTorch still reports as supported."""


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` itself (not the current one) computes bfloat16 natively."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.get_device_capability(index) >= NATIVE_BF16_CAPABILITY


def resolve_precision(precision: Precision | str, device: torch.device) -> Precision:
    """Return the concrete precision for ``auto``: bf16 where the device computes it natively, else
    fp16 with loss scaling on CUDA and fp32 on the CPU."""
    precision = Precision(precision)
    if precision is not Precision.auto:
        return precision
    if device.type == "cuda":
        return Precision.bf16 if cuda_has_native_bf16(device) else Precision.fp16
    return Precision.bf16 if cpu_has_native_bf16() else Precision.fp32


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """Return the autocast context for ``precision`` (a no-op for fp32)."""
    if precision is Precision.fp32:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision is Precision.bf16 else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Return a channels-last copy of a batch (B, C, H, W), with channels-last strides even for
    C = 1, where ``contiguous(memory_format=torch.channels_last)`` keeps the NCHW strides: from
    those, oneDNN's 1x1 convolutions answer in NCHW, and the network's first residual sum then
    mixes memory formats, 4-5x slower than a sum in one format."""
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)
