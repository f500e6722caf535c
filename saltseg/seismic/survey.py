"""A survey's seismic as 8-bit lines: a SEG-Y or 3-D .npy volume, or one 2-D section, read a line
at a time and mapped to pixels by the same rules and code as ``predict``.

A line is an inline (``axis`` 0) or a crossline (``axis`` 1) of the volume (inline, crossline,
sample); a 2-D section (PNG, TIFF or 2-D .npy, samples down and traces across) is a volume of one
inline. :meth:`SurveyPixels.line` returns a line as predict sees a section: samples down, traces
across.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltseg.data.hdf5 import is_hdf5, read_attrs
from saltseg.rundir import RunDir
from saltseg.seismic.amplitude import AmplitudeMap
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions
from saltseg.seismic.sections import npy_ndim, read_section, section_pixels
from saltseg.seismic.volume import AXIS_NAMES, SEGY_SUFFIXES, Volume, open_volume, volume_amplitude

log = logging.getLogger("saltseg")


class SectionVolume:
    """A 2-D section (samples, traces) seen as a volume of one inline, like :class:`NpyVolume`."""

    def __init__(self, path: Path, samples: np.ndarray) -> None:
        self.path = Path(path)
        self.samples = samples
        self.shape: tuple[int, int, int] = (1, samples.shape[1], samples.shape[0])
        self.numbers = (np.arange(1), np.arange(samples.shape[1]))

    def read(self, axis: int, start: int, stop: int) -> np.ndarray:
        """Return the inline (``axis`` 0) or crosslines (1) ``start:stop`` as (lines, ..., samples)."""
        volume = self.samples.T[None]
        return volume[start:stop] if axis == 0 else volume[:, start:stop]


@dataclass
class SurveyPixels:
    """An open survey whose lines come out as uint8 pixels.

    Attributes:
        source: the seismic file.
        volume: its samples, a line at a time.
        mapping: how samples become pixels (None: 8-bit pixels as given).
    """

    source: Path
    volume: Volume | SectionVolume
    mapping: AmplitudeMap | None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(inlines, crosslines, samples)."""
        return self.volume.shape

    @property
    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """The inline and crossline numbers (header numbers for SEG-Y, indices otherwise)."""
        return self.volume.numbers

    @property
    def axes(self) -> tuple[int, ...]:
        """The axes whose lines are sections: both for a volume, the inline alone for a 2-D line."""
        return (0, 1) if min(self.shape[:2]) > 1 else (0 if self.shape[0] == 1 else 1,)

    def line(self, axis: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return line ``index`` along ``axis`` as pixels (samples, traces) uint8, and which of its
        traces are missing (traces,) bool."""
        samples = np.asarray(self.volume.read(axis, index, index + 1))
        samples = samples[0] if axis == 0 else samples[:, 0]
        missing = np.isnan(samples).all(axis=-1)
        pixels = samples.astype(np.uint8) if self.mapping is None else self.mapping.to_uint8(samples)
        return pixels.T, missing

    def line_name(self, axis: int, index: int) -> str:
        """Return e.g. ``inline 1234``: the axis and the line's number."""
        return f"{AXIS_NAMES[axis]} {self.numbers[axis][index]}"


@contextmanager
def open_survey(source: Path, volume: VolumeOptions, amplitude: AmplitudeOptions) -> Iterator[SurveyPixels]:
    """Open the seismic ``source`` (SEG-Y, 3-D .npy, or a 2-D section) with its amplitude mapping."""
    source = Path(source)
    if is_volume_file(source):
        with open_volume(source, volume) as vol:
            yield SurveyPixels(source, vol, volume_amplitude(vol, amplitude))
        return
    samples = read_section(source)
    _, mapping = section_pixels(samples, amplitude)
    yield SurveyPixels(source, SectionVolume(source, samples), mapping)


def is_volume_file(path: Path) -> bool:
    """Whether ``path`` holds a volume (SEG-Y or 3-D .npy) rather than a 2-D section."""
    path = Path(path)
    return path.suffix.lower() in SEGY_SUFFIXES or (path.suffix.lower() == ".npy" and npy_ndim(path) == 3)


def trained_amplitude(run: RunDir, source: Path, amplitude: AmplitudeOptions) -> AmplitudeOptions:
    """Return how to map ``source``'s amplitudes for ``run``: as its training data was mapped when that
    data was prepared from ``source`` and no other mapping is asked for (saying so), else ``amplitude``."""
    data = run.read_config().get("data")
    if amplitude != AmplitudeOptions() or not data or not is_hdf5(data):
        return amplitude
    record = json.loads(str(read_attrs(data).get("survey", "null")))
    if not record or not record.get("amplitude") or Path(record["seismic"]) != Path(source).resolve():
        return amplitude
    mapping = record["amplitude"]
    log.info("%s: amplitudes clipped to [%.6g, %.6g] as in %s, the data %s trained on", Path(source).name,
             mapping["low"], mapping["high"], Path(data).name, run.root)
    return AmplitudeOptions(amplitude.percentile, (float(mapping["low"]), float(mapping["high"])))
