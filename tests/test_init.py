"""Starting a run from another run's weights (``train --init RUN``) and from smp's ImageNet encoder
weights (``--encoder-weights imagenet``), served from a local cache: these tests need no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import assert_one_line_error, invoke
from runs import metrics, ok

from saltseg.data.hdf5 import file_sha256, read_dataset
from saltseg.models import build_model
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.shapes import InputFit
from saltseg.training.trainer import Trainer


def _stop_before_the_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make training stop as Ctrl-C would before its first epoch: last.pt then holds the weights
    the run starts from (the trainer saves them before training)."""
    def interrupted(self: Trainer, epoch: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_run_epoch", interrupted)


def _predict(config: dict[str, Any], weights: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Return the logits of the network ``config`` describes with ``weights``, in eval mode."""
    net = build_model(config)
    net.load_state_dict(weights)
    with torch.no_grad():
        return net.eval()(InputFit.of_config(config).model_input(images))


def _train(data: Path, run: Path, *extra: object) -> list[object]:
    return ["train", "--data", data, "--run", run, "--loss", "bce", "--batch-size", "8", *extra]


def test_a_run_starts_from_its_inits_best_weights_and_network(
    trained_run: Path, tiny_h5: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stop_before_the_first_step(monkeypatch)
    run = tmp_path / "fine"
    # --start-filters agrees with the init's: allowed; --lr is this run's own
    result = invoke(*_train(tiny_h5, run, "--init", trained_run, "--start-filters", "4", "--lr", "1e-4"))
    assert result.exit_code == 130, result.output
    init, config = RunDir(trained_run).read_config(), RunDir(run).read_config()
    for key in ("arch", "start_filters", "batch_norm", "dropout", "input_size", "fit", "image_head", "scse",
                "hypercolumn"):
        assert config[key] == init[key], key
    assert (config["arch"], config["start_filters"], config["lr"]) == ("unet", 4, 1e-4)
    best = RunDir(trained_run).best_checkpoint
    assert config["init"] == {"run": str(trained_run.resolve()), "best_sha256": file_sha256(best)}

    start, weights = load_checkpoint(RunDir(run).last_checkpoint)["model"], load_checkpoint(best)["model"]
    assert start.keys() == weights.keys()
    assert all(torch.equal(start[k], weights[k]) for k in weights)
    means = [k for k in weights if k.endswith("running_mean")]
    assert means and any(weights[k].abs().sum() > 0 for k in means)  # trained statistics came along
    images = torch.from_numpy(read_dataset(tiny_h5).images[:8])
    assert torch.allclose(_predict(config, start, images), _predict(init, weights, images), atol=1e-6)


def test_an_init_run_trains_then_resumes_from_its_own_last_checkpoint(
    trained_run: Path, tiny_h5: Path, tmp_path: Path
) -> None:
    init = Path(shutil.copytree(trained_run, tmp_path / "init"))
    run = tmp_path / "fine"
    ok(invoke(*_train(tiny_h5, run, "--init", init, "--epochs", "1")))
    assert len(metrics(run)) == 1
    trained = load_checkpoint(RunDir(run).last_checkpoint)["model"]
    assert any(not torch.equal(v, load_checkpoint(RunDir(init).best_checkpoint)["model"][k])
               for k, v in trained.items())
    # the init is recorded, not applied again: the resumed run needs nothing of it
    RunDir(init).best_checkpoint.unlink()
    ok(invoke("train", "--run", run, "--resume", "--epochs", "2", "--init", init))
    assert len(metrics(run)) == 2

    other = tmp_path / "other"
    assert_one_line_error(invoke("train", "--run", run, "--resume", "--epochs", "3", "--init", other),
                          "--init", other, init)


def test_a_model_option_that_differs_from_the_inits_is_refused(
    trained_run: Path, tiny_h5: Path, tmp_path: Path
) -> None:
    run = tmp_path / "fine"
    for given, values in (
        (("--arch", "resunet"), ("--arch", "resunet", "unet")),
        (("--start-filters", "8"), ("--start-filters", "8", "4")),
        (("--image-head",), ("--image-head", "True", "False")),
        (("--input-size", "112"), ("--input-size", "112", "128")),
    ):
        result = invoke(*_train(tiny_h5, run, "--init", trained_run, *given))
        assert_one_line_error(result, *values, trained_run)
        assert not run.exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--teacher", "teacher", "--unlabelled", "test.h5"), "--teacher"),
        (("--encoder-weights", "weights.pth"), "--encoder-weights"),
    ],
)
def test_init_with_another_start_is_refused(trained_run: Path, tiny_h5: Path, tmp_path: Path,
                                            extra: tuple[str, ...], named: str) -> None:
    run = tmp_path / "fine"
    assert_one_line_error(invoke(*_train(tiny_h5, run, "--init", trained_run, *extra)), "--init", named)
    assert not run.exists()


def test_init_of_a_folder_that_is_no_trained_run_is_refused(trained_run: Path, tiny_h5: Path,
                                                            tmp_path: Path) -> None:
    empty, run = tmp_path / "empty", tmp_path / "fine"
    empty.mkdir()
    assert_one_line_error(invoke(*_train(tiny_h5, run, "--init", empty)), empty, "not a trained run")
    assert_one_line_error(invoke(*_train(tiny_h5, run, "--init", tmp_path / "nope")), "no such run")
    same = Path(shutil.copytree(trained_run, tmp_path / "same"))
    assert_one_line_error(invoke(*_train(tiny_h5, same, "--init", same, "--force")), "--init",
                          "the run being trained")
    assert RunDir(same).best_checkpoint.exists() and not run.exists()


def test_init_of_a_snapshot_ensemble_is_refused(trained_run: Path, tiny_h5: Path, tmp_path: Path) -> None:
    init = Path(shutil.copytree(trained_run, tmp_path / "init"))
    best = load_checkpoint(RunDir(init).best_checkpoint)
    save_checkpoint(RunDir(init).best_checkpoint, {**best, "snapshots": [best["model"], best["model"]]})
    run = tmp_path / "fine"
    assert_one_line_error(invoke(*_train(tiny_h5, run, "--init", init)), "best.pt", "2 snapshots", "--init")
    assert not run.exists()


def test_a_run_without_init_refuses_init_on_resume(trained_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    result = invoke("train", "--run", run, "--resume", "--init", tmp_path / "other")
    assert_one_line_error(result, "--init", "not started from")


# smp's ImageNet encoder weights, from huggingface_hub's cache


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty huggingface_hub cache of the test's own, and no network (offline mode)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    for name, value in (("HF_HUB_CACHE", str(cache)), ("HF_HUB_OFFLINE", True)):
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _cache_imagenet_weights(cache: Path, encoder: str) -> dict[str, torch.Tensor]:
    """Put an 'ImageNet' state dict of ``encoder`` (3-channel input, random values) where smp's
    hf_hub_download looks for it first: the cache's snapshot of the pinned revision. Returns it."""
    import segmentation_models_pytorch as smp
    from huggingface_hub.file_download import repo_folder_name
    from safetensors.torch import save_file

    hub = smp.encoders.encoders[encoder]["pretrained_settings"]["imagenet"]
    repo = cache / repo_folder_name(repo_id=hub["repo_id"], repo_type="model")
    snapshot = repo / "snapshots" / hub["revision"]
    snapshot.mkdir(parents=True)
    torch.manual_seed(5)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v.clone()
             for k, v in smp.encoders.get_encoder(encoder, in_channels=3).state_dict().items()}
    save_file(state, snapshot / "model.safetensors")
    (snapshot / "config.json").write_text(json.dumps({"mean": [0.5] * 3, "std": [0.25] * 3}))
    return state


def _smp_args(data: Path, run: Path) -> list[object]:
    return _train(data, run, "--arch", "smp-unet", "--encoder", "resnet18", "--encoder-weights", "imagenet")


def test_imagenet_encoder_weights_come_from_smps_cache(hub_cache: Path, tiny_h5: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    imagenet = _cache_imagenet_weights(hub_cache, "resnet18")
    _stop_before_the_first_step(monkeypatch)
    run = tmp_path / "smp"
    result = invoke(*_smp_args(tiny_h5, run))
    assert result.exit_code == 130, result.output
    assert RunDir(run).read_config()["encoder_weights"] == "imagenet"
    start = load_checkpoint(RunDir(run).last_checkpoint)["model"]
    encoder = {k.removeprefix("encoder."): v for k, v in start.items() if k.startswith("encoder.")}
    assert encoder.keys() == imagenet.keys()
    for key, value in imagenet.items():
        expected = value.sum(dim=1, keepdim=True) if key == "conv1.weight" else value  # 1 input channel
        assert torch.allclose(encoder[key], expected), key


def test_imagenet_weights_offline_fail_in_one_line_naming_the_url_and_the_path_option(
    hub_cache: Path, tiny_h5: Path, tmp_path: Path
) -> None:
    run = tmp_path / "smp"
    result = invoke(*_smp_args(tiny_h5, run))
    assert_one_line_error(result, "--encoder-weights imagenet", "huggingface.co/smp-hub/resnet18.imagenet",
                          "model.safetensors", "--encoder-weights PATH")
    assert not run.exists()


def test_the_downloaded_safetensors_file_loads_as_a_local_path(hub_cache: Path, tmp_path: Path) -> None:
    from saltseg.models.smp_unet import build_smp_unet

    imagenet = _cache_imagenet_weights(hub_cache, "resnet18")
    path = next(hub_cache.rglob("model.safetensors"))
    local = build_smp_unet("resnet18", str(path)).encoder.state_dict()
    cached = build_smp_unet("resnet18", "imagenet").encoder.state_dict()
    assert all(torch.equal(local[k], cached[k]) for k in cached)
    assert torch.equal(local["conv1.weight"], imagenet["conv1.weight"].sum(dim=1, keepdim=True))
