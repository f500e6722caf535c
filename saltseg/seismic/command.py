"""``saltseg predict`` on seismic sources: a 2-D section (PNG, TIFF, .npy) or a volume (SEG-Y, 3-D .npy).

Sections are read whole (at most ``max_pixels`` samples), mapped to 8-bit pixels, predicted in
sliding windows and written as ``.npy``/``.tif`` probabilities or the 0/1 mask (``masks``, or a
``.png`` output: 0/255), with ``<out>.json`` beside it saying how it was made and a preview PNG.
The mask is cut at the home's threshold; its minimum area removes connected salt regions smaller
than it (:mod:`saltseg.seismic.regions`). Volumes go to :mod:`saltseg.seismic.volume`. Nothing is
written before the prediction is done, every file is written atomically, and SIGTERM interrupts
as Ctrl-C does, so neither leaves a half-written file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saltseg import __version__
from saltseg.console import progress_bar
from saltseg.inference.predictor import Models, Predictor, load_predictor, resolve
from saltseg.interrupts import sigterm_raises
from saltseg.seismic import SeismicResult, write_record
from saltseg.seismic.amplitude import AmplitudeMap
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions, WindowOptions, check_options
from saltseg.seismic.preview import preview_path, write_preview
from saltseg.seismic.regions import cut_section
from saltseg.seismic.sections import (
    MAX_PIXELS,
    SECTION_SUFFIXES,
    check_output,
    read_section,
    section_pixels,
    write_section,
)
from saltseg.seismic.survey import is_volume_file, trained_amplitude
from saltseg.seismic.volume import SEGY_SUFFIXES, predict_volume_file
from saltseg.seismic.windows import count_windows, padding_note, predict_section

log = logging.getLogger("saltseg")

SEISMIC_SUFFIXES = SECTION_SUFFIXES + SEGY_SUFFIXES
MIN_AREA_RULE = "8-connected salt regions smaller than min_area samples removed"


def is_seismic(source: Path) -> bool:
    """Whether ``source`` is a section or volume file (by suffix) rather than a source of tiles."""
    return Path(source).suffix.lower() in SEISMIC_SUFFIXES


def predict_seismic(
    runs: list[Path],
    source: Path,
    out: Path | None = None,
    ensemble: Path | None = None,
    windows: WindowOptions = WindowOptions(),
    amplitude: AmplitudeOptions = AmplitudeOptions(),
    volume: VolumeOptions = VolumeOptions(),
    masks: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    max_pixels: int = MAX_PIXELS,
    preview: bool = True,
) -> SeismicResult:
    """Predict salt on a section or a volume and write it (format by ``out``'s suffix).

    Args:
        runs: one run, an ensemble directory, or several runs (then ``ensemble`` names their home).
        source: a .png, .tif/.tiff or 2-D .npy section, or a .sgy/.segy or 3-D .npy volume.
        out: the output; default ``HOME/sections/<source stem>`` with .npy (.png with ``masks``)
            for sections, the source's suffix for volumes.
        ensemble: the ensemble directory of several runs.
        windows: window size, overlap, blending, TTA and gate.
        amplitude: how float samples are mapped to 0..255.
        volume: SEG-Y reading and the direction volumes are predicted along.
        masks: write the 0/1 mask cut at the home's threshold instead of probabilities.
        batch_size: windows per forward pass.
        device: auto, cpu, cuda or cuda:N.
        max_pixels: the largest section read (refuses decompression bombs).
        preview: also write a preview PNG of the salt outline over the seismic.

    Raises:
        SaltsegError: bad options, or a source that is not what its name says (nothing written).
    """
    source = Path(source)
    check_options(windows, amplitude)
    models = resolve(runs, ensemble)
    amplitude = trained_amplitude(models.members[0], source, amplitude)
    setup = _Setup(windows, amplitude, masks, models.home.read_cut(), preview, device, batch_size)
    if is_volume_file(source):
        out = Path(out) if out else models.home.section_output_path(source.stem, source.suffix)
        about = {"runs": models.runs, "checkpoint_sha256": models.stamp()}
        result = predict_volume_file(_predictor(models, setup), source, out, windows, amplitude, volume,
                                     setup.cut if masks else None, preview=preview, about=about)
    else:
        out = Path(out) if out else models.home.section_output_path(source.stem, ".png" if masks else ".npy")
        with sigterm_raises():
            result = _predict_section_file(models, source, out, setup, max_pixels)
    models.save()
    log.info("%s: %s in %.1f s -> %s", source.name, "x".join(map(str, result.shape)), result.seconds,
             result.path)
    return result


@dataclass(frozen=True)
class _Setup:
    """The options of one prediction beyond its source and output."""

    windows: WindowOptions
    amplitude: AmplitudeOptions
    masks: bool
    cut: tuple[float, int]
    preview: bool
    device: str
    batch_size: int


def _predictor(models: Models, setup: _Setup) -> Predictor:
    return load_predictor(models, setup.device, setup.batch_size, setup.windows.tta)


def _predict_section_file(models: Models, source: Path, out: Path, setup: _Setup,
                          max_pixels: int) -> SeismicResult:
    """Read, predict and write one 2-D section."""
    check_output(out)
    pixels, mapping = section_pixels(read_section(source, max_pixels), setup.amplitude)
    if (note := padding_note(pixels.shape, setup.windows)) is not None:
        log.warning("%s: %s", source, note)
    predictor = _predictor(models, setup)
    start = time.perf_counter()
    probs = _predict_with_progress(predictor, pixels, setup.windows)
    seconds = time.perf_counter() - start
    as_mask = setup.masks or out.suffix.lower() == ".png"
    mask = cut_section(probs, *setup.cut)
    write_section(out, probs, mask if as_mask else None)
    write_record(out, _record(models, source, setup, mapping, pixels.shape, as_mask))
    shown = None
    if setup.preview:
        shown = write_preview(preview_path(out), [(source.name, pixels, mask)], 0.5)
    return SeismicResult(out, pixels.shape, seconds, mapping.as_dict() if mapping else None, shown)


def _predict_with_progress(predictor: Predictor, pixels: np.ndarray, windows: WindowOptions) -> np.ndarray:
    """Return :func:`predict_section`'s probabilities, drawing a progress bar over the windows."""
    with progress_bar() as bar:
        task = bar.add_task("predicting windows", total=count_windows(pixels.shape, windows))
        return predict_section(predictor, pixels, windows, lambda n: bar.advance(task, n))


def _record(models: Models, source: Path, setup: _Setup, mapping: AmplitudeMap | None,
            shape: tuple[int, ...], as_mask: bool) -> dict:
    """Return what the JSON beside a section's output records."""
    threshold, min_area = setup.cut
    return {
        "source": str(source),
        "shape": list(shape),
        "output": "mask (0/1)" if as_mask else "salt probability",
        "runs": models.runs,
        "checkpoint_sha256": models.stamp(),
        "threshold": threshold,
        "min_area": min_area,
        "min_area_rule": MIN_AREA_RULE,
        "windows": asdict(setup.windows),
        "amplitude": mapping.as_dict() if mapping else None,
        "saltseg_version": __version__,
    }
