"""A segmentation-models-pytorch Unet, with encoder weights from a local file.

smp (and timm under it) is imported only when an smp model is asked for: it takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from saltseg.errors import SaltsegError, fail


def check_encoder_name(name: str) -> None:
    """Raise unless smp knows the encoder ``name`` (its own names, or ``tu-<timm name>``)."""
    import segmentation_models_pytorch as smp

    if name in smp.encoders.get_encoder_names() or name.startswith("tu-"):
        return
    known = ", ".join(smp.encoders.get_encoder_names()[:12])
    raise SaltsegError(f"unknown encoder '{name}'; choose one of: {known}, ... or tu-<timm name>")


def build_smp_unet(
    encoder: str, encoder_weights: str | None = None, with_image_head: bool = False
) -> nn.Module:
    """Return an smp Unet for 1-channel input and 1 logit, encoder weights from ``encoder_weights``.

    Args:
        encoder: an smp encoder name, e.g. ``resnet34``.
        encoder_weights: ``None``/``"none"`` (random), or the path of a local weights file.
            ``"imagenet"`` needs a download, which saltseg does not do: it fails at once.
        with_image_head: add smp's classification head (one logit per image) on the deepest
            features; the model then returns (pixel logits, image logits).
    """
    import segmentation_models_pytorch as smp

    check_encoder_name(encoder)
    if encoder_weights == "imagenet":
        raise SaltsegError(
            "--encoder-weights imagenet needs a download, which saltseg never does; "
            "download the encoder's weights yourself and pass --encoder-weights PATH"
        )
    try:
        aux_params = {"classes": 1} if with_image_head else None
        model = smp.Unet(encoder, encoder_weights=None, in_channels=1, classes=1, aux_params=aux_params)
    except Exception as exc:
        raise SaltsegError(f"cannot build encoder '{encoder}': {exc}") from None
    if encoder_weights not in (None, "none"):
        load_encoder_weights(model.encoder, Path(encoder_weights))
    return model


def load_encoder_weights(encoder: nn.Module, path: Path) -> None:
    """Load a local state dict into ``encoder``; 3-channel first convolutions are summed to 1.

    Accepts a plain state dict, one under ``state_dict``, keys prefixed ``encoder.``, and extra
    keys the encoder lacks (such as a classifier's ``fc.*``).
    """
    if not path.is_file():
        raise fail(path, "no such encoder weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(path, f"not a PyTorch weights file ({type(exc).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    own = encoder.state_dict()
    state = {k.removeprefix("encoder."): v for k, v in state.items() if torch.is_tensor(v)}
    missing = [k for k in own if k not in state]
    if missing:
        raise fail(path, f"{len(missing)} of the encoder's {len(own)} tensors missing, e.g. {missing[0]}")
    encoder.load_state_dict({k: _fit_channels(state[k], own[k], path, k) for k in own})


def _fit_channels(value: torch.Tensor, like: torch.Tensor, path: Path, key: str) -> torch.Tensor:
    if value.shape == like.shape:
        return value
    if value.ndim == 4 and value.shape[0] == like.shape[0] and like.shape[1] == 1:
        return value.sum(dim=1, keepdim=True)
    raise fail(path, f"tensor {key} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
