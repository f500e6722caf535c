"""``export --int8``: onnxruntime's static int8 quantization of the exported graph, and its own check.

The fp32 graph is prepared by onnxruntime's ``quant_pre_process`` (shape inference, batch norm
folded into the convolutions), then its convolutions and matrix products are quantized (QDQ
format, int8 weights per channel, uint8 activations) with activation ranges calibrated on
:data:`CALIBRATION_TILES` training tiles of the (first) run: its ``split.json`` 'train' ids in the
data file of its config.json. Everything else stays float32. An int8 graph cannot match fp32
within 1e-4, so it is checked by what matters: the competition score on that run's validation
split, cut at the home's threshold and minimum area, must be within :data:`SCORE_TOLERANCE` of the
fp32 graph's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from saltseg.datafile import Dataset, read_dataset
from saltseg.errors import fail
from saltseg.export.onnx_file import INPUT, onnx_probs
from saltseg.metric import competition_score
from saltseg.rundir import RunDir
from saltseg.sweep import apply_cut

CALIBRATION_TILES = 256
SCORE_TOLERANCE = 0.002
QUANTIZED_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm"]
_CALIBRATION_BATCH = 32


@dataclass(frozen=True)
class Int8Check:
    """The competition scores of the fp32 and int8 graphs on a run's validation split."""

    n_images: int
    fp32_score: float
    int8_score: float

    def summary(self) -> str:
        """Return the result as one line."""
        return (f"int8: score {self.int8_score:.4f} against fp32 {self.fp32_score:.4f} on {self.n_images} "
                f"validation images")


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


def check_int8(fp32: ort.InferenceSession, int8: ort.InferenceSession, val: Dataset, cut: tuple[float, int],
               where: Path) -> Int8Check:
    """Return both graphs' scores on the validation tiles; raise, naming ``where``, when they differ by
    more than :data:`SCORE_TOLERANCE`."""
    tiles, masks = val.images[:, None], val.masks
    scores = [competition_score(apply_cut(onnx_probs(s, tiles)[:, 0], *cut), masks) for s in (fp32, int8)]
    result = Int8Check(len(val), *scores)
    if abs(result.int8_score - result.fp32_score) > SCORE_TOLERANCE:
        raise fail(where, f"{result.summary()}: more than {SCORE_TOLERANCE} apart; nothing written "
                           "(export without --int8)")
    return result
