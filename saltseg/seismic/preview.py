"""A preview PNG: a few sections in gray with the salt outline drawn over them.

Drawn with matplotlib's object API (Agg, no pyplot) and written atomically. Each panel shows at
most :data:`PANEL_PIXELS` samples along its longer side (larger sections are shown strided).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from saltseg.atomic import atomic_path

PANEL_PIXELS = 1200
_DPI = 100
_OUTLINE = "#ff3030"
_TRUTH = "#30d030"


def preview_path(out: Path) -> Path:
    """Return the preview PNG written beside the output ``out`` (``<out>.preview.png``)."""
    return out.with_name(f"{out.name}.preview.png")


def write_preview(path: Path, panels: Sequence[tuple[str, np.ndarray, np.ndarray]], threshold: float) -> Path:
    """Draw each panel's seismic in gray with its salt outline, stacked top to bottom, and write it.

    Args:
        path: the PNG to write.
        panels: (title, pixels (H, W) uint8, probabilities or 0/1 mask (H, W)) per section.
        threshold: the level of the outline (salt where probability > threshold).

    Returns:
        ``path``.
    """
    return _write_panels(path, [(title, pixels, [(probs, threshold, _OUTLINE)])
                                for title, pixels, probs in panels])


def write_comparison(path: Path, panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> Path:
    """Draw each panel's seismic in gray with the true salt outlined in green and the predicted in red.

    Args:
        path: the PNG to write.
        panels: (title, pixels (H, W) uint8, true mask, predicted mask (H, W) 0/1) per section.
    """
    return _write_panels(path, [(title, pixels, [(truth, 0.5, _TRUTH), (pred, 0.5, _OUTLINE)])
                                for title, pixels, truth, pred in panels])


Outline = tuple[np.ndarray, float, str]


def _write_panels(path: Path, panels: Sequence[tuple[str, np.ndarray, list[Outline]]]) -> Path:
    """Draw sections stacked top to bottom, each with its outlines (values, level, colour), and write."""
    shown = [(title, _strided(pixels), [(_strided(a), level, colour) for a, level, colour in lines])
             for title, pixels, lines in panels]
    width = max(p.shape[1] for _, p, _ in shown)
    height = sum(p.shape[0] for _, p, _ in shown)
    fig = Figure(figsize=(width / _DPI + 0.4, height / _DPI + 0.4 * len(shown)), dpi=_DPI,
                 layout="constrained")
    for ax, (title, pixels, lines) in zip(np.atleast_1d(fig.subplots(len(shown), 1)), shown, strict=True):
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for values, level, colour in lines:
            if values.min() <= level < values.max():
                ax.contour(values.astype(np.float32), levels=[level], colors=colour, linewidths=1.0)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _strided(array: np.ndarray) -> np.ndarray:
    """Return ``array`` strided so its longer side is at most :data:`PANEL_PIXELS`."""
    step = max(1, -(-max(array.shape) // PANEL_PIXELS))
    return array[::step, ::step]
