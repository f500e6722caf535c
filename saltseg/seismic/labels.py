"""A survey's labels, in the geometry of its seismic, a line at a time.

LABELS is a label volume (SEG-Y or .npy, the seismic's shape), a mask image of a 2-D section
(PNG, TIFF or .npy, the section's shape), or a folder of per-line mask images named by line
number (``1234.png``, ``il_1234.tif``: the last number in the name), as painted sections leave
interpretation software; a folder labels lines along one axis (``along``).

Values: 0/1, 0/255 or 0/65535 masks, or class numbers; with ``salt_class`` K, class K is salt and every
other class is not. A negative or NaN label marks an unlabelled sample: a patch that holds one is
skipped, so a line painted nowhere (absent from the folder, or all negative) gives no patch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from saltseg.errors import fail
from saltseg.seismic.options import VolumeOptions
from saltseg.seismic.sections import SECTION_SUFFIXES, read_section
from saltseg.seismic.survey import SectionVolume, SurveyPixels, is_volume_file
from saltseg.seismic.volume import Volume, open_volume

MASK_VALUES = (0, 1, 255, 65535)
"""Labels that read as a mask without ``--class``: 0 is not salt, the others (8- and 16-bit white) are."""


class SurveyLabels:
    """The labels of a survey's lines: :meth:`line` gives one as (samples, traces) float32.

    Holds either a label volume of the seismic's geometry, or the mask files of lines along ``axis``.
    """

    def __init__(self, path: Path, survey: SurveyPixels, volume: Volume | SectionVolume | None = None,
                 files: dict[int, Path] | None = None, axis: int = 0) -> None:
        self.path, self.survey, self.volume, self.files, self.axis = path, survey, volume, files, axis

    def line(self, axis: int, index: int) -> np.ndarray | None:
        """Return the labels (samples, traces) of line ``index`` along ``axis``, NaN where unlabelled;
        None when the line has no labels at all."""
        if self.files is not None:
            return self._file_line(axis, index)
        values = np.array(self.volume.read(axis, index, index + 1), dtype=np.float32)  # a copy: NaN goes in
        labels = (values[0] if axis == 0 else values[:, 0]).T
        labels[labels < 0] = np.nan
        return None if np.isnan(labels).all() else labels

    def _file_line(self, axis: int, index: int) -> np.ndarray | None:
        path = self.files.get(int(self.survey.numbers[axis][index])) if axis == self.axis else None
        if path is None:
            return None
        labels = _gray(read_section(path)).astype(np.float32)
        expected = (self.survey.shape[2], self.survey.shape[1 - axis])
        if labels.shape != expected:
            line, source = self.survey.line_name(axis, index), self.survey.source.name
            raise fail(path, f"is {labels.shape[0]}x{labels.shape[1]}, but {line} of {source} is "
                       f"{expected[0]}x{expected[1]} (samples x traces)")
        labels[labels < 0] = np.nan
        return labels


@contextmanager
def open_labels(path: Path, survey: SurveyPixels, volume: VolumeOptions, along: tuple[int, ...]
                ) -> Iterator[SurveyLabels]:
    """Open the labels at ``path`` for ``survey``, checked to have its geometry (one line naming both
    files and both shapes otherwise)."""
    path = Path(path)
    if path.is_dir():
        if len(along) != 1:
            raise fail(path, "a folder of line masks labels one direction: use --along inline or crossline")
        yield SurveyLabels(path, survey, files=_line_files(path, survey.numbers[along[0]]), axis=along[0])
        return
    if not path.exists():
        raise fail(path, "no such file or folder")
    with ExitStack() as stack:
        if is_volume_file(path):
            labels = stack.enter_context(open_volume(path, volume))
        elif path.suffix.lower() in SECTION_SUFFIXES:
            labels = SectionVolume(path, _gray(read_section(path)))
        else:
            raise fail(path, f"not a label volume or mask; expected a folder or one of: "
                       f"{', '.join(('.sgy', '.segy', *SECTION_SUFFIXES))}")
        if labels.shape != survey.shape:
            raise fail(path, f"geometry {_shape(labels.shape)} differs from {survey.source.name}'s "
                       f"{_shape(survey.shape)} (inlines x crosslines x samples)")
        yield SurveyLabels(path, survey, volume=labels)


def salt_mask(labels: np.ndarray, salt_class: int | None, where: Path) -> np.ndarray:
    """Return the 0/1 salt mask (uint8) of labelled ``labels``: class ``salt_class``, else any of 1, 255.

    Raises:
        SaltsegError: labels other than 0, 1 and 255 without ``salt_class`` (class numbers, which
            the user must name).
    """
    if salt_class is not None:
        return (labels == salt_class).astype(np.uint8)
    values = np.unique(labels[np.isfinite(labels)])
    if not np.isin(values, MASK_VALUES).all():
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise fail(where, f"holds labels {shown}, not a 0/1 or 0/255 mask: name salt's class with --class K")
    return (labels > 0).astype(np.uint8)


def _gray(section: np.ndarray) -> np.ndarray:
    """Return a mask image's first channel (painted masks come as RGB too)."""
    return section[..., 0] if section.ndim == 3 else section


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _line_files(folder: Path, numbers: np.ndarray) -> dict[int, Path]:
    """Return the mask file of each line number in ``folder`` (named by the last number in its name)."""
    files: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        found = re.findall(r"\d+", path.stem)
        if path.suffix.lower() not in SECTION_SUFFIXES or not found:
            continue
        number = int(found[-1])
        if number in files:
            raise fail(path, f"labels line {number} again ({files[number].name} does too)")
        files[number] = path
    unknown = sorted(set(files) - set(int(n) for n in numbers))
    if unknown:
        raise fail(files[unknown[0]], f"names line {unknown[0]}, which the survey lacks "
                   f"(lines {int(numbers.min())}..{int(numbers.max())})")
    if not files:
        raise fail(folder, f"holds no mask images named by line number ({', '.join(SECTION_SUFFIXES)})")
    return files
