"""The model factory: one function builds any architecture from a run's config alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from saltseg.errors import SaltsegError, fail
from saltseg.models.gate import SaltGate
from saltseg.models.resunet import residual_unet
from saltseg.models.smp_unet import build_smp_unet
from saltseg.models.unet import seed_unet
from saltseg.rundir import RunDir
from saltseg.shapes import Fit


def _seed_unet(config: dict[str, Any], load_weights: bool) -> nn.Module:
    return seed_unet(
        config["start_filters"], config["batch_norm"], config["dropout"], **decoder_switches(config)
    )


def _resunet(config: dict[str, Any], load_weights: bool) -> nn.Module:
    return residual_unet(config["start_filters"], config["dropout"], **decoder_switches(config))


def _smp_unet(config: dict[str, Any], load_weights: bool) -> nn.Module:
    weights = config["encoder_weights"] if load_weights else None
    return build_smp_unet(config["encoder"], weights, has_image_head(config))


ARCHITECTURES: dict[str, Callable[[dict[str, Any], bool], nn.Module]] = {
    "unet": _seed_unet,
    "resunet": _resunet,
    "smp-unet": _smp_unet,
}


ARCHITECTURE_KEYS: dict[str, tuple[str, ...]] = {
    "unet": ("start_filters", "batch_norm", "dropout"),
    "resunet": ("start_filters", "dropout"),
    "smp-unet": ("encoder", "encoder_weights"),
}
"""The config keys each architecture is built from."""


def missing_config_keys(config: dict[str, Any]) -> list[str]:
    """Return the keys ``config`` lacks to build its network (``arch`` first)."""
    if "arch" not in config:
        return ["arch"]
    return [key for key in ARCHITECTURE_KEYS.get(config["arch"], ()) if key not in config]


def read_model_config(run: RunDir) -> dict[str, Any]:
    """Return a run's config.json; one that cannot rebuild the network is an error naming the file."""
    config = run.read_config()
    missing = missing_config_keys(config) + [key for key in ("fit",) if key not in config]
    if missing:
        raise fail(run.config_path, f"lacks {', '.join(missing)}: not a complete saltseg run config")
    if config["arch"] not in ARCHITECTURES or config["fit"] not in [f.value for f in Fit]:
        raise fail(run.config_path, f"names an unknown arch '{config['arch']}' or fit '{config['fit']}'")
    return config


def has_image_head(config: dict[str, Any]) -> bool:
    """Whether the run's network has the image-level head (runs made before it existed do not)."""
    return bool(config.get("image_head", False))


DECODER_SWITCHES = ("image_head", "scse", "hypercolumn")
"""The config's on/off options of the hand-built UNets' decoder (off in runs made before them)."""


def decoder_switches(config: dict[str, Any]) -> dict[str, bool]:
    """Return the decoder options of ``config`` as keyword arguments of :class:`UNet`."""
    on = {name: bool(config.get(name, False)) for name in DECODER_SWITCHES}
    return {"with_image_head": on.pop("image_head"), **on}


def size_multiple(arch: str) -> int:
    """Return what the input side of ``arch`` must be a multiple of (its total downsampling)."""
    return 32 if arch == "smp-unet" else 16


def build_model(config: dict[str, Any], load_encoder_weights: bool = False) -> nn.Module:
    """Return the network a run's ``config`` describes (random weights); with ``image_head``,
    wrapped in :class:`~saltseg.models.gate.SaltGate`.

    Args:
        config: the run's config.json (``arch`` and that architecture's options).
        load_encoder_weights: load ``encoder_weights`` from its file (at the start of training
            only; afterwards the run's checkpoints hold every weight).
    """
    arch = config["arch"]
    if arch not in ARCHITECTURES:
        raise SaltsegError(f"unknown architecture '{arch}'; choose one of: {', '.join(ARCHITECTURES)}")
    net = ARCHITECTURES[arch](config, load_encoder_weights)
    return SaltGate(net) if has_image_head(config) else net
