"""`saltseg train` end to end on a few dozen real images: run files, resume, errors, DDP, budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from helpers import assert_one_line_error, invoke
from PIL import Image
from runs import metrics, train_args

from saltseg.data.hdf5 import Dataset, read_dataset, write_dataset
from saltseg.device import autocast
from saltseg.inference.passes import network_output, predict_logits
from saltseg.models import DECODER_SWITCHES, build_model
from saltseg.models.attention import SCSE, ChannelMean
from saltseg.models.outputs import Outputs
from saltseg.precision import Precision
from saltseg.rundir import METRIC_COLUMNS, RunDir, load_checkpoint
from saltseg.shapes import Fit, InputFit
from saltseg.training.config import check_options, run_config
from saltseg.training.losses import SIDE_LOSS_WEIGHT, bce, lovasz_hinge
from saltseg.training.options import RESUNET_INPUT, TrainOptions
from saltseg.training.steps import recompute_batch_norm, step_loss


@pytest.fixture
def trained(trained_run: Path) -> Path:
    """The session's tiny seed UNet trained for 3 epochs, uninterrupted (tests must not change it)."""
    return trained_run


def test_loss_falls_and_every_run_file_is_written(trained: Path, tiny_h5: Path) -> None:
    rows = metrics(trained)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    config = json.loads((trained / "config.json").read_text())
    assert config["arch"] == "unet" and config["start_filters"] == 4 and config["batch_size"] == 8
    assert config["input_size"] == 128  # the seed's
    assert len(config["data_sha256"]) == 64 and config["versions"]["torch"] == torch.__version__
    split = json.loads((trained / "split.json").read_text())
    ids = read_dataset(tiny_h5).ids
    assert sorted(split["train"] + split["val"]) == sorted(ids) and not set(split["train"]) & set(
        split["val"]
    )
    last = load_checkpoint(trained / "checkpoints" / "last.pt")
    assert last["epoch"] == 3 and {"model", "optimizer", "scheduler", "stopper", "torch_rng"} <= set(last)
    best = load_checkpoint(trained / "checkpoints" / "best.pt")
    best_row = min(rows, key=lambda r: float(r["val_loss"]))
    assert best["epoch"] == int(best_row["epoch"])
    assert Image.open(trained / "curves.png").size[0] > 100
    assert (trained / "train.log").read_text().count("epoch ") >= 3
    assert not list(trained.rglob("*.tmp"))


def test_config_alone_rebuilds_the_model(trained: Path) -> None:
    config = RunDir(trained).read_config()
    model = build_model(config)
    model.load_state_dict(load_checkpoint(trained / "checkpoints" / "best.pt")["model"])
    out = model.eval()(torch.zeros(2, 1, 128, 128))
    assert out.shape == (2, 1, 128, 128)


def test_the_default_network_trains_at_its_smaller_input_by_default(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "default"
    result = invoke("train", "--data", tiny_h5, "--run", run, "--epochs", "1", "--start-filters", "4")
    assert result.exit_code == 0, result.output
    config = RunDir(run).read_config()
    assert (config["arch"], config["fit"], config["input_size"]) == ("resunet", "reflect", RESUNET_INPUT)
    model = build_model(config).eval()
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "best.pt")["model"])
    fit = InputFit.of_config(config)
    images = torch.from_numpy(read_dataset(tiny_h5).images[:4])
    assert fit.to_image_size(model(fit.model_input(images))).shape == (4, 1, 101, 101)


def test_existing_run_is_refused_without_resume_or_force(trained: Path, tiny_h5: Path) -> None:
    result = invoke(*train_args(tiny_h5, trained, "--epochs", "1"))
    assert_one_line_error(result, trained, "--resume")


def test_resume_with_a_conflicting_option_is_refused(trained: Path, tiny_h5: Path) -> None:
    result = invoke("train", "--data", tiny_h5, "--run", trained, "--resume", "--lr", "0.1")
    assert_one_line_error(result, "--lr")


def test_a_mosaic_run_records_its_share_and_keeps_it_on_resume(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "mosaic"
    assert invoke(*train_args(tiny_h5, run, "--epochs", "1", "--mosaic", "0.5")).exit_code == 0
    assert json.loads((run / "config.json").read_text())["mosaic"] == 0.5
    result = invoke("train", "--run", run, "--resume", "--epochs", "2", "--mosaic", "0.25")
    assert_one_line_error(result, "--mosaic")


def test_a_symmetric_lovasz_run_records_it(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "symmetric"
    args = train_args(tiny_h5, run, "--epochs", "2", "--loss", "lovasz", "--lovasz-symmetric")
    assert invoke(*args).exit_code == 0
    assert json.loads((run / "config.json").read_text())["lovasz_symmetric"] is True
    assert len(metrics(run)) == 2


def test_resume_with_nothing_to_resume_is_refused(tmp_path: Path, tiny_h5: Path) -> None:
    result = invoke(*train_args(tiny_h5, tmp_path / "new", "--resume"))
    assert_one_line_error(result, "nothing to resume")
    assert not (tmp_path / "new" / "config.json").exists()


def _train_process(data: Path, run: Path, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "saltseg", *map(str, train_args(data, run, "--epochs", "3", *extra))]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epochs(run: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "metrics.csv").exists() and len(metrics(run)) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {n} epochs in {run} (exit {proc.poll()})")


def _loss_columns(run: Path) -> list[tuple[str, str]]:
    return [(r["train_loss"], r["val_loss"]) for r in metrics(run)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["ctrl-c", "sigterm", "kill-9"])
def test_interrupted_then_resumed_matches_an_uninterrupted_run(
    sig: signal.Signals, trained: Path, tiny_h5: Path, tmp_path: Path
) -> None:
    run = tmp_path / "interrupted"
    proc = _train_process(tiny_h5, run)
    _wait_for_epochs(run, 1, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig != signal.SIGKILL:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], stderr
        assert "--resume" in stderr.strip().splitlines()[-1] and "Traceback" not in stderr
        assert not [p.name for p in run.rglob("*") if p.name.endswith(".tmp") or p.name == ".lock"]
    assert len(metrics(run)) < 3
    result = invoke("train", "--data", tiny_h5, "--run", run, "--resume")
    assert result.exit_code == 0, result.output
    assert _loss_columns(run) == _loss_columns(trained)


def _state_dict_file(path: Path) -> Path:
    """Write an 'ImageNet-like' resnet18 state dict: 3-channel first convolution and a classifier."""
    from saltseg.models.smp_unet import build_smp_unet

    encoder = build_smp_unet("resnet18").encoder
    torch.manual_seed(1)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    state["conv1.weight"] = torch.randn(64, 3, 7, 7)
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, path)
    return path


def test_smp_unet_starts_from_a_local_weights_file(tiny_h5: Path, tmp_path: Path) -> None:
    weights = _state_dict_file(tmp_path / "resnet18.pth")
    run = tmp_path / "smp"
    result = invoke(
        "train",
        "--data",
        tiny_h5,
        "--run",
        run,
        "--arch",
        "smp-unet",
        "--encoder",
        "resnet18",
        "--encoder-weights",
        weights,
        "--epochs",
        "1",
        "--batch-size",
        "16",
    )
    assert result.exit_code == 0, result.output
    from saltseg.models.smp_unet import build_smp_unet

    loaded = build_smp_unet("resnet18", str(weights)).encoder.state_dict()
    saved = torch.load(weights, weights_only=True)
    assert torch.equal(loaded["conv1.weight"], saved["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(loaded["layer4.1.bn2.weight"], saved["layer4.1.bn2.weight"])
    assert RunDir(run).read_config()["encoder_weights"] == str(weights)


def _unlabelled(tiny_h5: Path, path: Path) -> Path:
    data = read_dataset(tiny_h5)
    write_dataset(path, Dataset(data.ids, data.images))
    return path


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--epochs", "0"), "--epochs"),
        (("--arch", "smp-unet", "--encoder", "resnet999"), "resnet999"),
        (("--device", "cuda:7"), "cuda:7"),
        (("--loss", "focal"), "focal"),
        (("--budget", "soon"), "soon"),
        (("--input-size", "120"), "multiple of 16"),
        (("--average-from", "1.5"), "--average-from"),
        (("--mosaic", "1.5"), "--mosaic"),
        (("--input-size", "96"), "--input-size"),
        (("--arch", "smp-unet", "--input-size", "112"), "multiple of 32"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    extra: tuple[str, ...], named: str, tiny_h5: Path, tmp_path: Path
) -> None:
    run = tmp_path / "r"
    result = invoke("train", "--data", tiny_h5, "--run", run, *extra)
    if "--budget" in extra:  # typer reports bad parameter values itself (usage + message)
        assert result.exit_code == 2 and named in result.stderr
    else:
        assert_one_line_error(result, named)
    assert not run.exists() or not any(run.iterdir())


def test_missing_and_unlabelled_data_files_exit_2(tiny_h5: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.h5"
    assert_one_line_error(invoke("train", "--data", missing, "--run", tmp_path / "a"), missing)
    unlabelled = _unlabelled(tiny_h5, tmp_path / "test.h5")
    assert_one_line_error(invoke("train", "--data", unlabelled, "--run", tmp_path / "b"), unlabelled, "masks")


TORCHRUN_NAMES = {"--run": "--run-dir", "--monitor": "--monitor-metric"}
"""torchrun reads --run and --monitor as abbreviations of its own options: their aliases pass."""


def test_two_process_gloo_training_completes_an_epoch(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port of its own, not the fixed 29500 another process may hold
        "--nproc-per-node",
        "2",
        "-m",
        "saltseg",
        *[TORCHRUN_NAMES.get(str(a), str(a)) for a in train_args(tiny_h5, run, "--budget", "20s",
                                                                    "--epochs", "2")],
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[:2000] + "\n...\n" + done.stderr[-2000:]
    # the budget's decisions (learning rate each step, cutting an epoch, the end) come from rank 0,
    # so both ranks stop together and report the same run
    assert 1 <= len(metrics(run)) <= 2
    assert (run / "checkpoints" / "best.pt").exists()
    summaries = done.stdout.strip().splitlines()
    assert len(summaries) == 2 and summaries[0] == summaries[1]  # each rank reports; rank 0 wrote files
    assert (run / "train.log").read_text().count("epoch 1") == 1


def test_budget_stops_in_time_and_leaves_a_complete_run(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "budget"
    started = time.monotonic()
    result = invoke(*train_args(tiny_h5, run, "--budget", "6s"))
    assert result.exit_code == 0, result.output
    rows = metrics(run)
    assert sum(float(r["seconds"]) for r in rows) <= 6.5
    assert time.monotonic() - started < 30
    assert "budget" in result.stdout and (run / "checkpoints" / "best.pt").exists()
    config = RunDir(run).read_config()
    assert config["schedule"] == "budget" and config["budget"] == 6.0
    lrs = [float(r["lr"]) for r in rows]
    assert len(lrs) >= 3 and all(a >= b for a, b in pairwise(lrs[1:]))
    assert lrs[-1] < 0.5 * 1e-3


def test_only_resunet_defaults_to_the_smaller_input(tmp_path: Path) -> None:
    cpu = torch.device("cpu")
    cases = [
        ("resunet", None, None, RESUNET_INPUT),
        ("resunet", 15 * 60, None, RESUNET_INPUT),
        ("resunet", 60 * 60, 128, 128),
        ("unet", 15 * 60, None, 128),  # the seed's network keeps the seed's input
        ("smp-unet", None, None, 128),  # 112 is no multiple of its 32
    ]
    for i, (arch, budget, size, expected) in enumerate(cases):
        opts = TrainOptions(run=tmp_path / str(i), arch=arch, budget=budget, input_size=size)
        check_options(opts)
        assert run_config(opts, RunDir(tmp_path / str(i)), cpu)["input_size"] == expected, (arch, budget)


def test_the_last_epochs_weights_are_averaged_across_a_resume(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "averaged"
    first = invoke(*train_args(tiny_h5, run, "--epochs", "3", "--average-from", "0.5"))
    assert first.exit_code == 0, first.output
    after_3 = load_checkpoint(run / "checkpoints" / "last.pt")
    assert after_3["averaged_from"] == 3 and int(after_3["averaged"]["n_averaged"]) == 1
    second = invoke("train", "--data", tiny_h5, "--run", run, "--epochs", "4", "--resume")
    assert second.exit_code == 0, second.output
    after_4 = load_checkpoint(run / "checkpoints" / "last.pt")
    averaged = after_4["averaged"]
    assert int(averaged["n_averaged"]) == 2
    names = [name for name, _ in build_model(RunDir(run).read_config()).named_parameters()]
    for name in names:
        expected = (after_3["model"][name] + after_4["model"][name]) / 2
        torch.testing.assert_close(averaged[f"module.{name}"], expected)
    line = next(x for x in (run / "train.log").read_text().splitlines() if "average of epochs 3-4" in x)
    average_loss = float(line.split("val_loss ")[1].split()[0])
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    if average_loss < min(float(r["val_loss"]) for r in metrics(run)):
        assert best["averaged_from"] == 3 and "average of epochs 3-4 of 4" in second.stdout
        torch.testing.assert_close(best["model"][names[0]], averaged[f"module.{names[0]}"])
    else:
        assert "averaged_from" not in best and "*best" not in line


def test_no_average_is_kept_when_averaging_is_off(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "plain"
    result = invoke(*train_args(tiny_h5, run, "--epochs", "2", "--average-from", "1"))
    assert result.exit_code == 0, result.output
    assert load_checkpoint(run / "checkpoints" / "last.pt")["averaged"] == {}
    assert "average of" not in (run / "train.log").read_text()


def test_batch_norm_statistics_are_recomputed_over_the_images(tiny_h5: Path) -> None:
    images = torch.from_numpy(read_dataset(tiny_h5).images[:12])
    model = build_model({"arch": "unet", "start_filters": 4, "batch_norm": True, "dropout": 0.0})
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen: list[torch.Tensor] = []
    norm.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].mean(dim=(0, 2, 3))))
    recompute_batch_norm(model, images, InputFit(Fit.reflect, 128), batch_size=4)
    assert len(seen) == 3 and int(norm.num_batches_tracked) == 3 and not model.training
    torch.testing.assert_close(norm.running_mean, torch.stack(seen).mean(0), rtol=1e-4, atol=1e-5)


def test_the_image_head_learns_and_caps_every_pixel_by_its_image(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "gated"
    result = invoke(*train_args(tiny_h5, run, "--epochs", "2", "--image-head"))
    assert result.exit_code == 0, result.output
    config = RunDir(run).read_config()
    assert config["image_head"] is True
    torch.manual_seed(config["seed"])
    untrained = build_model(config).state_dict()
    model = build_model(config)
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "best.pt")["model"])
    head = "net.image_head.2.weight"
    assert not torch.equal(model.state_dict()[head], untrained[head])
    x = InputFit.of_config(config).model_input(torch.from_numpy(read_dataset(tiny_h5).images[:8]))
    pixel, image, _ = model.train()(x)
    assert pixel.shape == (8, 1, 128, 128) and image.shape == (8, 1)
    model.eval()
    capped = model(x)
    pixel, image, _ = model.net(x)
    assert torch.equal(capped, torch.minimum(pixel, image.view(8, 1, 1, 1)))
    chosen = invoke("threshold", run, "--json")
    assert chosen.exit_code == 0, chosen.output
    assert 0 <= json.loads(chosen.stdout)["score"] <= 1


def test_scse_and_hypercolumn_decoders_train_and_rebuild(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "decoder"
    extra = ("--epochs", "2", "--scse", "--hypercolumn", "--lovasz-from", "0.5", "--lovasz-hinge", "elu")
    result = invoke(*train_args(tiny_h5, run, *extra))
    assert result.exit_code == 0, result.output
    config = RunDir(run).read_config()
    assert (config["scse"], config["hypercolumn"], config["lovasz_hinge"]) == (True, True, "elu")
    torch.manual_seed(config["seed"])
    untrained = build_model(config).state_dict()
    model = build_model(config).eval()
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "last.pt")["model"])
    for name in ("side_heads.0.weight", "decoder.3.1.spatial_gate.0.weight"):
        assert not torch.equal(model.state_dict()[name], untrained[name])
    plain = build_model({k: v for k, v in config.items() if k not in ("scse", "hypercolumn")})
    assert plain.side_heads is None and not any(isinstance(m, SCSE) for m in plain.modules())

    data = read_dataset(tiny_h5)
    rows = [data.ids.index(i) for i in RunDir(run).read_split()["val"]]
    images, truth = torch.from_numpy(data.images[rows]), torch.from_numpy(data.masks[rows]).unsqueeze(1)
    precision = autocast(torch.device("cpu"), Precision(config["precision"]))
    logits = predict_logits(model, images, InputFit.of_config(config), 16, precision).unsqueeze(1)
    losses = {h: float(lovasz_hinge(logits, truth.float(), h)) for h in ("relu", "elu")}
    assert losses["elu"] > losses["relu"] + 0.1
    # epoch 2 trained with the Lovasz hinge, but validation loss means one thing for the whole run
    assert config["val_loss"] == "bce"
    assert float(metrics(run)[1]["val_loss"]) == pytest.approx(float(bce(logits, truth.float())), rel=1e-3)
    assert abs(float(metrics(run)[1]["val_loss"]) - losses["elu"]) > 0.05
    side_heads, model.side_heads = model.side_heads, None
    without_sides = predict_logits(model, images, InputFit.of_config(config), 16, precision)
    assert side_heads is not None and not torch.allclose(without_sides, logits[:, 0])


def test_decoder_switches_are_on_by_default_for_resunet_only(tiny_h5: Path, tmp_path: Path) -> None:
    cpu = torch.device("cpu")
    for arch, on in (("resunet", True), ("unet", False), ("smp-unet", False)):
        config = run_config(TrainOptions(arch=arch, run=tmp_path / arch), RunDir(tmp_path / arch), cpu)
        assert [config[name] for name in DECODER_SWITCHES] == [on, on, on], arch
    chosen = run_config(TrainOptions(scse=False), RunDir(tmp_path / "chosen"), cpu)
    assert (chosen["image_head"], chosen["scse"], chosen["hypercolumn"]) == (True, False, True)
    seed = build_model(run_config(TrainOptions(arch="unet"), RunDir(tmp_path / "seed"), cpu))
    assert seed.side_heads is None and seed.image_head is None
    result = invoke("train", "--data", tiny_h5, "--run", tmp_path / "smp", "--arch", "smp-unet", "--scse")
    assert_one_line_error(result, "--scse")
    assert not (tmp_path / "smp").exists()


def test_the_default_network_keeps_every_map_and_gradient_channels_last(
    tiny_h5: Path, tmp_path: Path
) -> None:
    cpu = torch.device("cpu")
    config = run_config(TrainOptions(run=tmp_path / "run"), RunDir(tmp_path / "run"), cpu)
    model = build_model(config).to(memory_format=torch.channels_last).train()
    formats: dict[str, bool] = {}

    def record(name: str, output: object) -> None:
        if torch.is_tensor(output) and output.dim() == 4 and output.shape[1] > 1:
            formats[name] = output.is_contiguous(memory_format=torch.channels_last)

    for name, module in model.named_modules():
        module.register_forward_hook(lambda m, i, out, name=name: record(name, out))
    images = torch.from_numpy(read_dataset(tiny_h5).images[:4])
    with autocast(cpu, Precision.bf16):
        network_output(model, images, InputFit.of_config(config))
    assert "net.encoder.0.shortcut.0" in formats and "net.decoder.3.1" in formats
    assert [name for name, last in formats.items() if not last] == []

    maps = (images[:, None].float() / 255).expand(-1, 8, -1, -1).contiguous(memory_format=torch.channels_last)
    maps.requires_grad_()
    means = ChannelMean()(maps)
    assert torch.allclose(means, torch.nn.AdaptiveAvgPool2d(1)(maps))
    means.sum().backward()
    assert maps.grad is not None and maps.grad.is_contiguous(memory_format=torch.channels_last)
    scse = SCSE(8).to(memory_format=torch.channels_last)
    gated = scse(maps)
    expected = maps * scse.channel_gate(maps) + maps * scse.spatial_gate(maps)
    assert gated.is_contiguous(memory_format=torch.channels_last) and torch.allclose(gated, expected)


def test_deep_supervision_scores_each_hypercolumn_side_map(tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "deep"
    result = invoke(*train_args(tiny_h5, run, "--epochs", "1", "--hypercolumn", "--deep-supervision"))
    assert result.exit_code == 0, result.output
    config = RunDir(run).read_config()
    assert config["deep_supervision"] is True
    model = build_model(config)
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "last.pt")["model"])
    fit = InputFit.of_config(config)
    data = read_dataset(tiny_h5)
    x, y = fit.model_input(torch.from_numpy(data.images[:8])), torch.from_numpy(data.masks[:8]).unsqueeze(1)
    with torch.no_grad():
        out = model.train()(x)
    assert isinstance(out, Outputs) and out.image is None
    assert [tuple(side.shape) for side in out.sides] == [(8, 1, 128, 128)] * 3
    sides = sum(float(bce(fit.to_image_size(side), y.float())) for side in out.sides)
    plain, deep = (float(step_loss(out, y.float(), bce, fit, w)) for w in (0.0, SIDE_LOSS_WEIGHT))
    assert deep == pytest.approx(plain + SIDE_LOSS_WEIGHT * sides, rel=1e-5)
    assert torch.is_tensor(model.eval()(x))

    result = invoke(*train_args(tiny_h5, tmp_path / "unet", "--deep-supervision"))
    assert_one_line_error(result, "--hypercolumn")
    assert not (tmp_path / "unet").exists()


def test_real_competition_tiles_train_and_resume(real_tiny_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "real"
    result = invoke(*train_args(real_tiny_h5, run, "--epochs", "1"))
    assert result.exit_code == 0, result.output
    result = invoke("train", "--run", run, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert [int(r["epoch"]) for r in metrics(run)] == [1, 2]
