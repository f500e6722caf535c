"""The cut of section probabilities into a 0/1 mask, with the minimum-area rule on connected regions.

On tiles, ``min_area`` empties a whole tile holding fewer salt pixels. A section has no tiles, so
here it removes every connected salt region (8-connected) smaller than ``min_area`` samples and
keeps the rest; 0 keeps everything.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def cut_section(probs: np.ndarray, threshold: float, min_area: int = 0) -> np.ndarray:
    """Return the uint8 0/1 mask of ``probs`` (H, W): probability > ``threshold``, regions smaller
    than ``min_area`` samples removed."""
    mask = np.asarray(probs, dtype=np.float32) > np.float32(threshold)
    if min_area > 0:
        mask = without_small_regions(mask, min_area)
    return mask.view(np.uint8)


def without_small_regions(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Return boolean ``mask`` (H, W) without its 8-connected regions of fewer than ``min_area`` samples."""
    labels, _ = ndimage.label(mask, structure=EIGHT_CONNECTED)
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    return keep[labels]
