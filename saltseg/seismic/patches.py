"""``saltseg prepare SEISMIC --labels LABELS``: a labelled survey cut into the data file that
``train``, ``threshold`` and ``evaluate`` take.

Each labelled line along ``along`` (inlines, crosslines or both) is mapped to pixels as ``predict``
maps it (:mod:`saltseg.seismic.survey`) and cut into patches of ``patch`` samples every ``stride``
samples down and across; the last patch of a column or row moves back to end at the edge
(:func:`~saltseg.seismic.windows.window_starts`, predict's own rule). A patch is skipped when all
its traces are missing or any of its labels is unlabelled. A patch of another side than 101 is
resized to 101x101 (pixels bilinearly, labels by nearest neighbour); predict such a run with
``--resample F,F``, F = 101 / patch.

Patches are written a line at a time (:func:`saltseg.data.hdf5.writing_patches`), so memory
holds one line's samples, labels and patches, whatever the survey's size. Each patch's id says
where it came from (``inline1234_s50_t100``: axis and line number, first sample, first trace of
the line) and ``origins`` keeps the same as indices, for the split apart in space
(:func:`saltseg.data.split.make_block_split`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from saltseg.console import progress_bar
from saltseg.data.hdf5 import PatchWriter, file_sha256, writing_patches
from saltseg.data.prepare import PrepareSummary, default_output
from saltseg.errors import fail
from saltseg.seismic.labels import SurveyLabels, open_labels, salt_mask
from saltseg.seismic.options import ALONG, AmplitudeOptions, PatchOptions, VolumeOptions, check_options
from saltseg.seismic.survey import SurveyPixels, open_survey
from saltseg.seismic.volume import AXIS_NAMES
from saltseg.seismic.windows import window_starts
from saltseg.shapes import IMAGE_SIZE

log = logging.getLogger("saltseg")


def prepare_survey(source: Path, labels: Path, out: Path | None = None,
                   patches: PatchOptions = PatchOptions(), volume: VolumeOptions = VolumeOptions(),
                   amplitude: AmplitudeOptions = AmplitudeOptions(), force: bool = False) -> PrepareSummary:
    """Write the data file of a labelled survey's patches; return what was written.

    Args:
        source: the seismic: SEG-Y, 3-D .npy, or a 2-D section (PNG, TIFF, .npy).
        labels: a label volume or mask of the same geometry, or a folder of per-line masks.
        out: the data file; default ``<SOURCE stem>.h5`` here. Kept unless ``force``.

    Raises:
        SaltsegError: bad options or files, a geometry that differs, no labelled patch. Nothing is
            written then.
    """
    check_options(patches, amplitude, volume)
    out = Path(out) if out is not None else default_output(source)
    if out.exists() and not force:
        raise fail(out, "already exists; add --force to replace it")
    with open_survey(Path(source), volume, amplitude) as survey:
        axes = tuple(a for a in ALONG[patches.along] if a in survey.axes) or survey.axes
        _check_line_size(survey, axes, patches.patch)
        with open_labels(Path(labels), survey, volume, axes) as line_labels:
            attrs = _attrs(survey, Path(labels), axes, patches)
            with writing_patches(out, attrs) as writer:
                counts = _write_lines(survey, line_labels, axes, patches, writer)
                if len(writer) == 0:
                    raise fail(labels, "labels no complete patch: no line is labelled (values 0 and up) "
                               "where the seismic has traces")
    log.info("%d labelled lines of %d along %s", counts["lines"], counts["of"],
             " and ".join(f"{AXIS_NAMES[a]}s" for a in axes))
    return PrepareSummary(out, counts["patches"], counts["salt"])


def line_patches(pixels: np.ndarray, missing: np.ndarray, labels: np.ndarray, options: PatchOptions,
                 where: Path) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Return the (first sample, first trace) of each patch of a line, its images and masks.

    Args:
        pixels: the line (samples, traces) uint8.
        missing: (traces,) bool, traces absent from the survey.
        labels: (samples, traces) float, NaN where unlabelled.
        options: patch size, stride and salt class.
        where: the labels' file, named in errors.
    """
    size, starts, images, masks = options.patch, [], [], []
    for r in window_starts(pixels.shape[0], size, options.step):
        for c in window_starts(pixels.shape[1], size, options.step):
            label = labels[r : r + size, c : c + size]
            if missing[c : c + size].all() or np.isnan(label).any():
                continue
            starts.append((r, c))
            images.append(_to_tile(pixels[r : r + size, c : c + size], Image.BILINEAR))
            masks.append(_to_tile(salt_mask(label, options.salt_class, where), Image.NEAREST))
    empty = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return starts, np.array(images) if images else empty, np.array(masks) if masks else empty


def _write_lines(survey: SurveyPixels, labels: SurveyLabels, axes: tuple[int, ...], options: PatchOptions,
                 writer: PatchWriter) -> dict[str, int]:
    """Cut every labelled line into patches and append them; return counts of lines and patches."""
    counts = {"lines": 0, "of": 0, "patches": 0, "salt": 0}
    with progress_bar() as bar:
        for axis in axes:
            n = survey.shape[axis]
            task = bar.add_task(f"{AXIS_NAMES[axis]}s", total=n)
            counts["of"] += n
            for index in range(n):
                bar.advance(task)
                line_labels = labels.line(axis, index)
                if line_labels is None:
                    continue
                pixels, missing = survey.line(axis, index)
                starts, images, masks = line_patches(pixels, missing, line_labels, options, labels.path)
                if not starts:
                    continue
                number = survey.numbers[axis][index]
                ids = [f"{AXIS_NAMES[axis]}{number}_s{r}_t{c}" for r, c in starts]
                origins = np.array([(axis, index, r, c) for r, c in starts], np.int32)
                writer.append(ids, images, masks, origins)
                counts["lines"] += 1
                counts["patches"] += len(ids)
                counts["salt"] += int(masks.any(axis=(1, 2)).sum())
    return counts


def _to_tile(patch: np.ndarray, resample: int) -> np.ndarray:
    """Return a square patch as a 101x101 uint8 tile (resized when it is another size)."""
    if patch.shape[0] == IMAGE_SIZE:
        return np.ascontiguousarray(patch, dtype=np.uint8)
    return np.asarray(Image.fromarray(patch.astype(np.uint8)).resize((IMAGE_SIZE, IMAGE_SIZE), resample))


def _check_line_size(survey: SurveyPixels, axes: tuple[int, ...], patch: int) -> None:
    for axis in axes:
        samples, traces = survey.shape[2], survey.shape[1 - axis]
        if min(samples, traces) < patch:
            raise fail(survey.source, f"{AXIS_NAMES[axis]}s are {samples} samples x {traces} traces, smaller "
                       f"than one {patch}-sample patch (--patch)")


def _attrs(survey: SurveyPixels, labels: Path, axes: tuple[int, ...], options: PatchOptions
           ) -> dict[str, object]:
    """Return the data file's attributes: the source, and the survey record (JSON)."""
    record = {
        "seismic": str(survey.source.resolve()),
        "labels": str(labels.resolve()),
        "shape": list(survey.shape),
        "along": [AXIS_NAMES[a] for a in axes],
        "patch": options.patch,
        "stride": options.step,
        "class": options.salt_class,
        "amplitude": survey.mapping.as_dict() if survey.mapping else None,
        "inline_numbers": survey.numbers[0].tolist(),
        "crossline_numbers": survey.numbers[1].tolist(),
    }
    return {"source": survey.source.name, "source_sha256": file_sha256(survey.source),
            "survey": json.dumps(record)}
