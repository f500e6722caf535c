"""``saltseg export``: a run or an ensemble as one verified ONNX file, whose metadata say how to cut
masks as ``saltseg rle`` does.

onnx, onnxscript and onnxruntime are an extra (``pip install 'saltseg[export]'``): the modules
that need them are imported only once :func:`require_export_packages` has found them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from saltseg import __version__
from saltseg.atomic import atomic_path
from saltseg.data.hdf5 import Dataset, file_sha256
from saltseg.errors import SaltsegError, fail
from saltseg.export import DEFAULT_OPSET
from saltseg.export.graph import graph_of
from saltseg.inference.predictor import Models, Predictor, load_predictor, resolve

if TYPE_CHECKING:
    from saltseg.export.verify import CheckResult

log = logging.getLogger("saltseg")

EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INSTALL_HINT = "pip install 'saltseg[export]'"
LAYOUT = "(N, 1, 101, 101), N dynamic: a batch of one-channel 101x101 tiles"
"""The default ONNX opset: the torch exporter's own (no version conversion), and old enough for
onnxruntime 1.14 and later, onnxruntime-web included."""
BATCH_SIZE = 64
"""Images per forward pass of saltseg's reference (``--check`` on a whole data file)."""


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote and how closely it matched saltseg's own forward pass."""

    path: Path
    largest_difference: float
    check: CheckResult | None = None

    def summary(self) -> str:
        """Return the file written, then the ``--check`` line when there is one."""
        return "\n".join([str(self.path)] + ([self.check.summary()] if self.check is not None else []))


def export(runs: list[Path], ensemble: Path | None = None, out: Path | None = None, tta: bool = True,
           opset: int = DEFAULT_OPSET, check_data: Path | None = None) -> ExportResult:
    """Export the models of ``runs`` as one ONNX file, verified before it is written.

    Args:
        runs: one run, an ensemble directory, or several runs (then ``ensemble`` names their home).
        ensemble: the ensemble directory of several runs.
        out: the file to write; default ``HOME/model.onnx``.
        tta: put horizontal-flip test-time augmentation in the graph.
        opset: the ONNX opset.
        check_data: also compare on every image of this data file (HDF5 from prepare, zip or folder).

    Raises:
        SaltsegError: the export packages are missing, a run is not trained, the opset or the
            output path is bad, the network cannot be exported, or the graph's probabilities
            differ from saltseg's by more than 1e-4. Nothing is written then.
    """
    require_export_packages()
    from saltseg.export import onnx_file, verify

    onnx_file.check_opset(opset)
    models = resolve(runs, ensemble)
    path = Path(out or models.home.onnx_path)
    check_writable(path)
    checking = None if check_data is None else (Path(check_data), verify.read_data(Path(check_data)))
    predictor = load_predictor(models, "cpu", BATCH_SIZE, tta)
    log.info("exporting %d network(s), TTA %s, with %s at opset %d", len(predictor.nets),
             "on" if tta else "off", onnx_file.EXPORTER, opset)
    model = onnx_file.to_onnx(graph_of(predictor), opset, models.home.root)
    model_bytes = onnx_file.with_metadata(model, metadata(models, tta)).SerializeToString()
    result = _verified(model_bytes, predictor, path, checking, models.home.read_cut())
    _write(path, model_bytes)
    models.save()
    log.info("wrote %s (%.1f MB)", path, len(model_bytes) / 1e6)
    return result


def _verified(model_bytes: bytes, predictor: Predictor, path: Path, checking: tuple[Path, Dataset] | None,
              cut: tuple[float, int]) -> ExportResult:
    """Return how closely onnxruntime running ``model_bytes`` matches saltseg; raise beyond 1e-4."""
    from saltseg.export import onnx_file, verify

    session = onnx_file.session_of(model_bytes)
    difference = verify.verify(session, predictor, path)
    log.info("largest difference from saltseg's fp32 probabilities on random tiles: %.2e", difference)
    checked = None if checking is None else verify.check(session, predictor, *checking, cut)
    return ExportResult(path, difference, checked)


def require_export_packages() -> None:
    """Raise, naming the extra to install, unless onnx, onnxscript and onnxruntime import."""
    for name in EXPORT_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            raise SaltsegError(f"export needs the {name} package: {INSTALL_HINT}") from None


def metadata(models: Models, tta: bool) -> dict[str, str]:
    """Return the file's metadata_props: the cut, provenance, and the input and output layouts."""
    threshold, min_area = models.home.read_cut()
    return {
        "threshold": repr(threshold),
        "threshold_meaning": "a pixel is salt when its probability is strictly above threshold",
        "min_area": str(min_area),
        "min_area_meaning": "a tile whose mask has fewer salt pixels than min_area becomes empty",
        "input": f"tiles: uint8 {LAYOUT}, gray levels 0..255",
        "output": f"probs: float32 {LAYOUT}, salt probability in 0..1",
        "tta": "hflip" if tta else "none",
        "precision": "float32",
        "runs": json.dumps(models.runs),
        "checkpoint_sha256": json.dumps([file_sha256(m.best_checkpoint) for m in models.members]),
        "saltseg_version": __version__,
    }


def check_writable(path: Path) -> None:
    """Raise unless ``path`` can be written: not a folder, below a writable folder (made if missing)."""
    if path.is_dir():
        raise fail(path, "is a folder; name the ONNX file to write")
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise fail(path, f"cannot be written: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise fail(path, f"cannot be written: {existing} is not writable")


def _write(path: Path, model_bytes: bytes) -> None:
    """Write the serialised model atomically."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(model_bytes)
    except OSError as exc:
        raise fail(path, f"cannot be written ({exc.strerror or exc})") from None
