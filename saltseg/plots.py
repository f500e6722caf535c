"""PNG figures: training curves, the threshold sweep, and overlays of chosen cases.

Figures are drawn with matplotlib's object API (Agg rendering, no pyplot, no display) and
written atomically. Sizes in pixels: curves 900x350, threshold 600x400; overlays are drawn at
one screen pixel per image pixel, so their size follows the number of cases.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from saltseg.atomic import atomic_path
from saltseg.cut import ThresholdChoice

_DPI = 100
_PAD = 6
_TITLE = 14
_TRUTH_RGB = (0.1, 0.9, 0.1)
_PRED_RGB = (0.95, 0.1, 0.1)
_ALPHA = 0.45


def plot_curves(rows: Sequence[dict[str, float]], path: str | os.PathLike[str]) -> None:
    """Draw loss and validation scores per epoch, 900x350 px.

    Args:
        rows: one dict per epoch with keys epoch, train_loss, val_loss, val_iou, val_map, lr.
        path: the PNG to write.
    """
    fig = Figure(figsize=(9, 3.5), dpi=_DPI, layout="constrained")
    loss_ax, score_ax = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    for key in ("train_loss", "val_loss"):
        loss_ax.plot(epochs, [r[key] for r in rows], marker=".", label=key)
    lr_ax = loss_ax.twinx()
    lr_ax.plot(epochs, [r["lr"] for r in rows], color="0.6", linestyle=":", label="lr")
    lr_ax.set_ylabel("learning rate")
    for key in ("val_iou", "val_map"):
        score_ax.plot(epochs, [r[key] for r in rows], marker=".", label=key)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    score_ax.set(xlabel="epoch", ylabel="score", title="validation")
    loss_ax.legend(loc="upper right", fontsize=8)
    score_ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_threshold(
    table: np.ndarray,
    thresholds: Sequence[float],
    areas: Sequence[int],
    choice: ThresholdChoice,
    path: str | os.PathLike[str],
) -> None:
    """Draw the competition score against the threshold, a line per minimum area, 600x400 px.

    Args:
        table: scores (len(thresholds), len(areas)) from :func:`saltseg.inference.sweep.sweep_thresholds`.
        thresholds: the probability thresholds of the table's rows.
        areas: the minimum areas of its columns.
        choice: the chosen cut, marked with a star.
        path: the PNG to write.
    """
    fig = Figure(figsize=(6, 4), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    colours = _viridis(len(areas))
    for j, area in enumerate(areas):
        ax.plot(thresholds, table[:, j], color=colours[j], linewidth=1, label=f"min area {area}")
    ax.plot(choice.threshold, choice.score, marker="*", markersize=14, color="crimson")
    ax.axhline(choice.score_at_half, color="0.5", linestyle=":", linewidth=1, label="0.5, no rule")
    ax.set(xlabel="probability threshold", ylabel="competition score")
    ax.set_title(
        f"best {choice.score:.4f} at t={choice.threshold:.2f}, min area {choice.min_area} "
        f"(0.5: {choice.score_at_half:.4f}; {choice.n_images} images)",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2, loc="best")
    _save(fig, path)


def plot_overlays(
    images: np.ndarray,
    truths: np.ndarray,
    preds: np.ndarray,
    ids: Sequence[str],
    scores: Sequence[float],
    path: str | os.PathLike[str],
    *,
    per_row: int = 2,
) -> None:
    """Draw each case as image | truth (green) | prediction (red), titled with id and score.

    Args:
        images: grayscale images (K, H, W) uint8, K > 0.
        truths: true masks (K, H, W), nonzero is salt.
        preds: predicted masks (K, H, W), nonzero is salt.
        ids: the K image ids.
        scores: the K per-image scores.
        path: the PNG to write.
        per_row: cases side by side in one row of the grid.
    """
    if len(images) == 0:
        raise ValueError("no cases to draw")
    tiles = [_case_strip(im, t, p) for im, t, p in zip(images, truths, preds, strict=True)]
    canvas, corners = _grid(tiles, per_row)
    height, width = canvas.shape[:2]
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, interpolation="nearest")
    for (y, x), name, score in zip(corners, ids, scores, strict=True):
        ax.text(x, y - 3, f"{name}  {score:.2f}", fontsize=8, va="bottom")
    ax.set_axis_off()
    _save(fig, path)


def _case_strip(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Return one case as an RGB strip (H, 3W + 2 pads, 3) in [0, 1]."""
    gray = np.repeat((image.astype(np.float32) / 255)[..., None], 3, axis=-1)
    gap = np.ones((gray.shape[0], _PAD, 3), dtype=np.float32)
    strip = (gray, gap, _tint(gray, truth, _TRUTH_RGB), gap, _tint(gray, pred, _PRED_RGB))
    return np.concatenate(strip, axis=1)


def _tint(gray: np.ndarray, mask: np.ndarray, rgb: tuple[float, float, float]) -> np.ndarray:
    """Return ``gray`` (H, W, 3) blended with colour ``rgb`` where ``mask`` is nonzero."""
    on = (mask != 0)[..., None]
    return np.where(on, (1 - _ALPHA) * gray + _ALPHA * np.asarray(rgb, np.float32), gray)


def _grid(tiles: list[np.ndarray], per_row: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Lay equal tiles out in rows with room for a title above each; return canvas and corners."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // per_row)
    cols = min(per_row, len(tiles))
    cell_h, cell_w = h + _TITLE + _PAD, w + 2 * _PAD
    canvas = np.ones((rows * cell_h, cols * cell_w, 3), dtype=np.float32)
    corners = []
    for k, tile in enumerate(tiles):
        y, x = (k // per_row) * cell_h + _TITLE, (k % per_row) * cell_w + _PAD
        canvas[y : y + h, x : x + w] = tile
        corners.append((y, x))
    return canvas, corners


def _viridis(n: int) -> list[tuple[float, float, float, float]]:
    """Return ``n`` colours spread along the viridis colour map."""
    return [colormaps["viridis"](v) for v in np.linspace(0, 0.9, n)]


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
