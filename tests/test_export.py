"""``saltseg export``: one ONNX file that gives saltseg's probabilities through onnxruntime alone.

The runs are built here from randomly initialised networks (batch-norm statistics estimated on
synthetic tiles, output heads scaled up) so that their logits spread over several units: then a
graph that forgot the flip-back, averaged logits instead of probabilities, or dropped the gate
would miss the 1e-4 tolerance, and the negative controls below show that it would.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import assert_one_line_error, invoke, source_entries, synthetic_examples, write_zip
from PIL import Image
from runs import ok

from saltseg import __version__
from saltseg.cut import apply_cut
from saltseg.errors import SaltsegError
from saltseg.export import onnx_file, verify
from saltseg.inference.predictor import load_predictor
from saltseg.metric import competition_score
from saltseg.models import build_model, has_image_head
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.shapes import Fit, InputFit
from saltseg.training.config import new_config
from saltseg.training.options import TrainOptions
from saltseg.training.steps import recompute_batch_norm

TOLERANCE = 1e-4
HEAD_GAIN = 20.0
"""Output heads' weights are multiplied by this, so logits spread over several units."""
N_IMAGES = 9


def make_run(root: Path, seed: int, **options: object) -> Path:
    """Write a run (config.json, best.pt) of a random 4-filter network with widely spread logits."""
    config = new_config(TrainOptions(run=root, start_filters=4, **options), torch.device("cpu"))
    torch.manual_seed(seed)
    net = build_model(config)
    fit = InputFit.of_config(config)
    tiles = torch.from_numpy(np.stack([image for image, _ in synthetic_examples(16, seed=seed).values()]))
    recompute_batch_norm(net, tiles, fit, 8)
    spread_logits(net.net if has_image_head(config) else net, fit.model_input(tiles))
    run = RunDir(root)
    run.write_config(config)
    save_checkpoint(run.best_checkpoint, {"model": net.state_dict()})
    return root


@torch.no_grad()
def spread_logits(net: torch.nn.Module, x: torch.Tensor) -> None:
    """Scale a UNet's output heads by HEAD_GAIN, then centre its pixel and image logits on ``x`` at 0."""
    for name, weights in net.named_parameters():
        if "head" in name:
            weights.mul_(HEAD_GAIN)
    out = net(x)
    pixel, image = (out, None) if isinstance(out, torch.Tensor) else out[:2]
    net.head.bias -= pixel.median()
    if image is not None:
        net.image_head[-1].bias -= image.median()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a gated run (the default resunet), a plain one (seed unet, resized input) and
    labelled data as a zip and an HDF5 file."""
    root = tmp_path_factory.mktemp("export")
    make_run(root / "gated", seed=1)
    RunDir(root / "gated").write_threshold({"threshold": 0.37, "min_area": 15})
    make_run(root / "plain", seed=2, arch="unet", fit=Fit.resize)
    write_zip(root / "data.zip", source_entries(synthetic_examples(N_IMAGES, seed=5)))
    ok(invoke("prepare", root / "data.zip", "--out", root / "data.h5"))
    return root


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """The labelled data's images (N, 101, 101) uint8, in id order."""
    examples = synthetic_examples(N_IMAGES, seed=5)
    return np.stack([examples[key][0] for key in sorted(examples)])


def outputs(run: Path, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return the run's pixel logits (N, 101, 101) and image logits (N, 1, 1) or None, computed
    here from config.json and best.pt, before any gate."""
    config = RunDir(run).read_config()
    net = build_model(config).eval()
    net.load_state_dict(load_checkpoint(RunDir(run).best_checkpoint)["model"])
    fit = InputFit.of_config(config)
    x = fit.model_input(torch.from_numpy(images))
    with torch.no_grad():
        if not has_image_head(config):
            return fit.to_image_size(net(x))[:, 0], None
        pixel, image = net.net(x)[:2]
    return fit.to_image_size(pixel)[:, 0], image.view(-1, 1, 1)


def member_logits(run: Path, images: np.ndarray, gate: bool = True) -> torch.Tensor:
    """Return the run's logits (N, 101, 101), capped by the image logit when ``gate``."""
    pixel, image = outputs(run, images)
    return pixel if image is None or not gate else torch.minimum(pixel, image)


def tta_probs(run: Path, images: np.ndarray, flip_back: bool = True, gate: bool = True) -> np.ndarray:
    """Return the mean of the image's and the mirror's probabilities (N, 101, 101)."""
    mirror = torch.sigmoid(member_logits(run, images[..., ::-1].copy(), gate))
    mirror = mirror.flip(-1) if flip_back else mirror
    return ((torch.sigmoid(member_logits(run, images, gate)) + mirror) / 2).numpy()


def session_probs(path: Path, images: np.ndarray) -> np.ndarray:
    """Return what onnxruntime alone makes of the images with the file at ``path`` (N, 101, 101)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"tiles": images[:, None]})[0][:, 0]


def largest(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_networks_logits_spread_over_several_units(world: Path, images: np.ndarray) -> None:
    for name in ("gated", "plain"):
        logits = member_logits(world / name, images)
        assert float(logits.std()) > 2 and float(logits.max() - logits.min()) > 10
    pixel, image = outputs(world / "gated", images)
    capped = float((pixel > image).float().mean())
    assert 0.05 < capped < 0.95  # the gate decides a good share of the pixels, not all


def test_run_with_tta_gives_its_probabilities_and_not_the_wrong_variants(
    world: Path, images: np.ndarray
) -> None:
    result = ok(invoke("export", world / "gated", "--check", world / "data.zip"))
    path = RunDir(world / "gated").onnx_path
    lines = result.stdout.splitlines()
    assert lines[0] == str(path) and lines[1].startswith(f"check {world / 'data.zip'}: {N_IMAGES} images")
    got = session_probs(path, images)
    assert got.dtype == np.float32 and got.shape == (N_IMAGES, 101, 101)
    assert largest(got, tta_probs(world / "gated", images)) < TOLERANCE
    assert largest(got, tta_probs(world / "gated", images, flip_back=False)) > 100 * TOLERANCE
    assert largest(got, tta_probs(world / "gated", images, gate=False)) > 100 * TOLERANCE
    half = (member_logits(world / "gated", images) + member_logits(world / "gated", images[..., ::-1].copy())
            .flip(-1)) / 2
    assert largest(got, torch.sigmoid(half).numpy()) > 100 * TOLERANCE  # logits averaged
    masks = np.stack([m for _, m in sorted(synthetic_examples(N_IMAGES, seed=5).items())])[:, 1]
    score = competition_score(apply_cut(tta_probs(world / "gated", images), 0.37, 15), masks)
    assert f"score onnxruntime {score:.4f}, saltseg {score:.4f}" in lines[1]


def test_metadata_say_how_to_cut_and_what_made_the_file(world: Path) -> None:
    path = RunDir(world / "gated").onnx_path  # written by the test above
    if not path.exists():
        ok(invoke("export", world / "gated"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert (meta["threshold"], meta["min_area"]) == ("0.37", "15")
    assert "fewer salt pixels than min_area becomes empty" in meta["min_area_meaning"]
    assert json.loads(meta["runs"]) == [str(world / "gated")]
    assert json.loads(meta["checkpoint_sha256"]) == [sha256(RunDir(world / "gated").best_checkpoint)]
    assert meta["saltseg_version"] == __version__ and meta["tta"] == "hflip" and meta["opset"] == "18"
    assert meta["input"].startswith("tiles: uint8 (N, 1, 101, 101)")
    assert meta["output"].startswith("probs: float32 (N, 1, 101, 101)")
    (tiles,), (probs,) = session.get_inputs(), session.get_outputs()
    assert (tiles.name, tiles.type, tiles.shape[1:]) == ("tiles", "tensor(uint8)", [1, 101, 101])
    assert isinstance(tiles.shape[0], str) and probs.type == "tensor(float)"
    model = onnx.load(str(path), load_external_data=False)
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in model.graph.initializer)
    assert [entry.version for entry in model.opset_import if entry.domain == ""] == [18]


def test_documented_example_cuts_masks_as_saltseg_does(world: Path, images: np.ndarray, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    example = page[page.index("```python\n", page.index("## Export to ONNX")) + 10 :]
    code = example[: example.index("```")]
    assert "onnxruntime" in code and "saltseg" not in code and "torch" not in code
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.onnx").write_bytes(RunDir(world / "gated").onnx_path.read_bytes())
    (tmp_path / "images").mkdir()
    Image.fromarray(images[2]).save(tmp_path / "images" / "0005bb9630.png")
    monkeypatch.chdir(tmp_path)
    exec(code, {})
    mask = np.asarray(Image.open(tmp_path / "0005bb9630_mask.png"))
    expected = apply_cut(tta_probs(world / "gated", images[2:3])[0], 0.37, 15)
    assert expected.sum() >= 15 and np.array_equal(mask, expected * 255)


def test_two_run_ensemble_without_tta_averages_probabilities(world: Path, images: np.ndarray) -> None:
    runs, ens = [world / "gated", world / "plain"], world / "ens_plain"
    result = ok(invoke("export", *runs, "--ensemble", ens, "--no-tta"))
    path = RunDir(ens).onnx_path
    assert result.stdout.strip() == str(path) and RunDir(ens).holds_ensemble()
    got = session_probs(path, images)
    logits = [member_logits(run, images) for run in runs]
    assert largest(got, np.mean([torch.sigmoid(x).numpy() for x in logits], axis=0)) < TOLERANCE
    assert largest(got, torch.sigmoid(sum(logits) / 2).numpy()) > 100 * TOLERANCE  # logits averaged
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["runs"]) == [str(r) for r in runs] and meta["tta"] == "none"
    assert json.loads(meta["checkpoint_sha256"]) == [sha256(RunDir(r).best_checkpoint) for r in runs]
    assert (meta["threshold"], meta["min_area"]) == ("0.5", "0")  # the ensemble has no threshold.json yet


def test_two_run_ensemble_with_tta_and_a_check_on_hdf5(world: Path, images: np.ndarray, tmp_path: Path
                                                       ) -> None:
    runs, out = [world / "gated", world / "plain"], tmp_path / "deep" / "er" / "both.onnx"
    check = ("--check", world / "data.h5")
    result = ok(invoke("export", *runs, "--ensemble", world / "ens_tta", "-o", out, *check))
    assert result.stdout.splitlines()[0] == str(out)
    assert f"check {world / 'data.h5'}: {N_IMAGES} images, largest difference" in result.stdout
    expected = np.mean([tta_probs(run, images) for run in runs], axis=0)
    assert largest(session_probs(out, images), expected) < TOLERANCE
    assert not RunDir(world / "ens_tta").onnx_path.exists()


def test_verification_refuses_a_graph_that_differs(world: Path) -> None:
    path = RunDir(world / "ens_plain").onnx_path  # the no-TTA ensemble's file
    if not path.exists():
        ok(invoke("export", world / "gated", world / "plain", "--ensemble", world / "ens_plain", "--no-tta"))
    session = onnx_file.session_of(path.read_bytes())
    with_tta = load_predictor([RunDir(world / "gated"), RunDir(world / "plain")], "cpu", 8, tta=True)
    with pytest.raises(SaltsegError, match=r"differ from saltseg's by .* on a batch of 1 random tiles"):
        verify.verify(session, with_tta, path)


def test_bad_inputs_are_one_line_errors_and_nothing_is_written(world: Path, tmp_path: Path) -> None:
    untrained = tmp_path / "untrained"
    make_run(untrained, seed=3).joinpath("checkpoints", "best.pt").unlink()
    assert_one_line_error(invoke("export", untrained), untrained, "best.pt")
    for opset in (17, 99):
        assert_one_line_error(invoke("export", world / "gated", "--opset", opset, "-o", tmp_path / "a.onnx"),
                              "--opset", opset)
    (tmp_path / "file").write_text("")
    under_a_file = tmp_path / "file" / "m.onnx"
    assert_one_line_error(invoke("export", world / "gated", "-o", under_a_file), under_a_file, "not a folder")
    assert_one_line_error(invoke("export", world / "gated", "-o", tmp_path), tmp_path, "is a folder")
    assert_one_line_error(invoke("export", world / "gated", "--check", tmp_path / "none.h5", "-o",
                                 tmp_path / "b.onnx"), tmp_path / "none.h5")
    assert_one_line_error(invoke("export", world / "gated", world / "plain"), "--ensemble")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "untrained"]
    assert not (untrained / "model.onnx").exists()
