"""The ``saltseg`` command line: each command parses its options, calls one stage function, prints.

Stage modules never import typer; errors they raise (SaltsegError) become one line on stderr and
exit code 2 here. At start-up only typer and the stages' plain option modules are imported; each
command imports its stage (torch, h5py, matplotlib...) when it runs, so ``--help``, ``--version``
and ``rle`` start at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from saltseg import __version__
from saltseg.console import log, setup_logging
from saltseg.errors import SaltsegError, fail
from saltseg.export import DEFAULT_OPSET
from saltseg.interrupts import Terminated, exit_code, sigterm_raises
from saltseg.precision import Precision
from saltseg.seismic.options import (
    BLENDS,
    MAX_PIXELS,
    AmplitudeOptions,
    PatchOptions,
    VolumeOptions,
    WindowOptions,
    parse_pair,
)
from saltseg.shapes import Fit
from saltseg.training.options import Augment, TrainOptions

DATA, MODEL, OPTIM, PSEUDO, RUN, SEISMIC = "Data", "Model", "Optimisation", "Pseudo-labels", "Run", "Seismic"
SURVEY = "Labelled survey"


_TRAIN = TrainOptions()
_WINDOWS, _AMPLITUDE, _VOLUME = WindowOptions(), AmplitudeOptions(), VolumeOptions()
_PATCHES = PatchOptions()


def _opt(panel: str, help_text: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help_text, rich_help_panel=panel)


# Options that several commands share (predict, evaluate and prepare read seismic alike).
Window = Annotated[int, _opt(SEISMIC, "Window side in samples (101: one tile).")]
Overlap = Annotated[float, _opt(SEISMIC, "Share of a window its neighbour overlaps.")]
Blend = Annotated[str, _opt(SEISMIC, f"Window weights: {', '.join(BLENDS)}.")]
Gate = Annotated[bool, _opt(SEISMIC, "Cap pixels by the image head's logit of their window.",
                            "--gate/--no-gate")]
Percentile = Annotated[float, _opt(SEISMIC, "Clip amplitudes at this percentile of |sample|.")]
Clip = Annotated[str | None, _opt(SEISMIC, "Clip amplitudes to LOW,HIGH instead (e.g. --clip=-3,3).",
                                  "--clip")]
Endian = Annotated[str, _opt(SEISMIC, "SEG-Y byte order: auto, big or little.")]
Iline = Annotated[int, _opt(SEISMIC, "SEG-Y inline header byte.")]
Xline = Annotated[int, _opt(SEISMIC, "SEG-Y crossline header byte.")]
SaltClass = Annotated[int | None, _opt(SURVEY, "The class number of salt in LABELS (others are not salt).",
                                       "--class")]


app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Segment salt in seismic images: prepare data, train a UNet, threshold, predict, submit.",
)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a SaltsegError into one line on stderr and its exit code; Ctrl-C into exit 130 and
    SIGTERM into 143, after every output being written is removed."""
    try:
        with sigterm_raises():
            yield
    except SaltsegError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        typer.echo("terminated" if isinstance(exc, Terminated) else "interrupted", err=True)
        raise typer.Exit(exit_code(exc)) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"saltseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More messages.")] = False,
) -> None:
    setup_logging(verbose)


@app.command("prepare", rich_help_panel="Data")
def prepare_cli(
    source: Annotated[
        Path, typer.Argument(help="train.zip, test.zip, or a folder like them; with --labels, a seismic "
                             "volume (.sgy, .segy, 3-D .npy) or section (.png, .tif, .npy).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HDF5 file.", show_default="<SOURCE stem>.h5 here"),
    ] = None,
    depths: Annotated[Path | None, typer.Option(help="depths.csv (id,z): store depths.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    labels: Annotated[
        Path | None, _opt(SURVEY, "Labels of the seismic SOURCE: a label volume or mask of its geometry, "
                          "or a folder of per-line masks named by line number.")
    ] = None,
    salt_class: SaltClass = None,
    along: Annotated[str, _opt(SURVEY, "Lines cut into patches: inline, crossline or both.")
                     ] = _PATCHES.along,
    patch: Annotated[int, _opt(SURVEY, "Patch side in samples (other than 101: resized to 101).")
                     ] = _PATCHES.patch,
    stride: Annotated[
        int | None, _opt(SURVEY, "Samples between patches (default: half a patch).")
    ] = None,
    percentile: Percentile = _AMPLITUDE.percentile,
    clip: Clip = None,
    endian: Endian = _VOLUME.endian,
    iline: Iline = _VOLUME.iline,
    xline: Xline = _VOLUME.xline,
) -> None:
    """Turn a competition archive or folder, or a labelled survey, into one HDF5 data file."""
    with reported_errors():
        if labels is None:
            from saltseg.data.prepare import prepare

            summary = prepare(source, out, depths, force)
        else:
            from saltseg.seismic.patches import PatchOptions, prepare_survey

            summary = prepare_survey(source, labels, out, PatchOptions(along, patch, stride, salt_class),
                                     VolumeOptions(along, endian, iline, xline),
                                     AmplitudeOptions(percentile, parse_pair(clip, "--clip")), force)
    log.info("%s", summary)


@app.command("rle", rich_help_panel="Data")
def rle_cli(
    source: Annotated[
        Path,
        typer.Argument(
            help="PNG masks (folder, zip), a .h5 file, a run or ensemble directory; with --decode a CSV."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV, or folder.", show_default="stdout")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Probability cut.", show_default="the run's, else 0.5", min=0.0, max=1.0),
    ] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="CSV whose id column orders the rows.")] = None,
    decode: Annotated[
        bool, typer.Option("--decode", help="Write the masks of CSV SOURCE as PNGs in OUT.")
    ] = False,
) -> None:
    """Run-length encode masks as a submission CSV, or decode one back to PNG masks."""
    from saltseg.data import rle

    with reported_errors():
        if decode:
            if out is None:
                raise fail("--decode", "needs --out FOLDER for the PNG masks")
            log.info("wrote %d masks to %s", rle.decode(source, out), out)
            return
        text = rle.encode(source, out, threshold, ids)
    if out is None:
        sys.stdout.write(text)


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        from saltseg.training.schedule import parse_duration

        return parse_duration(text)
    except SaltsegError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("train", rich_help_panel="Model")
def train_cli(
    ctx: typer.Context,
    data: Annotated[Path, _opt(DATA, "Labelled HDF5 file from prepare.")] = _TRAIN.data,
    run: Annotated[
        Path, _opt(DATA, "Run directory (--run-dir under torchrun).", "--run", "--run-dir")
    ] = _TRAIN.run,
    val_fraction: Annotated[
        float, _opt(DATA, "Validation share, stratified by coverage.")
    ] = _TRAIN.val_fraction,
    folds: Annotated[int, _opt(DATA, "K of K-fold cross-validation (1: one split).")] = _TRAIN.folds,
    fold: Annotated[int, _opt(DATA, "The fold that validates, 0..K-1.")] = _TRAIN.fold,
    arch: Annotated[str, _opt(MODEL, "resunet, unet (the seed's) or smp-unet.")] = _TRAIN.arch,
    init: Annotated[
        Path | None, _opt(MODEL, "Start from this trained run's best.pt and take its network (arch, "
                          "filters, encoder, decoder switches, input size, fit); the rest is this run's own.")
    ] = _TRAIN.init,
    start_filters: Annotated[int, _opt(MODEL, "unet: filters of the top level.")] = _TRAIN.start_filters,
    batch_norm: Annotated[bool, _opt(MODEL, "unet: batch norm after convolutions.")] = _TRAIN.batch_norm,
    dropout: Annotated[float, _opt(MODEL, "unet: dropout rate.")] = _TRAIN.dropout,
    encoder: Annotated[str, _opt(MODEL, "smp-unet: encoder name.")] = _TRAIN.encoder,
    encoder_weights: Annotated[
        str, _opt(MODEL, "smp-unet: none, imagenet or a local PATH.")
    ] = _TRAIN.encoder_weights,
    image_head: Annotated[
        bool | None, _opt(MODEL, "An image-level 'any salt' head capping every pixel (default: resunet).")
    ] = _TRAIN.image_head,
    scse: Annotated[
        bool | None, _opt(MODEL, "unet, resunet: scSE after every decoder block (default: resunet).")
    ] = _TRAIN.scse,
    hypercolumn: Annotated[
        bool | None, _opt(MODEL, "unet, resunet: add each decoder level's logit (default: resunet).")
    ] = _TRAIN.hypercolumn,
    deep_supervision: Annotated[
        bool, _opt(MODEL, "Score each hypercolumn side map by the loss too (weight 0.1 each).")
    ] = _TRAIN.deep_supervision,
    fit: Annotated[Fit, _opt(MODEL, "101 to the input size by reflect padding or resizing.")] = _TRAIN.fit,
    input_size: Annotated[
        int | None,
        _opt(MODEL, "Side of the network's square input, a multiple of 16 (32 for smp-unet); "
             "default 112 for resunet, 128 (the seed's) for unet and smp-unet."),
    ] = _TRAIN.input_size,
    epochs: Annotated[
        int | None, _opt(OPTIM, "Most epochs (50 by default; no cap with --budget).")
    ] = _TRAIN.epochs,
    budget: Annotated[str | None, _opt(OPTIM, "Time budget of the whole run: 90s, 45m, 2h.")] = None,
    batch_size: Annotated[int, _opt(OPTIM, "Images per step.")] = _TRAIN.batch_size,
    lr: Annotated[float, _opt(OPTIM, "Adam learning rate.")] = _TRAIN.lr,
    loss: Annotated[str, _opt(OPTIM, "bce, bce+dice or lovasz.")] = _TRAIN.loss,
    lovasz_from: Annotated[
        float | None, _opt(OPTIM, "Switch to the Lovasz hinge after this fraction of the run (1: never).")
    ] = _TRAIN.lovasz_from,
    lovasz_hinge: Annotated[
        str, _opt(OPTIM, "Lovasz hinge: relu (the paper's) or elu (elu+1, smooth).")
    ] = _TRAIN.lovasz_hinge,
    lovasz_symmetric: Annotated[
        bool, _opt(OPTIM, "Average the Lovasz hinge of the salt and of the rest (negated logits).")
    ] = _TRAIN.lovasz_symmetric,
    average_from: Annotated[
        float | None,
        _opt(OPTIM, "Average the weights of every epoch after this fraction of the run (e.g. "
             "0.75); best.pt if it validates better. Off by default."),
    ] = _TRAIN.average_from,
    snapshots: Annotated[
        int,
        _opt(OPTIM, "Run the budget's cosine in this many cycles (the first over half the run) and keep "
             "each cycle's last weights; their ensemble is best.pt if it validates better. 1: off."),
    ] = _TRAIN.snapshots,
    monitor: Annotated[
        str, _opt(OPTIM, "val_map or val_loss: what best.pt follows.", "--monitor", "--monitor-metric")
    ] = _TRAIN.monitor,
    augment: Annotated[
        Augment, _opt(OPTIM, "none, flip, or full (flip, shift, scale, brightness).")
    ] = _TRAIN.augment,
    mosaic: Annotated[
        float, _opt(OPTIM, "Share of training images replaced by a crop across four of the batch's "
                    "images, so windows that straddle unrelated tiles of a section are seen in training "
                    "(0.75 for a run meant for sections).")
    ] = _TRAIN.mosaic,
    seed: Annotated[int, _opt(OPTIM, "Seed of the split and the training.")] = _TRAIN.seed,
    teacher: Annotated[
        Path | None, _opt(PSEUDO, "Train a student of this run: its split, its weights to start from, "
                          "and its confident predictions on --unlabelled as extra training images.")
    ] = _TRAIN.teacher,
    unlabelled: Annotated[
        Path | None, _opt(PSEUDO, "Unlabelled HDF5 file from prepare that the teacher predicted "
                          "(saltseg predict TEACHER FILE).")
    ] = _TRAIN.unlabelled,
    pseudo_ratio: Annotated[
        float, _opt(PSEUDO, "Pseudo-labelled images drawn each epoch per labelled training image.")
    ] = _TRAIN.pseudo_ratio,
    device: Annotated[str, _opt(RUN, "auto, cpu, cuda or cuda:N.")] = _TRAIN.device,
    precision: Annotated[Precision, _opt(RUN, "auto: bf16 where the hardware has it.")] = _TRAIN.precision,
    resume: Annotated[bool, _opt(RUN, "Continue the run from checkpoints/last.pt.")] = _TRAIN.resume,
    force: Annotated[bool, _opt(RUN, "Replace a run already in RUN.")] = _TRAIN.force,
) -> None:
    """Train a UNet on a prepared data file; resumable, into a self-describing run directory."""
    params = dict(ctx.params)
    given = frozenset(k for k in params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE")
    params["budget"] = _duration(budget)
    from saltseg.training.stage import train

    with reported_errors():
        summary = train(TrainOptions(**params, given=given))
    typer.echo(
        f"{summary.best_weights} of {summary.epochs_run}: val_loss {summary.best_val_loss:.4f}, "
        f"val_map {summary.best_val_map:.4f}; weights {summary.best_checkpoint} ({summary.stop_reason})"
    )


RUNS_HELP = "Run directories, or an ensemble directory; several runs are averaged."
ENSEMBLE_HELP = "Directory of the ensemble of several RUNS (created if new)."


def _json_or_text(as_json: bool, obj: dict, text: str) -> None:
    typer.echo(json.dumps(obj) if as_json else text)


@app.command("predict", rich_help_panel="Model")
def predict_cli(
    runs: Annotated[list[Path], typer.Argument(help=RUNS_HELP, metavar="RUN...", show_default=False)],
    source: Annotated[
        Path,
        typer.Argument(help="Zip or folder of images, or an HDF5 file from prepare; or a seismic section "
                       "(.png, .tif, .npy) or volume (.sgy, .segy, 3-D .npy).", metavar="SOURCE"),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Predictions file (sections: .npy, .tif or .png; volumes: .sgy or .npy).",
            show_default="RUN/predictions/<SOURCE stem>.h5; RUN/sections/<SOURCE stem>.* for seismic",
        ),
    ] = None,
    ensemble: Annotated[Path | None, _opt(DATA, ENSEMBLE_HELP)] = None,
    masks: Annotated[
        Path | None, _opt(DATA, "Also write 0/255 PNG masks here, cut at the run's threshold.")
    ] = None,
    tta: Annotated[bool, _opt(RUN, "Average with the horizontally flipped image's prediction.")] = True,
    batch_size: Annotated[int, _opt(RUN, "Images per forward pass.")] = 64,
    device: Annotated[str, _opt(RUN, "auto, cpu, cuda or cuda:N.")] = "auto",
    compile_net: Annotated[
        bool | None,
        _opt(RUN, "torch.compile the networks (default: on the CPU for 4000 images or more).",
             "--compile/--no-compile"),
    ] = None,
    window: Window = _WINDOWS.size,
    overlap: Overlap = _WINDOWS.overlap,
    blend: Blend = _WINDOWS.blend,
    gate: Gate = _WINDOWS.gate,
    percentile: Percentile = _AMPLITUDE.percentile,
    clip: Clip = None,
    resample: Annotated[
        str | None, _opt(SEISMIC, "Scale sections by ROWS,COLS factors before predicting (and back).",
                         "--resample")
    ] = None,
    max_pixels: Annotated[int, _opt(SEISMIC, "Refuse sections with more samples.")] = MAX_PIXELS,
    along: Annotated[str, _opt(SEISMIC, "Volumes: inline, crossline or both.")] = _VOLUME.along,
    endian: Endian = _VOLUME.endian,
    iline: Iline = _VOLUME.iline,
    xline: Xline = _VOLUME.xline,
    preview: Annotated[
        bool, _opt(SEISMIC, "Write a PNG of the salt outline over the seismic.", "--preview/--no-preview")
    ] = True,
    as_masks: Annotated[
        bool, _opt(SEISMIC, "Write the 0/1 mask cut at the run's threshold, not probabilities.", "--as-masks")
    ] = False,
) -> None:
    """Predict salt probabilities for every image of SOURCE, or for a seismic section or volume;
    prints the file written."""
    from saltseg.inference.predict import predict
    from saltseg.seismic import command as seismic

    with reported_errors():
        if not seismic.is_seismic(source):
            result = predict(runs, source, out, ensemble, tta, batch_size, device, masks, compile_net)
        elif masks is not None:
            raise fail(source, "--masks DIR is for tiles; use --as-masks for sections and volumes")
        else:
            windows = WindowOptions(window, overlap, blend, tta, gate,
                                    parse_pair(resample, "--resample") or _WINDOWS.resample)
            amplitude = AmplitudeOptions(percentile, parse_pair(clip, "--clip"))
            result = seismic.predict_seismic(
                runs, source, out, ensemble, windows, amplitude, VolumeOptions(along, endian, iline, xline),
                as_masks, batch_size, device, max_pixels, preview)
    typer.echo(str(result.path))


@app.command("threshold", rich_help_panel="Model")
def threshold_cli(
    runs: Annotated[list[Path], typer.Argument(help=RUNS_HELP, metavar="RUN...", show_default=False)],
    data: Annotated[Path | None, _opt(DATA, "Labelled HDF5 file, not config.json's.")] = None,
    ensemble: Annotated[Path | None, _opt(DATA, ENSEMBLE_HELP)] = None,
    tta: Annotated[bool, _opt(RUN, "Average with the horizontally flipped image's prediction.")] = True,
    batch_size: Annotated[int, _opt(RUN, "Images per forward pass.")] = 64,
    device: Annotated[str, _opt(RUN, "auto, cpu, cuda or cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Choose the threshold and minimum area on the validation images (out-of-fold for several runs)."""
    from saltseg.inference.threshold import summary_table, threshold

    with reported_errors():
        result = threshold(runs, data, ensemble, tta, batch_size, device)
    _json_or_text(as_json, result.as_dict(), summary_table(result))


@app.command("evaluate", rich_help_panel="Model")
def evaluate_cli(
    runs: Annotated[list[Path], typer.Argument(help=RUNS_HELP, metavar="RUN...", show_default=False)],
    data: Annotated[
        Path,
        typer.Argument(help="Labelled data: HDF5 with masks, or zip of images and masks; with --labels, "
                       "a seismic volume or section.", metavar="DATA"),
    ],
    ensemble: Annotated[Path | None, _opt(DATA, ENSEMBLE_HELP)] = None,
    tta: Annotated[bool, _opt(RUN, "Average with the horizontally flipped image's prediction.")] = True,
    batch_size: Annotated[int, _opt(RUN, "Images per forward pass.")] = 64,
    device: Annotated[str, _opt(RUN, "auto, cpu, cuda or cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    labels: Annotated[
        Path | None, _opt(SURVEY, "Labels of the seismic DATA (as prepare takes them): score its lines.")
    ] = None,
    lines: Annotated[
        str | None, _opt(SURVEY, "Line numbers to score, e.g. 1040,1045,1100-1150 (default: every labelled).")
    ] = None,
    split: Annotated[
        str | None, _opt(SURVEY, "validation: score the run's own held-out lines.")
    ] = None,
    along: Annotated[str, _opt(SURVEY, "Score inlines or crosslines.")] = "inline",
    salt_class: SaltClass = None,
    window: Window = _WINDOWS.size,
    overlap: Overlap = _WINDOWS.overlap,
    blend: Blend = _WINDOWS.blend,
    gate: Gate = _WINDOWS.gate,
    percentile: Percentile = _AMPLITUDE.percentile,
    clip: Clip = None,
    endian: Endian = _VOLUME.endian,
    iline: Iline = _VOLUME.iline,
    xline: Xline = _VOLUME.xline,
) -> None:
    """Score predictions on labelled DATA as the competition would, cut as rle cuts them; or, with
    --labels, the lines of a labelled survey by IoU, precision and recall."""
    with reported_errors():
        if labels is None:
            from saltseg.inference.evaluate import evaluate

            result = evaluate(runs, data, ensemble, tta, batch_size, device)
        else:
            from saltseg.seismic.evaluate import LineChoice, evaluate_survey

            result = evaluate_survey(
                runs, data, labels, LineChoice(along, lines, split), salt_class, ensemble,
                WindowOptions(window, overlap, blend, tta, gate), VolumeOptions(along, endian, iline, xline),
                AmplitudeOptions(percentile, parse_pair(clip, "--clip")), batch_size, device)
    _json_or_text(as_json, result.as_dict(), result.summary())


@app.command("export", rich_help_panel="Model")
def export_cli(
    runs: Annotated[list[Path], typer.Argument(help=RUNS_HELP, metavar="RUN...", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="ONNX file to write.", show_default="RUN/model.onnx")
    ] = None,
    ensemble: Annotated[Path | None, _opt(DATA, ENSEMBLE_HELP)] = None,
    tta: Annotated[bool, _opt(RUN, "Put the horizontal-flip TTA in the graph.")] = True,
    opset: Annotated[int, _opt(RUN, "ONNX opset, 18 or newer.")] = DEFAULT_OPSET,
    check: Annotated[
        Path | None,
        _opt(DATA, "Also compare on every image of this HDF5 file or zip (and score both if labelled)."),
    ] = None,
) -> None:
    """Write the model as one ONNX file: uint8 tiles (N, 1, 101, 101) in, float32 probabilities out.

    Exporter: torch.onnx.export(dynamo=True), opset 18 by default. The weights are inside the file.

    The metadata hold the cut (threshold, minimum area), the runs and their checkpoints' SHA-256.

    Verified with onnxruntime before it is written: within 1e-4 of saltseg's fp32 probabilities.

    Needs pip install 'saltseg\\[export]'.
    """
    from saltseg.export.stage import export

    with reported_errors():
        result = export(runs, ensemble, out, tta, opset, check)
    typer.echo(result.summary())


def main() -> None:
    """Entry point of the ``saltseg`` console script."""
    app()
