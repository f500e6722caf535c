"""Predict a 3-D volume, a SEG-Y file or a .npy array (inline, crossline, sample), section by section.

Along inlines (the default) each inline is a section, samples down and crosslines across, given
to :func:`~saltseg.seismic.windows.predict_section`; crosslines likewise. ``both`` averages the
two: the inline pass's probabilities wait in an accumulator on disk (a float32 .npy as large as
the volume, beside the output, removed after) and the crossline pass writes the mean. A volume of
one inline or crossline (a 2-D line) is predicted along it whatever ``along`` says. Sections
shorter than one tile are padded to it and cropped back (one warning per axis). A cut is made
per final section by :func:`~saltseg.seismic.regions.cut_section`.

Memory: sections are read, predicted and written in slabs of at most :data:`SLAB_BYTES` of float32
samples; at most about six slab-sized arrays live at once (samples, pixels, probabilities, the
accumulator's slab and the mean, the copy written), so the peak is about 6 x SLAB_BYTES (192 MiB)
over the networks and one section's window buffers, never the volume. Files are mapped for one
slab at a time (:class:`~saltseg.seismic.npy_volume.NpyVolume`).

Amplitudes are mapped to 0..255 as :func:`~saltseg.seismic.amplitude.amplitude_map` decides from
:data:`AMPLITUDE_TRACES` random traces (a uint8 .npy is pixels already). Missing traces (not in a
SEG-Y's grid, or all NaN in a .npy) are predicted as mid-grey and stay absent in the output: not
written to a SEG-Y, NaN (0 in a mask) in a .npy. The output (a SEG-Y with the input's headers, or
a .npy of float32 probabilities or uint8 masks) is written to a temporary sibling and renamed, the
record JSON and a preview PNG beside it; Ctrl-C or SIGTERM removes every temporary file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from saltseg import __version__
from saltseg.atomic import atomic_path
from saltseg.console import progress_bar
from saltseg.errors import fail
from saltseg.inference.predictor import Predictor
from saltseg.interrupts import sigterm_raises
from saltseg.seismic import SeismicResult, write_record
from saltseg.seismic.amplitude import AmplitudeMap, amplitude_map
from saltseg.seismic.npy_volume import NpyVolume, temporary_volume
from saltseg.seismic.options import ALONG, AmplitudeOptions, VolumeOptions, WindowOptions, check_options
from saltseg.seismic.preview import preview_path, write_preview
from saltseg.seismic.regions import cut_section
from saltseg.seismic.segy import SegyVolume, SegyWriter
from saltseg.seismic.windows import padding_note, predict_section

log = logging.getLogger("saltseg")

SEGY_SUFFIXES = (".sgy", ".segy")
AXIS_NAMES = ("inline", "crossline")
SLAB_BYTES = 32 << 20
"""Float32 samples read and predicted at a time (a whole number of sections, at least one)."""
AMPLITUDE_TRACES = 2000
"""Traces the amplitude mapping is estimated from."""
PREVIEW_SECTIONS = 3
MIN_AREA_RULE = "8-connected salt regions smaller than min_area samples removed, within each section"
Volume = SegyVolume | NpyVolume
Cut = tuple[float, int]


def predict_volume_file(predictor: Predictor, source: Path, out: Path, windows: WindowOptions,
                        amplitude: AmplitudeOptions, volume: VolumeOptions, cut: Cut | None = None, *,
                        preview: bool = True, about: dict[str, Any] | None = None) -> SeismicResult:
    """Predict a SEG-Y file (.sgy/.segy: 3-D or a 2-D line) or a 3-D .npy (inline, crossline, sample).

    Args:
        predictor: the networks (an ensemble's mean), see :func:`saltseg.inference.predictor.load_predictor`.
        source: the volume.
        out: .sgy/.segy (from a SEG-Y source: its headers, IEEE float samples) or .npy.
        windows, amplitude, volume: how sections are windowed, samples mapped to pixels, the
            volume read and along which sections it is predicted.
        cut: (threshold, min_area): write the 0/1 mask instead of probabilities.
        preview: also write ``<out>.preview.png``, a few sections with the salt outline.
        about: more entries for the record JSON beside ``out`` (the runs, say).

    Raises:
        SaltsegError: bad options, a source that is not a readable volume or holds no samples, or
            an output format the source cannot give. Nothing is written then.
    """
    check_options(windows, amplitude, volume)
    source, out = Path(source), Path(out)
    with open_volume(source, volume) as src:
        check_output(out, src)
        axes = predicted_axes(source, src.shape, volume.along, windows)
        mapping = volume_amplitude(src, amplitude)
        start = time.perf_counter()
        with sigterm_raises():
            plan = _Plan(axes, windows, mapping, cut)
            panels = _write_output(predictor, src, out, plan)
            seconds = time.perf_counter() - start
            write_record(out, _record(source, src, plan, about))
            shown = write_preview(preview_path(out), panels, 0.5) if preview else None
    return SeismicResult(out, src.shape, seconds, mapping.as_dict() if mapping else None, shown)


def open_volume(path: Path, options: VolumeOptions) -> AbstractContextManager[Volume]:
    """Return the volume at ``path``, opened by its suffix: SEG-Y, or a 3-D .npy."""
    if path.suffix.lower() in SEGY_SUFFIXES:
        return SegyVolume(path, options.endian, options.iline, options.xline)
    if path.suffix.lower() == ".npy":
        return nullcontext(NpyVolume(path))
    raise fail(path, f"not a volume; expected one of: {', '.join((*SEGY_SUFFIXES, '.npy'))}")


def check_output(out: Path, src: Volume) -> None:
    """Raise unless ``out``'s format can hold the prediction of ``src`` (before anything is predicted)."""
    suffix = out.suffix.lower()
    if suffix in SEGY_SUFFIXES and not isinstance(src, SegyVolume):
        raise fail(out, "a SEG-Y output takes its headers from a SEG-Y source; write .npy")
    if suffix not in (*SEGY_SUFFIXES, ".npy"):
        raise fail(out, "unknown output format for a volume; use .sgy, .segy or .npy")


def predicted_axes(path: Path, shape: tuple[int, int, int], along: str, windows: WindowOptions
                   ) -> tuple[int, ...]:
    """Return the axes whose sections are predicted (0 inlines, 1 crosslines); warn once per axis
    whose sections (as resampled by ``windows``) are padded to fill a window."""
    if 0 in shape:
        raise fail(path, f"holds no samples: {shape[0]} inlines x {shape[1]} crosslines x {shape[2]} samples")
    axes = ALONG[along] if min(shape[:2]) > 1 else (0 if shape[0] == 1 else 1,)
    for axis in axes:
        if (note := padding_note((shape[2], shape[1 - axis]), windows)) is not None:
            log.warning("%s: %ss are %s", path, AXIS_NAMES[axis], note)
    return axes


def volume_amplitude(src: Volume, options: AmplitudeOptions) -> AmplitudeMap | None:
    """Return the mapping of ``src``'s samples to 0..255 from a sample of its traces; None for uint8."""
    if isinstance(src, NpyVolume) and src.dtype == np.uint8 and options.clip is None:
        return None
    return amplitude_map(src.sample(AMPLITUDE_TRACES), options)


@dataclass(frozen=True)
class _Plan:
    """What is predicted, and how."""

    axes: tuple[int, ...]
    windows: WindowOptions
    mapping: AmplitudeMap | None
    cut: Cut | None

    def pixels(self, samples: np.ndarray) -> np.ndarray:
        """Return ``samples`` as the uint8 pixels the network takes."""
        return samples.astype(np.uint8) if self.mapping is None else self.mapping.to_uint8(samples)

    def final(self, probs: np.ndarray, axis: int, absent: np.ndarray) -> np.ndarray:
        """Return a slab's output: its probabilities or 0/1 masks, absent traces NaN (masks 0)."""
        if self.cut is None:
            probs[absent] = np.nan
            return probs
        masks = np.empty(probs.shape, np.uint8)
        for section, mask in zip(_sections(probs, axis), _sections(masks, axis), strict=True):
            mask[...] = cut_section(section, *self.cut)
        masks[absent] = 0
        return masks

    def notes(self) -> list[str]:
        """Return the lines the textual header of a SEG-Y output gets: what its samples are."""
        what = (f"salt mask 0/1: probability > {self.cut[0]:g}, regions of {self.cut[1]}+ samples"
                if self.cut else "salt probability 0..1")
        along = " and ".join(f"{AXIS_NAMES[axis]}s" for axis in self.axes)
        windows = f"windows {self.windows.size}, overlap {self.windows.overlap:g}, {self.windows.blend} blend"
        mapping = self.mapping.describe() if self.mapping else "amplitudes: 8-bit pixels as given"
        return [f"saltseg {__version__}: {what}", f"predicted along {along}; {windows}", mapping]


Panel = tuple[str, np.ndarray, np.ndarray]


def _write_output(predictor: Predictor, src: Volume, out: Path, plan: _Plan) -> list[Panel]:
    """Predict every pass into a temporary sibling of ``out``, then rename it; return preview panels."""
    first_pass = temporary_volume(out, src.shape) if len(plan.axes) > 1 else nullcontext()
    with atomic_path(out) as tmp, _writer(src, out, tmp, plan) as sink, first_pass as earlier, \
            progress_bar() as bar:
        passes = _Passes(predictor, src, plan, bar)
        if earlier is not None:
            passes.run(plan.axes[0], earlier, None)
        passes.run(plan.axes[-1], sink, earlier)
    return passes.panels


@dataclass
class _Passes:
    """Passes over a volume's sections, slab by slab, with a progress bar."""

    predictor: Predictor
    src: Volume
    plan: _Plan
    bar: Progress
    panels: list[Panel] = field(default_factory=list)

    def run(self, axis: int, sink: SegyWriter | NpyVolume, earlier: NpyVolume | None) -> None:
        """Predict the sections along ``axis`` into ``sink``; the last pass averages with ``earlier``."""
        final = axis == self.plan.axes[-1]
        n = self.src.shape[axis]
        task = self.bar.add_task(f"{AXIS_NAMES[axis]}s", total=n)
        shown = set(np.linspace(0, n - 1, PREVIEW_SECTIONS + 2).round().astype(int)[1:-1]) if final else set()
        for start, stop in slabs(self.src.shape, axis):
            samples = self.src.read(axis, start, stop)
            pixels = self.plan.pixels(samples)
            probs = self.probs(pixels, axis, lambda: self.bar.advance(task))
            if earlier is not None:
                probs = (probs + earlier.read(axis, start, stop)) / 2
            if final:
                probs = self.plan.final(probs, axis, np.isnan(samples).all(axis=-1))
            sink.write(axis, start, probs)
            self.panels += _panels(axis, start, pixels, probs, shown, n)

    def probs(self, pixels: np.ndarray, axis: int, advance: Callable[[], None]) -> np.ndarray:
        """Return the probabilities (float32, shaped like ``pixels``) of a slab, section by section."""
        probs = np.empty(pixels.shape, np.float32)
        for section, target in zip(_sections(pixels, axis), _sections(probs, axis), strict=True):
            target[...] = predict_section(self.predictor, section.T, self.plan.windows).T
            advance()
        return probs


def _sections(slab: np.ndarray, axis: int) -> np.ndarray:
    """Return a view (sections, traces, samples) of a slab of inlines (``axis`` 0) or crosslines (1)."""
    return np.moveaxis(slab, axis, 0)


def slabs(shape: tuple[int, int, int], axis: int) -> list[tuple[int, int]]:
    """Return the (start, stop) of each slab of sections along ``axis``, each at most SLAB_BYTES."""
    step = max(1, SLAB_BYTES // (4 * shape[1 - axis] * shape[2]))
    return [(start, min(start + step, shape[axis])) for start in range(0, shape[axis], step)]


def _panels(axis: int, start: int, pixels: np.ndarray, out: np.ndarray, shown: set[int], n: int
            ) -> list[Panel]:
    """Return the preview panels (title, pixels, output; samples down) of the slab's sections in ``shown``."""
    pairs = zip(_sections(pixels, axis), _sections(out, axis), strict=True)
    return [(f"{AXIS_NAMES[axis]} {start + k + 1} of {n}", section.T.copy(), result.T.copy())
            for k, (section, result) in enumerate(pairs) if start + k in shown]


def _writer(src: Volume, out: Path, tmp: Path, plan: _Plan) -> AbstractContextManager[SegyWriter | NpyVolume]:
    """Return the output's writer on ``tmp``, in ``out``'s format."""
    if out.suffix.lower() in SEGY_SUFFIXES:
        assert isinstance(src, SegyVolume), "check_output allows SEG-Y output for SEG-Y sources only"
        return SegyWriter(src, tmp, plan.notes())
    return nullcontext(NpyVolume.create(tmp, src.shape, np.uint8 if plan.cut else np.float32))


def _record(source: Path, src: Volume, plan: _Plan, about: dict[str, Any] | None) -> dict:
    """Return what the JSON beside the output records: source, samples, byte order (SEG-Y), passes,
    windows, mapping, cut."""
    record = {
        "source": str(source),
        "shape": list(src.shape),
        **({"endian": src.endian} if isinstance(src, SegyVolume) else {}),
        "output": "mask (0/1)" if plan.cut else "salt probability",
        "along": [AXIS_NAMES[axis] for axis in plan.axes],
        "windows": asdict(plan.windows),
        "amplitude": plan.mapping.as_dict() if plan.mapping else None,
        "saltseg_version": __version__,
    }
    if plan.cut is not None:
        record.update(threshold=plan.cut[0], min_area=plan.cut[1], min_area_rule=MIN_AREA_RULE)
    return record | (about or {})
