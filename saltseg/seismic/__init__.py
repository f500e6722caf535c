"""Salt on real seismic data: whole 2-D sections and 3-D volumes, predicted in sliding windows.

Modules, lowest first: :mod:`~saltseg.seismic.amplitude` (float samples to the 0..255 the
network learned), :mod:`~saltseg.seismic.windows` (cut a section into windows, predict them,
blend them back), :mod:`~saltseg.seismic.regions` (the minimum-area rule on connected regions),
:mod:`~saltseg.seismic.sections` (2-D PNG/TIFF/.npy readers and writers),
:mod:`~saltseg.seismic.preview` (the salt outline drawn over the seismic),
:mod:`~saltseg.seismic.volume` (SEG-Y and 3-D .npy volumes) and
:mod:`~saltseg.seismic.command` (what ``saltseg predict`` calls for such sources).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saltseg.atomic import write_text_atomic


@dataclass
class SeismicResult:
    """What predicting a section or a volume wrote.

    Attributes:
        path: the output file (probabilities, or the 0/1 mask).
        shape: the shape of the predicted data (samples as in the source).
        seconds: wall time of the prediction.
        amplitude: the amplitude mapping applied (:meth:`AmplitudeMap.as_dict`), None for 8-bit input.
        preview: the preview PNG, or None when none was asked for.
    """

    path: Path
    shape: tuple[int, ...]
    seconds: float
    amplitude: dict | None
    preview: Path | None


def record_path(out: Path) -> Path:
    """Return the JSON written beside an output ``out`` that says how it was made (``<out>.json``)."""
    return out.with_name(f"{out.name}.json")


def write_record(out: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` (source, runs, windows, amplitude mapping, cut...) beside ``out``; return its path."""
    path = record_path(out)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return path
