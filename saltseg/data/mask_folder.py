"""A folder of PNG masks (``predict --masks DIR``) that always holds exactly one prediction's masks.

The masks are written into a temporary sibling folder with a list of what saltseg wrote
(``.saltseg-masks``), then swapped in for DIR whole. A DIR that holds anything else (files saltseg
did not write) is refused, never emptied: saltseg deletes only its own masks.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from saltseg.atomic import sweep_stale_temporaries, temporary_sibling
from saltseg.errors import fail

MANIFEST = ".saltseg-masks"
"""The file in a masks folder that lists the masks saltseg wrote there."""


def _previous(folder: Path) -> Path:
    return folder.with_name(f"{folder.name}.old")


def check_replaceable(folder: Path) -> None:
    """Raise unless ``folder`` is missing, empty, or holds only masks saltseg wrote."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise fail(folder, "is not a folder")
    entries = set(os.listdir(folder))
    if not entries:
        return
    if MANIFEST not in entries:
        raise fail(folder, "is not empty and holds no saltseg masks; name a new or empty folder")
    try:
        written = set(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise fail(folder / MANIFEST, "is damaged; remove the folder yourself or name another") from None
    foreign = sorted(entries - written - {MANIFEST})
    if foreign:
        raise fail(folder, f"holds files saltseg did not write (e.g. {foreign[0]}); name another folder")


def write_mask_folder(folder: Path, ids: list[str], masks: np.ndarray) -> None:
    """Make ``folder`` hold exactly ``<id>.png`` (8-bit 0/255) for each of ``masks`` (N, H, W) 0/1.

    Raises:
        SaltsegError: ``folder`` holds files saltseg did not write.
    """
    folder = Path(folder)
    check_replaceable(folder)
    for target in (folder, _previous(folder)):
        sweep_stale_temporaries(target)
    tmp, old = temporary_sibling(folder), temporary_sibling(_previous(folder))
    tmp.mkdir(parents=True)
    try:
        names = [f"{key}.png" for key in ids]
        for name, mask in zip(names, masks, strict=True):
            Image.fromarray(mask.astype(np.uint8) * np.uint8(255)).save(tmp / name)
        (tmp / MANIFEST).write_text(json.dumps({"files": names}), encoding="utf-8")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)
