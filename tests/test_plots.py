"""Each figure is a readable PNG of the documented size, written with no temporary file left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saltseg.cut import ThresholdChoice
from saltseg.inference.sweep import MIN_AREAS, THRESHOLDS
from saltseg.plots import plot_curves, plot_overlays, plot_threshold

SIDE = 101


def opened(path: Path) -> Image.Image:
    """Open a written PNG after checking it is the only file in its folder."""
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert path.stat().st_size > 0
    image = Image.open(path)
    assert image.format == "PNG"
    return image


@pytest.mark.parametrize("epochs", [1, 12])
def test_curves(tmp_path: Path, epochs: int) -> None:
    rows = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1.2 / e,
            "val_iou": 0.5 + e / 50,
            "val_map": 0.4 + e / 50,
            "lr": 1e-3 * 0.9**e,
            "seconds": 3.0,
        }
        for e in range(1, epochs + 1)
    ]
    path = tmp_path / "curves.png"
    plot_curves(rows, path)
    assert opened(path).size == (900, 350)


def test_threshold(tmp_path: Path) -> None:
    t = np.asarray(THRESHOLDS)[:, None]
    table = np.clip(0.8 - (t - 0.45) ** 2 - np.asarray(MIN_AREAS) / 2000, 0, 1)
    choice = ThresholdChoice(0.45, 0, float(table.max()), float(table[45, 0]), 720)
    path = tmp_path / "threshold.png"
    path.write_bytes(b"stale")
    plot_threshold(table, THRESHOLDS, MIN_AREAS, choice, path)
    assert opened(path).size == (600, 400)


def cases(k: int, salt: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[float]]:
    """Return k gray images with square truths and shifted predictions (or no salt at all)."""
    rng = np.random.default_rng(k)
    images = rng.integers(60, 200, size=(k, SIDE, SIDE), dtype=np.uint8)
    truths = np.zeros((k, SIDE, SIDE), dtype=np.uint8)
    preds = np.zeros_like(truths)
    if salt:
        truths[:, 20:60, 20:60] = 1
        preds[:, 30:70, 30:70] = 1
    return images, truths, preds, [f"{i:010x}" for i in range(k)], list(rng.random(k))


def colour_pixels(image: Image.Image) -> tuple[int, int]:
    """Count strongly green and strongly red pixels."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((g > r + 60) & (g > b + 60)).sum()), int(((r > g + 60) & (r > b + 60)).sum())


def test_overlays_show_truth_and_prediction(tmp_path: Path) -> None:
    path = tmp_path / "overlays.png"
    plot_overlays(*cases(3, salt=True), path)
    green, red = colour_pixels(opened(path))
    assert green >= 3 * 40 * 40 * 0.9 and red >= 3 * 40 * 40 * 0.9


def test_overlays_without_salt_have_no_colour(tmp_path: Path) -> None:
    path = tmp_path / "overlays.png"
    plot_overlays(*cases(3, salt=False), path)
    assert colour_pixels(opened(path)) == (0, 0)


def test_overlays_grid_grows_with_cases(tmp_path: Path) -> None:
    sizes = {}
    for k in (1, 2, 5):
        path = tmp_path / str(k) / "overlays.png"
        plot_overlays(*cases(k, salt=True), path, per_row=2)
        sizes[k] = opened(path).size
    assert sizes[1][0] >= 3 * SIDE  # a tile per image pixel
    assert sizes[2][0] >= 2 * sizes[1][0] and sizes[2][1] == sizes[1][1]
    assert sizes[5][0] == sizes[2][0] and sizes[5][1] >= 3 * sizes[1][1] * 0.95


def test_overlays_need_cases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no cases"):
        plot_overlays(*cases(0, salt=False), tmp_path / "overlays.png")
    assert list(tmp_path.iterdir()) == []
