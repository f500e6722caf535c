"""A segmentation-models-pytorch Unet, with encoder weights from smp's ImageNet download or a local file.

smp (and timm under it) is imported only when an smp model is asked for: it takes seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from saltseg.errors import SaltsegError, fail

log = logging.getLogger("saltseg")
IMAGENET = "imagenet"


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
        encoder_weights: ``None``/``"none"`` (random), ``"imagenet"`` (smp's own ImageNet weights,
            which smp downloads into huggingface_hub's cache unless they are there already), or the
            path of a local weights file (``.safetensors`` or a PyTorch state dict).
        with_image_head: add smp's classification head (one logit per image) on the deepest
            features; the model then returns (pixel logits, image logits).
    """
    import segmentation_models_pytorch as smp

    check_encoder_name(encoder)
    aux_params = {"classes": 1} if with_image_head else None
    if encoder_weights == IMAGENET:
        return _imagenet_unet(encoder, aux_params)
    try:
        model = smp.Unet(encoder, encoder_weights=None, in_channels=1, classes=1, aux_params=aux_params)
    except Exception as exc:
        raise SaltsegError(f"cannot build encoder '{encoder}': {exc}") from None
    if encoder_weights not in (None, "none"):
        load_encoder_weights(model.encoder, Path(encoder_weights))
    return model


def _imagenet_unet(encoder: str, aux_params: dict[str, int] | None) -> nn.Module:
    """Return an smp Unet whose encoder starts from smp's ImageNet weights, fetched by smp itself
    (huggingface_hub's ``hf_hub_download``; timm's loader for ``tu-``) into the user's cache, HF_HOME,
    or read from there; the first convolution's 3 channels are summed to 1, as for a local file."""
    import segmentation_models_pytorch as smp

    source = imagenet_source(encoder)
    log.debug("encoder weights: %s, through the huggingface_hub cache", source)
    weights = True if encoder.startswith("tu-") else IMAGENET  # smp's convention for timm encoders
    try:
        with _quiet_downloads():
            return smp.Unet(encoder, encoder_weights=weights, in_channels=1, classes=1, aux_params=aux_params)
    except Exception as exc:  # huggingface_hub's, httpx's, timm's and torch.hub's network and file errors
        raise SaltsegError(
            f"--encoder-weights imagenet: smp could not fetch {source} ({type(exc).__name__}); without a "
            "network, download that file elsewhere and pass --encoder-weights PATH"
        ) from None


def imagenet_source(encoder: str) -> str:
    """Return the URL smp fetches ``encoder``'s ImageNet weights from (for ``tu-`` encoders, timm's
    pretrained weights of that name); an encoder without them is an error naming the ones it has."""
    import segmentation_models_pytorch as smp
    from huggingface_hub import hf_hub_url

    if encoder.startswith("tu-"):
        return _timm_source(encoder.removeprefix("tu-"))
    settings = smp.encoders.encoders[encoder]["pretrained_settings"]
    if IMAGENET not in settings:
        raise SaltsegError(f"encoder '{encoder}' has no ImageNet weights in smp, only: "
                           f"{', '.join(settings) or 'none'}; pass --encoder-weights PATH")
    hub = settings[IMAGENET]
    return hf_hub_url(hub["repo_id"], "model.safetensors", revision=hub["revision"])


def _timm_source(name: str) -> str:
    import timm
    from huggingface_hub import hf_hub_url

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise SaltsegError(f"timm has no pretrained weights for encoder 'tu-{name}'; "
                           "pass --encoder-weights PATH")
    return hf_hub_url(cfg.hf_hub_id, "model.safetensors") if cfg.hf_hub_id else str(cfg.url)


@contextmanager
def _quiet_downloads() -> Iterator[None]:
    """Keep huggingface_hub's and timm's retry warnings off stderr (a failure is reported in one line)."""
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "timm")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def load_encoder_weights(encoder: nn.Module, path: Path) -> None:
    """Load a local state dict into ``encoder``; 3-channel first convolutions are summed to 1.

    Accepts a plain state dict, one under ``state_dict``, a ``.safetensors`` file (what smp's
    ImageNet download holds), keys prefixed ``encoder.``, timm's keys for a ``tu-`` encoder (which
    prefixes them ``model.``), and extra keys the encoder lacks (such as a classifier's ``fc.*``).
    """
    if not path.is_file():
        raise fail(path, "no such encoder weights file")
    try:
        state = _read_weights(path)
    except Exception as exc:
        raise fail(path, f"not a PyTorch or safetensors weights file ({type(exc).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    own = encoder.state_dict()
    state = {k.removeprefix("encoder."): v for k, v in state.items() if torch.is_tensor(v)}
    timm_keys = {k: k.removeprefix("model.") for k in own if k.startswith("model.") and k not in state}
    state.update({k: state[short] for k, short in timm_keys.items() if short in state})
    missing = [k for k in own if k not in state]
    if missing:
        raise fail(path, f"{len(missing)} of the encoder's {len(own)} tensors missing, e.g. {missing[0]}")
    encoder.load_state_dict({k: _fit_channels(state[k], own[k], path, k) for k in own})


def _read_weights(path: Path) -> Any:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _fit_channels(value: torch.Tensor, like: torch.Tensor, path: Path, key: str) -> torch.Tensor:
    if value.shape == like.shape:
        return value
    if value.ndim == 4 and value.shape[0] == like.shape[0] and like.shape[1] == 1:
        return value.sum(dim=1, keepdim=True)
    raise fail(path, f"tensor {key} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
