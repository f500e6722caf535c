"""The input fit: 101x101 images to the network's square input and back, on real images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from saltseg.data.hdf5 import read_dataset
from saltseg.models import build_model
from saltseg.shapes import IMAGE_SIZE, Fit, InputFit


@pytest.fixture(scope="module")
def images(tiny_h5: Path) -> torch.Tensor:
    """Eight real images, uint8 (8, 101, 101)."""
    return torch.from_numpy(read_dataset(tiny_h5).images[:8])


@pytest.mark.parametrize("size", [112, 128, 160])
def test_reflect_pads_around_the_image_and_crops_back_exactly(images: torch.Tensor, size: int) -> None:
    fit = InputFit(Fit.reflect, size)
    x = fit.model_input(images)
    assert x.shape == (8, 1, size, size)
    before = (size - IMAGE_SIZE) // 2
    inner = x[..., before : before + IMAGE_SIZE, before : before + IMAGE_SIZE]
    assert torch.equal(inner, images.unsqueeze(1).float() / 255 - 0.5)
    assert torch.equal(x[..., before - 1, :], x[..., before + 1, :])  # a mirror, not zeros
    assert torch.equal(fit.to_image_size(x), inner)


def test_resize_maps_back_to_101_close_to_the_image(images: torch.Tensor) -> None:
    fit = InputFit(Fit.resize, 112)
    x = fit.model_input(images)
    assert x.shape == (8, 1, 112, 112)
    back = fit.to_image_size(x)
    original = images.unsqueeze(1).float() / 255 - 0.5
    assert back.shape == original.shape
    assert (back - original).abs().mean() < 0.02


@pytest.mark.parametrize(("arch", "size"), [("resunet", 112), ("unet", 128), ("smp-unet", 128)])
def test_each_network_returns_a_logit_per_pixel_at_its_input_size(arch: str, size: int) -> None:
    config = {"arch": arch, "start_filters": 4, "batch_norm": True, "dropout": 0.0,
              "encoder": "resnet18", "encoder_weights": "none", "fit": "reflect", "input_size": size}
    fit = InputFit.of_config(config)
    blank = torch.zeros(2, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    out = build_model(config).eval()(fit.model_input(blank))
    assert out.shape == (2, 1, size, size)
    assert fit.to_image_size(out).shape == (2, 1, IMAGE_SIZE, IMAGE_SIZE)


def test_a_config_without_input_size_means_the_seed_size() -> None:
    assert InputFit.of_config({"fit": "resize"}) == InputFit(Fit.resize, 128)


@pytest.mark.parametrize(
    ("fit", "multiple", "named"),
    [(InputFit(Fit.reflect, 120), 16, "multiple of 16"), (InputFit(Fit.reflect, 96), 16, "101..301"),
     (InputFit(Fit.reflect, 112), 32, "multiple of 32"), (InputFit(Fit.reflect, 320), 16, "101..301")],
)
def test_sizes_that_cannot_work_are_named(fit: InputFit, multiple: int, named: str) -> None:
    problem = fit.problem(multiple)
    assert problem is not None and named in problem and str(fit.size) in problem


def test_sizes_that_work_have_no_problem() -> None:
    assert InputFit(Fit.reflect, 112).problem(16) is None
    assert InputFit(Fit.resize, 64).problem(32) is None
