"""Seismic sections: readers and writers, amplitudes, sliding windows and their blend, the CLI.

The networks are real but hand-initialised, so no training is needed: a default-like resunet
with the image head (batch-norm scales and heads set so its probabilities and gate spread over
0..1), and a tiny purely convolutional network whose output shifts with its input.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from helpers import assert_one_line_error, bomb_png, invoke, png_bytes
from PIL import Image
from runs import ok
from scipy import ndimage
from torch import nn

from saltseg.inference.predictor import Predictor, load_predictor
from saltseg.models import build_model
from saltseg.models.outputs import Outputs
from saltseg.rundir import RunDir, save_checkpoint
from saltseg.seismic import record_path
from saltseg.seismic.amplitude import AmplitudeMap, amplitude_map
from saltseg.seismic.options import AmplitudeOptions, WindowOptions
from saltseg.seismic.preview import preview_path
from saltseg.seismic.regions import cut_section
from saltseg.seismic.sections import read_section, section_pixels, write_section
from saltseg.seismic.windows import predict_section, resample, window_probs, window_starts
from saltseg.shapes import Fit, InputFit

TILE = 101
GATED = {"arch": "resunet", "start_filters": 4, "dropout": 0.0, "image_head": True, "fit": "reflect",
         "input_size": 112}


def rough_field(shape: tuple[int, ...], seed: int, sigma: float = 1.5) -> np.ndarray:
    """Return smoothed noise scaled to uint8 0..255 (seismic-like texture, no two tiles alike)."""
    noise = np.random.default_rng(seed).normal(size=shape)
    field = ndimage.gaussian_filter(noise, sigma=(0,) * (len(shape) - 2) + (sigma, sigma))
    return np.clip(np.rint(128 + 40 * field / field.std()), 0, 255).astype(np.uint8)


def _recentre(layer: nn.Module, outputs: torch.Tensor, spread: float) -> None:
    """Scale ``layer`` (the last of its branch) so its ``outputs`` get median 0 and std ``spread``."""
    gain = spread / outputs.std().item()
    layer.weight.mul_(gain)
    layer.bias.copy_(gain * (layer.bias - outputs.median()))


def gated_network() -> nn.Module:
    """Return the default architecture (resunet + image head) with weights that make it informative."""
    torch.manual_seed(0)
    net = build_model(GATED)
    fit = InputFit.of_config(GATED)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(3.0)
        net.eval()
        out = Outputs(*net.net(fit.model_input(torch.from_numpy(rough_field((32, TILE, TILE), 5)))))
        _recentre(net.net.head, out.pixel, 3.0)
        _recentre(net.net.image_head[2], out.image, 3.0)
    return net


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory (config.json + best.pt) of :func:`gated_network`."""
    root = tmp_path_factory.mktemp("gated") / "run"
    RunDir(root).write_config(GATED)
    save_checkpoint(RunDir(root).best_checkpoint, {"model": gated_network().state_dict()})
    return root


@pytest.fixture(scope="module")
def predictor(run: Path) -> Predictor:
    return load_predictor([RunDir(run)], "cpu", 16, tta=True)


def conv_predictor() -> Predictor:
    """A purely convolutional network (receptive field 9x9): its output shifts with its input."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.Tanh(), nn.Conv2d(8, 1, 5, padding=2))
    with torch.no_grad():
        net[0].weight.mul_(8.0)
        net[2].weight.mul_(4.0)
    return Predictor([(net.eval(), InputFit(Fit.reflect, 112))], torch.device("cpu"), 16, tta=False)


def whole_section_probs(predictor: Predictor, section: np.ndarray) -> np.ndarray:
    """Return the convolutional network applied once to the whole section (float32)."""
    net = predictor.nets[0][0]
    with torch.no_grad():
        x = torch.from_numpy(section).float()[None, None] / 255.0 - 0.5
        return torch.sigmoid(net(x))[0, 0].numpy()


# ---------------------------------------------------------------- windows


def test_window_starts_cover_the_axis_and_end_at_its_edge() -> None:
    assert window_starts(303, 101, 101) == [0, 101, 202]
    assert window_starts(350, 101, 50) == [0, 50, 100, 150, 200, 249]
    assert window_starts(101, 101, 50) == [0]


def test_aligned_windows_without_overlap_give_the_tiles_own_probabilities(predictor: Predictor) -> None:
    tiles = rough_field((6, TILE, TILE), seed=2)
    section = np.block([[tiles[0], tiles[1], tiles[2]], [tiles[3], tiles[4], tiles[5]]])
    probs = predict_section(predictor, section, WindowOptions(size=TILE, overlap=0.0, blend="cosine"))
    own = predictor.probs(tiles).astype(np.float32)
    laid = np.block([[own[0], own[1], own[2]], [own[3], own[4], own[5]]])
    assert probs.shape == section.shape and probs.dtype == np.float32
    assert laid.std() > 0.1, "the network must tell tiles and pixels apart for this test to mean anything"
    assert np.abs(probs - laid).max() <= 0.02


def test_the_gate_only_lowers_probabilities_and_is_dropped_on_request(predictor: Predictor) -> None:
    windows = rough_field((4, TILE, TILE), seed=3)
    gated = window_probs(predictor, windows, gate=True)
    pixel = window_probs(predictor, windows, gate=False)
    assert (gated <= pixel + 0.02).all()
    assert (pixel - gated).max() > 0.2, "some windows must be capped by their image logit"


@pytest.mark.parametrize(("size", "overlap"), [(TILE, WindowOptions().overlap), (TILE, 0.5), (160, 0.5)])
def test_blended_windows_show_no_seam(size: int, overlap: float) -> None:
    conv = conv_predictor()
    section = rough_field((260, 330), seed=4, sigma=1.0)
    truth = whole_section_probs(conv, section)
    inner = (slice(8, -8), slice(8, -8))  # the section's own border differs from the whole-section pass
    blended = predict_section(conv, section, WindowOptions(size, overlap, "cosine", tta=False))
    tiled = predict_section(conv, section, WindowOptions(size=size, overlap=0.0, blend="none", tta=False))
    assert np.abs(tiled - truth)[inner].max() > 0.1, "without blending, window edges must show"
    assert np.abs(blended - truth)[inner].max() < 0.03


def test_a_network_that_shifts_with_its_input_gives_a_shifted_output() -> None:
    conv = conv_predictor()
    section = rough_field((240, 320), seed=6, sigma=1.0)
    options = WindowOptions(size=TILE, overlap=0.5, blend="cosine", tta=False)
    shift = 17
    probs = predict_section(conv, section, options)
    shifted = predict_section(conv, section[:, shift:], options)
    assert np.abs(shifted[8:-8, 8:-8] - probs[8:-8, shift + 8 : -8]).max() < 0.03


def test_resampling_shows_the_network_the_section_at_the_tiles_spacing() -> None:
    conv = conv_predictor()
    options = WindowOptions(tta=False)
    base = rough_field((202, 303), seed=14, sigma=2.0)
    twice = np.rint(resample(base, (404, 606))).astype(np.uint8)  # the same section, sampled twice as finely
    expected = predict_section(conv, base, options)
    halved = predict_section(conv, twice, replace(options, resample=(0.5, 0.5)))
    direct = predict_section(conv, twice, options)
    assert halved.shape == direct.shape == twice.shape
    error = {name: np.abs(resample(p, base.shape) - expected)[8:-8, 8:-8].mean()
             for name, p in (("halved", halved), ("direct", direct))}
    assert error["halved"] < 0.5 * error["direct"], error


def test_a_dead_section_has_no_salt(predictor: Predictor) -> None:
    probs = predict_section(predictor, np.full((150, 220), 77, np.uint8), WindowOptions())
    assert probs.shape == (150, 220) and not probs.any()


def test_window_options_are_checked() -> None:
    for bad in (WindowOptions(size=64), WindowOptions(overlap=1.0), WindowOptions(blend="gauss"),
                WindowOptions(resample=(0.0, 1.0))):
        assert bad.problem() is not None
    assert WindowOptions().problem() is None


# ---------------------------------------------------------------- amplitudes and regions


def test_amplitudes_centred_on_zero_clip_symmetrically_at_the_percentile() -> None:
    rng = np.random.default_rng(7)
    samples = rng.normal(scale=1000.0, size=200_000).astype(np.float32)
    samples[:10] = 1e9  # outliers must not set the range
    mapping = amplitude_map(samples, AmplitudeOptions(percentile=99.0))
    assert mapping.low == -mapping.high and 2000 < mapping.high < 3500
    pixels = mapping.to_uint8(np.array([-1e9, 0.0, mapping.high / 2, 1e9, np.nan], np.float32))
    assert pixels.tolist() == [0, 128, 191, 255, 128]
    assert mapping.as_dict()["low"] == mapping.low


def test_amplitudes_of_one_sign_use_low_and_high_percentiles_and_clip_overrides() -> None:
    samples = np.linspace(1000.0, 2000.0, 10_001)
    mapping = amplitude_map(samples, AmplitudeOptions(percentile=90.0))
    assert mapping.low == pytest.approx(1100.0) and mapping.high == pytest.approx(1900.0)
    explicit = amplitude_map(samples, AmplitudeOptions(clip=(0.0, 4000.0)))
    assert explicit == AmplitudeMap(0.0, 4000.0, "explicit range")
    assert AmplitudeOptions(percentile=30).problem() and AmplitudeOptions(clip=(2.0, 1.0)).problem()


def test_min_area_removes_small_connected_regions_only() -> None:
    probs = np.zeros((120, 130), np.float32)
    probs[10:20, 10:20] = 0.9  # 100 samples
    probs[50, 50] = probs[51, 51] = probs[52, 52] = 0.9  # 3 samples, diagonally connected
    probs[80:82, 80:82] = 0.9  # 4 samples
    mask = cut_section(probs, 0.5, min_area=4)
    assert mask.dtype == np.uint8 and mask.sum() == 104 and mask[50, 50] == 0 and mask[81, 81] == 1
    assert cut_section(probs, 0.5, 0).sum() == 107


# ---------------------------------------------------------------- readers and writers


def test_readers_return_the_samples_of_every_format(tmp_path: Path) -> None:
    gray = rough_field((130, 170), seed=8)
    wide = (gray.astype(np.uint16) * 257 + 3).astype(np.uint16)
    floats = (gray.astype(np.float32) - 128.0) * 0.37
    (tmp_path / "gray.png").write_bytes(png_bytes(gray))
    (tmp_path / "rgb.png").write_bytes(png_bytes(np.repeat(gray[..., None], 3, axis=2)))
    Image.fromarray(wide).save(tmp_path / "wide.png")
    tifffile.imwrite(tmp_path / "float.tif", floats)
    np.save(tmp_path / "section.npy", floats.astype(np.float64))
    assert np.array_equal(read_section(tmp_path / "gray.png"), gray)
    assert np.array_equal(read_section(tmp_path / "rgb.png"), gray)
    assert np.array_equal(read_section(tmp_path / "wide.png"), wide)
    assert np.array_equal(read_section(tmp_path / "float.tif"), floats)
    assert np.array_equal(read_section(tmp_path / "section.npy"), floats)
    pixels, mapping = section_pixels(read_section(tmp_path / "float.tif"), AmplitudeOptions(percentile=100.0))
    assert mapping is not None and np.abs(pixels.astype(int) - gray).max() <= 1


def test_writers_round_trip(tmp_path: Path) -> None:
    probs = np.random.default_rng(9).random((110, 140)).astype(np.float32)
    mask = cut_section(probs, 0.5)
    write_section(tmp_path / "p.npy", probs, None)
    write_section(tmp_path / "p.tif", probs, None)
    write_section(tmp_path / "m.png", probs, mask)
    write_section(tmp_path / "m.npy", probs, mask)
    assert np.array_equal(np.load(tmp_path / "p.npy"), probs)
    assert tifffile.imread(tmp_path / "p.tif").dtype == np.float32
    assert np.array_equal(tifffile.imread(tmp_path / "p.tif"), probs)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), mask * 255)
    assert np.array_equal(np.load(tmp_path / "m.npy"), mask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy", "m.png", "p.npy", "p.tif"]


# ---------------------------------------------------------------- the command line


def test_predict_a_float_tiff_section(run: Path, tmp_path: Path) -> None:
    section = (rough_field((160, 310), seed=10).astype(np.float32) - 128.0) * 12.5
    tifffile.imwrite(tmp_path / "line7.tif", section)
    result = ok(invoke("predict", run, tmp_path / "line7.tif", "--device", "cpu"))
    out = RunDir(run).section_output_path("line7", ".npy")
    assert result.stdout.strip() == str(out)
    probs = np.load(out)
    assert probs.shape == section.shape and probs.dtype == np.float32 and 0 <= probs.min() < probs.max() <= 1
    record = json.loads(record_path(out).read_text())
    assert record["amplitude"]["low"] == -record["amplitude"]["high"] > -12.5 * 128
    assert record["windows"]["size"] == TILE and record["output"] == "salt probability"
    assert preview_path(out).exists()
    assert RunDir(run).newest_prediction() is None, "rle RUN must not take a section for tile predictions"
    ok(invoke("predict", run, tmp_path / "line7.tif", "--device", "cpu", "--as-masks", "--no-preview",
              "--out", tmp_path / "mask.png"))
    written = np.asarray(Image.open(tmp_path / "mask.png"))
    assert np.array_equal(written, cut_section(probs, *RunDir(run).read_cut()) * 255)
    assert not preview_path(tmp_path / "mask.png").exists()


def test_a_3d_npy_goes_to_the_volume_path_with_the_runs_recorded(run: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "cube.npy", rough_field((2, 110, 120), seed=15))
    result = ok(invoke("predict", run, tmp_path / "cube.npy", "--device", "cpu", "--no-preview"))
    out = RunDir(run).section_output_path("cube", ".npy")
    assert result.stdout.strip() == str(out) and np.load(out).shape == (2, 110, 120)
    assert json.loads(record_path(out).read_text())["runs"] == [str(run)]
    assert not preview_path(out).exists()


def test_a_dead_section_gives_an_empty_mask(run: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "dead.npy", np.full((120, 240), -3.5, np.float32))
    ok(invoke("predict", run, tmp_path / "dead.npy", "--device", "cpu", "--as-masks", "--out",
              tmp_path / "dead.png"))
    assert not np.asarray(Image.open(tmp_path / "dead.png")).any()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("text.png", b"not a png at all", "not a PNG"),
        ("text.tif", b"II*\0garbage", "TIFF"),
        ("text.npy", b"\x93NUMPY garbage", ".npy"),
        ("empty.npy", None, "empty section"),
        ("bomb.png", bomb_png(60_000, 60_000), "more than --max-pixels"),
        ("colour.png", png_bytes(np.eye(120, dtype=np.uint8)[..., None] * np.uint8([0, 0, 9])),
         "unequal channels"),
    ],
)
def test_bad_sections_fail_in_one_line_and_write_nothing(run: Path, tmp_path: Path, name: str,
                                                         content: bytes | None, problem: str) -> None:
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((0, 400), np.float32))
    else:
        path.write_bytes(content)
    result = invoke("predict", run, path, "--device", "cpu", "--out", tmp_path / "out" / "p.npy")
    assert_one_line_error(result, path, problem)
    assert not (tmp_path / "out").exists()


def test_max_pixels_refuses_a_large_section_until_raised(run: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "big.npy", rough_field((200, 300), seed=11))
    assert_one_line_error(invoke("predict", run, tmp_path / "big.npy", "--max-pixels", 50_000), "big.npy")
    ok(invoke("predict", run, tmp_path / "big.npy", "--max-pixels", 60_000, "--device", "cpu", "--no-preview",
              "--out", tmp_path / "big.tif"))
    assert tifffile.imread(tmp_path / "big.tif").shape == (200, 300)


def test_bad_options_and_outputs_fail_in_one_line(run: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", rough_field((120, 120), seed=12))
    assert_one_line_error(invoke("predict", run, tmp_path / "s.npy", "--out", tmp_path / "s.jpg"), "s.jpg")
    section = tmp_path / "s.npy"
    assert_one_line_error(invoke("predict", run, section, "--overlap", 1.5), "--overlap")
    assert_one_line_error(invoke("predict", run, section, "--clip", "3"), "--clip")
    assert_one_line_error(invoke("predict", run, section, "--resample", "0,1"), "--resample")
    assert_one_line_error(invoke("predict", run, section, "--masks", tmp_path / "m"), "--as-masks")
    for missing in ("gone.npy", "gone.tif"):
        assert_one_line_error(invoke("predict", run, tmp_path / missing), missing, "no such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy"]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_an_interrupted_write_leaves_nothing(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             stop: str) -> None:
    np.save(tmp_path / "s.npy", rough_field((120, 150), seed=13))
    real_save = np.save

    def half_then_stop(file: object, array: np.ndarray) -> None:
        real_save(file, array[: len(array) // 2])
        if stop == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # unhandled, SIGTERM would end the whole test run

    monkeypatch.setattr(np, "save", half_then_stop)
    out = tmp_path / "out" / "p.npy"
    expected = {"ctrl-c": 130, "sigterm": 143}[stop]
    assert invoke("predict", run, tmp_path / "s.npy", "--device", "cpu", "--out", out).exit_code == expected
    assert list((tmp_path / "out").iterdir()) == []
