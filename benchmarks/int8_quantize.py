"""onnxruntime's static int8 quantization of an exported graph, for ``export_speed.py``.

``saltseg export`` does not offer int8: measured on a 15-minute default run it was 1.3x faster
than the fp32 file in onnxruntime but scored 0.0023 below it on the validation split, outside the
0.002 the issue allows (benchmarks/README.md).

The fp32 graph is prepared by onnxruntime's ``quant_pre_process`` (shape inference, batch norm
folded into the convolutions), then its convolutions and matrix products are quantized (QDQ
format, int8 weights per channel, uint8 activations) with activation ranges calibrated on
:data:`CALIBRATION_TILES` training tiles of the (first) run: its ``split.json`` 'train' ids in the
data file of its config.json. Everything else stays float32. An int8 graph cannot match fp32
within 1e-4, so it is judged by what matters: the competition score on that run's validation
split, cut at the run's threshold and minimum area, within :data:`SCORE_TOLERANCE` of the fp32
graph's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from saltseg.data.hdf5 import Dataset, read_dataset
from saltseg.errors import fail
from saltseg.export.onnx_file import INPUT
from saltseg.rundir import RunDir

CALIBRATION_TILES = 256
SCORE_TOLERANCE = 0.002
QUANTIZED_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm"]
_CALIBRATION_BATCH = 32


class _TileBatches(CalibrationDataReader):
    """Feeds tiles (N, 1, 101, 101) uint8 to the calibrator in batches."""

    def __init__(self, tiles: np.ndarray) -> None:
        self._batches = iter(np.array_split(tiles, max(1, len(tiles) // _CALIBRATION_BATCH)))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT: batch}


@dataclass(frozen=True)
class SplitTiles:
    """A run's tiles for int8: calibration tiles (N, 1, 101, 101) and the labelled validation split."""

    calibration: np.ndarray
    val: Dataset


def split_tiles(run: RunDir) -> SplitTiles:
    """Return up to CALIBRATION_TILES training tiles, spread over the run's split, and its validation
    images with masks, read from the data file of its config.json."""
    data_path = Path(run.read_config()["data"])
    if not data_path.exists():
        raise fail(data_path, f"no such file: the data of {run.root} (config.json), which --int8 needs")
    data = read_dataset(data_path)
    split, where = run.read_split(), {key: i for i, key in enumerate(data.ids)}
    train, val = ([where[key] for key in split[part] if key in where] for part in ("train", "val"))
    if not train or not val or data.masks is None:
        raise fail(data_path, f"lacks the training or validation images (with masks) of {run.root}")
    calibration = data.images[train[:: max(1, len(train) // CALIBRATION_TILES)][:CALIBRATION_TILES], None]
    return SplitTiles(calibration, Dataset([data.ids[i] for i in val], data.images[val], data.masks[val]))


def quantized(model_bytes: bytes, calibration: np.ndarray) -> onnx.ModelProto:
    """Return the int8 model of a serialised fp32 one, calibrated on tiles (N, 1, 101, 101) uint8."""
    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = (Path(tmp) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        fp32.write_bytes(model_bytes)
        quant_pre_process(fp32, prepared)
        quantize_static(prepared, int8, _TileBatches(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=QUANTIZED_OPS, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return onnx.load(int8)
