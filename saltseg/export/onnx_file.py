"""The ONNX file: export of a :class:`~saltseg.export.graph.ProbabilityGraph`, its metadata, and
onnxruntime sessions over it.

The exporter is torch's torch.export-based one (``torch.onnx.export(..., dynamo=True)``, the
default since torch 2.9; the TorchScript exporter is deprecated), at opset 18 unless asked
otherwise: the exporter's own (no version conversion), and old enough for onnxruntime 1.14 and
later, onnxruntime-web included. The weights are kept inside the model (no external data file),
so one file of at most 2 GB holds everything.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from saltseg.errors import SaltsegError, fail
from saltseg.export.graph import ProbabilityGraph, random_tiles

LOWEST_OPSET = 18
"""The torch.export-based exporter writes no older opset."""
INPUT, OUTPUT = "tiles", "probs"
EXPORTER = "torch.onnx.export(dynamo=True)"
DESCRIPTION = "saltseg: salt probabilities for 101x101 seismic tiles (TGS Salt Identification Challenge)"


def check_opset(opset: int) -> None:
    """Raise unless ``opset`` is one the exporter can write and the installed onnx knows."""
    highest = onnx.defs.onnx_opset_version()
    if not LOWEST_OPSET <= opset <= highest:
        raise SaltsegError(f"--opset must be in {LOWEST_OPSET}..{highest} (the torch exporter's lowest to "
                           f"the installed onnx's highest), got {opset}")


def to_onnx(graph: ProbabilityGraph, opset: int, where: Path) -> onnx.ModelProto:
    """Return ``graph`` exported at ``opset``, with a dynamic batch axis and the weights inside.

    Raises:
        SaltsegError: naming ``where`` (the run), when the exporter fails or writes another opset.
    """
    example = torch.from_numpy(random_tiles(2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph, (example,), dynamo=True, opset_version=opset, verbose=False,
                input_names=[INPUT], output_names=[OUTPUT], dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
    except Exception as exc:  # whatever torch.export or the ONNX translation raises
        first_line = (str(exc).splitlines() or [""])[0]
        raise fail(where, f"the network cannot be exported to ONNX ({type(exc).__name__}: {first_line})"
                   ) from None
    model = program.model_proto
    if opset_of(model) != opset:
        raise fail(where, f"the exporter could not write opset {opset} (it wrote {opset_of(model)})")
    return model


def opset_of(model: onnx.ModelProto) -> int:
    """Return the version of the default ONNX domain the model imports."""
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


def with_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> onnx.ModelProto:
    """Return ``model`` with ``metadata``, the exporter and the opset as its metadata_props."""
    exporter = {"exporter": f"{EXPORTER}, torch {torch.__version__}", "opset": str(opset_of(model))}
    onnx.helper.set_model_props(model, {**metadata, **exporter})
    model.doc_string = DESCRIPTION
    return model


def session_of(model_bytes: bytes) -> ort.InferenceSession:
    """Return an onnxruntime CPU session over a serialised model.

    Raises:
        SaltsegError: onnxruntime cannot load it (an opset it does not know, say).
    """
    try:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        first_line = (str(exc).splitlines() or [""])[0]
        raise SaltsegError(f"onnxruntime {ort.__version__} cannot load the exported graph ({first_line})"
                           ) from None


def onnx_probs(session: ort.InferenceSession, tiles: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Return the session's probabilities (N, 1, 101, 101) float32 for tiles (N, 1, 101, 101) uint8."""
    chunks = [session.run([OUTPUT], {INPUT: tiles[start : start + batch_size]})[0]
              for start in range(0, len(tiles), batch_size)]
    return np.concatenate(chunks)
