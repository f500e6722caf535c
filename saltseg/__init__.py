"""saltseg: segment salt bodies in seismic images with a UNet.

The Python front door is :mod:`saltseg.api`; its names are here too, imported on first use so
that ``saltseg --version`` and the commands that need no network start without torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_FRONT_DOOR = ("SaltModel", "evaluate", "open_model", "predict", "prepare", "threshold", "train")
__all__ = ["__version__", *_FRONT_DOOR]


def __getattr__(name: str) -> Any:
    """Return a front-door name of :mod:`saltseg.api`, importing it on first use."""
    if name in _FRONT_DOOR:
        from saltseg import api

        return getattr(api, name)
    raise AttributeError(f"module 'saltseg' has no attribute {name!r}")
