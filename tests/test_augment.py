"""Training-batch augmentation: the mosaic crops that teach windows across unrelated tiles."""

from __future__ import annotations

import torch

from saltseg.training.augment import Augmentation, mosaic_crops
from saltseg.training.options import Augment

H, W = 9, 7


def _coded_batch(n: int) -> torch.Tensor:
    """(n, 1, H, W) whose every value names its image, row and column: b * H * W + r * W + c."""
    return torch.arange(n * H * W, dtype=torch.float32).view(n, 1, H, W)


def _source(value: torch.Tensor) -> tuple[int, int, int]:
    image, rest = divmod(int(value), H * W)
    return image, *divmod(rest, W)


def test_every_crop_straddles_both_seams_of_its_own_mosaic() -> None:
    batch = _coded_batch(6)
    images, masks = mosaic_crops(batch, batch.clone(), 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(images, masks)  # the mask is cut exactly as its image
    for k, crop in enumerate(images[:, 0]):
        image, top, left = _source(crop[0, 0])
        assert image == k and 1 <= top < H and 1 <= left < W
        quadrant = {}
        for i in range(H):
            for j in range(W):
                source, row, col = _source(crop[i, j])
                assert (row, col) == ((top + i) % H, (left + j) % W)
                quadrant.setdefault((top + i >= H, left + j >= W), set()).add(source)
        assert len(quadrant) == 4 and all(len(sources) == 1 for sources in quadrant.values())
        assert quadrant[False, False] == {k}


def test_a_share_replaces_about_that_share_and_keeps_the_rest() -> None:
    batch = _coded_batch(400)
    images, _ = mosaic_crops(batch, batch.clone(), 0.25, torch.Generator().manual_seed(0))
    changed = (images != batch).flatten(1).any(1)
    assert 70 <= int(changed.sum()) <= 130
    assert torch.equal(images[~changed], batch[~changed])


def test_no_mosaic_leaves_the_batch_and_the_random_stream_alone() -> None:
    batch, gen = _coded_batch(4), torch.Generator().manual_seed(5)
    state = gen.get_state()
    images, masks = Augmentation(Augment.none, 0.0)(batch, batch.clone(), gen)
    assert torch.equal(images, batch) and torch.equal(masks, batch)
    assert torch.equal(gen.get_state(), state)


def test_runs_made_before_mosaics_read_as_none() -> None:
    assert Augmentation.of_config({"augment": "flip"}) == Augmentation(Augment.flip, 0.0)
    assert Augmentation.of_config({"augment": "full", "mosaic": 0.5}).mosaic == 0.5
